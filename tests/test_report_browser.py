"""Open built reports in headless Debian chromium: every page loads, every figure renders with its alt text,
nothing overlaps its neighbour, no raw output reaches the page, and the PDF is whole.

Builds the default report (every notebook, on small sizes) with ``--format html,figures,pdf``, the
ed_bridge report (the notebooks that describe and analyse a cohort) and a private report of the bundled programme
export, then uses playwright (python) driving
/usr/bin/chromium. Screenshots are saved beside each report (under the pytest tmp dir).
"""

from __future__ import annotations

import re
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

#: What must never reach a page a reader sees: stderr, paths, codes, machine numbers.
RAW = {
    "a file path": re.compile(r"(/tmp/|/home/|/usr/|site-packages|\.py:\d+)"),
    "a warning's category": re.compile(r"\b\w*Warning:"),
    "a model-term code": re.compile(r"\barm\[peer\]"),
    "a missing value as NaN": re.compile(r"\bNaN\b|\bnan\b"),
    "a boolean": re.compile(r"\b(True|False)\b"),
    "an arm code": re.compile(r"\busual_care\b"),
    "scientific notation": re.compile(r"\b\d\.\d+e[-+]\d\d\b"),
    "a negative zero": re.compile(r"(?<![\d.])-0(?![.\d])"),
}


@pytest.fixture(scope="module")
def default_report(tmp_path_factory):
    from peerstudy.report import run_report

    out = tmp_path_factory.mktemp("browser") / "default"
    return run_report(scenario="outpatient_default", out=out, progress=False, formats="html,figures,pdf",
                      parameters={"n": "400", "seed": "11", "reps": "20", "n_boot": "20"})


@pytest.fixture(scope="module")
def ed_bridge_report(tmp_path_factory):
    from peerstudy.report import run_report

    out = tmp_path_factory.mktemp("browser") / "ed_bridge"
    return run_report(scenario="ed_bridge", parameters={"n": "300", "seed": "11"}, out=out,
                      only=["01", "02", "03"], progress=False)


@pytest.fixture(scope="module")
def private_report(tmp_path_factory):
    """A report of programme data (the bundled messy export): private, audited before it is written."""
    from peerstudy.report import run_report

    root = Path(__file__).resolve().parents[1] / "data" / "synthetic"
    out = tmp_path_factory.mktemp("browser") / "private"
    return run_report(data=str(root / "messy_export.csv"), mapping=str(root / "messy_export.mapping.yaml"), out=out,
                      progress=False)


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


_FIGURES = "els => els.map(e => [e.complete, e.naturalWidth, e.naturalHeight, e.getBoundingClientRect().width, e.alt])"

# Blocks of the page in reading order (headings, paragraphs, lists, tables, figures, notes) whose boxes must not
# overlap the next one's; and table cells whose text must fit in them.
_OVERLAPS = """() => {
  const blocks = [...document.querySelectorAll(
      '.jp-Cell h1, .jp-Cell h2, .jp-Cell p, .jp-Cell li, .jp-Cell table, .jp-Cell img, .ps-notes, .ps-index li')]
    .filter(e => !e.closest('li') || e.tagName === 'LI')
    .filter(e => e.getBoundingClientRect().height > 0);
  const out = [];
  for (let i = 0; i + 1 < blocks.length; i++) {
    const a = blocks[i], b = blocks[i + 1];
    if (a.contains(b) || b.contains(a)) continue;
    const r = a.getBoundingClientRect(), s = b.getBoundingClientRect();
    const w = Math.min(r.right, s.right) - Math.max(r.left, s.left);
    const h = Math.min(r.bottom, s.bottom) - Math.max(r.top, s.top);
    if (w > 1 && h > 1) out.push(`${a.tagName} "${a.textContent.slice(0, 40)}" overlaps ${b.tagName} "${b.textContent.slice(0, 40)}"`);
  }
  for (const c of document.querySelectorAll('.jp-Cell td, .jp-Cell th')) {
    if (c.scrollWidth > c.clientWidth + 1) out.push(`cell "${c.textContent.slice(0, 40)}" overflows`);
  }
  return out;
}"""


