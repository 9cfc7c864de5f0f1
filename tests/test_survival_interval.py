"""Turnbull NPMLE and interval-censored Weibull regression, checked against R survival (tests/reference/interval.R)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from peerstudy.exceptions import AnalysisError, ParameterError, SchemaError
from peerstudy.survival.interval import fit_interval_weibull, turnbull

HERE = Path(__file__).parent
REF = json.loads((HERE / "reference" / "interval_reference.json").read_text())
COVS = ["age10", "homeless", "stimulant_use", "injects", "unemployed"]


@pytest.fixture(scope="module")
def teds_data():
    from peerstudy.data.programme import read_export

    data = read_export(HERE.parent / "data" / "synthetic" / "teds_d_synthetic.csv", mapping="teds").interval_data()
    return data.assign(age10=(data["age"] - 32) / 10)


def test_turnbull_matches_r_on_teds(teds_data):
    fit = turnbull(teds_data)
    assert fit.converged
    np.testing.assert_allclose(fit.survival_at(REF["turnbull"]["times"]), REF["turnbull"]["surv"], atol=2e-6)


def test_weibull_matches_r_survreg(teds_data):
    fit = fit_interval_weibull(teds_data, covariates=COVS)
    ref = REF["weibull"]
    assert fit.converged
    np.testing.assert_allclose(fit.coef, [ref["coef"][k] for k in fit.terms], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fit.se, [ref["se"][k] for k in fit.terms], rtol=1e-3)
    assert fit.log_scale == pytest.approx(ref["log_scale"], abs=1e-6)
    assert fit.log_scale_se == pytest.approx(ref["log_scale_se"], rel=1e-3)
    assert fit.loglik == pytest.approx(ref["loglik"], abs=1e-5)
    null = fit_interval_weibull(teds_data)
    assert null.coef[0] == pytest.approx(REF["weibull_null"]["intercept"], abs=1e-6)
    assert null.loglik == pytest.approx(REF["weibull_null"]["loglik"], abs=1e-5)
    hr = fit.to_dict()["hazard_ratio"]["homeless"]
    assert hr["estimate"] == pytest.approx(np.exp(-ref["coef"]["homeless"] / np.exp(ref["log_scale"])), rel=1e-5)
    assert hr["lower"] < hr["estimate"] < hr["upper"]


def test_hand_made_set_matches_r():
    h = REF["hand"]
    df = pd.DataFrame({"time_lower": h["lower"], "time_upper": [float(u) for u in h["upper"]]})
    fit = turnbull(df)
    # R draws each drop at the midpoint of its Turnbull interval; compare both step functions at the right
    # end of every innermost interval, where the NPMLE is identified. R's survfitTurnbull stops its EM once
    # no survival value moves by more than 5e-5 (hard-coded), which on these overlapping intervals leaves
    # it ~2e-4 short of the maximum (mass not yet drained from one interval); ours runs to 1e-9.
    r_times, r_surv = np.array(h["km_time"]), np.array(h["km_surv"])
    points = fit.right[np.isfinite(fit.right)]
    r_at = np.array([r_surv[r_times <= t][-1] if (r_times <= t).any() else 1.0 for t in points])
    np.testing.assert_allclose(fit.survival_at(points), r_at, atol=5e-4)
    w = fit_interval_weibull(df)
    assert w.coef[0] == pytest.approx(h["weibull_intercept"], abs=1e-5)
    assert w.log_scale == pytest.approx(h["weibull_log_scale"], abs=1e-5)
    assert w.loglik == pytest.approx(h["weibull_loglik"], abs=1e-6)


def test_turnbull_equals_kaplan_meier_on_exact_days():
    from lifelines import KaplanMeierFitter

    rng = np.random.default_rng(4)
    t = np.ceil(rng.weibull(0.9, 300) * 60).astype(int) + 1
    e = rng.random(300) < 0.7
    df = pd.DataFrame({"time_lower": np.where(e, t - 1, t), "time_upper": np.where(e, t, np.inf)})
    fit = turnbull(df, tol=1e-12)
    km = KaplanMeierFitter().fit(t, e)
    days = np.arange(1, t.max() + 1)
    np.testing.assert_allclose(fit.survival_at(days), km.survival_function_at_times(days).to_numpy(), atol=1e-7)


def test_weibull_recovers_exact_data_parameters():
    rng = np.random.default_rng(11)
    x = rng.integers(0, 2, 4000)
    t = 100 * np.exp(-0.4 * x) * rng.weibull(1.5, 4000)  # AFT: beta = -0.4, sigma = 1/1.5
    df = pd.DataFrame({"time_lower": t, "time_upper": t, "x": x})
    fit = fit_interval_weibull(df, covariates=["x"])
    assert abs(fit.coef[1] + 0.4) < 3 * fit.se[1]
    assert abs(fit.shape - 1.5) < 3 * fit.log_scale_se * 1.5
    assert fit.survival(50, {"x": 1}) < fit.survival(50, {"x": 0})


def test_survival_at_is_nan_inside_an_interval_with_mass():
    df = pd.DataFrame({"time_lower": [30.0, 0.0], "time_upper": [45.0, 10.0]})
    fit = turnbull(df)
    s = fit.survival_at([10, 40, 45])
    assert s[0] == pytest.approx(0.5) and np.isnan(s[1]) and s[2] == pytest.approx(0.0)
    d = fit.to_dict(horizons=(10, 45))
    assert d["survival"] == {"10": 0.5, "45": 0.0}
    assert "Turnbull" in fit._repr_html_()


def test_errors_name_the_problem():
    with pytest.raises(SchemaError, match="'time_upper' must be >= 'time_lower'"):
        turnbull(pd.DataFrame({"time_lower": [5.0], "time_upper": [2.0]}))
    with pytest.raises(SchemaError, match=r"missing column\(s\) 'time_lower'"):
        turnbull(pd.DataFrame({"lo": [1.0], "time_upper": [2.0]}))
    with pytest.raises(SchemaError, match=r"must be >= 0; 1 row\(s\) are not \(row\(s\) 1\)"):
        turnbull(pd.DataFrame({"time_lower": [-1.0], "time_upper": [2.0]}))
    with pytest.raises(SchemaError, match=r"column 'w' \(weights\) must be finite and >= 0"):
        turnbull(pd.DataFrame({"time_lower": [1.0], "time_upper": [2.0], "w": [-1.0]}), weights="w")
    with pytest.raises(ParameterError, match="max_iter must be a whole number >= 1; got 0"):
        turnbull(pd.DataFrame({"time_lower": [1.0], "time_upper": [2.0]}), max_iter=0)
    df = pd.DataFrame({"time_lower": [1.0, 2.0], "time_upper": [np.inf, np.inf], "x": [0, 1]})
    with pytest.raises(AnalysisError, match="right-censored"):
        fit_interval_weibull(df)
    df = pd.DataFrame({"time_lower": [0.0, 2.0], "time_upper": [1.0, 3.0], "x": [1, 1]})
    with pytest.raises(AnalysisError, match=r"covariate 'x' is constant \(every value is 1\)"):
        fit_interval_weibull(df, covariates=["x"])
    with pytest.raises(SchemaError, match=r"missing column\(s\) 'z' \(covariate\)"):
        fit_interval_weibull(df, covariates=["z"])
    with pytest.raises(SchemaError, match=r"column 'x' \(covariate\) must be numeric"):
        fit_interval_weibull(df.assign(x=["a", "b"]), covariates=["x"])
    with pytest.raises(ParameterError, match="unknown covariate"):
        fit_interval_weibull(df.assign(x=[0, 1])).survival(3, {"x": 1})


def test_results_are_json_ready():
    df = pd.DataFrame({"time_lower": [0.0, 1, 30, 30, 45], "time_upper": [1.0, 2, 45, np.inf, 60], "x": [0, 1, 0, 1, 1]})
    fit = fit_interval_weibull(df, covariates=["x"])
    json.dumps(fit.to_dict())
    json.dumps(turnbull(df).to_dict())
    assert "hazard ratio" in fit._repr_html_()
