"""Linkage, risk contrasts, follow-up rates and the BARC-10 mixed model: against R (tests/reference/outcomes.R:
lme4::lmer REML, binomial GLMs) and against the simulated truth."""

from __future__ import annotations

import doctest
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from peerstudy.exceptions import AnalysisError, ParameterError, SchemaError
from peerstudy.scenario import apply_overrides, preset
from peerstudy.simulation.cohort import simulate_with_visits
from peerstudy.survival import outcomes as outcomes_module
from peerstudy.survival.outcomes import (GPRA_TARGET, barc_mixed_model, follow_up_rates, linkage_incidence,
                                         risk_contrast)

REF = Path(__file__).parent / "reference"
R = json.loads((REF / "outcomes.json").read_text())


def test_doctests():
    assert doctest.testmod(outcomes_module).failed == 0


def test_mixed_model_equals_lmer_reml():
    visits = pd.read_csv(REF / "outcomes_visits.csv")
    fit = barc_mixed_model(visits)
    ref = R["mixed"]
    np.testing.assert_allclose(fit.coef, ref["coef"], atol=1e-5, rtol=0)
    np.testing.assert_allclose(fit.se, ref["se"], atol=1e-5, rtol=0)
    # variances to 1e-5 relative: the REML surface is flat there (a change of 1e-5 moves the likelihood by 1e-10)
    assert fit.group_var == pytest.approx(ref["group_var"], rel=1e-5)
    assert fit.resid_var == pytest.approx(ref["resid_var"], rel=1e-5)
    assert fit.reml_loglik == pytest.approx(ref["reml_loglik"], abs=1e-6)
    assert fit.reml_loglik >= ref["reml_loglik"] - 1e-9  # at least as high as lmer's optimum
    assert (fit.n_obs, fit.n_groups) == (ref["n_obs"], ref["n_groups"])
    ch = fit.change
    assert ch["peer"]["estimate"] == pytest.approx(fit.coef[2] + fit.coef[3])
    assert ch["difference"]["estimate"] == pytest.approx(fit.coef[3])


@pytest.mark.parametrize("outcome", ["housed", "employed"])
def test_risk_contrast_equals_binomial_glm(outcome):
    six = pd.read_csv(REF / "outcomes_six.csv")
    res = risk_contrast(six, outcome=outcome)
    ref = R["contrast"][outcome]
    assert res.risk_difference["estimate"] == pytest.approx(ref["rd"], rel=1e-9)
    assert res.risk_difference["se"] == pytest.approx(ref["rd_se"], rel=1e-6)
    assert res.risk_ratio["log"] == pytest.approx(ref["log_rr"], rel=1e-9)
    assert res.risk_ratio["se_log"] == pytest.approx(ref["log_rr_se"], rel=1e-6)
    d = res.to_dict()
    assert d["n"]["peer"] + d["n"]["usual_care"] == len(six) and d["n_missing"] == 0
    lo, hi = res.risk_ratio["ci_lower"], res.risk_ratio["ci_upper"]
    assert lo == pytest.approx(math.exp(ref["log_rr"] - 1.959963984540054 * ref["log_rr_se"]), rel=1e-6)
    assert lo < res.risk_ratio["estimate"] < hi


def test_risk_contrast_refuses_bad_input():
    df = pd.DataFrame({"arm": ["peer", "usual_care", "peer"], "y": [1, 2, None]})
    with pytest.raises(SchemaError, match="'y' must be 0/1"):
        risk_contrast(df, outcome="y")
    with pytest.raises(SchemaError, match="'z'"):
        risk_contrast(df, outcome="z")
    with pytest.raises(AnalysisError, match="group 'usual_care'"):
        risk_contrast(df.iloc[[0]].assign(y=1), outcome="y")
    with pytest.raises(AnalysisError, match="risk ratio is not estimable"):
        risk_contrast(pd.DataFrame({"arm": ["peer", "usual_care"], "y": [1, 0]}), outcome="y")


ON = ["outcomes.enabled=true", "frailty_variance=0"]


@pytest.fixture(scope="module")
def large():
    return simulate_with_visits(apply_overrides(preset("outpatient_default"), ON), rng=20261202, n=40_000)


def test_linkage_incidence_recovers_truth(large):
    cohort, _ = large
    truth = cohort.attrs["truth"]["outcomes"]["linkage"]["cif"]
    at = linkage_incidence(cohort).at()
    linked = at[at["cause"] == "linked"]
    assert len(linked) == 6
    for row in linked.itertuples():
        expected = truth[row.group][str(int(row.time))]
        assert abs(row.cif - expected) < 4 * row.se, (row.group, row.time, row.cif, expected)


