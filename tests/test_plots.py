"""Figures from result objects: return the Axes, draw on a given Axes, suppress small at-risk counts."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from peerstudy.present import plots  # noqa: E402
from peerstudy.exceptions import DataError  # noqa: E402
from peerstudy.simulation.cohort import simulate_cohort  # noqa: E402
from peerstudy.survival import (cox_zph, cumulative_incidence, fit_cause_specific_cox, fit_cox,  # noqa: E402
                                fit_fine_gray, kaplan_meier)


@pytest.fixture(scope="module")
def cohort():
    return simulate_cohort("outpatient_default", rng=5, n=240)


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _texts(ax):
    """Texts of an Axes and of the tables drawn below it (its inset Axes, with their titles)."""
    return [text for a in (ax, *ax.child_axes) for text in [*(t.get_text() for t in a.texts), a.get_title(loc="left")]]


def test_number_at_risk_counts_people_still_observed(cohort):
    km = kaplan_meier(cohort, group="arm")
    days = [0, 30, 90, 179, 180, 400]
    for arm, curve in km.curves.items():
        t = cohort.loc[cohort["arm"] == arm, "time"].to_numpy()
        expected = [int((t >= d).sum()) for d in days]
        assert plots.number_at_risk(curve, days).tolist() == expected


def test_plot_km_draws_on_given_axes_with_at_risk_table(cohort):
    km = kaplan_meier(cohort, group="arm")
    fig, ax = plt.subplots()
    out = plots.plot_km(km, ax=ax, at_risk_days=[0, 90, 180], truth=cohort.attrs["truth"]["estimands"]["net_survival"])
    assert out is ax
    n_uc = plots.number_at_risk(km.curves["usual_care"], [0, 90, 180])
    texts = _texts(ax)
    assert "Number at risk" in texts and f"{n_uc[0]:,}" in texts and f"{n_uc[1]:,}" in texts
    assert len(ax.get_lines()) >= 4  # two curves + two truth series


def test_plot_km_suppresses_small_at_risk_counts(cohort):
    small = cohort.iloc[:30]
    km = kaplan_meier(small, group="arm")
    days = [0, 60, 120, 170]
    ax = plots.plot_km(km, at_risk_days=days, suppress=True)
    counts = np.concatenate([plots.number_at_risk(c, days) for c in km.curves.values()])
    assert ((counts >= 1) & (counts <= 10)).any(), "fixture should have small at-risk counts"
    texts = _texts(ax)
    assert "<11" in texts
    assert not any(t.isdigit() and 1 <= int(t) <= 10 for t in texts)
    # legends of real data do not show the group sizes either
    assert all("n =" not in t.get_text() for t in ax.get_legend().get_texts())


def test_forest_plot_of_one_or_several_models(cohort):
    cox = fit_cox(cohort, covariates=("arm", "age", "homeless"))
    ax = plots.plot_forest(cox, labels={"arm[peer]": "Peer coach"})
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Peer coach", "Age (years)", "Homeless or unstably housed"]
    # the top row is the first term, at its hazard ratio
    first = ax.get_lines()[0]
    assert first.get_xdata()[0] == pytest.approx(cox.to_dict()["terms"]["arm[peer]"]["hr"])
    fg = fit_fine_gray(cohort, covariates=("arm",))
    cs = fit_cause_specific_cox(cohort, covariates=("arm",))
    ax2 = plots.plot_forest({"Fine-Gray": fg, "Cause-specific": cs})
    assert [t.get_text() for t in ax2.get_legend().get_texts()] == ["Fine-Gray", "Cause-specific"]
    assert ax2.get_xscale() == "log"
    with pytest.raises(DataError, match="needs a fitted model"):
        plots.plot_forest({"x": {"no": 1}})


def test_schoenfeld_plot_and_unknown_term(cohort):
    cox = fit_cox(cohort, covariates=("arm", "age"))
    zph = cox_zph(cox)
    ax = plots.plot_schoenfeld(zph, "arm", coef=float(cox.coef[0]))
    assert "arm" in ax.get_title() and "p =" in ax.get_title()
    assert len(ax.collections) == 1 and ax.collections[0].get_offsets().shape[0] == cox.events
    with pytest.raises(DataError, match="term 'nope' has no Schoenfeld residuals"):
        plots.plot_schoenfeld(zph, "nope")


def test_cif_plot_one_line_per_cause_and_arm(cohort):
    cif = cumulative_incidence(cohort, group="arm")
    ax = plots.plot_cif(cif, truth=cohort.attrs["truth"]["estimands"]["cif"])
    steps = [ln for ln in ax.get_lines() if ln.get_drawstyle().startswith("steps")]
    assert len(steps) == len(cif.causes) * 2
    for ln in steps:
        y = ln.get_ydata()
        assert np.all(np.diff(y) >= -1e-12) and y[0] == 0


def test_enrolment_plot_hides_small_month_counts(cohort):
    small = cohort.iloc[:40]
    ax = plots.plot_enrolment(small, suppress=True)
    heights = [p.get_height() for p in ax.patches]
    assert not any(1 <= h <= 10 for h in heights)
    assert "<11" in _texts(ax)
    ax2 = plots.plot_enrolment(small, suppress=False)
    assert sum(p.get_height() for p in ax2.patches) == 40
    with pytest.raises(DataError, match="column 'enrolled_on' not in the data"):
        plots.plot_enrolment(small.drop(columns="enrolled_on"))


def test_km_figure_has_the_parts_of_a_published_one(cohort):
    from peerstudy.survival import logrank_test

    km = kaplan_meier(cohort, group="arm")
    p = plots.logrank_p(km)
    assert p == pytest.approx(logrank_test(cohort, group="arm").p, rel=1e-9)  # the R-checked test
    ax = plots.plot_km(km, at_risk_days=[0, 60, 120, 180])
    legend = ax.get_legend()
    assert legend.get_title().get_text().startswith("Log-rank p")
    assert {"Censored"} <= {t.get_text() for t in legend.get_texts()}
    marks = [ln for ln in ax.get_lines() if ln.get_marker() == "|" and len(ln.get_xdata())]
    for arm, line in zip(km.curves, marks):
        c = km.curves[arm]
        assert len(line.get_xdata()) == int((np.asarray(c.n_censor) > 0).sum())
    texts = _texts(ax)
    assert "Cumulative dropouts" in texts
    for arm, c in km.curves.items():
        t, e = cohort.loc[cohort["arm"] == arm, "time"], cohort.loc[cohort["arm"] == arm, "event"]
        assert plots.survival.cumulative_count(c, [60, 180]).tolist() == [int(e[t <= 60].sum()), int(e[t <= 180].sum())]
    medians = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
    for line, (arm, d) in zip(medians, km.to_dict().items()):
        assert line.get_xdata()[1] == pytest.approx(d["median"])
    private = plots.plot_km(km, suppress=True)
    assert not [ln for ln in private.get_lines() if ln.get_marker() == "|" and len(ln.get_xdata())]


def test_forest_prints_each_estimate_and_cif_has_bands_and_a_risk_table(cohort):
    cox = fit_cox(cohort, covariates=("arm", "age"))
    ax = plots.plot_forest(cox, labels={"arm[peer]": "Peer coach vs usual care"})
    t = cox.to_dict()["terms"]["arm[peer]"]
    assert f"{t['hr']:.2f} ({t['ci_lower']:.2f} to {t['ci_upper']:.2f})" in _texts(ax)
    cif = cumulative_incidence(cohort, group="arm")
    ax = plots.plot_cif(cif, truth=cohort.attrs["truth"]["estimands"]["cif"])
    assert "Number at risk" in _texts(ax)
    assert "Truth (simulation)" in [x.get_text() for x in ax.get_legend().get_texts()]
    bands = ax.collections
    assert len(bands) == len(cif.causes) * len(cif.curves)
    for band in bands:
        y = np.concatenate([p.vertices[:, 1] for p in band.get_paths()])
        assert y.min() >= 0 and y.max() <= 1
