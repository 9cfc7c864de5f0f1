"""Report notebook 09 (the evidence), run by the runner in a scenario report.

The recorded numbers are compared with the same package calls made directly (the notebook passes its parameters
and records faithfully; the estimators themselves are checked against metafor in test_evidence_meta.py), and the
re-lived trials with the trials' own published counts within Monte Carlo error.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from peerstudy.design.power import power_survival
from peerstudy.evidence import hazard_ratio_from_odds_ratio, meta_analysis, trial_effects
from peerstudy.report import list_notebooks, read_notebook_spec, run_report
from peerstudy.scenario import preset

NB09 = Path(__file__).resolve().parents[1] / "notebooks" / "09-evidence.ipynb"
REPS = 60


def test_notebook_is_listed_declares_its_parameters_and_is_thin():
    assert "09-evidence" in [p.stem for p in list_notebooks()]
    spec = read_notebook_spec(NB09)
    declared = {k: v.type for k, v in spec.parameters.items()}
    assert {"scenario": "str", "seed": "int", "method": "str", "hartung_knapp": "bool", "reps": "int"}.items() <= declared.items()
    assert "data" not in declared  # simulation and published numbers only: left out of reports of real data
    assert all(v.help for v in spec.parameters.values())
    nb = json.loads(NB09.read_text())
    first = "".join(nb["cells"][0]["source"])
    assert nb["cells"][0]["cell_type"] == "markdown" and "**Purpose.**" in first and "**How to run.**" in first
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    assert not re.search(r"^\s*(def|class)\s", code, flags=re.M)
    assert "import peerstudy as ps" in code
    assert all(not c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code")  # stored without outputs


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("nb09") / "rep"
    return run_report(scenario="outpatient_default", parameters={"reps": str(REPS), "seed": "7"}, out=out,
                      only=["09"], progress=False)


def test_recorded_meta_analysis_equals_the_package_run_directly(report):
    got = report.results["09-evidence"]
    eff = trial_effects()
    res = meta_analysis(eff["yi"], eff["vi"], labels=eff["label"], measure="OR", method="REML", test="knha")
    ma = got["meta_analysis"]
    for key in ("estimate", "se", "ci_lower", "ci_upper", "pi_lower", "pi_upper", "tau2", "i2", "q"):
        assert ma[key] == pytest.approx(getattr(res, key), rel=1e-12), key
    assert ma["labels"] == list(eff["label"]) and ma["test"] == "knha"
    pooled_or = math.exp(res.estimate)
    for row, r in zip(got["power_of_studies"], eff.itertuples()):
        hr = hazard_ratio_from_odds_ratio(pooled_or, r.unfavourable_control / r.n_control)
        d = r.unfavourable_peer + r.unfavourable_control
        assert row["power"] == pytest.approx(power_survival(hr, events=d, allocation=r.n_peer / (r.n_peer + r.n_control)).power)
    assert "summary" in got and f"{pooled_or:.2f}" in got["summary"]


def test_relived_trials_reproduce_their_published_counts(report):
    rows = {(r["trial"], r["effect"]): r for r in report.results["09-evidence"]["relived"]}
    nav = rows[("navigator_trial", "the trial's own")]
    # Navigator: 81 + 95 = 176 overdoses observed; the simulated trials see that many on average
    se_events = math.sqrt(648 * 0.27 * 0.73 / REPS)  # binomial SD of the total over the replicates' mean
    assert abs(nav["mean events"] - 176) < 4 * se_events
    assert nav["hazard ratio"] == preset("navigator_trial").hazard_ratio
    pilot = rows[("hospital_coach_pilot", "the trial's own")]
    assert abs(pilot["mean events"] - 15) < 4 * math.sqrt(25 * 0.6 * 0.4 / REPS)  # 8 + 7 left medication
    for r in rows.values():  # simulated power near the formula's within Monte Carlo error (plus a small model gap)
        assert abs(r["simulated power"] - r["formula power"]) < 4 * max(r["Monte Carlo SE"], 0.02) + 0.03


def test_report_page_has_the_figures_with_alt_text(report):
    html = (report.path / "09-evidence.html").read_text(encoding="utf-8")
    k = len(trial_effects())
    assert f'alt="Forest plot of {k} studies' in html and f'alt="Funnel plot of {k} studies' in html
    assert 'href="https://stacks.cdc.gov/view/cdc/170005"' in html and "doi:10.1111/acem.13545" in html