def test_binary_outcome_recovers_truth_when_interviews_are_complete_at_random():
    scenario = apply_overrides(preset("outpatient_default"),
                               [*ON, "outcomes.interview_odds_ratio_left=1", "outcomes.interview_odds_ratio_homeless=1"])
    cohort, visits = simulate_with_visits(scenario, rng=7, n=40_000)
    six = visits[visits["visit"] == "6m"].merge(cohort[["participant_id", "arm"]], on="participant_id")
    truth = cohort.attrs["truth"]["outcomes"]
    for outcome in ("housed", "employed"):
        res = risk_contrast(six, outcome=outcome)
        t = truth[f"{outcome}_6m"]
        assert abs(res.risk_difference["estimate"] - t["risk_difference"]) < 4 * res.risk_difference["se"]
        assert abs(res.risk_ratio["log"] - math.log(t["risk_ratio"])) < 4 * res.risk_ratio["se_log"]


def test_mixed_model_agrees_with_statsmodels_mixedlm():
    import warnings

    from statsmodels.regression.mixed_linear_model import MixedLM

    visits = pd.read_csv(REF / "outcomes_visits.csv")
    fit = barc_mixed_model(visits)
    peer, t = (visits["arm"] == "peer").to_numpy(float), visits["day"].to_numpy(float) / 180
    X = pd.DataFrame({"Intercept": 1.0, "peer": peer, "time": t, "time:peer": t * peer})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sm = MixedLM(visits["barc10"].to_numpy(float), X, groups=visits["participant_id"]).fit(reml=True)
    np.testing.assert_allclose(fit.coef, sm.fe_params.to_numpy(), atol=1e-4)
    assert fit.group_var == pytest.approx(float(sm.cov_re.iloc[0, 0]), rel=1e-3)
    assert fit.reml_loglik >= sm.llf - 1e-9


def test_mixed_model_refuses_bad_input():
    visits = pd.read_csv(REF / "outcomes_visits.csv")
    with pytest.raises(AnalysisError, match="both 'peer'"):
        barc_mixed_model(visits.assign(arm="peer"))
    with pytest.raises(SchemaError, match="'arm'"):
        barc_mixed_model(visits.drop(columns="arm"))
    with pytest.raises(AnalysisError, match="2 or more visits"):
        barc_mixed_model(visits.drop_duplicates("participant_id"))


def test_mixed_model_recovers_peer_effect_on_barc(large):
    cohort, visits = large
    sub = visits[visits["participant_id"] <= 6000]
    fit = barc_mixed_model(sub, cohort)
    truth = cohort.attrs["truth"]["outcomes"]["barc10"]
    expected = [truth["intake_mean"], 0.0, truth["change_per_180_days_usual_care"],
                truth["peer_extra_change_per_180_days"]]
    assert (np.abs(fit.coef - expected) < 4 * fit.se).all(), (fit.coef, fit.se)
    assert math.sqrt(fit.group_var) == pytest.approx(truth["person_sd"], rel=0.05)


def test_follow_up_rates_count_due_and_done():
    cohort = pd.DataFrame({"participant_id": range(1, 7), "arm": ["peer"] * 3 + ["usual_care"] * 3,
                           "site": ["A", "B"] * 3, "time": [180, 20, 180, 200, 100, 180],
                           "outcome": ["retained", "died", "dropout", "died", "retained", "lost_to_follow_up"]})
    visits = pd.DataFrame({"participant_id": [1, 3, 4, 5, 6], "visit": ["6m", "6m", "6m", "3m", "6m"],
                           "day": [190, 250, 160, 95, 200]})
    res = follow_up_rates(cohort, visits)
    t = res.table.set_index(["by", "level"])
    assert t.loc[("all", "all"), ["due", "done"]].tolist() == [5, 3]  # #2 died before the window; #3 out of it
    assert t.loc[("arm", "peer"), ["due", "done"]].tolist() == [2, 1]
    assert t.loc[("arm", "usual_care"), ["due", "done"]].tolist() == [3, 2]
    assert not t.loc[("all", "all"), "meets_target"] and res.target == GPRA_TARGET
    assert t.loc[("all", "all"), "ci_lower"] < 0.6 < t.loc[("all", "all"), "ci_upper"]
    with pytest.raises(ParameterError, match="window"):
        follow_up_rates(cohort, visits, window=(200, 100))
    with pytest.raises(ParameterError, match="target"):
        follow_up_rates(cohort, visits, target=80)
    with pytest.raises(SchemaError, match="'day'"):
        follow_up_rates(cohort, visits.drop(columns="day"))


