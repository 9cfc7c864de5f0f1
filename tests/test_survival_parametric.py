"""Parametric AFT families against R survreg (stored by tests/reference/aft_families.R), input checks, recovery."""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from peerstudy.exceptions import AnalysisError, ConvergenceWarning, ParameterError, PeerstudyWarning, SchemaError
from peerstudy.survival import parametric
from peerstudy.survival.cox.aft import fit_weibull_aft
from peerstudy.survival.parametric import DISTRIBUTIONS, AFTFamilyResult, compare_aft, fit_aft

REF = Path(__file__).parent / "reference"
DATA = Path(__file__).parents[1] / "src" / "peerstudy" / "data"
R = json.loads((REF / "aft_families.json").read_text())
SIM_COVS = ["age", "female", "homeless", "depression", "prior_treatments"]
UIS_COVS = ["TREAT", "AGE", "BECK", "IV3"]

# Agreement with survreg (observed: coef <= 1e-7, SE <= 5e-9, scale <= 5e-9, loglik <= 2e-15 relative):
# the optimiser works on the mean log-likelihood, so coefficients are exact only to about 1e-7 SE.
RTOL_COEF = 1e-6
RTOL_SE = 1e-7
RTOL_SCALE = 1e-7
RTOL_LOGLIK = 1e-12


@pytest.fixture(scope="module")
def sim() -> pd.DataFrame:
    return pd.read_csv(REF / "survival_models_cohort.csv")


@pytest.fixture(scope="module")
def uis() -> pd.DataFrame:
    return pd.read_csv(DATA / "uis.csv")


def _fit(name: str, dist: str, sim: pd.DataFrame, uis: pd.DataFrame) -> AFTFamilyResult:
    if name == "uis":
        return fit_aft(uis, distribution=dist, covariates=UIS_COVS, time="TIME", event="CENSOR", arm=None)
    return fit_aft(sim, distribution=dist, covariates=SIM_COVS)


@pytest.fixture(scope="module")
def fits(sim, uis) -> dict[tuple[str, str], AFTFamilyResult]:
    return {(d, f): _fit(d, f, sim, uis) for d in ("uis", "sim") for f in DISTRIBUTIONS}


@pytest.mark.parametrize("dist", DISTRIBUTIONS)
@pytest.mark.parametrize("data", ["uis", "sim"])
def test_matches_survreg(fits, data, dist):
    fit, ref = fits[data, dist], R[data][dist]
    assert ref["dist"] == dist
    assert fit.distribution == dist
    assert ["(Intercept)", *fit.terms] == list(ref["coef"])
    np.testing.assert_allclose([fit.intercept, *fit.coef], list(ref["coef"].values()), rtol=RTOL_COEF)
    np.testing.assert_allclose([fit.intercept_se, *fit.se], list(ref["se"].values()), rtol=RTOL_SE)
    assert fit.scale == pytest.approx(ref["scale"], rel=RTOL_SCALE)
    assert fit.log_scale == pytest.approx(ref["log_scale"], rel=RTOL_SCALE)
    assert fit.log_scale_se == pytest.approx(ref["log_scale_se"], rel=RTOL_SE)
    assert fit.loglik == pytest.approx(ref["loglik"], rel=RTOL_LOGLIK)
    assert fit.aic == pytest.approx(ref["aic"], rel=RTOL_LOGLIK)
    assert (fit.n, fit.events) == (ref["n"], ref["events"])
    # the full variance matrix, log(scale) included: checks the sign of its covariances (rho_ / beta_ = 1/scale)
    V = np.array(ref["vcov"])
    sd = np.sqrt(np.diag(V))
    np.testing.assert_allclose(fit.vcov / np.outer(sd, sd), V / np.outer(sd, sd), rtol=0, atol=1e-7)


def test_sim_terms_and_arm_first(fits):
    assert fits["sim", "weibull"].terms == ("arm[peer]", *SIM_COVS)


def test_weibull_agrees_with_hand_written_fit(fits, sim):
    ref = fit_weibull_aft(sim, covariates=["arm", *SIM_COVS])
    fit = fits["sim", "weibull"]
    assert fit.terms == ref.terms
    np.testing.assert_allclose(fit.coef, ref.coef, rtol=1e-6)
    np.testing.assert_allclose(fit.se, ref.se, rtol=1e-7)
    assert fit.log_scale_se == pytest.approx(ref.log_scale_se, rel=1e-7)
    assert fit.loglik == pytest.approx(ref.loglik, rel=1e-12)


@pytest.mark.parametrize("dist, ancillary, location", [("weibull", "rho_", "lambda_"), ("lognormal", "sigma_", "mu_"),
                                                       ("loglogistic", "beta_", "alpha_")])
