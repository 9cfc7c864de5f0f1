"""peerstudy.evidence.meta against R's metafor (tests/reference/metafor.R -> metafor.json), to 1e-6 relative.

Two data sets: the evidence table shipped with the package (log odds ratios of the unfavourable outcome) and
metafor's BCG vaccine trials (dat.bcg, log risk ratios), a public example the package was not built on. For each
of FE, DL and REML with normal and Hartung-Knapp inference: the pooled estimate, its SE, statistic, p-value,
interval, tau2, Q, I2, H2, the prediction interval, the weights and the Q-profile intervals of tau2 and I2;
leave-one-out (REML); Egger's regression test (regtest, model "rma" under four models and "lm"); subgroups.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from peerstudy.evidence import (effect_sizes, effects_from_ci, egger_test, leave_one_out, meta_analysis,
                                subgroup_analysis, trial_effects)
from peerstudy.exceptions import DataError, ParameterError

from conftest import REFERENCE

R = json.loads((REFERENCE / "metafor.json").read_text())
BCG = pd.read_csv(REFERENCE / "metafor_bcg.csv")
RTOL = 1e-6


def close(got, want, rtol=RTOL, atol=1e-10):
    np.testing.assert_allclose(np.asarray(got, dtype=float), np.asarray(want, dtype=float), rtol=rtol, atol=atol)


@pytest.fixture(scope="module")
def data():
    eff = trial_effects(measure="OR")
    bcg = effect_sizes(BCG["tpos"], BCG["tpos"] + BCG["tneg"], BCG["cpos"], BCG["cpos"] + BCG["cneg"], measure="RR")
    return {"trials": (eff["yi"].to_numpy(), eff["vi"].to_numpy()), "bcg": (bcg["yi"].to_numpy(), bcg["vi"].to_numpy())}


@pytest.mark.parametrize("name", ["trials", "bcg"])
def test_effect_sizes_equal_escalc(data, name):
    y, v = data[name]
    close(y, R[name]["yi"])
    close(v, R[name]["vi"])


@pytest.mark.parametrize("name", ["trials", "bcg"])
@pytest.mark.parametrize("method", ["FE", "DL", "REML"])
@pytest.mark.parametrize("test", ["z", "knha"])
def test_pooled_heterogeneity_and_prediction_equal_rma(data, name, method, test):
    y, v = data[name]
    ref = R[name][f"{method}_{test}"]
    res = meta_analysis(y, v, method=method, test=test)
    close([res.estimate, res.se, res.statistic, res.pvalue, res.ci_lower, res.ci_upper],
          [ref["b"], ref["se"], ref["zval"], ref["pval"], ref["ci_lb"], ref["ci_ub"]])
    close([res.tau2, res.q, res.q_pvalue, res.i2, res.h2], [ref["tau2"], ref["QE"], ref["QEp"], ref["I2"], ref["H2"]])
    close(res.weights, ref["weights"])
    assert res.df == (None if test == "z" else len(y) - 1)
    if method != "FE":  # predict.rma gives no prediction interval for a common-effect model
        close([res.pi_lower, res.pi_upper], [ref["pi_lb"], ref["pi_ub"]])
        close(res.tau2_ci, ref["tau2_ci"])
        close(res.i2_ci, ref["I2_ci"])


@pytest.mark.parametrize("name", ["trials", "bcg"])
def test_leave_one_out_equals_leave1out(data, name):
    y, v = data[name]
    ref = R[name]["leave1out_REML_z"]
    loo = leave_one_out(y, v, method="REML")
    for ours, theirs in (("estimate", "estimate"), ("se", "se"), ("ci_lower", "ci_lb"), ("ci_upper", "ci_ub"),
                         ("pvalue", "pval"), ("q", "Q"), ("tau2", "tau2"), ("i2", "I2")):
        close(loo[ours], ref[theirs])


@pytest.mark.parametrize("name", ["trials", "bcg"])
@pytest.mark.parametrize("method,test", [("REML", "z"), ("DL", "z"), ("REML", "knha"), ("FE", "z")])
def test_egger_rma_equals_regtest(data, name, method, test):
    y, v = data[name]
    ref = R[name][f"regtest_rma_{method}_{test}"]
    eg = egger_test(y, v, model="rma", method=method, test=test)
    close([eg.statistic, eg.pvalue, eg.slope, eg.slope_se, eg.limit_estimate],
          [ref["zval"], ref["pval"], ref["slope"], ref["slope_se"], ref["est"]])
    assert eg.df == (None if ref["dfs"] is None else ref["dfs"])


@pytest.mark.parametrize("name", ["trials", "bcg"])
def test_egger_lm_equals_regtest_lm(data, name):
    y, v = data[name]
    ref = R[name]["regtest_lm"]
    eg = egger_test(y, v, model="lm")
    close([eg.statistic, eg.pvalue, eg.slope, eg.limit_estimate], [ref["zval"], ref["pval"], ref["slope"], ref["est"]])
    assert eg.df == ref["dfs"] == len(y) - 2


@pytest.mark.parametrize("method", ["REML", "DL"])
def test_subgroups_equal_separate_rma_fits(data, method):
    y, v = data["bcg"]
    ref = R["bcg"][f"subgroup_alloc_{method}"]
    sg = subgroup_analysis(y, v, BCG["alloc"], variable="allocation", method=method)
    assert list(sg.fits) == ref["levels"]
    close([r.estimate for r in sg.fits.values()], ref["estimate"])
    close([r.se for r in sg.fits.values()], ref["se"])
    close([r.tau2 for r in sg.fits.values()], ref["tau2"])
    close([sg.q_between, sg.pvalue_between], [ref["Q_between"], ref["p_between"]])
    assert sg.df_between == 2 and list(sg.table()["allocation"]) == ref["levels"]


def test_reference_outputs_were_made_from_the_shipped_table():
    """metafor.json is regenerated whenever the evidence table changes (Rscript --vanilla tests/reference/metafor.R)."""
    assert R["trials"]["study_id"] == list(trial_effects()["study_id"])


@pytest.mark.parametrize("variable,method", [("design", "REML"), ("design", "DL"), ("setting", "REML")])
def test_subgroups_of_the_evidence_table_equal_separate_rma_fits(data, variable, method):
    y, v = data["trials"]
    ref = R["trials"][f"subgroup_{variable}_{method}"]
    sg = subgroup_analysis(y, v, trial_effects()[variable], variable=variable, method=method)
    assert list(sg.fits) == ref["levels"]
    close([r.estimate for r in sg.fits.values()], ref["estimate"])
    close([r.se for r in sg.fits.values()], ref["se"])
    close([r.tau2 for r in sg.fits.values()], ref["tau2"])
    close([sg.q_between, sg.pvalue_between], [ref["Q_between"], ref["p_between"]])


def test_hartung_knapp_widens_or_narrows_by_its_scale_only(data):
    y, v = data["bcg"]
    z, hk = meta_analysis(y, v, method="REML"), meta_analysis(y, v, method="REML", test="knha")
    assert hk.estimate == z.estimate and hk.tau2 == z.tau2
    w = 1 / (np.asarray(v) + z.tau2)
    scale = np.sum(w * (np.asarray(y) - z.estimate) ** 2) / (len(y) - 1)
    assert hk.se == pytest.approx(z.se * math.sqrt(scale), rel=1e-12)


def test_effects_from_ci_recover_the_standard_error():
    es = effects_from_ci([0.86], [0.67], [1.11])
    se = (math.log(1.11) - math.log(0.67)) / (2 * 1.959963984540054)
    assert es["yi"].iloc[0] == pytest.approx(math.log(0.86)) and es["vi"].iloc[0] == pytest.approx(se**2)


def test_zero_cells_get_half_added_as_escalc_does():
    es = effect_sizes([0], [10], [3], [10], measure="OR")
    assert es["yi"].iloc[0] == pytest.approx(math.log(0.5 * 7.5 / (10.5 * 3.5)))
    assert es["vi"].iloc[0] == pytest.approx(1 / 0.5 + 1 / 10.5 + 1 / 3.5 + 1 / 7.5)


def test_result_shows_itself_and_serialises(data):
    labels = [f"s{i}" for i in range(data["trials"][0].size)]
    res = meta_analysis(*data["trials"], measure="OR", labels=labels)
    html = res._repr_html_()
    assert "pooled (REML)" in html and "Prediction interval" in html and "<table>" in html
    d = json.loads(json.dumps(res.to_dict()))
    assert d["labels"] == labels and d["k"] == len(labels) and d["tau"] == pytest.approx(math.sqrt(res.tau2))
    assert res.studies()["estimate"].tolist() == pytest.approx(np.exp(data["trials"][0]).tolist())


@pytest.mark.parametrize("call,match", [
    (lambda: meta_analysis([], []), "at least one study"),
    (lambda: meta_analysis([0.1, 0.2], [0.1]), "one value per study"),
    (lambda: meta_analysis([0.1, 0.2], [0.1, 0.0]), "vi .* > 0"),
    (lambda: meta_analysis([0.1, np.nan], [0.1, 0.1]), "yi must be finite"),
    (lambda: meta_analysis([0.1], [0.1], test="knha"), "at least 2 studies"),
    (lambda: egger_test([0.1, 0.2], [0.1, 0.1]), "at least 3 studies"),
    (lambda: effect_sizes([5], [4], [1], [4]), "events_peer must be <= n_peer"),
    (lambda: effect_sizes([1.5], [4], [1], [4]), "whole numbers"),
    (lambda: effects_from_ci([0.5], [0.6], [0.9]), "bracket the estimate"),
    (lambda: subgroup_analysis([0.1, 0.2], [0.1, 0.1], ["a", "a"]), "at least 2 groups"),
])
def test_bad_input_raises_one_clear_data_error(call, match):
    with pytest.raises(DataError, match=match):
        call()


@pytest.mark.parametrize("kwargs,match", [({"method": "PM"}, "method must be"), ({"test": "t"}, "test must be"),
                                          ({"level": 1.5}, "level must be"), ({"measure": "SMD"}, "measure must be")])
def test_bad_options_raise_parameter_error(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        meta_analysis([0.1, 0.2], [0.1, 0.1], **kwargs)


def test_hartung_knapp_interval_covers_the_true_mean_in_simulated_meta_analyses():
    """Recovery of a known truth: 400 meta-analyses of 8 studies, true mean -0.2, tau2 0.05."""
    rng = np.random.default_rng(20250101)
    mu, tau2, reps, k = -0.2, 0.05, 400, 8
    covered, estimates = 0, []
    for _ in range(reps):
        v = rng.uniform(0.02, 0.2, size=k)
        y = rng.normal(mu, np.sqrt(v + tau2))
        r = meta_analysis(y, v, method="REML", test="knha")
        covered += r.ci_lower <= mu <= r.ci_upper
        estimates.append(r.estimate)
    mcse = math.sqrt(0.95 * 0.05 / reps)
    assert abs(covered / reps - 0.95) < 3.5 * mcse
    assert abs(np.mean(estimates) - mu) < 3.5 * np.std(estimates) / math.sqrt(reps)


def test_order_of_studies_does_not_matter(data):
    y, v = data["bcg"]
    order = np.random.default_rng(3).permutation(len(y))
    a, b = meta_analysis(y, v), meta_analysis(y[order], v[order])
    for key in ("estimate", "se", "tau2", "q", "i2", "pi_lower", "pi_upper"):
        assert getattr(a, key) == pytest.approx(getattr(b, key), rel=1e-9), key
    assert a.tau2_ci == pytest.approx(b.tau2_ci, rel=1e-9)
