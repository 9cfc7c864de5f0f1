"""Overlap, ATE and ATT weights, Crump trimming, and SEs that refit the propensity model."""

import numpy as np
import pandas as pd
import pytest
from pathlib import Path

from peerstudy.exceptions import ParameterError
from peerstudy.survival.cox.engine import fit_cox
from peerstudy.survival.observational.iptw import weighted_kaplan_meier
from peerstudy.survival.observational.overlap import crump_keep, estimand_weights, weighted_comparison
from peerstudy.survival.observational.weighting import fit_propensity

REF = Path(__file__).parent / "reference"
COVS = ["age", "homeless", "stimulant_use", "depression"]


@pytest.fixture(scope="module")
def cohort():
    return pd.read_csv(REF / "observational_cohort.csv")


def test_weights_formulas():
    ps, a = np.array([0.2, 0.2, 0.6, 0.6]), np.array([1, 0, 1, 0])
    np.testing.assert_allclose(estimand_weights(ps, a, "ate"), [5, 1.25, 1 / 0.6, 2.5])
    np.testing.assert_allclose(estimand_weights(ps, a, "att"), [1, 0.25, 1, 1.5])
    np.testing.assert_allclose(estimand_weights(ps, a, "overlap"), [0.8, 0.2, 0.4, 0.6])
    np.testing.assert_array_equal(crump_keep(np.array([0.05, 0.1, 0.5, 0.95]), 0.1), [False, True, True, False])


def test_overlap_weights_balance_means_exactly(cohort):
    # Li, Morgan and Zaslavsky (2018): overlap weights from a logistic model balance every model term exactly
    pm = fit_propensity(cohort, covariates=COVS)
    w = estimand_weights(pm.scores, pm.treated, "overlap")
    X = pm._design["X"].to_numpy()
    t = pm.treated == 1
    np.testing.assert_allclose(np.average(X[t], weights=w[t], axis=0), np.average(X[~t], weights=w[~t], axis=0),
                               rtol=1e-8)


@pytest.mark.parametrize("estimand", ["ate", "att", "overlap"])
def test_naive_parts_equal_weighted_km_and_cox(cohort, estimand):
    res = weighted_comparison(cohort, propensity=COVS, estimand=estimand, n_boot=0).to_dict()
    pm = fit_propensity(cohort, covariates=COVS)
    w = estimand_weights(pm.scores, pm.treated, estimand)
    km = weighted_kaplan_meier(cohort, weights=w)
    s = km.survival_at([90])
    assert res["risk"]["peer"]["90"]["estimate"] == pytest.approx(1 - s.loc[90, "peer"], rel=1e-12)
    fit = fit_cox(cohort.assign(w=w), covariates=["arm"], weights="w")
    assert res["hazard_ratio"]["log_hr"] == pytest.approx(fit.coef[0], rel=1e-10)
    assert res["hazard_ratio"]["se_naive"] == pytest.approx(fit.robust_se[0], rel=1e-10)
    assert res["rmst_difference"]["estimate"] == pytest.approx(
        np.diff(list(km.rmst(180).values()))[0], rel=1e-10)


def test_bootstrap_refits_propensity_and_is_reproducible(cohort):
    a = weighted_comparison(cohort, propensity=COVS, n_boot=40, rng=4).to_dict()
    b = weighted_comparison(cohort, propensity=COVS, n_boot=40, rng=4).to_dict()
    assert a == b
    assert 0.5 < a["hazard_ratio"]["se"] / a["hazard_ratio"]["se_naive"] < 2


def test_crump_trimming_names_population(cohort):
    res = weighted_comparison(cohort, propensity=COVS, estimand="ate", trim=0.2, n_boot=0).to_dict()
    pm = fit_propensity(cohort, covariates=COVS)
    assert res["trim"]["n_dropped"] == int((~crump_keep(pm.scores, 0.2)).sum()) > 0
    assert "Crump" in res["estimand_description"] and "ATE" in res["estimand_description"]


def test_errors(cohort):
    with pytest.raises(ParameterError, match="estimand must be one of"):
        weighted_comparison(cohort, propensity=COVS, estimand="atc")
    with pytest.raises(ParameterError, match="trim alpha must be below 0.5"):
        weighted_comparison(cohort, propensity=COVS, trim=0.6)
    with pytest.raises(ParameterError, match="n_boot must be 0"):
        weighted_comparison(cohort, propensity=COVS, n_boot=5)


@pytest.mark.parametrize("name,estimand,trim", [("overlap", "overlap", None), ("att", "att", None),
                                                ("ate", "ate", None), ("ate_trimmed", "ate", 0.2)])
def test_weighted_comparison_matches_r_weights_by_hand(cohort, name, estimand, trim):
    """tests/reference/observational3.R: glm propensity, the weights written out, survfit and coxph(robust)."""
    import json

    r = json.loads((REF / "observational3.json").read_text())[name]
    res = weighted_comparison(cohort, propensity=COVS, estimand=estimand, trim=trim, horizons=[30, 90, 180],
                              n_boot=0).to_dict()
    for arm in ("usual_care", "peer"):
        for day in ("30", "90", "180"):
            assert 1 - res["risk"][arm][day]["estimate"] == pytest.approx(r["survival"][arm][day], rel=1e-6)
    assert res["rmst_difference"]["estimate"] == pytest.approx(r["rmst_180"]["peer"] - r["rmst_180"]["usual_care"],
                                                               rel=1e-6)
    assert res["hazard_ratio"]["log_hr"] == pytest.approx(r["log_hr"], rel=1e-6)
    assert res["hazard_ratio"]["se_naive"] == pytest.approx(r["robust_se"], rel=1e-6)
    if trim is not None:
        assert res["trim"]["n_dropped"] == r["n_dropped"] > 0 and len(cohort) - r["n_dropped"] == r["n"]
