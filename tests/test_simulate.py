"""The simulator: contract, validity, reproducibility, and recovery of the truth within Monte Carlo error."""

import io
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peerstudy.exceptions import PeerstudyError
from peerstudy.scenario import PRESETS, Scenario, preset
from peerstudy.data.schema import COLUMNS, COVARIATES, validate_cohort, write_cohort
from peerstudy.simulation.batch import replicate_seed, simulate_replicates
from peerstudy.simulation.cohort import simulate_arrays, simulate_cohort


def km_whole_days(time, event, days):
    """Independent Kaplan-Meier for whole-day data, with Greenwood SE, at the given days."""
    F = int(time.max())
    d = np.bincount(time, weights=event, minlength=F + 1)
    c = np.bincount(time, minlength=F + 1)
    at_risk = c[::-1].cumsum()[::-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(at_risk > 0, d / at_risk, 0.0)
        gw = np.where(at_risk > d, d / (at_risk * (at_risk - d)), 0.0)
    S = np.cumprod(1 - q)
    V = np.cumsum(gw)
    return np.array([S[t] for t in days]), np.array([S[t] * math.sqrt(V[t]) for t in days]), S


def aj_whole_days(time, outcome, cause, days):
    """Independent Aalen-Johansen for whole-day data (lost_to_follow_up and retained censor)."""
    F = int(time.max())
    ending = ~np.isin(outcome, ["retained", "lost_to_follow_up"])
    d_all = np.bincount(time, weights=ending, minlength=F + 1)
    d_k = np.bincount(time, weights=(outcome == cause), minlength=F + 1)
    at_risk = np.bincount(time, minlength=F + 1)[::-1].cumsum()[::-1]
    S = np.cumprod(1 - np.where(at_risk > 0, d_all / np.maximum(at_risk, 1), 0))
    S_before = np.concatenate([[1.0], S[:-1]])
    cif = np.cumsum(S_before * np.where(at_risk > 0, d_k / np.maximum(at_risk, 1), 0))
    return np.array([cif[t] for t in days])


def test_schema_and_truth_travel_with_the_cohort():
    df = simulate_cohort("outpatient_default", rng=1)
    assert list(df.columns) == list(COLUMNS)
    validate_cohort(df)
    assert len(df) == 800 and df["participant_id"].is_unique
    assert set(df["arm"]) == {"usual_care", "peer"} and (df["arm"] == "peer").sum() == 400
    assert df["time"].min() >= 1 and df["time"].max() <= 180
    assert (df.loc[df["outcome"] == "retained", "time"] == 180).all()
    assert ((df["outcome"] == "dropout") == (df["event"] == 1)).all()
    assert df["enrolled_on"].is_monotonic_increasing
    assert df.attrs["truth"]["hazard_ratio"] == 0.8
    assert df.attrs["scenario"]["name"] == "outpatient_default"


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_simulates_a_valid_cohort(name):
    df = simulate_cohort(name, rng=5, n=300)
    validate_cohort(df)
    assert df["site"].nunique() <= preset(name).n_sites


def test_cluster_allocation_randomises_sites():
    df = simulate_cohort("cluster_randomised", rng=3)
    arms_per_site = df.groupby("site", observed=True)["arm"].nunique()
    assert (arms_per_site == 1).all()
    assert df.groupby("arm", observed=True)["site"].nunique().to_dict() == {"usual_care": 8, "peer": 8}


def test_same_seed_same_bytes_csv_and_parquet(tmp_path):
    a = simulate_cohort("ed_bridge", rng=42)
    b = simulate_cohort("ed_bridge", rng=np.random.default_rng(42))  # an int seed and a Generator agree
    pd.testing.assert_frame_equal(a, b)
    for suffix in ("csv", "parquet"):
        write_cohort(a, tmp_path / f"a.{suffix}")
        write_cohort(simulate_cohort("ed_bridge", rng=42), tmp_path / f"b.{suffix}")
        assert (tmp_path / f"a.{suffix}").read_bytes() == (tmp_path / f"b.{suffix}").read_bytes()
    c = simulate_cohort("ed_bridge", rng=43)
    assert not a["time"].equals(c["time"])


#: every preset, and variants that switch on the features the presets leave off
ENGINE_SCENARIOS = {
    **{name: preset(name) for name in PRESETS},
    "cluster_with_coaching_cap": preset("cluster_randomised").replace(effect_stops_day=30, frailty_variance=0.5),
    "contact_effect_randomised": preset("observational").replace(allocation="individual", n=600),
    "no_frailty_no_endings": preset("outpatient_default").replace(frailty_variance=0.0, incarceration_rate=0.0,
                                                                  death_rate=0.0, loss_to_follow_up_per_year=0.0),
    "more_sites_than_people": Scenario(n=5, n_sites=12, allocation="cluster"),
}


@pytest.mark.parametrize("name", list(ENGINE_SCENARIOS))
def test_simulate_replicates_equals_simulate_arrays_draw_for_draw(name):
    """One engine: replicate i of a study is exactly the cohort simulate_arrays draws from replicate i's seed."""
    sc = ENGINE_SCENARIOS[name]
    seed = 2029
    stacked = simulate_replicates(sc, [0, 7, 3], seed=seed, covariates=COVARIATES)
    for row, rep in enumerate([0, 7, 3]):
        alone = simulate_replicates(sc, [rep], seed=seed, covariates=COVARIATES)
        cohort = simulate_arrays(sc, rng=np.random.default_rng(replicate_seed(seed, rep)))
        for key in ("time", "event", "peer", "site", *COVARIATES):
            np.testing.assert_array_equal(alone[key][0], cohort[key], err_msg=f"{name} replicate {rep}: {key}")
            np.testing.assert_array_equal(stacked[key][row], cohort[key], err_msg=f"{name} stacked {rep}: {key}")
    # only the covariates asked for (and those in the model) are returned, with the same values
    lean = simulate_replicates(sc, [7], seed=seed)
    assert {"time", "event", "peer", "site"} <= set(lean)
    for key in lean:
        np.testing.assert_array_equal(lean[key][0], stacked[key][1], err_msg=f"{name} lean: {key}")


def test_streams_are_independent_of_features_in_other_streams():
    """Enrolment and contact sessions come from spawned children: switching contacts on changes no other draw."""
    base = preset("outpatient_default").replace(n=500)
    with_log = base.replace(contacts=preset("observational").contacts.__class__(enabled=True))
    a = simulate_arrays(base, rng=5)
    b = simulate_arrays(with_log, rng=5)
    for key in ("time", "outcome", "peer", "site", "enrol_day", *COVARIATES):
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert len(b["contact_day"]) > 0 and "contact_day" not in a


def test_overridden_fields_are_named_in_the_description_never_stale():
    from peerstudy.simulation.cohort import override, scenario_label

    base = preset("outpatient_default")
    a = override(base, {"hazard_ratio": 0.7})
    assert a.description == base.description + "; overridden: hazard_ratio=0.7"
    assert scenario_label(a) == "outpatient_default with hazard_ratio=0.7"
    # overriding again re-reads every noted field: one note, current values
    b = override(a, {"hazard_ratio": 0.5, "effect_stops_day": None, "covariates.homeless.prevalence": 0.3, "n": 100})
    assert b.description == base.description + "; overridden: hazard_ratio=0.5, n=100, covariates.homeless.prevalence=0.3"
    c = override(base, {"effect_stops_day": 60, "contacts.enabled": True})
    assert c.description.endswith("; overridden: effect_stops_day=60, contacts.enabled=true")
    # no change, no note
    assert override(base, {"hazard_ratio": 0.8}).description == base.description
    assert scenario_label(base) == "outpatient_default"
    assert override(Scenario(), {"n": 50}).description == "overridden: n=50"


def test_n_override_is_validated():
    with pytest.raises(PeerstudyError, match=r"n must be a whole number >= 2; got 0"):
        simulate_cohort("outpatient_default", rng=1, n=0)


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(2, 300),
    n_sites=st.integers(2, 12),
    hr=st.floats(0.2, 3.0),
    shape=st.floats(0.3, 3.0),
    target=st.floats(0.05, 0.95),
    stop=st.one_of(st.none(), st.integers(1, 400)),
    cluster=st.booleans(),
    frailty=st.floats(0, 2),
    follow=st.integers(1, 400),
    lost=st.floats(0, 0.9),
    prevalence=st.floats(0, 1),
    seed=st.integers(0, 2**32),
)
def test_random_valid_scenarios_give_valid_cohorts(n, n_sites, hr, shape, target, stop, cluster, frailty, follow,
                                                   lost, prevalence, seed):
    base = Scenario()
    cov = base.covariates.__class__(homeless=type(base.covariates.homeless)(prevalence=prevalence, hazard_ratio=1.3))
    s = Scenario(n=n, n_sites=n_sites, hazard_ratio=hr, weibull_shape=shape, target_retention=target,
                 effect_stops_day=stop, allocation="cluster" if cluster else "individual", frailty_variance=frailty,
                 follow_up_days=follow, target_day=min(90, follow), loss_to_follow_up_per_year=lost, covariates=cov)
    df = simulate_cohort(s, rng=seed)
    validate_cohort(df)
    assert df["time"].max() <= follow