def test_lifelines_parameterisation(fits, uis, dist, ancillary, location):
    """lifelines' own fit, uncentred and untuned: rho_ = beta_ = 1/scale, sigma_ = scale; same coefficients."""
    import lifelines

    cls = getattr(lifelines, parametric._LIFELINES[dist][0])
    lf = cls().fit(uis[[*UIS_COVS, "TIME", "CENSOR"]], "TIME", "CENSOR")
    fit = fits["uis", dist]
    a = lf.params_[ancillary, "Intercept"]
    assert np.exp(a) == pytest.approx(fit.shape, rel=1e-3)
    assert fit.shape == pytest.approx(fit.scale if dist == "lognormal" else 1 / fit.scale)
    assert lf.standard_errors_[ancillary, "Intercept"] == pytest.approx(fit.log_scale_se, rel=1e-3)
    np.testing.assert_allclose(lf.params_[location][UIS_COVS], fit.coef, rtol=1e-2)
    assert lf.log_likelihood_ == pytest.approx(fit.loglik, rel=1e-6)


def test_result_accessors_dict_and_html(fits):
    fit = fits["sim", "loglogistic"]
    d = fit.to_dict()
    assert json.loads(json.dumps(d)) == d
    t = d["terms"]["arm[peer]"]
    assert t["time_ratio"] == pytest.approx(np.exp(t["coef"]))
    assert t["ci_lower"] == pytest.approx(np.exp(t["coef_lower"]))
    assert t["coef_lower"] < t["coef"] < t["coef_upper"]
    assert t["ci_lower"] < t["time_ratio"] < t["ci_upper"]
    assert t["z"] == pytest.approx(t["coef"] / t["se"])
    assert 0 <= t["p"] <= 1
    assert d["distribution"] == "loglogistic" and d["n_params"] == len(fit.terms) + 2
    assert d["aic"] == pytest.approx(-2 * d["loglik"] + 2 * d["n_params"])
    assert d["shape"] == pytest.approx(1 / d["scale"])
    frame = fit.to_frame()
    assert list(frame.index) == list(fit.terms)
    np.testing.assert_allclose(frame["time_ratio"], fit.time_ratio)
    html = fit._repr_html_()
    assert "log-logistic accelerated failure time" in html and "arm[peer]" in html and "time ratio" in html
    with pytest.raises(dataclasses.FrozenInstanceError):
        fit.scale = 1.0  # type: ignore[misc]


def test_compare_aft_table(sim, fits):
    table = compare_aft(sim, covariates=SIM_COVS)
    assert set(table.index) == set(DISTRIBUTIONS)
    assert table.index.name == "distribution"
    assert table["aic"].is_monotonic_increasing
    assert table["delta_aic"].iloc[0] == 0
    assert table["aic_weight"].sum() == pytest.approx(1)
    for dist in DISTRIBUTIONS:
        assert table.loc[dist, "aic"] == pytest.approx(R["sim"][dist]["aic"], rel=RTOL_LOGLIK)
        assert table.loc[dist, "time_ratio"] == pytest.approx(fits["sim", dist].time_ratio[0])
    assert list(table.columns) == ["loglik", "n_params", "aic", "delta_aic", "aic_weight", "scale", "time_ratio",
                                   "ci_lower", "ci_upper"]
    one = compare_aft(sim, covariates=SIM_COVS, distributions="lognormal")
    assert list(one.index) == ["lognormal"] and "time_ratio" in one


# ------------------------------------------------------------------------------------------- input checks
def test_missing_columns(sim):
    with pytest.raises(SchemaError, match=r"missing column\(s\) 'days'"):
        fit_aft(sim, time="days")
    with pytest.raises(SchemaError, match=r"missing column\(s\) 'treatment', 'income'"):
        fit_aft(sim, arm="treatment", covariates=["age", "income"])
    with pytest.raises(SchemaError, match="data must be a pandas DataFrame; got list"):
        fit_aft([1, 2, 3])
    with pytest.raises(SchemaError, match="data has no rows"):
        fit_aft(sim.iloc[:0])


def test_bad_times_and_events(sim):
    bad = sim.copy()
    bad.loc[4, "time"] = 0
    with pytest.raises(SchemaError, match=r"column 'time' \(time\) must be > 0; got 0 at row\(s\) 5"):
        fit_aft(bad)
    bad.loc[4, "time"] = -3
    with pytest.raises(SchemaError, match=r"must be > 0; got -3 at row\(s\) 5"):
        fit_aft(bad)
    bad = sim.astype({"time": float})
    bad.loc[2, "time"] = np.nan
    with pytest.raises(SchemaError, match=r"column 'time' \(time\) has 1 missing or infinite value\(s\) at row\(s\) 3"):
        fit_aft(bad)
    with pytest.raises(SchemaError, match=r"column 'event' \(event\) must be 0/1 \(1 = event, 0 = censored\); got 2 at"):
        fit_aft(sim.assign(event=sim.event * 2))


