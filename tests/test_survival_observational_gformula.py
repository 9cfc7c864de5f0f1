"""Standardised (g-formula) risks from a Cox model against R's riskRegression::ate, bootstrap and input errors.

R reference: tests/reference/observational2.R (riskRegression::ate, estimator "GFORMULA", known.nuisance = FALSE)
on tests/reference/observational_cohort.csv. Estimates to 1e-5 relative, SEs to 1e-3.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import peerstudy.survival.observational.gformula as G
from peerstudy.exceptions import AnalysisError, ParameterError, SchemaError
from peerstudy.survival.observational._coxfit import fit_cox_model
from peerstudy.survival.observational.gformula import gformula_survival

REF = Path(__file__).parent / "reference"
COVS = ["age", "homeless", "stimulant_use", "depression"]
DAYS = ("30", "90", "180")


@pytest.fixture(scope="module")
def ref():
    return json.loads((REF / "observational2.json").read_text())


@pytest.fixture(scope="module")
def cohort():
    return pd.read_csv(REF / "observational_cohort.csv")


@pytest.fixture(scope="module")
def untied(cohort):
    d = cohort.copy()
    d["time"] = d["time"] + np.arange(1, len(d) + 1) / 10000
    return d


def _compare(res, R, *, se=True):
    for arm in ("usual_care", "peer"):
        for day in DAYS:
            a, b = res["risk"][arm][day], R["risk"][arm][day]
            assert a["estimate"] == pytest.approx(b["estimate"], rel=1e-5)
            if se:
                assert a["se"] == pytest.approx(b["se"], rel=1e-3)
    for q in ("difference", "ratio"):
        for day in DAYS:
            a, b = res[q][day], R[q][day]
            assert a["estimate"] == pytest.approx(b["estimate"], rel=1e-5)
            if se:
                assert a["se"] == pytest.approx(b["se"], rel=1e-3)


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_gformula_estimates_match_riskregression(cohort, ref, ties):
    res = gformula_survival(cohort, covariates=COVS, ties=ties).to_dict()
    _compare(res, ref[ties]["estimated_nuisance"]["GFORMULA"], se=False)


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_gformula_se_matches_riskregression_with_its_tie_convention(cohort, ref, ties, monkeypatch):
    # riskRegression counts one event per distinct time in the coefficients' influence function
    monkeypatch.setattr(G, "_TIE_COUNTS", False)
    res = gformula_survival(cohort, covariates=COVS, ties=ties).to_dict()
    _compare(res, ref[ties]["estimated_nuisance"]["GFORMULA"])


def test_gformula_matches_riskregression_without_ties(untied, ref):
    # the default (R's dfbeta, counting tied events) equals riskRegression when no events are tied
    res = gformula_survival(untied, covariates=COVS, ties="breslow").to_dict()
    _compare(res, ref["untied"]["estimated_nuisance"]["GFORMULA"])


def test_tie_counted_se_is_larger_on_tied_days(cohort, ref):
    # with many tied days the dfbeta influence function gives (here) larger SEs than riskRegression's
    res = gformula_survival(cohort, covariates=COVS, ties="breslow").to_dict()
    R = ref["breslow"]["estimated_nuisance"]["GFORMULA"]
    assert res["difference"]["90"]["se"] > R["difference"]["90"]["se"]


def test_iid_beta_is_dfbeta_and_sums_to_zero(cohort):
    from peerstudy.survival.cox.engine import fit_cox

    m = fit_cox_model(cohort, time="time", event="event", covariates=["arm", *COVS], ties="breslow")
    ib = m.iid_beta()
    np.testing.assert_allclose(ib.sum(axis=0), 0, atol=1e-12)
    # robust (sandwich) SE of coxph = sqrt(sum dfbeta^2)
    fit = fit_cox(cohort.assign(w=1.0 + 1e-12), covariates=["arm", *COVS], weights="w", ties="breslow")
    np.testing.assert_allclose(np.sqrt((ib ** 2).sum(axis=0)), fit.robust_se, rtol=1e-6)


def test_rmst_difference_is_area_between_curves(cohort):
    res = gformula_survival(cohort, covariates=COVS, horizons=(30, 90, 180), tau=90)
    c = res.curves
    t = np.concatenate([[0.0], c["time"].to_numpy()])
    keep = t < 90
    widths = np.diff(np.append(t[keep], 90.0))
    areas = {}
    for arm in res.labels:
        s = np.concatenate([[1.0], c[arm].to_numpy()])[keep]
        areas[arm] = float((s * widths).sum())
    assert res.rmst_difference["estimate"] == pytest.approx(areas["peer"] - areas["usual_care"], rel=1e-12)
    assert res.rmst["peer"]["estimate"] == pytest.approx(areas["peer"], rel=1e-12)


def test_bootstrap_se_near_influence_se(cohort):
    inf = gformula_survival(cohort, covariates=COVS).to_dict()
    boot = gformula_survival(cohort, covariates=COVS, se="bootstrap", n_boot=200, rng=3).to_dict()
    assert boot["seed"] == 3 and boot["n_boot"] == 200
    for day in DAYS:
        assert boot["difference"][day]["estimate"] == pytest.approx(inf["difference"][day]["estimate"], rel=1e-12)
        # 200 resamples: the SD of an SD estimate is about 5%
        assert boot["difference"][day]["se"] == pytest.approx(inf["difference"][day]["se"], rel=0.2)
    assert boot["rmst_difference"]["se"] == pytest.approx(inf["rmst_difference"]["se"], rel=0.2)
    again = gformula_survival(cohort, covariates=COVS, se="bootstrap", n_boot=20, rng=np.random.default_rng(5))
    assert again.seed is not None


def test_same_seed_same_bootstrap(cohort):
    a = gformula_survival(cohort, covariates=COVS, se="bootstrap", n_boot=20, rng=11).to_dict()
    b = gformula_survival(cohort, covariates=COVS, se="bootstrap", n_boot=20, rng=11).to_dict()
    assert a == b


def test_to_dict_contract(cohort):
    d = gformula_survival(cohort, covariates=COVS).to_dict()
    assert d["method"] == "gformula"
    assert set(d["risk"]) == {"usual_care", "peer"}
    assert set(d["risk"]["peer"]["90"]) >= {"estimate", "se"}
    assert set(d["rmst_difference"]) >= {"tau", "estimate", "se", "ci_lower", "ci_upper"}
    json.dumps(d)


def test_errors(cohort):
    with pytest.raises(SchemaError, match="nope"):
        gformula_survival(cohort, covariates=["nope"])
    with pytest.raises(ParameterError, match="se must be one of"):
        gformula_survival(cohort, covariates=COVS, se="jackknife")
    with pytest.raises(ParameterError, match="tau must be within the follow-up"):
        gformula_survival(cohort, covariates=COVS, tau=5000)
    with pytest.raises(ParameterError, match="must not include the treatment"):
        gformula_survival(cohort, covariates=["arm", "age"])
    three = cohort.assign(arm=np.where(cohort.index % 3 == 0, "other", cohort["arm"]))
    with pytest.raises(AnalysisError, match="exactly two levels"):
        gformula_survival(three, covariates=COVS)
    with pytest.raises(ParameterError, match="n_boot"):
        gformula_survival(cohort, covariates=COVS, se="bootstrap", n_boot=5)
    coded = cohort.assign(arm=np.where(cohort["arm"] == "peer", 2, 1))
    with pytest.raises(AnalysisError, match="must be coded 0/1"):
        gformula_survival(coded, covariates=COVS)


def test_numeric_01_treatment_equals_labelled_arms(cohort):
    a = gformula_survival(cohort, covariates=COVS).to_dict()
    b = gformula_survival(cohort.assign(arm=(cohort["arm"] == "peer").astype(int)), covariates=COVS).to_dict()
    assert b["risk"]["1"]["90"]["estimate"] == pytest.approx(a["risk"]["peer"]["90"]["estimate"], rel=1e-12)


def test_plot_adjusted_curves_draws_each_method_and_the_truth(cohort):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from peerstudy.present.plots import alt_text, plot_adjusted_curves

    res = gformula_survival(cohort, covariates=COVS, horizons=(30, 90))
    truth = {"usual_care": {"30": 0.8, "90": 0.5}, "peer": {"30": 0.9, "90": 0.6}}
    ax = plot_adjusted_curves({"g-formula": res}, truth=truth)
    assert len(ax.lines) == 4
    assert "g-formula" in alt_text(ax.figure) and "true retention" in alt_text(ax.figure)
    plt.close(ax.figure)
    with pytest.raises(AnalysisError, match="needs AdjustedRisk"):
        plot_adjusted_curves({"x": 1})


def test_resampled_survival_in_blocks_equals_the_double_precision_mean():
    """The bootstrap's single-precision, blocked standardised survival against the plain double-precision mean over
    the resampled rows (more people than one block)."""
    from peerstudy.survival.observational.gformula import _SURV_BLOCK, _resampled_survival

    rng = np.random.default_rng(8)
    n = 2 * _SURV_BLOCK + 321
    X = np.column_stack([np.zeros(n), rng.normal(size=n), rng.integers(0, 2, n)])
    beta = np.array([-0.3, 0.4, 0.2])
    counts = np.bincount(rng.integers(0, n, n), minlength=n)
    L = np.linspace(0.01, 1.5, 37)
    got = _resampled_survival(beta, X, counts, L)
    rows = np.repeat(np.arange(n), counts)
    for a, value in enumerate((0.0, 1.0)):
        Xa = X[rows].copy()
        Xa[:, 0] = value
        expect = np.exp(-np.outer(L, np.exp(Xa @ beta))).mean(axis=1)
        np.testing.assert_allclose(got[a], expect, rtol=1e-6)
