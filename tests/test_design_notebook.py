"""Report notebook 04's group-sequential and non-PH sections, and the boundaries figure they draw.

The notebook runs under the report runner on small settings; what it records must equal the design functions run
directly (those are checked against rpact in test_design_sequential and by simulation in test_design_nonph), and
the sentences it prints must carry those numbers.
"""

from __future__ import annotations

import html
import math
from pathlib import Path

import pytest

import peerstudy as ps
from peerstudy.exceptions import DataError
from peerstudy.report import run_report
from peerstudy.simulation.truth import compute_truth

NB04 = Path(__file__).resolve().parents[1] / "notebooks" / "04-study-design.ipynb"
SEED, N, REPS = 11, 400, 40


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("nb04") / "rep"
    return run_report([NB04], scenario="outpatient_default",
                      parameters={"seed": str(SEED), "n": str(N), "reps": str(REPS), "oc_reps": "20"}, out=out,
                      progress=False)


def _timing():
    sc = ps.preset("outpatient_default").replace(n=N)
    end = compute_truth(sc).to_dict()["estimands"]["net_survival"]["usual_care"][str(sc.follow_up_days)]
    other = -math.expm1(math.log1p(-sc.loss_to_follow_up_per_year) - sc.incarceration_rate - sc.death_rate)
    return sc, dict(allocation=0.5, control_median=sc.follow_up_days * math.log(2) / -math.log(end),
                    accrual=sc.enrolment_days, follow_up=sc.follow_up_days, lost=other, follow_up_type="fixed")


def test_sequential_design_equals_the_function_and_the_sentence_quotes_it(report):
    got = report.results["04-study-design"]["sequential"]
    sc, timing = _timing()
    direct = ps.sample_size_sequential(ps.group_sequential_design(looks=3, design="asOF"), sc.hazard_ratio, **timing)
    assert got["critical_values"] == pytest.approx(list(direct.critical_values), rel=1e-12)
    assert got["critical_values_hr"] == pytest.approx(list(direct.critical_values_hr), rel=1e-12)
    assert got["max_events"] == direct.max_events and got["max_subjects"] == direct.max_subjects
    page = html.unescape((report.path / "04-study-design.html").read_text())
    assert f"needs at most {direct.max_events:,} dropouts ({direct.max_subjects:,} participants)" in page
    assert f"at or below {direct.critical_values_hr[0]:.2f} (z of {direct.critical_values[0]:.2f})" in page


def test_nonph_comparison_equals_the_simulation_run_directly(report):
    got = report.results["04-study-design"]["nonph"]
    sc, _ = _timing()
    direct = ps.simulate_nonph(sc.replace(effect_stops_day=90), reps=5 * REPS, seed=SEED)
    assert got["reps"] == 5 * REPS and got["simulated"] == direct["simulated"]
    assert got["formula"]["power"] == pytest.approx(direct["formula"]["power"], rel=1e-12)
    page = html.unescape((report.path / "04-study-design.html").read_text())
    best = max(direct["formula"]["power"], key=direct["formula"]["power"].get)
    assert f"the formulas give the log-rank test {direct['formula']['power']['logrank']:.0%} power" in page
    assert f"{direct['formula']['power'][best]:.0%} (simulated:" in page
    assert f"of the 5 formulas are within 2 Monte Carlo SEs of the {5 * REPS:,} simulated studies" in page


def test_plot_boundaries_both_scales_and_alt_text():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from peerstudy import plots

    two = ps.sample_size_sequential(ps.group_sequential_design(looks=3), 0.8)
    axes = plots.plot_boundaries(two)
    z_lines, hr_lines = axes[0].get_lines(), axes[1].get_lines()
    assert list(z_lines[0].get_ydata()) == pytest.approx(list(two.critical_values))
    assert list(z_lines[1].get_ydata()) == pytest.approx([-v for v in two.critical_values])
    assert list(hr_lines[0].get_ydata()) == pytest.approx(list(two.critical_values_hr))
    assert list(hr_lines[1].get_ydata()) == pytest.approx(list(two.critical_values_hr_other))
    text = plots.alt_text(axes[0].figure)
    assert "two-sided group-sequential design with 3 looks" in text and f"{two.critical_values[0]:.2f}" in text
    one = ps.sample_size_sequential(ps.group_sequential_design(looks=3, sided=1, alpha=0.025, futility=(0, 0.5)), 0.8)
    axes = plots.plot_boundaries(one.to_dict())
    labels = [ln.get_label() for ln in axes[0].get_lines()]
    assert "stop: futility" in labels and "stop: harm shown" not in labels
    assert "futility z bounds 0.00, 0.50" in plots.alt_text(axes[0].figure)
    plt.close("all")
    with pytest.raises(DataError, match="plot_boundaries needs a SequentialDesign or its to_dict"):
        plots.plot_boundaries({"looks": 3})