@pytest.mark.slow
def test_recovery_km_cif_rmst_without_site_frailty():
    """At large N (no site frailty, so no between-site sampling error), KM, AJ and RMST hit the truth."""
    s = preset("outpatient_default").replace(frailty_variance=0.0, n=400_000)
    df = simulate_cohort(s, rng=2024)
    truth = df.attrs["truth"]["estimands"]
    days = [30, 90, 180]
    for arm in ("usual_care", "peer"):
        g = df[df["arm"] == arm]
        t, e = g["time"].to_numpy(), g["event"].to_numpy()
        est, se, S = km_whole_days(t, e, days)
        for i, day in enumerate(days):
            assert abs(est[i] - truth["net_survival"][arm][str(day)]) < 4 * se[i], (arm, day)
        # the usual-care target (0.55 at day 90) is met by the data
        rmst = S[:180].sum()  # area under the whole-day KM step function up to day 180: sum_{j<180} S(j), S(0) = 1
        se_rmst = 1.2 * np.minimum(t, 180).std() / math.sqrt(len(t))  # conservative: censoring inflates the SE a little
        assert abs(rmst - truth["rmst"]["180"][arm]) < 4 * se_rmst, (arm, rmst, se_rmst)
        outcome = g["outcome"].astype(str).to_numpy()
        for ending in ("dropout", "incarcerated", "died"):
            cif = aj_whole_days(t, outcome, ending, days)
            p = np.array([truth["cif"][ending][arm][str(d)] for d in days])
            se_cif = np.sqrt(p * (1 - p) / len(g)) * 1.2
            assert np.all(np.abs(cif - p) < 4 * se_cif + 1e-4), (arm, ending, cif, p)


