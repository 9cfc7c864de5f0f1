"""Forest and funnel plots of a meta-analysis: what they draw, what they print, their alt text."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from peerstudy.evidence import egger_test, meta_analysis, trial_effects  # noqa: E402
from peerstudy.exceptions import DataError  # noqa: E402
from peerstudy.present import plots  # noqa: E402

Y = [-0.5, -0.1, 0.2, -0.3, 0.1]
V = [0.04, 0.09, 0.05, 0.02, 0.1]


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def trials():
    eff = trial_effects()
    return meta_analysis(eff["yi"], eff["vi"], labels=eff["label"], measure="OR", test="knha")


def _all_texts(fig):
    return [t.get_text() for a in fig.axes for t in a.texts]


def test_forest_prints_every_estimate_interval_and_weight(trials):
    ax = plots.plot_meta_forest(trials)
    texts = _all_texts(ax.figure)
    for r in trials.studies().itertuples():
        assert f"{r.estimate:.2f} [{r.ci_lower:.2f}, {r.ci_upper:.2f}]" in texts
        assert f"{r.weight:.1f}%" in texts
    pooled = f"{np.exp(trials.estimate):.2f} [{np.exp(trials.ci_lower):.2f}, {np.exp(trials.ci_upper):.2f}]"
    assert pooled in texts and "100%" in texts
    assert f"[{np.exp(trials.pi_lower):.2f}, {np.exp(trials.pi_upper):.2f}]" in texts
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[:trials.k] == list(trials.labels) and "95% prediction interval" in labels[-1]
    assert any("Hartung-Knapp" in s for s in labels)


def test_forest_draws_a_diamond_spanning_the_pooled_interval_on_a_log_axis(trials):
    ax = plots.plot_meta_forest(trials)
    assert ax.get_xscale() == "log"
    diamond = ax.patches[0].get_xy()[:, 0]
    assert diamond.min() == pytest.approx(np.exp(trials.ci_lower)) and diamond.max() == pytest.approx(np.exp(trials.ci_upper))
    ticks = ax.get_xticks()
    assert 1.0 in ticks and len([t for t in ticks if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]) >= 3
    assert all(lab.get_text() in {f"{t:g}" for t in ticks} for lab in ax.get_xticklabels())


def test_forest_alt_text_names_studies_pooled_estimate_and_heterogeneity(trials):
    ax = plots.plot_meta_forest(trials)
    alt = plots.alt_text(ax)
    assert alt.startswith(f"Forest plot of {trials.k} studies' odds ratios")
    assert all(label in alt for label in trials.labels)
    assert f"I² = {trials.i2:.0f}%" in alt and "prediction interval" in alt


def test_common_effect_forest_has_no_prediction_row_and_differences_are_linear():
    res = meta_analysis(Y, V, method="FE", measure="RD")
    ax = plots.plot_meta_forest(res)
    assert ax.get_xscale() == "linear"
    assert not any("prediction" in t.get_text() for t in ax.get_yticklabels())
    assert "below 0 favours peer support" in ax.get_xlabel()


def test_forest_draws_on_a_given_axes():
    fig, ax = plt.subplots()
    out = plots.plot_meta_forest(meta_analysis(Y, V, measure="HR"), ax=ax)
    assert out is ax and len(ax.child_axes) == 1


def test_funnel_puts_precise_studies_on_top_and_reports_egger():
    res = meta_analysis(Y, V, measure="OR", labels=list("abcde"))
    eg = egger_test(Y, V)
    ax = plots.plot_funnel(res, egger=eg)
    lo, hi = ax.get_ylim()
    assert lo > hi == 0  # inverted: standard error 0 at the top
    assert "Egger" in ax.get_title(loc="left") and f"p = {eg.pvalue:.2g}" in plots.alt_text(ax)
    assert [t.get_text() for t in ax.texts] == list("abcde")


@pytest.mark.parametrize("call", [lambda: plots.plot_meta_forest({"estimate": 1}),
                                  lambda: plots.plot_funnel([1, 2]),
                                  lambda: plots.plot_meta_forest(meta_analysis(Y, V), labels=["a"])])
def test_bad_input_raises_data_error(call):
    with pytest.raises(DataError):
        call()
