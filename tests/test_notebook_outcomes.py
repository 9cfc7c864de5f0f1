"""Notebook 08 (secondary outcomes and missing data) run by the report runner on a small cohort: it records what the
package computes, its tables are for people (labels as headers, no index, no missing values shown as NaN), and in
private mode what it records follows the privacy rules."""

from __future__ import annotations

import json
import re
import warnings

import pytest

from peerstudy.present.audit import audit_report
from peerstudy.report import run_report
from peerstudy.scenario import apply_overrides, preset
from peerstudy.simulation.cohort import simulate_with_visits
from peerstudy.survival.outcomes import analyse_outcomes

SEED, N, M = 5, 600, 3
CHANGES = ["outcomes.enabled=true", "outcomes.missing.homeless=0.4", "outcomes.missing.depression=0.4",
           "outcomes.missing.mechanism=mar"]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("nb08") / "sim"
    return run_report(scenario="outpatient_default", parameters={"seed": str(SEED), "n": str(N), "m": str(M)},
                      out=out, only=["08"], progress=False)


def test_the_notebook_records_the_package_results(report):
    got = report.results["08-outcomes"]
    cohort, visits = simulate_with_visits(apply_overrides(preset("outpatient_default"), CHANGES), rng=SEED, n=N)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = json.loads(json.dumps(analyse_outcomes(cohort, visits).to_dict(), default=float))
    for arm in ("usual_care", "peer"):
        assert got["outcomes"]["linkage"]["by_arm"][arm]["cif"]["30"]["estimate"] == pytest.approx(
            want["linkage"]["by_arm"][arm]["cif"]["30"]["estimate"])
    assert got["outcomes"]["six_month"]["housed"]["risk_difference"]["estimate"] == pytest.approx(
        want["six_month"]["housed"]["risk_difference"]["estimate"])
    assert got["outcomes"]["follow_up"]["rates"] == want["follow_up"]["rates"]
    assert got["missing"]["interviews"]["m"] == M
    summary = got["summary"]
    assert "linked to care" in summary and "80% target" in summary and "peer support" in summary


def test_the_tables_are_for_people(report):
    page = (report.path / "08-outcomes.html").read_text(encoding="utf-8")
    tables = re.findall(r"<table\b.*?</table>", page, flags=re.S)
    assert len(tables) >= 6
    headers = " ".join(re.findall(r"<th[^>]*>(.*?)</th>", " ".join(tables), flags=re.S))
    for text in ("Follow-up rate", "Meets the 80% target", "Linked to care", "Difference (percentage points)",
                 "Change in BARC-10 per 180 days (points)", "Fraction of missing information", "95% CI"):
        assert text in headers, text
    cells = re.findall(r"<td[^>]*>(.*?)</td>", " ".join(tables), flags=re.S)
    assert cells and not any(c.strip() in ("nan", "NaN", "None", "<NA>") for c in cells)
    assert not any(re.fullmatch(r"\s*0\.\d{4,}\s*", c) for c in cells)  # shares shown as percentages
    assert "row_heading" not in " ".join(tables)  # no index column


def test_in_private_mode_the_recorded_outcomes_follow_the_rules(tmp_path, monkeypatch):
    import papermill

    from peerstudy.report.runner import RESULTS_ENV

    results = tmp_path / "results.json"
    monkeypatch.setenv("PEERSTUDY_PRIVATE", "1")
    monkeypatch.setenv(RESULTS_ENV, str(results))
    from peerstudy.report.parameters import list_notebooks

    nb = next(p for p in list_notebooks() if p.stem.startswith("08"))
    papermill.execute_notebook(str(nb), str(tmp_path / "run.ipynb"), parameters={"seed": SEED, "n": 300, "m": M},
                               kernel_name="python3", progress_bar=False)
    doc = json.loads(results.read_text())
    rates = doc["outcomes"]["follow_up"]["rates"]
    assert all(isinstance(r["due"], str) and isinstance(r["done"], str) for r in rates)
    folder = tmp_path / "check"
    folder.mkdir()
    (folder / "results.json").write_text(json.dumps({"outcomes": doc["outcomes"]}))
    audit = audit_report(folder, private=True)
    assert audit.passed, audit.summary(10)