@pytest.mark.slow
def test_recovery_with_site_frailty_over_replicates():
    """With 8 frail sites a single cohort's KM varies with its sites' frailties; the mean over cohorts hits the truth."""
    s = preset("outpatient_default")
    truth = s and simulate_cohort(s, rng=0, n=10).attrs["truth"]["estimands"]["net_survival"]
    seeds = np.random.SeedSequence(77).spawn(150)
    est = {arm: [] for arm in ("usual_care", "peer")}
    for ss in seeds:
        df = simulate_cohort(s, rng=ss, n=3000)
        for arm in est:
            g = df[df["arm"] == arm]
            est[arm].append(km_whole_days(g["time"].to_numpy(), g["event"].to_numpy(), [30, 90, 180])[0])
    for arm, values in est.items():
        values = np.array(values)
        mean, mcse = values.mean(axis=0), values.std(axis=0, ddof=1) / math.sqrt(len(values))
        expected = np.array([truth[arm][d] for d in ("30", "90", "180")])
        assert np.all(np.abs(mean - expected) < 4 * mcse), (arm, mean, expected, mcse)


@pytest.mark.slow
def test_cox_recovers_conditional_log_hazard_ratios_without_frailty():
    from lifelines import CoxPHFitter

    s = preset("outpatient_default").replace(frailty_variance=0.0, n=60_000)
    df = simulate_cohort(s, rng=99)
    truth = df.attrs["truth"]["coefficients"]
    X = df[["time", "event", "age", "female", "homeless", "stimulant_use", "injects", "unemployed", "depression",
            "prior_treatments"]].copy()
    X["peer"] = (df["arm"] == "peer").astype(int)
    cph = CoxPHFitter().fit(X, "time", "event", batch_mode=True)
    for term, key in [("peer", "arm[peer]"), ("age", "age"), ("homeless", "homeless"), ("stimulant_use", "stimulant_use"),
                      ("injects", "injects"), ("unemployed", "unemployed"), ("depression", "depression")]:
        est, se = cph.params_[term], cph.standard_errors_[term]
        assert abs(est - truth[key]) < 4 * se, (term, est, truth[key], se)


