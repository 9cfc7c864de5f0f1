"""IPTW and AIPW risks with censoring weights against R's riskRegression::ate, bootstrap and input errors.

R reference: tests/reference/observational2.R (riskRegression::ate, estimators "IPTW" and "AIPTW",
known.nuisance = TRUE) on tests/reference/observational_cohort.csv and on its untied times. Estimates to 1e-5
relative, SEs to 1e-3.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import peerstudy.survival.observational.aipw as M
from peerstudy.exceptions import ParameterError, SchemaError
from peerstudy.survival.observational.aipw import aipw_survival
from peerstudy.survival.observational.gformula import gformula_survival

REF = Path(__file__).parent / "reference"
COVS = ["age", "homeless", "stimulant_use", "depression"]
CENS = ["age", "homeless"]
DAYS = ("30", "90", "180")
R_NAME = {"iptw": "IPTW", "aipw": "AIPTW"}


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


def _compare(res, R):
    for arm in ("usual_care", "peer"):
        for day in DAYS:
            a, b = res["risk"][arm][day], R["risk"][arm][day]
            assert a["estimate"] == pytest.approx(b["estimate"], rel=1e-5)
            assert a["se"] == pytest.approx(b["se"], rel=1e-3)
    for q in ("difference", "ratio"):
        for day in DAYS:
            assert res[q][day]["estimate"] == pytest.approx(R[q][day]["estimate"], rel=1e-5)
            assert res[q][day]["se"] == pytest.approx(R[q][day]["se"], rel=1e-3)


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_iptw_matches_riskregression(cohort, ref, ties):
    res = aipw_survival(cohort, covariates=COVS, censoring=CENS, ties=ties)
    _compare(res["iptw"].to_dict(), ref[ties]["known_nuisance"]["IPTW"])


@pytest.mark.parametrize("est", ["iptw", "aipw"])
def test_matches_riskregression_without_ties(untied, ref, est):
    res = aipw_survival(untied, covariates=COVS, censoring=CENS, ties="breslow")
    _compare(res[est].to_dict(), ref["untied"]["known_nuisance"][R_NAME[est]])


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_aipw_matches_riskregression_with_its_tied_censoring_convention(cohort, ref, ties, monkeypatch):
    # riskRegression 2022.11.28 adds a tied censoring jump once per person censored at that time
    monkeypatch.setattr(M, "_DISTINCT_CENSORING", False)
    res = aipw_survival(cohort, covariates=COVS, censoring=CENS, ties=ties)
    _compare(res["aipw"].to_dict(), ref[ties]["known_nuisance"]["AIPTW"])


def test_no_censoring_aipw_is_gformula_plus_weighted_residual(cohort):
    # without censoring (everyone followed to dropout or day 180 counted as an event-free end), the
    # augmentation vanishes: AIPW = mean(F_a + W_a (Y - F_a))
    d = cohort.copy()
    d["event"] = 1
    res = aipw_survival(d, covariates=COVS, horizons=(30, 90), tau=90)
    gf = gformula_survival(d, covariates=COVS, horizons=(30, 90), tau=90)
    from peerstudy.survival.observational.weighting import fit_propensity

    ps = fit_propensity(d, covariates=COVS).scores
    a = (d["arm"] == "peer").to_numpy()
    for day in (30, 90):
        y = (d["time"] <= day).to_numpy().astype(float)
        ipw = np.mean(a / ps * y)
        assert res["iptw"].to_dict()["risk"]["peer"][str(day)]["estimate"] == pytest.approx(ipw, rel=1e-10)
    assert res["aipw"].to_dict()["risk"]["peer"]["90"]["estimate"] == pytest.approx(
        gf.to_dict()["risk"]["peer"]["90"]["estimate"], abs=0.05)


def test_bootstrap_refits_all_models(cohort):
    inf = aipw_survival(cohort, covariates=COVS, censoring=CENS)
    boot = aipw_survival(cohort, covariates=COVS, censoring=CENS, se="bootstrap", n_boot=40, rng=2)
    for est in ("iptw", "aipw"):
        b, i = boot[est].to_dict(), inf[est].to_dict()
        assert b["n_boot"] == 40 and b["seed"] == 2
        assert b["difference"]["90"]["estimate"] == pytest.approx(i["difference"]["90"]["estimate"], rel=1e-12)
        assert 0.5 < b["difference"]["90"]["se"] / i["difference"]["90"]["se"] < 2
        assert b["rmst_difference"]["ci_method"] == "percentile bootstrap"


def test_results_contract(cohort):
    res = aipw_survival(cohort, covariates=COVS)
    d = res["aipw"].to_dict()
    assert d["method"] == "aipw" and res["iptw"].to_dict()["method"] == "iptw"
    assert set(d["risk"]) == {"usual_care", "peer"}
    assert {"outcome", "propensity", "censoring"} <= set(d["model"])
    json.dumps(d)


def test_errors(cohort):
    with pytest.raises(SchemaError, match="nope"):
        aipw_survival(cohort, covariates=COVS, propensity=["nope"])
    with pytest.raises(ParameterError, match="propensity is empty"):
        aipw_survival(cohort, covariates=COVS, propensity=[])
    with pytest.raises(ParameterError, match="tau must be within"):
        aipw_survival(cohort, covariates=COVS, tau=999)