def _check_page(page, href: str, shots: Path) -> None:
    assert page.locator("h1").first.inner_text().strip(), f"{href} has no title"
    figures = page.eval_on_selector_all("img", _FIGURES)
    assert figures, f"{href} has no figures"
    for complete, nat_w, nat_h, shown_w, alt in figures:
        assert complete and nat_w > 0 and nat_h > 0 and shown_w > 0, f"a figure of {href} did not render"
        assert len(alt) > 40, f"a figure of {href} has no alt text: {alt!r}"
    assert page.evaluate(_OVERLAPS) == [], href
    # raw output: stream text in monospace, stderr boxes, pandas' own styling
    assert page.locator(".jp-OutputArea-output pre").count() == 0, f"{href} shows printed output as code"
    assert page.locator("[data-mime-type='application/vnd.jupyter.stderr']").count() == 0, f"{href} shows stderr"
    text = page.locator("body").inner_text()
    for what, pattern in RAW.items():
        found = pattern.search(text)
        assert found is None, f"{href} shows {what}: ...{text[max(0, found.start() - 60):found.end() + 20]}..."
    # a 0, 1, 2 row index
    firsts = page.eval_on_selector_all("table tbody tr > th:first-child", "els => els.map(e => e.textContent.trim())")
    assert firsts[:3] != ["0", "1", "2"], f"{href} shows a row index"
    page.screenshot(path=str(shots / href.replace(".html", ".png")), full_page=True)


@pytest.mark.parametrize("which", ["default_report", "ed_bridge_report", "private_report"])
def test_every_page_renders_its_figures_cleanly(which, request, browser):
    built = request.getfixturevalue(which)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(built.index.as_uri())
    assert page.title() == "peerstudy report"
    links = page.eval_on_selector_all("li a", "els => els.map(e => e.getAttribute('href'))")
    assert links == [f"{name}.html" for name in built.manifest["notebooks"]]
    summaries = page.eval_on_selector_all("p.summary", "els => els.map(e => e.textContent)")
    assert len(summaries) == len(links) and all(len(s) > 40 for s in summaries)
    page.screenshot(path=str(built.path / "index.png"), full_page=True)
    for href in links:
        page.click(f"a[href='{href}']")
        page.wait_for_load_state("load")
        assert page.url.endswith(href)
        _check_page(page, href, built.path)
        page.go_back()
        page.wait_for_load_state("load")
    assert errors == []
    assert (built.path / "index.png").stat().st_size > 10_000


def test_how_to_run_shows_the_command_that_made_the_report(ed_bridge_report, browser):
    page = browser.new_page()
    page.goto((ed_bridge_report.path / "02-retention-analysis.html").as_uri())
    text = page.locator("p", has_text="How to run").first.inner_text()
    assert "peerstudy report --scenario ed_bridge" in text and "outpatient_default" not in text


def _pdf_pages(data: bytes) -> int:
    """Pages of a PDF written by Chromium (Skia): the /Count of its root page tree."""
    counts = [int(c) for c in re.findall(rb"/Type\s*/Pages\b[^>]*?/Count\s+(\d+)", data)]
    counts += [int(c) for c in re.findall(rb"/Count\s+(\d+)[^>]*?/Type\s*/Pages\b", data)]
    return max(counts, default=0)


def test_pdf_and_single_file_hold_the_whole_report(default_report, browser):
    single, pdf = default_report.path / "report.html", default_report.path / "report.pdf"
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(single.as_uri())
    sections = page.locator(".ps-page").count()
    assert sections == len(default_report.manifest["notebooks"])
    # self-contained: no script or resource loaded from elsewhere (links to cited sources are fine)
    assert page.eval_on_selector_all("script[src], link[href^='http'], img[src^='http']", "els => els.length") == 0
    images = page.eval_on_selector_all("img", _FIGURES)
    assert images and all(c and w > 0 for c, w, *_ in images)
    # the same file printed here gives the same pages: the PDF is complete; each page of the report starts a page
    expected = _pdf_pages(page.pdf(prefer_css_page_size=True))
    assert _pdf_pages(data) == expected and expected >= sections + 1
    figures = sorted(p.name for p in (default_report.path / "figures").iterdir())
    assert any(n.endswith(".pdf") for n in figures) and any(n.endswith(".png") for n in figures)
    from PIL import Image

    with Image.open(default_report.path / "figures" / next(n for n in figures if n.endswith(".png"))) as im:
        assert round(im.info["dpi"][0]) == 300
