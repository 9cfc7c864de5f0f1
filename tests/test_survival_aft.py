"""Weibull AFT against R survreg(dist = "weibull") (stored by tests/reference/survival_models.R)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from peerstudy.exceptions import AnalysisError, SchemaError
from peerstudy.survival.cox.aft import fit_weibull_aft
from peerstudy.survival.cox.engine import fit_cox

REF = Path(__file__).parent / "reference"
DATA = Path(__file__).parents[1] / "src" / "peerstudy" / "data"
R = json.loads((REF / "survival_models.json").read_text())
COVS = ["arm", "age", "female", "homeless", "depression", "prior_treatments"]


@pytest.fixture(scope="module")
def sim():
    return pd.read_csv(REF / "survival_models_cohort.csv")


def check(fit, ref):
    coef = list(ref["coef"].values())
    se = list(ref["se"].values())
    np.testing.assert_allclose([fit.intercept, *fit.coef], coef, rtol=1e-6)
    np.testing.assert_allclose([fit.intercept_se, *fit.se], se, rtol=1e-6)
    assert fit.log_scale == pytest.approx(ref["log_scale"], rel=1e-6)
    assert fit.log_scale_se == pytest.approx(ref["log_scale_se"], rel=1e-6)
    assert fit.scale == pytest.approx(ref["scale"], rel=1e-6)
    assert fit.loglik == pytest.approx(ref["loglik"], rel=1e-9)
    assert fit.n == ref["n"]


def test_simulated_cohort_matches_r(sim):
    fit = fit_weibull_aft(sim, covariates=COVS)
    check(fit, R["aft_sim"])
    assert fit.terms[0] == "arm[peer]"


def test_rossi_and_uis_match_r():
    from lifelines.datasets import load_rossi
    check(fit_weibull_aft(load_rossi(), time="week", event="arrest", covariates=["fin", "age", "prio"]),
          R["aft_rossi"])
    uis = pd.read_csv(DATA / "uis.csv")
    check(fit_weibull_aft(uis, time="TIME", event="CENSOR", covariates=["TREAT", "AGE", "BECK", "IV3"]),
          R["aft_uis"])


def test_dict_time_ratios_and_shape(sim):
    fit = fit_weibull_aft(sim, covariates=COVS)
    d = fit.to_dict()
    json.dumps(d)
    t = d["terms"]["arm[peer]"]
    assert t["time_ratio"] == pytest.approx(np.exp(t["coef"]))
    assert t["ci_lower"] < t["time_ratio"] < t["ci_upper"]
    assert d["shape"] == pytest.approx(1 / d["scale"])
    # the simulator draws Weibull times with shape 0.8 (outpatient_default); frailty and whole days blur it
    assert 0.6 < d["shape"] < 1.0
    # Weibull PH and AFT are one model: -coef/scale should sit close to the Cox log hazard ratio
    cox = fit_cox(sim, covariates=COVS)
    np.testing.assert_allclose(-fit.coef / fit.scale, cox.coef, atol=0.05)
    assert "time ratio" in fit._repr_html_()


def test_bad_input(sim):
    with pytest.raises(SchemaError, match=r"column 'time' \(time\) must be > 0"):
        fit_weibull_aft(sim.assign(time=sim.time - 1), covariates=COVS)
    with pytest.raises(AnalysisError, match="covariate 'female' is constant"):
        fit_weibull_aft(sim.assign(female=0), covariates=COVS)
