"""Open a built report in headless Debian chromium: every linked report loads, every image renders.

Builds the three real notebooks on a small cohort, then uses playwright (python) driving
/usr/bin/chromium. Screenshots are saved beside the report (and kept under the pytest tmp dir).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
        "--no-first-run", "--disable-component-update", "--disable-sync"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed (make browser)"),
]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from peerstudy.report import run_report

    out = tmp_path_factory.mktemp("browser") / "small"
    return run_report(scenario="outpatient_default", parameters={"n": "300", "seed": "11"}, out=out,
                      only=["01", "02", "03"], progress=False)


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


def test_index_links_every_report_and_each_loads_with_rendered_images(built, browser):
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(built.index.as_uri())
    assert page.title() == "peerstudy report"
    links = page.eval_on_selector_all("li a", "els => els.map(e => e.getAttribute('href'))")
    assert links == [f"{name}.html" for name in built.manifest["notebooks"]]
    summaries = page.eval_on_selector_all("p.summary", "els => els.map(e => e.textContent)")
    assert len(summaries) == 3 and all(len(s) > 40 for s in summaries)
    page.screenshot(path=str(built.path / "index.png"), full_page=True)

    for href in links:
        page.click(f"a[href='{href}']")
        page.wait_for_load_state("load")
        assert page.url.endswith(href)
        assert page.locator("h1").first.inner_text().strip()
        sizes = page.eval_on_selector_all(
            "img", "els => els.map(e => [e.complete, e.naturalWidth, e.naturalHeight, e.getBoundingClientRect().width])")
        assert sizes, f"{href} has no images"
        for complete, nat_w, nat_h, shown_w in sizes:
            assert complete and nat_w > 0 and nat_h > 0 and shown_w > 0, f"an image of {href} did not render"
        page.screenshot(path=str(built.path / href.replace(".html", ".png")), full_page=True)
        page.go_back()
        page.wait_for_load_state("load")
    assert errors == []
    assert (built.path / "index.png").stat().st_size > 10_000
