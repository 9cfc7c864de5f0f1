"""Secondary outcomes of simulated cohorts: the same participants, the stated model, the truth, the scenario block."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pandas as pd
import pytest
import yaml

from peerstudy.exceptions import ScenarioError
from peerstudy.scenario import MissingCovariates, Outcomes, PRESETS, Scenario, apply_overrides, load_scenario, preset
from peerstudy.simulation import visits as visits_module
from peerstudy.simulation.cohort import LINKAGE_ENDINGS, simulate_cohort, simulate_with_visits
from peerstudy.simulation.visits import GPRA_WINDOW, VISITS, outcomes_truth

ON = ["outcomes.enabled=true"]


def scenario(*more: str) -> Scenario:
    return apply_overrides(preset("outpatient_default"), [*ON, *more])


def test_doctests():
    assert doctest.testmod(visits_module).failed == 0


def test_presets_unchanged_by_the_block():
    for name in PRESETS:
        s = preset(name)
        assert s.outcomes == Outcomes() and "outcomes" not in s.to_dict()
    on = scenario()
    assert "outcomes" in on.to_dict()
    assert load_scenario(yaml.safe_load(on.to_yaml())) == on


def test_yaml_round_trip_with_missing_block():
    s = scenario("outcomes.missing.homeless=0.3", "outcomes.missing.mechanism=mar")
    back = load_scenario(yaml.safe_load(s.to_yaml()))
    assert back == s and back.outcomes.missing.rates == {"homeless": 0.3}


@pytest.mark.parametrize("override, match", [
    ("outcomes.linkage_hazard_ratio=-1", r"outcomes.linkage_hazard_ratio must be > 0; got -1"),
    ("outcomes.interview_rate=1", r"outcomes.interview_rate must be in \(0, 1\); got 1"),
    ("outcomes.barc_intake=70", r"outcomes.barc_intake must be a BARC-10 total in \[10, 60\]; got 70"),
    ("outcomes.missing.mechanism=mnar", r"outcomes.missing.mechanism must be 'mcar' or 'mar'; got 'mnar'"),
    ("outcomes.missing.age=0.95", r"outcomes.missing.age must be a share missing in \[0, 0.9\]; got 0.95"),
    ("outcomes.enabled=maybe", r"outcomes.enabled must be true or false; got 'maybe'"),
])
def test_bad_values_name_the_field(override, match):
    with pytest.raises(ScenarioError, match=match):
        apply_overrides(preset("outpatient_default"), [override])


def test_unknown_fields_are_refused():
    with pytest.raises(ScenarioError, match=r"outcomes.missing.'homles' \(did you mean outcomes.missing.'homeless'"):
        Scenario.from_dict({"outcomes": {"missing": {"homles": 0.2}}})
    with pytest.raises(ScenarioError, match=r"outcomes.'linkage_rate' \(did you mean outcomes.'linkage_rate_per_week'"):
        Scenario.from_dict({"outcomes": {"linkage_rate": 0.2}})
    with pytest.raises(ScenarioError, match="outcomes must be a mapping"):
        Scenario.from_dict({"outcomes": None})


def test_requires_the_block_enabled():
    with pytest.raises(ScenarioError, match="outcomes.enabled must be true"):
        simulate_with_visits("outpatient_default", rng=1, n=50)


def test_same_cohort_and_reproducible():
    s = scenario("outcomes.missing.depression=0.2")
    c1, v1 = simulate_with_visits(s, rng=42, n=500)
    c2, v2 = simulate_with_visits(s, rng=np.random.default_rng(42), n=500)
    pd.testing.assert_frame_equal(c1, c2)
    pd.testing.assert_frame_equal(v1, v2)
    plain = simulate_cohort(s, rng=42, n=500)
    for col in plain.columns:
        if col != "depression":
            pd.testing.assert_series_equal(plain[col], c1[col])
    seen = c1["depression"].notna()
    assert (c1.loc[seen, "depression"].astype(int) == plain.loc[seen, "depression"]).all()
    assert c1["depression"].isna().any() and not (c1["depression"] == 0).sum() > (plain["depression"] == 0).sum()


def test_visit_table_follows_the_rules():
    cohort, visits = simulate_with_visits(scenario(), rng=3, n=3000)
    assert list(visits.columns) == ["participant_id", "visit", "day", "barc10", "housed", "employed"]
    assert (visits[visits.visit == "intake"]["participant_id"].to_numpy() == cohort["participant_id"].to_numpy()).all()
    for name, (_, lo, hi) in VISITS.items():
        assert visits.loc[visits.visit == name, "day"].between(lo, hi).all()
    assert VISITS["6m"][1:] == GPRA_WINDOW
    assert visits["barc10"].between(10, 60).all()
    six = visits.visit == "6m"
    assert visits.loc[six, "housed"].notna().all() and visits.loc[~six, "housed"].isna().all()
    ends = visits.merge(cohort[["participant_id", "time", "outcome"]], on="participant_id")
    after = ends[(ends.visit != "intake") & (ends.day > ends.time)]
    assert not after["outcome"].isin(["died", "lost_to_follow_up"]).any()  # nobody interviewed after death or loss
    assert set(cohort["linkage_ending"].cat.categories) == set(LINKAGE_ENDINGS)
    linked = cohort["linkage_ending"] == "linked"
    assert (cohort.loc[linked, "linkage_time"] <= cohort.loc[linked, "time"]).all()
    assert (cohort.loc[~linked, "linkage_time"] == cohort.loc[~linked, "time"]).all()
    assert (cohort.loc[~linked, "linkage_ending"].astype(str) == cohort.loc[~linked, "outcome"].astype(str)).all()


def test_interviews_missing_at_random_given_retention():
    cohort, visits = simulate_with_visits(scenario(), rng=5, n=20_000)
    done = cohort["participant_id"].isin(visits.loc[visits.visit == "6m", "participant_id"])
    left = (cohort["outcome"] != "retained")
    alive = ~cohort["outcome"].isin(["died", "lost_to_follow_up"])
    odds = lambda m: done[m].mean() / (1 - done[m].mean())  # noqa: E731
    housed = cohort["homeless"] == 0
    ratio = odds(left & alive & housed) / odds(~left & housed)
    assert ratio == pytest.approx(cohort.attrs["scenario"]["outcomes"]["interview_odds_ratio_left"], rel=0.25)


def test_missing_rates_and_mechanisms():
    mcar, _ = simulate_with_visits(scenario("outcomes.missing.homeless=0.3"), rng=8, n=20_000)
    share = mcar["homeless"].isna().mean()
    assert abs(share - 0.3) < 4 * math.sqrt(0.3 * 0.7 / 20_000)
    by_event = mcar.groupby("event")["homeless"].apply(lambda s: s.isna().mean())
    assert abs(by_event[1] - by_event[0]) < 0.03
    mar, _ = simulate_with_visits(scenario("outcomes.missing.homeless=0.3", "outcomes.missing.mechanism=mar",
                                           "outcomes.missing.odds_ratio_event=4"), rng=8, n=20_000)
    assert mar["homeless"].isna().mean() == pytest.approx(0.3, abs=0.015)
    p = mar.groupby("event")["homeless"].apply(lambda s: s.isna().mean())
    assert (p[1] / (1 - p[1])) / (p[0] / (1 - p[0])) == pytest.approx(4, rel=0.15)
    assert mar["homeless"].dtype == "Int64" and not (mar["homeless"].dropna() > 1).any()


def test_truth_of_binary_outcomes_by_hand():
    s = scenario()
    t = outcomes_truth(s)["housed_6m"]
    o, prev = s.outcomes, s.covariates.homeless.prevalence
    expit = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    base = math.log(o.housed_usual_care / (1 - o.housed_usual_care))
    uc = (1 - prev) * o.housed_usual_care + prev * expit(base + math.log(o.housed_odds_ratio_homeless))
    assert t["risk"]["usual_care"] == pytest.approx(uc)
    assert t["risk_ratio"] == pytest.approx(t["risk"]["peer"] / uc)


def test_linkage_truth_reduces_to_exponential_without_competing_endings():
    s = scenario("target_retention=0.999999", "incarceration_rate=0", "death_rate=0", "target_day=1")
    t = outcomes_truth(s)["linkage"]["cif"]
    lam = s.outcomes.linkage_rate_per_week / 7
    assert t["usual_care"]["30"] == pytest.approx(1 - math.exp(-30 * lam), abs=2e-3)
    assert t["peer"]["7"] == pytest.approx(1 - math.exp(-7 * lam * s.outcomes.linkage_hazard_ratio), abs=2e-3)


def test_missing_covariates_block_defaults():
    m = MissingCovariates()
    assert m.rates == {} and m.mechanism == "mcar"
