"""peerstudy.survival.recurrent against R (tests/reference/recurrent.R) and by recovery of a simulated truth."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from peerstudy.exceptions import AnalysisError, ParameterError, SchemaError
from peerstudy.survival.recurrent import (analyse_recurrent, counting_process, fit_andersen_gill, fit_marginal_rate,
                                          fit_negative_binomial, fit_pwp, ghosh_lin, mcf_test,
                                          mean_cumulative_function, recurrent_data)

REF = Path(__file__).parent / "reference"
R = json.loads((REF / "recurrent.json").read_text())
TERMS = ["arm", "age", "homeless"]


@pytest.fixture(scope="module")
def data():
    cohort = pd.read_csv(REF / "recurrent_cohort.csv")
    cohort["arm"] = pd.Categorical(cohort.arm, categories=["usual_care", "peer"])
    return recurrent_data(cohort, pd.read_csv(REF / "recurrent_events.csv"))


@pytest.fixture(scope="module")
def continuous():
    cont = pd.read_csv(REF / "recurrent_continuous.csv")
    last = cont.groupby("id").tail(1)
    cohort = pd.DataFrame({"participant_id": last.id, "arm": last.arm, "time": last.time,
                           "outcome": np.where(last.status == 2, "died", "retained")})
    events = cont[cont.status == 1].rename(columns={"id": "participant_id", "time": "day"})
    return recurrent_data(cohort, events[["participant_id", "day"]])


def _close(a, b, rel=1e-6):
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=rel, atol=0)


@pytest.mark.parametrize("name, fit", [
    ("andersen_gill", lambda d: fit_andersen_gill(d, covariates=TERMS)),
    ("andersen_gill_breslow", lambda d: fit_andersen_gill(d, covariates=TERMS, ties="breslow")),
    ("pwp_total", lambda d: fit_pwp(d, covariates=TERMS)),
    ("pwp_gap", lambda d: fit_pwp(d, covariates=TERMS, timescale="gap")),
])
def test_cox_type_models_match_r_coxph(data, name, fit):
    res, ref = fit(data), R[name]
    assert list(res.terms) == ["arm[peer]", "age", "homeless"] and res.n == ref["n"] == R["intervals"]
    assert res.events == ref["nevent"]
    _close(res.coef, ref["coef"])
    _close(res.se, ref["se"])
    _close(res.robust_se, ref["robust_se"])
    _close(res.loglik, ref["loglik"][1])


def test_marginal_rate_model_is_the_robust_andersen_gill(data):
    ag, lwyy = fit_andersen_gill(data, covariates=TERMS), fit_marginal_rate(data, covariates=TERMS)
    np.testing.assert_array_equal(ag.coef, lwyy.coef)
    naive = fit_andersen_gill(data, covariates=TERMS, robust=False)
    assert naive.robust_se is None
    _close(naive.se, R["andersen_gill"]["se"])


def test_mcf_matches_survfit_robust(data):
    res = mean_cumulative_function(data)
    strata = np.array(R["mcf"]["strata"])
    for arm in ("usual_care", "peer"):
        c, m = res.curves[arm], strata == arm
        _close(c.time, np.array(R["mcf"]["time"])[m], rel=0)
        _close(c.estimate, np.array(R["mcf"]["cumhaz"])[m])
        _close(c.se, np.array(R["mcf"]["std_chaz"])[m])
        _close(c.at_risk, np.array(R["mcf"]["n_risk"])[m], rel=0)
        _close(c.events, np.array(R["mcf"]["n_event"])[m], rel=0)


def test_two_sample_test_matches_the_robust_score_test(data):
    t = mcf_test(data)
    _close(t.statistic, np.ravel(R["mcf_test"]["rscore"])[0])
    assert t.groups == ("usual_care", "peer") and 0 < t.p < 1


def test_ghosh_lin_matches_mets_recurrent_marginal(continuous):
    res = ghosh_lin(continuous)
    strata = np.array(R["ghosh_lin"]["strata"])
    for arm in ("usual_care", "peer"):
        c, m = res.curves[arm], strata == arm
        t, mu, se = (np.array(R["ghosh_lin"][k])[m] for k in ("time", "mu", "se_mu"))
        k = np.searchsorted(t, c.time)  # R lists every record (deaths too); compare at the event times
        _close(t[k], c.time, rel=0)
        _close(c.estimate, mu[k])
        _close(c.se, se[k])


@pytest.mark.parametrize("name, window", [("negative_binomial", None), ("negative_binomial_180", 180)])
def test_negative_binomial_matches_glm_nb(data, name, window):
    res, ref = fit_negative_binomial(data, covariates=TERMS, window=window), R[name]
    assert list(res.terms) == ["(Intercept)", "arm[peer]", "age", "homeless"]
    _close([v["coef"] for v in res.terms.values()], ref["coef"])
    _close([v["se"] for v in res.terms.values()], ref["se"])
    _close(res.theta, ref["theta"], rel=1e-4)
    assert res.alpha == pytest.approx(1 / ref["theta"], rel=1e-4) and res.converged


# ----- data and its checks ------------------------------------------------------------------------------------
def _tiny():
    cohort = pd.DataFrame({"participant_id": [1, 2, 3], "time": [100, 50, 80], "arm": ["usual_care", "peer", "peer"],
                           "outcome": ["retained", "died", "dropout"]})
    events = pd.DataFrame({"participant_id": [1, 1, 2, 2, 3], "day": [10, 40, 20, 50, 80],
                           "kind": ["relapse", "overdose", "relapse", "relapse", "overdose"]})
    return cohort, events


def test_counting_process_intervals():
    cp = counting_process(recurrent_data(*_tiny()), columns=["arm"])
    assert cp[["participant_id", "start", "stop", "status", "enum"]].values.tolist() == [
        [1, 0, 10, 1, 1], [1, 10, 40, 1, 2], [1, 40, 100, 0, 3], [2, 0, 20, 1, 1], [2, 20, 50, 1, 2],
        [3, 0, 80, 1, 1]]
    assert (cp.gap == cp.stop - cp.start).all() and list(cp.arm) == ["usual_care"] * 3 + ["peer"] * 3


def test_events_on_one_day_count_once_and_kinds_filter():
    cohort, events = _tiny()
    d = recurrent_data(cohort, pd.concat([events, events.iloc[[0]].assign(kind="overdose")]))
    assert d.events == 5 and d.merged == 1
    assert recurrent_data(cohort, events, kinds=["overdose"]).events == 2


def test_ghosh_lin_equals_mcf_without_deaths_and_is_lower_with_them():
    cohort, events = _tiny()
    d = recurrent_data(cohort, events, ending=None)
    a, b = mean_cumulative_function(d, group=None).curves["all"], ghosh_lin(d, group=None).curves["all"]
    np.testing.assert_allclose(a.estimate, b.estimate)
    np.testing.assert_allclose(a.se, b.se)
    with_death = ghosh_lin(recurrent_data(cohort, events), group=None).curves["all"]
    assert with_death.estimate[-1] < a.estimate[-1]


@pytest.mark.parametrize("change, match", [
    (lambda c, e: (c, e.assign(participant_id=[1, 1, 2, 2, 9])), r"participant id\(s\) 9 are not in the cohort"),
    (lambda c, e: (c, e.assign(day=[10, 40, 20, 51, 80])), r"1 event\(s\) after the end of follow-up .* id\(s\) 2"),
    (lambda c, e: (c, e.assign(day=[0, 40, 20, 50, 80])), r"column 'day' must be > 0 .* got 0 for id\(s\) 1"),
    (lambda c, e: (c.assign(participant_id=[1, 1, 3]), e), r"repeats id\(s\) 1"),
    (lambda c, e: (c, e.drop(columns="day")), r"missing column\(s\) 'day' \(events\)"),
    (lambda c, e: (c, e.assign(day=[10, np.nan, 20, 50, 80])), r"'day' \(event day\) has 1 missing"),
])
def test_bad_data_is_refused_naming_the_ids(change, match):
    with pytest.raises(SchemaError, match=match):
        recurrent_data(*change(*_tiny()))


def test_bad_options():
    d = recurrent_data(*_tiny())
    with pytest.raises(ParameterError, match="timescale must be 'total' or 'gap'; got 'calendar'"):
        fit_pwp(d, timescale="calendar")
    with pytest.raises(ParameterError, match="covariates is empty"):
        fit_andersen_gill(d, covariates=[])
    with pytest.raises(ParameterError, match="window must be a number of days > 0"):
        fit_negative_binomial(d, window=-3)
    with pytest.raises(AnalysisError, match="exactly 2 levels"):
        mcf_test(d.__class__(**{**d.__dict__, "cohort": d.cohort.assign(arm=["a", "b", "c"])}))
    with pytest.raises(AnalysisError, match="no events"):
        analyse_recurrent(*_tiny()[:1], _tiny()[1].iloc[:0])


def test_results_document(data):
    res = analyse_recurrent(data.cohort, pd.read_csv(REF / "recurrent_events.csv"), covariates=("age",))
    d = res.to_dict()
    assert set(d) >= {"mcf", "ghosh_lin", "mcf_test", "andersen_gill", "pwp_total", "pwp_gap", "negative_binomial"}
    assert set(d["ghosh_lin"]) == {"usual_care", "peer"} and set(d["ghosh_lin"]["peer"]) == {"90", "180", "365"}
    v = d["mcf"]["peer"]["180"]
    assert v["ci_lower"] < v["estimate"] < v["ci_upper"]
    assert d["andersen_gill"]["terms"]["arm[peer]"]["robust_se"] > 0 and "alpha" in d["negative_binomial"]
    assert set(res.tables()) == {"recurrent_mcf", "recurrent_ghosh_lin", "recurrent_models"}
    assert "Ghosh-Lin" in res._repr_html_()
    json.dumps(d)


@pytest.mark.slow
def test_large_simulated_cohort_recovers_ghosh_lin_truth_and_rate_ratio():
    """Ghosh-Lin means and the AG rate ratio recover the simulated truth within Monte Carlo error (|z| < 4)."""
    from peerstudy.scenario import Recurrent, preset
    from peerstudy.simulation.cohort import simulate_with_events

    s = preset("outpatient_default").replace(
        follow_up_days=365, frailty_variance=0.0, death_rate=0.4, target_retention=0.8,
        recurrent=Recurrent(enabled=True, rate_per_year=3, rate_ratio=0.7, frailty_variance=0.6, death_frailty=1))
    cohort, events = simulate_with_events(s, rng=99, n=60_000)
    truth = cohort.attrs["truth"]["recurrent"]
    data = recurrent_data(cohort, events)
    gl = ghosh_lin(data).to_dict()
    for arm in ("usual_care", "peer"):
        for h in ("90", "180", "365"):
            est = gl[arm][h]
            assert abs(est["estimate"] - truth["mean_events"][arm][h]) < 4 * est["se"], (arm, h, est)
    ag = fit_andersen_gill(data).to_dict()["terms"]["arm[peer]"]
    assert abs(ag["coef"] - truth["log_rate_ratio"]) < 4 * ag["robust_se"]
    assert ag["robust_se"] > 1.2 * ag["se"]  # a frailty makes the model-based SE too small
