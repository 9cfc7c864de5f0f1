"""Cox regression against R survival (stored by tests/reference/survival_models.R) and published tables."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from peerstudy.exceptions import AnalysisError, ParameterError, PeerstudyWarning, SchemaError, SeparationWarning
from peerstudy.survival.cox.engine import CoxResult, fit_cause_specific_cox, fit_cox

REF = Path(__file__).parent / "reference"
DATA = Path(__file__).parents[1] / "src" / "peerstudy" / "data"
R = json.loads((REF / "survival_models.json").read_text())
R_BASE = json.loads((REF / "survival_base.json").read_text())
COVS = ["arm", "age", "female", "homeless", "depression", "prior_treatments"]


@pytest.fixture(scope="module")
def sim():
    return pd.read_csv(REF / "survival_models_cohort.csv")


@pytest.fixture(scope="module")
def split():
    return pd.read_csv(REF / "survival_models_split.csv")


@pytest.fixture(scope="module")
def uis():
    d = pd.read_csv(DATA / "uis.csv")
    d["AGE_SITE"] = d.AGE * d.SITE
    d["RACE_SITE"] = d.RACE * d.SITE
    return d


@pytest.fixture(scope="module")
def rossi():
    from lifelines.datasets import load_rossi
    return load_rossi()


@pytest.fixture(scope="module")
def pharmaco():
    d = pd.read_csv(DATA / "pharmacoSmoking.csv")
    d["grp"] = np.where(d.grp == "C", "combination", "patchOnly")
    d["ageGroup4"] = pd.cut(d.age, [0, 34, 49, 64, np.inf], labels=["21-34", "35-49", "50-64", "65+"]).astype(str)
    # ttr has relapses on day 0; times must be > 0 here. Cox uses only the order of times, so adding one day
    # to every time leaves the partial likelihood (and R's fit on the original ttr) unchanged.
    d["ttr1"] = d.ttr + 1
    return d


def _values(x):
    return list(x.values()) if isinstance(x, dict) else np.atleast_1d(x).tolist()


def check(fit: CoxResult, ref: dict, rtol: float = 1e-6) -> None:
    np.testing.assert_allclose(fit.coef, _values(ref["coef"]), rtol=rtol)
    np.testing.assert_allclose(fit.se, ref["se"], rtol=rtol)
    if "robust_se" in ref:
        assert fit.robust_se is not None
        np.testing.assert_allclose(fit.robust_se, ref["robust_se"], rtol=rtol)
        d = fit.to_dict()
        np.testing.assert_allclose([t["robust_se"] for t in d["terms"].values()], ref["robust_se"], rtol=rtol)
    else:
        assert fit.robust_se is None
        assert all("robust_se" not in t for t in fit.to_dict()["terms"].values())
    np.testing.assert_allclose([t["p"] for t in fit.to_dict()["terms"].values()], _values(ref["p"]),
                               rtol=1e-5, atol=1e-12)
    assert fit.loglik == pytest.approx(ref["loglik"], rel=1e-9)
    assert fit.loglik_null == pytest.approx(ref["loglik_null"], rel=1e-9)
    assert fit.concordance == pytest.approx(ref["concordance"], abs=1e-9)
    assert fit.n == ref["n"] and fit.events == ref["events"]


SIM_CASES = {
    "sim_efron": {},
    "sim_breslow": {"ties": "breslow"},
    "sim_strata": {"strata": "site"},
    "sim_cluster": {"cluster": "site"},
    "sim_cluster_breslow": {"cluster": "site", "ties": "breslow"},
    "sim_strata_cluster": {"cluster": "site", "strata": "site"},
    "sim_weights": {"weights": "w"},
    "sim_weights_int": {"weights": "wi"},
    "sim_weights_cluster": {"weights": "w", "cluster": "site"},
}


@pytest.mark.parametrize("name", SIM_CASES)
def test_simulated_cohort_matches_r(sim, name):
    check(fit_cox(sim, covariates=COVS, **SIM_CASES[name]), R[name])


def test_counting_process_matches_r(split):
    check(fit_cox(split, covariates=COVS, start="tstart", cluster="participant_id"), R["sim_counting"])
    check(fit_cox(split, covariates=COVS, start="tstart", strata="period"), R["sim_counting_strata"])


def test_rossi_matches_r_and_fox_weisberg(rossi):
    fit = fit_cox(rossi, time="week", event="arrest", covariates=["fin", "age", "prio"])
    check(fit, R["rossi"])
    check(fit_cox(rossi, time="week", event="arrest", covariates=["fin", "age", "prio"], ties="breslow"),
          R["rossi_breslow"])
    # Fox & Weisberg's published model (An R Companion to Applied Regression) has all seven covariates;
    # fin, age and prio to printed precision
    full = fit_cox(rossi, time="week", event="arrest",
                   covariates=["fin", "age", "race", "wexp", "mar", "paro", "prio"])
    assert np.round(full.coef[[0, 1, 6]], 3).tolist() == [-0.379, -0.057, 0.091]
    assert round(full.hazard_ratios["fin"], 3) == 0.684


def test_uis_published_model(uis):
    covs = ["AGE", "BECK", "ND1", "ND2", "IV3", "RACE", "TREAT", "SITE", "AGE_SITE", "RACE_SITE"]
    fit = fit_cox(uis, time="TIME", event="CENSOR", covariates=covs, ties="breslow")
    check(fit, R["uis_breslow"])
    published = {"AGE": (-0.0414, 0.0099), "BECK": (0.0087, 0.0050), "ND1": (-0.5745, 0.1252),
                 "ND2": (-0.2146, 0.0486), "IV3": (0.2277, 0.1086), "RACE": (-0.4669, 0.1348),
                 "TREAT": (-0.2468, 0.0943), "SITE": (-1.3170, 0.5314), "AGE_SITE": (0.0324, 0.0161),
                 "RACE_SITE": (0.8503, 0.2478)}
    for i, term in enumerate(covs):
        assert round(fit.coef[i], 4) == pytest.approx(published[term][0], abs=1e-9), term
        assert round(fit.se[i], 4) == pytest.approx(published[term][1], abs=1e-9), term
    treat = fit_cox(uis, time="TIME", event="CENSOR", covariates=["TREAT"])
    check(treat, R["uis_treat_efron"])
    assert (round(treat.coef[0], 4), round(treat.se[0], 4), round(treat.hazard_ratios["TREAT"], 3)) == \
        (-0.2374, 0.0931, 0.789)


def test_pharmaco_smoking_published_model(pharmaco):
    fit = fit_cox(pharmaco, time="ttr1", event="relapse", covariates=["grp", "employment", "ageGroup4"])
    assert fit.terms == ("grp[patchOnly]", "employment[other]", "employment[pt]", "ageGroup4[35-49]",
                         "ageGroup4[50-64]", "ageGroup4[65+]")
    ref = dict(R["pharmaco"])
    ref["n"], ref["events"] = len(pharmaco), int(pharmaco.relapse.sum())
    check(fit, ref)
    published = [(0.6564, 0.2198), (0.6231, 0.2764), (0.5214, 0.3320), (-0.1119, 0.3216), (-1.0233, 0.3597),
                 (-0.7071, 0.5017)]
    assert [(round(c, 4), round(s, 4)) for c, s in zip(fit.coef, fit.se)] == published


def test_cause_specific_matches_r(sim):
    fit = fit_cause_specific_cox(sim, covariates=["arm", "age", "homeless", "depression"])
    check(fit, R["cs_sim"])


def _check_basic(fit: CoxResult, ref: dict) -> None:
    np.testing.assert_allclose(fit.coef, _values(ref["coef"]), rtol=1e-6)
    np.testing.assert_allclose(fit.se, ref["se"], rtol=1e-6)
    assert fit.loglik == pytest.approx(ref["loglik"], rel=1e-9)
    assert fit.n == ref["n"] and fit.events == ref["events"]


def test_cause_specific_honours_censored(sim):
    """``censored`` decides which endings are censoring: lost_to_follow_up is one by default, a cause otherwise."""
    covs = ["arm", "age", "homeless", "depression"]
    with pytest.raises(ParameterError, match="cause 'lost_to_follow_up' is also listed in censored"):
        fit_cause_specific_cox(sim, cause="lost_to_follow_up", covariates=covs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PeerstudyWarning)  # 45 events for 4 terms
        lost = fit_cause_specific_cox(sim, cause="lost_to_follow_up", censored=("retained",), covariates=covs)
    _check_basic(lost, R_BASE["cause_specific_lost"])
    # a competing ending and censoring both end follow-up for the cause-specific hazard
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PeerstudyWarning)
        inc = fit_cause_specific_cox(sim, cause="incarcerated", covariates=covs)
        inc_narrow = fit_cause_specific_cox(sim, cause="incarcerated", censored=("retained",), covariates=covs)
    _check_basic(inc, R_BASE["cause_specific_incarcerated"])
    np.testing.assert_allclose(inc_narrow.coef, inc.coef, rtol=1e-12)
    # values are compared as strings, as in cumulative_incidence: numeric ending codes work
    codes = sim["outcome"].map({"dropout": 1, "incarcerated": 2, "died": 3, "lost_to_follow_up": 4}).fillna(0)
    by_code = fit_cause_specific_cox(sim.assign(code=codes.astype(int)), ending="code", cause="1", censored=(0, 4),
                                     covariates=covs)
    check(by_code, R["cs_sim"])


def test_result_dict_and_html(sim):
    fit = fit_cox(sim, covariates=COVS, cluster="site")
    d = fit.to_dict()
    assert set(d) >= {"ties", "terms", "loglik", "concordance", "n", "events"}
    assert list(d["terms"]) == ["arm[peer]", "age", "female", "homeless", "depression", "prior_treatments"]
    t = d["terms"]["arm[peer]"]
    assert t["hr"] == pytest.approx(np.exp(t["coef"]))
    # clustered: the CI uses the robust SE, as R
    assert np.log(t["ci_upper"]) - t["coef"] == pytest.approx(1.959963984540054 * t["robust_se"])
    json.dumps(d)
    assert "arm[peer]" in fit._repr_html_() and "robust SE" in fit._repr_html_()


def test_term_coding_reference_levels(sim):
    cat = sim.assign(arm=pd.Categorical(sim.arm, categories=["usual_care", "peer"]))
    assert fit_cox(cat, covariates=["arm"]).terms == ("arm[peer]",)
    flipped = sim.assign(arm=pd.Categorical(sim.arm, categories=["peer", "usual_care"]))
    assert fit_cox(flipped, covariates=["arm"]).terms == ("arm[usual_care]",)
    b = sim.assign(flag=sim.homeless.astype(bool))
    assert fit_cox(b, covariates=["flag"]).terms == ("flag[True]",)
    three = sim.assign(region=np.where(sim.site.isin(["S1", "S2"]), "north",
                                       np.where(sim.site == "S3", "east", "west")))
    assert fit_cox(three, covariates=["region"]).terms == ("region[north]", "region[west]")


@pytest.mark.parametrize("change, kwargs, error, match", [
    (lambda d: d.drop(columns="age"), {}, SchemaError, r"missing column\(s\) 'age' \(covariate\)"),
    (lambda d: d.assign(age=d.age.where(d.index > 2)), {}, SchemaError, r"column 'age' \(covariate\) has 3 missing"),
    (lambda d: d.assign(time=d.time.where(d.index != 4, 0)), {}, SchemaError,
     r"column 'time' \(time\) must be > 0; got 0 at row\(s\) 5"),
    (lambda d: d.assign(time=d.time.where(d.index != 4, -3)), {}, SchemaError, "must be > 0; got -3"),
    (lambda d: d.assign(time=d.time.astype(str)), {}, SchemaError, r"column 'time' \(time\) must be numeric"),
    (lambda d: d.assign(female=1), {}, AnalysisError, r"covariate 'female' is constant \(every value is 1\)"),
    (lambda d: d.assign(arm="peer"), {}, AnalysisError, "'arm' has a single level .'peer'."),
    (lambda d: d.assign(event=d.event * 2), {}, SchemaError, r"column 'event' \(event\) must be 0/1 .*; got 2 at"),
    (lambda d: d.assign(event=0), {}, AnalysisError, "no events"),
    (lambda d: d, {"ties": "exact"}, ParameterError, "ties must be one of 'efron', 'breslow'; got 'exact'"),
    (lambda d: d, {"covariates": []}, ParameterError, "covariates is empty"),
    (lambda d: d.assign(w=-1.0), {"weights": "w"}, SchemaError, r"column 'w' \(weights\) must be finite and > 0"),
    (lambda d: d, {"weights": np.ones(3)}, ParameterError, r"weights must have one value per row \(1500\)"),
    (lambda d: d.assign(age2=d.age * 2), {"covariates": COVS + ["age2"]}, AnalysisError, "collinear"),
    (lambda d: d, {"cluster": "nope"}, SchemaError, r"missing column\(s\) 'nope'"),
    (lambda d: d.assign(tstart=d.time), {"start": "tstart"}, SchemaError,
     r"column 'tstart' \(start\) must be < column 'time' \(time\)"),
])
def test_bad_input_raises(sim, change, kwargs, error, match):
    kwargs = {"covariates": COVS, **kwargs}
    with pytest.raises(error, match=match):
        fit_cox(change(sim), **kwargs)


def test_too_few_events(sim):
    small = sim.head(40).assign(event=0)
    small.loc[small.index[:3], "event"] = 1
    with pytest.raises(AnalysisError, match=r"too few events: column 'event' \(event\) has 3 event\(s\) for 6 model terms"):
        fit_cox(small, covariates=COVS)
    small.loc[small.index[:8], "event"] = 1
    with pytest.warns(PeerstudyWarning, match="only 8 events for 6 model term"):
        fit_cox(small, covariates=COVS)


def test_separation_warns_naming_term(sim):
    d = sim.head(300).copy()
    # everyone flagged dies before anyone unflagged: the flag's coefficient runs to infinity
    d["flag"] = (d.index < 30).astype(int)
    d.loc[d.flag == 1, ["time", "event"]] = [1, 1]
    d.loc[d.flag == 0, "time"] = d.loc[d.flag == 0, "time"].clip(lower=2)
    with pytest.warns(SeparationWarning, match="coefficient of flag appears to diverge"):
        fit_cox(d, covariates=["age", "flag"])
    with warnings.catch_warnings():
        warnings.simplefilter("error", SeparationWarning)
        fit_cox(d, covariates=["age", "homeless"])