def test_too_few_events(sim):
    few = sim.assign(event=0)
    with pytest.raises(AnalysisError, match=r"column 'event' \(event\) has no events"):
        fit_aft(few)
    few.loc[[0, 1, 2], "event"] = 1
    with pytest.raises(AnalysisError, match=r"too few events: column 'event' \(event\) has 3 event\(s\) for 8 "
                                            r"parameters \(intercept, arm\[peer\], age, .*scale\)"):
        fit_aft(few, covariates=SIM_COVS)
    with pytest.warns(PeerstudyWarning, match="only 30 events for 6 model term"):
        fit_aft(sim.assign(event=(sim.index < 30).astype(int)), covariates=SIM_COVS)


def test_bad_arm_covariates_and_distribution(sim):
    with pytest.raises(ParameterError, match=r"distribution must be one of 'weibull', 'lognormal', 'loglogistic'; "
                                            r"got 'gamma'"):
        fit_aft(sim, distribution="gamma")
    three = sim.assign(arm=np.where(sim.index % 3 == 0, "other", sim.arm))
    with pytest.raises(AnalysisError, match=r"column 'arm' \(arm\) must have exactly two levels .*it has 3: "
                                            r"'other', 'peer', 'usual_care'"):
        fit_aft(three)
    with pytest.raises(AnalysisError, match=r"column 'arm' \(arm\) needs at least 2 levels; it has 1: 'peer'"):
        fit_aft(sim.assign(arm="peer"))
    with pytest.raises(ParameterError, match="column 'arm' is both arm= and one of the covariates"):
        fit_aft(sim, covariates=["arm", "age"])
    with pytest.raises(AnalysisError, match=r"covariate 'female' is constant \(every value is 0\)"):
        fit_aft(sim.assign(female=0), covariates=SIM_COVS)
    with pytest.raises(AnalysisError, match=r"the model terms are collinear \(arm\[peer\], age, age2\)"):
        fit_aft(sim.assign(age2=2 * sim.age + 1), covariates=["age", "age2"])
    with pytest.raises(ParameterError, match="distributions is empty"):
        compare_aft(sim, distributions=[])
    with pytest.raises(ParameterError, match="distributions has repeats"):
        compare_aft(sim, distributions=["weibull", "weibull"])


def test_tight_fit_failure_falls_back_then_errors(sim, fits, monkeypatch):
    monkeypatch.setattr(parametric, "_TIGHT_OPTIONS", {"maxiter": 1})
    with pytest.warns(ConvergenceWarning, match="lifelines' default tolerance was used"):
        fit = fit_aft(sim, distribution="weibull", covariates=SIM_COVS)
    assert fit.optimizer.startswith("lifelines default")
    ref = fits["sim", "weibull"]
    np.testing.assert_allclose(fit.coef, ref.coef, atol=1e-3 * ref.se.max())
    monkeypatch.setattr(parametric, "_lifelines_fit", lambda *a, **k: None)
    with pytest.raises(AnalysisError, match="the Weibull AFT fit did not converge"):
        fit_aft(sim, distribution="weibull")


# ------------------------------------------------------------------------------------------- recovery
def test_recovers_lognormal_coefficients():
    rng = np.random.default_rng(20260517)
    n = 3000
    peer = rng.integers(0, 2, n)
    age = rng.normal(38, 10, n)
    homeless = rng.binomial(1, 0.3, n)
    truth = {"intercept": 4.2, "arm[peer]": np.log(1.4), "age": 0.012, "homeless": -0.35, "log_scale": np.log(0.9)}
    mu = truth["intercept"] + truth["arm[peer]"] * peer + truth["age"] * (age - 38) + truth["homeless"] * homeless
    t = np.exp(mu + 0.9 * rng.standard_normal(n))
    c = np.minimum(rng.uniform(30, 400, n), 365.0)
    df = pd.DataFrame({"arm": np.where(peer == 1, "peer", "usual_care"), "age": age - 38, "homeless": homeless,
                       "time": np.minimum(t, c), "event": (t <= c).astype(int)})
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        fit = fit_aft(df, distribution="lognormal", covariates=["age", "homeless"])
    assert 0.5 < fit.events / n < 0.9
    est = np.r_[fit.intercept, fit.coef, fit.log_scale]
    se = np.r_[fit.intercept_se, fit.se, fit.log_scale_se]
    true = np.array([truth[k] for k in ("intercept", *fit.terms, "log_scale")])
    assert np.all(np.abs(est - true) < 4 * se), (est, true, se)
