"""Coaches within sites: scenario block, draws through the one simulation path, truth, and the cohort columns."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest
import yaml

from peerstudy.data.schema import COVARIATES, validate_cohort
from peerstudy.exceptions import ScenarioError
from peerstudy.scenario import Coaches, Scenario, apply_overrides, load_scenario, preset
from peerstudy.simulation.batch import replicate_seed, simulate_replicates
from peerstudy.simulation.cohort import simulate_arrays, simulate_cohort
from peerstudy.simulation.truth import compute_truth, gamma_nodes

COACHED = preset("coach_clustered")


def test_coaches_are_off_by_default_and_leave_no_trace():
    s = preset("outpatient_default")
    assert s.coaches == Coaches() and not s.coaches.enabled
    assert "coaches" not in s.to_dict() and "coaches" not in s.to_yaml()
    assert "coach" not in compute_truth(s).to_dict()
    df = simulate_cohort(s, rng=1, n=50)
    assert "coach" not in df.columns and "coach_match" not in df.columns


def test_coach_block_round_trips_and_overrides():
    assert COACHED.coaches.enabled and COACHED.coaches.per_site == 3
    assert Scenario.from_dict(yaml.safe_load(COACHED.to_yaml())) == COACHED
    s = apply_overrides(preset("outpatient_default"), ["coaches.enabled=true", "coaches.per_site=4",
                                                       "coaches.match_hazard_ratio=0.7"])
    assert s.coaches == Coaches(enabled=True, per_site=4, match_hazard_ratio=0.7)
    assert load_scenario({"base": "outpatient_default", "coaches": {"enabled": True}}).coaches.enabled


@pytest.mark.parametrize("override, message", [
    ("coaches.per_site=0", r"coaches.per_site must be a whole number from 1 to 1,000; got 0"),
    ("coaches.per_site=2.5", r"coaches.per_site must be a whole number; got 2.5"),
    ("coaches.frailty_variance=-0.1", r"coaches.frailty_variance must be in \[0, 10\]; got -0.1"),
    ("coaches.match_on=age", r"coaches.match_on must be 'primary_substance' or 'lived_experience'; got 'age'"),
    ("coaches.match_probability=1.5", r"coaches.match_probability must be in \[0, 1\]; got 1.5"),
    ("coaches.match_hazard_ratio=-1", r"coaches.match_hazard_ratio must be > 0; got -1"),
    ("coaches.enabled=maybe", r"coaches.enabled must be true or false; got 'maybe'"),
    ("coaches.caseload=20", r"unknown scenario field 'coaches.caseload'"),
])
def test_bad_coach_fields_are_named(override, message):
    with pytest.raises(ScenarioError, match=message):
        apply_overrides(preset("outpatient_default"), [override])


def test_null_coaches_block_is_refused():
    with pytest.raises(ScenarioError, match="coaches must be a mapping of its fields"):
        Scenario.from_dict({"coaches": None})


def test_cohort_has_coaches_in_the_peer_arm_only():
    df = simulate_cohort(COACHED, rng=3)
    validate_cohort(df)
    peer = (df["arm"] == "peer").to_numpy()
    assert df.loc[peer, "coach"].notna().all() and df.loc[~peer, "coach"].isna().all()
    assert df.loc[peer, "coach_match"].notna().all() and df.loc[~peer, "coach_match"].isna().all()
    # a coach works at one site, and is named after it
    sites = df.loc[peer].groupby("coach", observed=True)["site"].nunique()
    assert (sites == 1).all()
    assert all(str(c).split("-C")[0] == str(s) for c, s in zip(df.loc[peer, "coach"], df.loc[peer, "site"]))
    assert df["coach"].cat.categories.size == COACHED.n_sites * COACHED.coaches.per_site
    caseload = df.loc[peer, "coach"].value_counts()
    assert 10 <= caseload.median() <= 30   # about 20 clients per coach


VARIANTS = {
    "coach_clustered": COACHED,
    "coaches_with_contact_effect": apply_overrides(preset("observational"), {
        "allocation": "individual", "n": 600, "coaches.enabled": True, "coaches.frailty_variance": 0.5,
        "coaches.match_hazard_ratio": 0.6}),
    "coaches_cluster_allocation_cap": apply_overrides(preset("cluster_randomised"), {
        "effect_stops_day": 60, "coaches.enabled": True, "coaches.per_site": 2, "coaches.frailty_variance": 2.0}),
}


@pytest.mark.parametrize("name", list(VARIANTS))
def test_replicates_equal_single_cohorts_draw_for_draw_with_coaches(name):
    sc = VARIANTS[name]
    seed = 404
    stacked = simulate_replicates(sc, [0, 5, 2], seed=seed, covariates=COVARIATES)
    for row, rep in enumerate([0, 5, 2]):
        cohort = simulate_arrays(sc, rng=np.random.default_rng(replicate_seed(seed, rep)))
        for key in ("time", "event", "peer", "site", "coach", "coach_match", *COVARIATES):
            np.testing.assert_array_equal(stacked[key][row], cohort[key], err_msg=f"{name} {rep}: {key}")


def test_coaches_without_effect_change_no_other_draw():
    """Coaches take their own stream: switching them on (no frailty, match HR 1) leaves every other draw as it was."""
    base = preset("outpatient_default").replace(n=700)
    inert = apply_overrides(base, {"coaches.enabled": True})
    a, b = simulate_arrays(base, rng=9), simulate_arrays(inert, rng=9)
    for key in ("time", "outcome", "peer", "site", "enrol_day", *COVARIATES):
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert (b["coach"][b["peer"]] >= 0).all() and (b["coach"][~b["peer"]] == -1).all()
    # with an effect only the peer arm's dropout changes
    active = apply_overrides(base, {"coaches.enabled": True, "coaches.match_hazard_ratio": 0.5})
    c = simulate_arrays(active, rng=9)
    np.testing.assert_array_equal(a["time"][~a["peer"]], c["time"][~c["peer"]])
    assert (a["time"][a["peer"]] != c["time"][c["peer"]]).any()


@pytest.mark.parametrize("variance", [0.0, 0.001, 0.05, 0.3, 2.0, 10.0])
def test_gamma_quadrature_has_mean_one_and_the_variance(variance):
    w, q = gamma_nodes(variance)
    assert q.sum() == pytest.approx(1.0)
    assert q @ w == pytest.approx(1.0, abs=1e-6)
    assert q @ (w - 1) ** 2 == pytest.approx(variance, rel=1e-4, abs=1e-12)


def _km(time, event, day):
    s = 1.0
    for t in np.unique(time[(event == 1) & (time <= day)]):
        s *= 1 - ((time == t) & (event == 1)).sum() / (time >= t).sum()
    return s


def test_truth_by_match_is_recovered_by_kaplan_meier():
    """200,000 people, 1,000 coaches, no site frailty: KM of each match group meets the truth (4 SE)."""
    sc = apply_overrides(COACHED, {"n": 200_000, "n_sites": 50, "coaches.per_site": 20, "frailty_variance": 0.0,
                                   "coaches.frailty_variance": 0.4, "coaches.match_hazard_ratio": 0.6})
    a = simulate_arrays(sc, rng=21)
    truth = compute_truth(sc).to_dict()
    coach = truth["coach"]
    assert coach["hazard_ratio_matched"] == pytest.approx(0.9 * 0.6)
    assert coach["frailty_variance"] == 0.4 and coach["log_match_hazard_ratio"] == pytest.approx(np.log(0.6))
    groups = {"matched": a["coach_match"] == 1, "unmatched": a["coach_match"] == 0}
    for label, rows in groups.items():
        t, e = a["time"][rows], a["event"][rows]
        for day in ("30", "90", "180"):
            km = _km(t, e, int(day))
            s = coach["net_survival_by_match"][label][day]
            se = np.sqrt(s * (1 - s) / rows.sum()) * 1.5  # loss and competing endings thin the risk set
            assert abs(km - s) < 4 * se, (label, day, km, s)
    peer = a["peer"]
    km = _km(a["time"][peer], a["event"][peer], 90)
    s = truth["estimands"]["net_survival"]["peer"]["90"]
    assert abs(km - s) < 4 * np.sqrt(s * (1 - s) / peer.sum()) * 1.5
    # usual care has no coaches: its truth is that of the scenario without them
    plain = compute_truth(sc.replace(coaches=Coaches())).to_dict()["estimands"]["net_survival"]["usual_care"]
    assert truth["estimands"]["net_survival"]["usual_care"] == plain


def test_truth_with_contact_effect_and_coaches_is_monte_carlo_consistent():
    """With a contact effect the peer truth is Monte Carlo; its mixture over matches is the marginal."""
    sc = VARIANTS["coaches_with_contact_effect"]
    truth = compute_truth(sc).to_dict()
    by = truth["coach"]["net_survival_by_match"]
    p = sc.coaches.match_probability
    for day in ("30", "90", "180"):
        mix = p * by["matched"][day] + (1 - p) * by["unmatched"][day]
        assert mix == pytest.approx(truth["estimands"]["net_survival"]["peer"][day], abs=5e-3)
        assert by["matched"][day] > by["unmatched"][day]


def test_simulate_cli_writes_coaches_and_their_truth(tmp_path):
    from peerstudy.cli import main

    out = tmp_path / "c.csv"
    assert main(["simulate", "--scenario", "outpatient_default", "--set", "coaches.enabled=true",
                 "--set", "coaches.match_hazard_ratio=0.7", "--n", "300", "--seed", "4", "--out", str(out)]) == 0
    df = pd.read_csv(out)
    assert {"coach", "coach_match"} <= set(df.columns)
    assert df.loc[df["arm"] == "usual_care", ["coach", "coach_match"]].isna().all().all()
    truth = json.loads(out.with_suffix(".truth.json").read_text())
    assert truth["coach"]["match_hazard_ratio"] == 0.7
    assert truth["scenario"]["coaches"]["enabled"] is True
    assert "coach" in truth["notes"]


def test_marginal_cox_limit_accounts_for_coaches():
    """The unadjusted Cox model's estimand with coaches (marginal over coach frailty and match): 400,000 people."""
    from peerstudy.survival import fast

    sc = apply_overrides(COACHED, {"n": 400_000, "n_sites": 4_000, "coaches.frailty_variance": 0.5,
                                   "coaches.match_hazard_ratio": 0.6})
    a = simulate_arrays(sc, rng=3)
    fit = fast.cox_batch(a["time"].astype(float), a["event"], a["peer"].astype(float))
    limit = compute_truth(sc).to_dict()["estimands"]["log_hazard_ratio"]
    assert abs(fit.coef[0, 0] - limit["marginal"]) < 3 * fit.se[0, 0]
    assert limit["conditional"] == pytest.approx(np.log(0.9))  # the unmatched clients' hazard ratio
    assert np.log(0.9 * 0.6) < limit["marginal"] < np.log(0.9)  # between the matched and unmatched hazard ratios