def test_follow_up_rates_of_a_simulated_cohort(large):
    cohort, visits = large
    res = follow_up_rates(cohort, visits)
    t = res.table.set_index(["by", "level"])
    assert t.loc[("all", "all"), "due"] == int(((cohort.outcome != "died") | (cohort.time >= 152)).sum())
    assert len(res.to_dict()["rates"]) == 1 + 2 + 8
    assert 0.5 < t.loc[("all", "all"), "rate"] < 0.95


def test_notebook_runs_in_a_report_and_records_the_package_numbers(tmp_path):
    """notebooks/08-outcomes.ipynb is listed by the report runner, is thin, and records what the package computes."""
    import json as _json
    import re

    from peerstudy.report import list_notebooks, run_report

    path = next(p for p in list_notebooks() if p.stem == "08-outcomes")
    nb = _json.loads(path.read_text())
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    assert not re.search(r"^\s*(def|class)\s", code, flags=re.M)
    assert all(not c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code")
    report = run_report(scenario="outpatient_default", parameters={"seed": "5", "n": "400", "m": "3"},
                        out=tmp_path / "r", only=["08-outcomes"], progress=False)
    got = report.results["08-outcomes"]
    scenario = apply_overrides(preset("outpatient_default"), [
        "outcomes.enabled=true", "outcomes.missing.homeless=0.4", "outcomes.missing.depression=0.4",
        "outcomes.missing.mechanism=mar"])
    cohort, visits = simulate_with_visits(scenario, rng=5, n=400)
    mixed = barc_mixed_model(visits, cohort)
    assert got["outcomes"]["barc10"]["terms"]["time:peer"]["coef"] == pytest.approx(mixed.coef[3], rel=1e-9)
    assert got["outcomes"]["follow_up"]["rates"][0]["due"] == follow_up_rates(cohort, visits).table["due"].iloc[0]
    assert got["missing"]["imputed"]["m"] == 3 and got["missing"]["imputed"]["imputation"]["seed"] == 5


# ----- the analysis of one cohort and its interviews (peerstudy analyse --outcomes) -------------------------------
from peerstudy.survival.outcomes import analyse_outcomes, impute_six_month, linkage_frame, six_month_frame  # noqa: E402


def test_linkage_frame_from_a_day_of_linkage():
    c = pd.DataFrame({"time": [30, 10, 90, 5], "outcome": ["dropout", "retained", "died", "retained"],
                      "linkage_day": [4, None, 95, 5]})
    got = linkage_frame(c)
    assert got["linkage_time"].tolist() == [4, 10, 90, 5]
    assert got["linkage_ending"].tolist() == ["linked", "retained", "died", "linked"]
    with pytest.raises(SchemaError, match="'linkage_day' must hold whole days >= 1.*got 0.5"):
        linkage_frame(c.assign(linkage_day=[0.5, None, None, None]))
    assert linkage_frame(c.drop(columns="linkage_day")) is None


def test_six_month_frame_keeps_everyone_due_and_the_interviews_in_the_window():
    cohort = pd.DataFrame({"participant_id": [1, 2, 3, 4], "time": [200, 100, 30, 180],
                           "outcome": ["retained", "dropout", "died", "dropout"]})
    visits = pd.DataFrame({"participant_id": [1, 2, 4], "visit": ["6m", "6m", "6m"], "day": [180, 250, 160],
                           "housed": [1, 0, 0], "employed": [0, 1, pd.NA]})
    six = six_month_frame(cohort, visits)
    assert six["participant_id"].tolist() == [1, 2, 4]  # 3 died before the window opened
    assert six["housed"].tolist()[0] == 1 and pd.isna(six["housed"].iloc[1])  # day 250: outside the window
    assert pd.isna(six["employed"].iloc[2])


def test_linkage_intervals_cover_the_simulated_truth():
    """95% intervals (log-log) of the cumulative incidence of linkage by day 7, 30, 90 cover the truth computed
    from the scenario in about 95% of 40 simulated cohorts (no site frailty, so the truth is that of each cohort)."""
    s = apply_overrides(preset("outpatient_default"), ["outcomes.enabled=true", "frailty_variance=0"])
    hits = []
    for seed in range(40):
        cohort, visits = simulate_with_visits(s, rng=seed, n=600)
        truth = cohort.attrs["truth"]["outcomes"]["linkage"]["cif"]
        doc = analyse_outcomes(cohort, visits).to_dict()["linkage"]["by_arm"]
        for arm in ("usual_care", "peer"):
            for day in ("7", "30", "90"):
                e = doc[arm]["cif"][day]
                hits.append(e["ci_lower"] <= truth[arm][day] <= e["ci_upper"])
    coverage = float(np.mean(hits))
    assert 0.90 <= coverage <= 0.99, coverage  # 240 intervals: Monte Carlo SE about 0.014


def test_analyse_outcomes_counts_and_errors():
    cohort, visits = simulate_with_visits(apply_overrides(preset("outpatient_default"), ["outcomes.enabled=true"]),
                                          rng=4, n=400)
    res = analyse_outcomes(cohort, visits)
    c = res.counts
    assert sum(c["arms"].values()) == 400
    for arm, v in c["linkage"].items():
        assert v["by_day"]["7"] <= v["by_day"]["30"] <= v["by_day"]["90"] <= v["linked"] <= v["n"]
    for name in ("housed", "employed"):
        for arm, cell in c["six_month"][name].items():
            assert cell["yes"] + cell["no"] == cell["recorded"] <= cell["interviewed"] <= cell["due"]
            assert cell["recorded"] == res.risks[name].n[res.risks[name].groups.index(arm)]
    # a part that cannot be fitted is left out with the reason; the others stay
    no_housed = visits.assign(housed=visits["housed"].where(~cohort.set_index("participant_id").loc[
        visits["participant_id"], "arm"].eq("peer").to_numpy(), 0))
    res2 = analyse_outcomes(cohort, no_housed)
    assert "housed" not in res2.risks and "six_month.housed" in res2.errors and "employed" in res2.risks
    assert set(res.tables()) == {"outcomes_linkage", "outcomes_six_month", "outcomes_follow_up", "outcomes_barc10"}


def test_imputing_missed_interviews_recovers_the_risk_difference():
    """Interviews missing at random given having left treatment and homelessness (which also lowers the chance of
    being housed): the risks among those interviewed are too high in each arm, and multiple imputation of the
    missed interviews gives the simulated risk difference within its Monte Carlo error."""
    s = apply_overrides(preset("outpatient_default"), ["outcomes.enabled=true", "frailty_variance=0",
                                                       "outcomes.interview_odds_ratio_left=0.1",
                                                       "outcomes.interview_odds_ratio_homeless=0.3"])
    cohort, visits = simulate_with_visits(s, rng=5, n=20_000)
    truth = cohort.attrs["truth"]["outcomes"]
    cc = analyse_outcomes(cohort, visits).risks
    assert cc["housed"].risk[0] > truth["housed_6m"]["risk"]["usual_care"] + 0.02  # complete cases: biased risks
    imp = impute_six_month(cohort, visits, m=5, covariates=["homeless", "unemployed"], rng=1)
    for name in ("housed", "employed"):
        rd = imp["pooled"][name]["risk_difference"]
        assert abs(rd["estimate"] - truth[f"{name}_6m"]["risk_difference"]) < 3 * rd["se"], (name, rd)
        rr = imp["pooled"][name]["risk_ratio"]
        assert rr["ci_lower"] < truth[f"{name}_6m"]["risk_ratio"] < rr["ci_upper"]
    assert imp["n_missing"]["housed"] > 5000


def test_linkage_incidence_and_its_interval_equal_r_survfit_log_log():
    """tests/reference/outcomes_linkage.R: R's multi-state survfit with conf.type = "log-log" on the linkage
    columns of a simulated cohort; the estimate and both bounds agree to 1e-12."""
    d = pd.read_csv(REF / "outcomes_linkage.csv")
    ref = json.loads((REF / "outcomes_linkage.json").read_text())
    cohort = d.assign(time=d["linkage_time"], outcome="retained", site="S1")
    visits = pd.DataFrame({"participant_id": d["participant_id"], "visit": "intake", "day": 0})
    got = analyse_outcomes(cohort, visits).to_dict()["linkage"]["by_arm"]
    for arm in ("usual_care", "peer"):
        for i, day in enumerate(("7", "30", "90")):
            e = got[arm]["cif"][day]
            assert e["estimate"] == pytest.approx(ref[arm]["cif"][i], abs=1e-12)
            assert e["ci_lower"] == pytest.approx(ref[arm]["lower"][i], abs=1e-12)
            assert e["ci_upper"] == pytest.approx(ref[arm]["upper"][i], abs=1e-12)
