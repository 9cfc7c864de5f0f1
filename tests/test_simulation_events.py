"""Recurrent episodes in the simulator (peerstudy.simulation.events) and their truth."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
import yaml

from peerstudy.exceptions import ScenarioError
from peerstudy.scenario import PRESETS, Recurrent, apply_overrides, load_scenario, preset
from peerstudy.simulation.cohort import simulate_arrays, simulate_cohort, simulate_with_events, truth_sidecar
from peerstudy.simulation.events import death_survival, frailty_nodes
from peerstudy.simulation.truth import recurrent_truth
from peerstudy.simulation.truth import compute_truth


def _scenario(**rec) -> "object":
    s = preset("outpatient_default").replace(follow_up_days=365)
    return s.replace(recurrent=Recurrent(enabled=True, **rec))


# ----- scenario block -----------------------------------------------------------------------------------------
def test_presets_have_no_recurrent_block_and_stay_as_they_were():
    for name in PRESETS:
        s = preset(name)
        assert s.recurrent == Recurrent() and not s.recurrent.enabled
        assert "recurrent" not in s.to_dict() and "recurrent" not in s.to_yaml()
        assert "recurrent" not in truth_sidecar(s, seed=1)
        assert "recurrent" not in compute_truth(s).to_dict()


def test_recurrent_block_round_trips_through_yaml_and_overrides():
    s = apply_overrides(preset("ed_bridge"), ["recurrent.enabled=true", "recurrent.rate_ratio=0.6",
                                             "recurrent.effect_stops_day=90"])
    assert s.recurrent == Recurrent(enabled=True, rate_ratio=0.6, effect_stops_day=90)
    assert load_scenario(yaml.safe_load(s.to_yaml())) == s
    assert load_scenario({"base": "ed_bridge", "recurrent": {"enabled": True, "rate_ratio": 0.6,
                                                           "effect_stops_day": 90}}) == s


@pytest.mark.parametrize("field, value, match", [
    ("rate_per_year", 0, r"recurrent.rate_per_year must be in \(0, 100\]"),
    ("rate_ratio", -1, r"recurrent.rate_ratio must be > 0; got -1"),
    ("frailty_variance", 11, r"recurrent.frailty_variance must be in \[0, 10\]"),
    ("death_frailty", 4, r"recurrent.death_frailty must be in \[0, 3\]"),
    ("overdose_fraction", 1.5, r"recurrent.overdose_fraction must be in \[0, 1\]"),
    ("effect_stops_day", 0, r"recurrent.effect_stops_day must be a whole number from 1"),
    ("enabled", "yes", r"recurrent.enabled must be true or false"),
])
def test_bad_recurrent_fields_name_the_field_and_value(field, value, match):
    with pytest.raises(ScenarioError, match=match):
        load_scenario({"recurrent": {field: value}})


def test_unknown_recurrent_field_is_named_with_a_suggestion():
    with pytest.raises(ScenarioError, match=r"unknown scenario field recurrent.'rate_ration'.*'rate_ratio'"):
        load_scenario({"recurrent": {"rate_ration": 0.7}})


# ----- draws --------------------------------------------------------------------------------------------------
def test_episodes_leave_the_cohort_unchanged_when_death_ignores_the_frailty():
    base = preset("outpatient_default").replace(follow_up_days=365)
    plain = simulate_cohort(base, rng=11, n=3000)
    cohort, _ = simulate_with_events(base.replace(recurrent=Recurrent(enabled=True, death_frailty=0)), rng=11, n=3000)
    cols = [c for c in plain.columns]
    pd.testing.assert_frame_equal(plain[cols], cohort[cols])


def test_episode_log_is_within_follow_up_one_a_day_and_sorted():
    cohort, events = simulate_with_events(_scenario(rate_per_year=6), rng=3, n=2000)
    assert len(events) > 500
    end = cohort.set_index("participant_id")["time"]
    assert (events.day >= 1).all() and (events.day.to_numpy() <= end.loc[events.participant_id].to_numpy()).all()
    assert not events.duplicated(["participant_id", "day"]).any()
    assert events.equals(events.sort_values(["participant_id", "day"]).reset_index(drop=True))
    assert set(events.kind.cat.categories) == {"relapse", "overdose"}
    assert 0.2 < (events.kind == "overdose").mean() < 0.4


def test_same_seed_same_episodes_int_or_generator():
    s = _scenario()
    a = simulate_with_events(s, rng=5, n=500)[1]
    b = simulate_with_events(s, rng=np.random.default_rng(5), n=500)[1]
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(simulate_with_events(s, rng=6, n=500)[1])


def test_simulate_with_events_refuses_a_scenario_without_episodes():
    with pytest.raises(ScenarioError, match="recurrent.enabled must be true"):
        simulate_with_events("outpatient_default", rng=1, n=10)


def test_stack_arrays_carry_the_event_log():
    a = simulate_arrays(_scenario(), rng=2, n=300)
    assert {"event_person", "event_day", "event_overdose"} <= set(a)


# ----- truth --------------------------------------------------------------------------------------------------
def test_frailty_nodes_have_mean_one_and_the_variance():
    for theta in (0.05, 0.5, 2.0):
        w, p = frailty_nodes(theta)
        assert abs(w @ p - 1) < 1e-10 and abs(w ** 2 @ p - 1 - theta) < 1e-8


def test_truth_without_death_has_the_closed_form():
    lam = 3 / 365.25
    for theta in (0.0, 0.7):
        s = _scenario(rate_per_year=3, frailty_variance=theta).replace(death_rate=0.0)
        t = recurrent_truth(s)
        per_day_uc = 1 - math.exp(-lam) if theta == 0 else 1 - (1 + theta * lam) ** (-1 / theta)
        per_day_pe = 1 - math.exp(-lam * 0.8) if theta == 0 else 1 - (1 + theta * lam * 0.8) ** (-1 / theta)
        for h in ("90", "180", "365"):
            assert t["mean_events"]["usual_care"][h] == pytest.approx(int(h) * per_day_uc, rel=1e-9)
            assert t["mean_events"]["peer"][h] == pytest.approx(int(h) * per_day_pe, rel=1e-9)
            assert t["cumulative_rate"]["peer"][h] == pytest.approx(t["mean_events"]["peer"][h], rel=1e-12)


def test_effect_stopping_at_the_cap_changes_only_later_days():
    t = recurrent_truth(_scenario(effect_stops_day=90, frailty_variance=0).replace(death_rate=0.0))
    lam = 2 / 365.25
    assert t["mean_events"]["peer"]["90"] == pytest.approx(90 * (1 - math.exp(-0.8 * lam)), rel=1e-9)
    assert t["mean_events"]["peer"]["180"] == pytest.approx(90 * (1 - math.exp(-0.8 * lam)) +
                                                           90 * (1 - math.exp(-lam)), rel=1e-9)


def test_death_sharing_the_frailty_has_the_gamma_laplace_transform():
    s = _scenario(frailty_variance=0.6, death_frailty=1.0).replace(death_rate=0.4)
    grid = np.array([0.0, 30.0, 180.0, 365.0])
    surv, dens = death_survival(grid, s)
    d = s.death_hazard
    assert np.allclose(surv, (1 + 0.6 * d * grid) ** (-1 / 0.6), rtol=1e-9)
    assert np.allclose(dens, d * (1 + 0.6 * d * grid) ** (-1 / 0.6 - 1), rtol=1e-9)
    assert death_survival(grid, s.replace(recurrent=Recurrent(enabled=True, death_frailty=0))) is None


def test_truth_travels_with_the_cohort_and_sidecar():
    s = _scenario()
    cohort, _ = simulate_with_events(s, rng=1, n=100)
    t = cohort.attrs["truth"]["recurrent"]
    assert t["rate_ratio"] == 0.8 and set(t["mean_events"]) == {"usual_care", "peer"}
    assert list(t["mean_events"]["peer"]) == ["90", "180", "365"]
    assert truth_sidecar(s, seed=1)["recurrent"] == t


@pytest.mark.slow
def test_simulated_mean_events_and_deaths_recover_the_truth():
    """No censoring but death: the mean count by each day is the truth within Monte Carlo error (z < 4)."""
    s = _scenario(rate_per_year=3, frailty_variance=0.7, death_frailty=1.0).replace(
        death_rate=0.5, frailty_variance=0.0, target_retention=0.999999, loss_to_follow_up_per_year=0.0,
        incarceration_rate=0.0)
    cohort, events = simulate_with_events(s, rng=20261202, n=300_000)
    truth = cohort.attrs["truth"]
    for arm in ("usual_care", "peer"):
        rows = (cohort.arm == arm).to_numpy()
        for h in (90, 180, 365):
            count = np.bincount(events.participant_id[events.day <= h] - 1, minlength=len(cohort))[rows]
            z = (count.mean() - truth["recurrent"]["mean_events"][arm][str(h)]) / (count.std() / math.sqrt(rows.sum()))
            assert abs(z) < 4, (arm, h, z)
        died = (cohort.outcome[rows] == "died").mean()
        cif = truth["estimands"]["cif"]["died"][arm]["365"]
        assert abs(died - cif) < 4 * math.sqrt(cif * (1 - cif) / rows.sum())


# ----- re-entries to treatment and an effect only while coached ----------------------------------------------
def _reentry_scenario(**rec):
    """Death sharing the frailty, dropout, no loss or incarceration: observed counts are E[N(t ^ D)] directly."""
    s = preset("outpatient_default").replace(follow_up_days=365, death_rate=0.5, frailty_variance=0.0,
                                             loss_to_follow_up_per_year=0.0, incarceration_rate=0.0,
                                             target_retention=0.5)
    base = dict(enabled=True, rate_per_year=3, rate_ratio=0.5, frailty_variance=0.7, death_frailty=1.0)
    return s.replace(contacts=s.contacts.__class__(cap_day=120), recurrent=Recurrent(**{**base, **rec}))


def test_reentry_fields_round_trip_through_yaml_and_overrides():
    s = apply_overrides(preset("ed_bridge"), ["recurrent.enabled=true", "recurrent.reentry_rate_per_year=2.5",
                                             "recurrent.reentry_rate_ratio=1.4", "recurrent.effect_while_coached=true"])
    assert s.recurrent == Recurrent(enabled=True, reentry_rate_per_year=2.5, reentry_rate_ratio=1.4,
                                    effect_while_coached=True)
    assert s.recurrent.reentries and not Recurrent(reentry_rate_per_year=2.5).reentries
    assert load_scenario(yaml.safe_load(s.to_yaml())) == s


@pytest.mark.parametrize("field, value, match", [
    ("reentry_rate_per_year", -1, r"recurrent.reentry_rate_per_year must be in \[0, 100\]"),
    ("reentry_rate_ratio", 0, r"recurrent.reentry_rate_ratio must be > 0; got 0"),
    ("effect_while_coached", 1, r"recurrent.effect_while_coached must be true or false; got 1"),
])
def test_bad_reentry_fields_name_the_field_and_value(field, value, match):
    with pytest.raises(ScenarioError, match=match):
        load_scenario({"recurrent": {field: value}})


def test_reentries_off_draw_exactly_what_they_drew():
    s = _scenario(rate_per_year=4)
    cohort, events = simulate_with_events(s, rng=9, n=2000)
    assert "events_time" not in cohort and set(events.kind.cat.categories) == {"relapse", "overdose"}
    again = simulate_with_events(s.replace(recurrent=dataclasses.replace(s.recurrent, reentry_rate_ratio=2.0)),
                                 rng=9, n=2000)
    pd.testing.assert_frame_equal(events, again[1])  # the ratio does nothing while the rate is 0


def test_reentries_come_after_a_dropout_and_episodes_run_to_the_end_of_follow_up():
    s = _reentry_scenario(reentry_rate_per_year=6).replace(loss_to_follow_up_per_year=0.2, incarceration_rate=0.05)
    cohort, events = simulate_with_events(s, rng=4, n=4000)
    plain = simulate_with_events(s.replace(recurrent=dataclasses.replace(s.recurrent, reentry_rate_per_year=0.0)),
                                 rng=4, n=4000)[0]
    pd.testing.assert_frame_equal(plain, cohort[plain.columns])  # re-entries leave the cohort as it was
    by = cohort.set_index("participant_id")
    re = events[events.kind == "reentry"]
    assert len(re) > 500 and (by.outcome.loc[re.participant_id] == "dropout").all()
    assert (re.day.to_numpy() > by.time.loc[re.participant_id].to_numpy()).all()
    assert (events.day.to_numpy() <= by.events_time.loc[events.participant_id].to_numpy()).all()
    episodes = events[events.kind != "reentry"]
    after = episodes.day.to_numpy() > by.time.loc[episodes.participant_id].to_numpy()
    assert after.sum() > 500  # dropout no longer ends the observation of episodes
    kept = by.outcome != "dropout"
    assert (by.events_time[kept] == by.time[kept]).all()
    assert (by.events_ending[kept].astype(str) == by.outcome[kept].astype(str).replace("retained",
                                                                                       "end_of_follow_up")).all()
    assert not events.duplicated(["participant_id", "day", "kind"]).any()


def test_truth_of_reentries_without_death_or_frailty_has_the_closed_form():
    s = _reentry_scenario(frailty_variance=0.0, death_frailty=0.0, reentry_rate_per_year=2,
                          reentry_rate_ratio=1.5).replace(death_rate=0.0)
    t = recurrent_truth(s)
    from peerstudy.simulation.truth import net_survival_curve
    for arm, rr in (("usual_care", 1.0), ("peer", 1.5)):
        dropped = 1 - net_survival_curve(np.arange(365.0), s, peer=arm == "peer")
        per_day = -math.expm1(-rr * 2 / 365.25)
        assert t["mean_reentries"][arm]["365"] == pytest.approx(per_day * dropped.sum(), rel=1e-9)


def test_effect_while_coached_truth_mixes_the_two_rates_by_the_chance_of_being_coached():
    s = _reentry_scenario(frailty_variance=0.0, death_frailty=0.0, effect_while_coached=True).replace(death_rate=0.0)
    t = recurrent_truth(s)
    from peerstudy.simulation.truth import net_survival_curve
    lam = 3 / 365.25
    coached = net_survival_curve(np.arange(120.0), s, peer=True)  # P(in treatment on day d), d = 1..120
    expected = coached.sum() * -math.expm1(-0.5 * lam) + (365 - coached.sum()) * -math.expm1(-lam)
    assert t["mean_events"]["peer"]["365"] == pytest.approx(expected, rel=1e-9)
    assert t["mean_events"]["usual_care"]["365"] == pytest.approx(365 * -math.expm1(-lam), rel=1e-9)


@pytest.mark.slow
@pytest.mark.parametrize("rec", [dict(reentry_rate_per_year=4, reentry_rate_ratio=1.5),
                                 dict(effect_while_coached=True, reentry_rate_per_year=4, reentry_rate_ratio=1.5),
                                 dict(effect_while_coached=True, effect_stops_day=60, reentry_rate_per_year=1)])
def test_simulated_reentries_and_coached_episodes_recover_the_truth(rec):
    """Mean episodes and re-entries by day 90/180/365 per arm equal the truth within 4 Monte Carlo SE."""
    s = _reentry_scenario(**rec)
    cohort, events = simulate_with_events(s, rng=20261203, n=200_000)
    truth = cohort.attrs["truth"]["recurrent"]
    checks = [(("relapse", "overdose"), "mean_events")] + ([(("reentry",), "mean_reentries")]
                                                          if "reentry_rate_per_year" in rec else [])
    for kinds, key in checks:
        ev = events[events.kind.isin(kinds)]
        for arm in ("usual_care", "peer"):
            rows = (cohort.arm == arm).to_numpy()
            for h in (90, 180, 365):
                count = np.bincount(ev.participant_id[ev.day <= h] - 1, minlength=len(cohort))[rows]
                z = (count.mean() - truth[key][arm][str(h)]) / (count.std() / math.sqrt(rows.sum()))
                assert abs(z) < 4, (key, arm, h, z)


@pytest.mark.slow
def test_ghosh_lin_by_kind_on_the_events_follow_up_recovers_the_truth_under_censoring():
    """Loss and incarceration censor; Ghosh-Lin of each kind on ``events_time`` is the truth within 4 SE."""
    from peerstudy.survival.recurrent import analyse_recurrent

    s = _reentry_scenario(effect_while_coached=True, reentry_rate_per_year=4, reentry_rate_ratio=1.5).replace(
        loss_to_follow_up_per_year=0.3, incarceration_rate=0.1)
    cohort, events = simulate_with_events(s, rng=77, n=40_000)
    truth = cohort.attrs["truth"]["recurrent"]
    assert (cohort.events_ending.astype(str).isin(["lost_to_follow_up", "incarcerated"])).mean() > 0.15
    for kinds, key in ((["relapse", "overdose"], "mean_events"), (["reentry"], "mean_reentries")):
        res = analyse_recurrent(cohort, events, time="events_time", ending="events_ending", kinds=kinds)
        assert res.settings["kinds"] == kinds
        gl = res.ghosh_lin.to_dict()
        for arm in ("usual_care", "peer"):
            for h in ("90", "180", "365"):
                z = (gl[arm][h]["estimate"] - truth[key][arm][h]) / gl[arm][h]["se"]
                assert abs(z) < 4, (key, arm, h, z)