def test_contact_log_and_observational_assignment():
    from peerstudy.simulation.cohort import simulate_with_contacts

    cohort, log = simulate_with_contacts("observational", rng=3, n=4000)
    validate_cohort(cohort)
    assert list(log.columns) == ["participant_id", "day", "contact_type"]
    merged = log.merge(cohort[["participant_id", "arm", "time"]], on="participant_id")
    assert (merged["arm"] == "peer").all()  # only people with a coach have sessions
    assert (merged["day"] >= 1).all() and (merged["day"] < merged["time"]).all()  # while still observed
    assert merged["day"].max() <= 90  # coaching cap
    assert not log.duplicated(["participant_id", "day"]).any()
    assert set(log["contact_type"]) == {"face_to_face", "phone"}
    # confounding: take-up depends on covariates as the assignment model says (housed people take a coach more)
    rate = cohort.groupby("homeless")["arm"].apply(lambda a: (a == "peer").mean())
    assert rate[0] > rate[1] + 0.1
    # same seed, same log; simulate_cohort gives the same cohort
    again_cohort, again_log = simulate_with_contacts("observational", rng=3, n=4000)
    pd.testing.assert_frame_equal(log, again_log)
    pd.testing.assert_frame_equal(cohort, simulate_cohort("observational", rng=3, n=4000))
    with pytest.raises(PeerstudyError, match="contacts.enabled must be true"):
        simulate_with_contacts("outpatient_default", rng=1)


@pytest.mark.slow
def test_recovery_of_peer_arm_truth_with_contact_effect():
    """Peer-arm KM hits the Monte Carlo truth that integrates over session processes.

    Randomised here (the observational preset's naive KM by arm is confounded, by design), no site frailty.
    """
    s = preset("observational").replace(frailty_variance=0.0, n=300_000, allocation="individual")
    df = simulate_cohort(s, rng=8)
    truth = df.attrs["truth"]["estimands"]["net_survival"]
    for arm in ("usual_care", "peer"):
        g = df[df["arm"] == arm]
        est, se, _ = km_whole_days(g["time"].to_numpy(), g["event"].to_numpy(), [30, 90, 180])
        expected = np.array([truth[arm][d] for d in ("30", "90", "180")])
        # truth's own Monte Carlo SE (< 1e-3) adds to the estimate's
        assert np.all(np.abs(est - expected) < 4 * np.sqrt(se**2 + 1e-3**2)), (arm, est, expected)


def test_naive_contrast_is_confounded_in_the_observational_preset():
    s = preset("observational").replace(frailty_variance=0.0, n=100_000)
    df = simulate_cohort(s, rng=4)
    g = df[df["arm"] == "usual_care"]
    est, se, _ = km_whole_days(g["time"].to_numpy(), g["event"].to_numpy(), [90])
    truth = df.attrs["truth"]["estimands"]["net_survival"]["usual_care"]["90"]
    assert truth - est[0] > 10 * se[0]  # people who decline a coach are sicker: naive usual-care retention is too low
