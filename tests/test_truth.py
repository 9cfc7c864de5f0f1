"""The truth is computed from the scenario; check it against independent calculations."""

import math

import numpy as np
import pytest
from scipy import integrate

from peerstudy.scenario import preset
from peerstudy.simulation.truth import (arm_cumulative_hazard, compute_truth, linear_predictor_distribution, weibull_scale)


def test_target_retention_is_met_by_the_truth():
    for name in ("outpatient_default", "ed_bridge", "moud_clinic"):
        s = preset(name)
        t = compute_truth(s)
        day = str(s.target_day)
        assert t.net_survival["usual_care"][day] == pytest.approx(s.target_retention, abs=1e-9)


def test_without_covariates_or_frailty_truth_is_closed_form():
    s = preset("outpatient_default").replace(frailty_variance=0.0)
    s = s.replace(covariates=type(s.covariates)(**{
        name: type(getattr(s.covariates, name))(**{**getattr(s.covariates, name).__dict__, "hazard_ratio": 1.0})
        for name in s.covariates.__dataclass_fields__}))
    t = compute_truth(s)
    scale, k = weibull_scale(s), s.weibull_shape
    # S(90) = 0.55 -> scale = 90 / (-log 0.55) ** (1/k)
    assert scale == pytest.approx(90 / (-math.log(0.55)) ** (1 / k), rel=1e-9)
    for day in (30, 90, 180):
        s_uc = math.exp(-((day / scale) ** k))
        s_peer = s_uc ** s.hazard_ratio
        assert t.net_survival["usual_care"][str(day)] == pytest.approx(s_uc, abs=1e-12)
        assert t.net_survival["peer"][str(day)] == pytest.approx(s_peer, abs=1e-12)
        # CIF of dropout with competing exponential hazards, by quadrature of h(u) S(u) e^{-lc u}
        lc = s.incarceration_hazard + s.death_hazard
        f = lambda u: (k / scale) * (u / scale) ** (k - 1) * math.exp(-((u / scale) ** k) - lc * u)
        cif = integrate.quad(f, 0, day, limit=200)[0]
        assert t.cif["dropout"]["usual_care"][str(day)] == pytest.approx(cif, abs=2e-5)
        g = lambda u: s.death_hazard * math.exp(-((u / scale) ** k) - lc * u)
        assert t.cif["died"]["usual_care"][str(day)] == pytest.approx(integrate.quad(g, 0, day)[0], abs=1e-6)
        # whole-day RMST = sum_{j<tau} S(j)
        rm = sum(math.exp(-((j / scale) ** k)) for j in range(day))
        assert t.rmst[str(day)]["usual_care"] == pytest.approx(rm, abs=1e-9)


def test_marginal_survival_matches_brute_force_monte_carlo():
    """Average exact conditional survival over 2 million draws of covariates and frailty.

    Covariates are drawn here as the scenario describes them (rounded clipped normals, Bernoulli, capped
    Poisson), independently of the simulator's discrete distributions.
    """
    from peerstudy.scenario import BinaryCovariate, NumericCovariate
    from peerstudy.simulation.truth import covariate_coefficients

    def draw(spec, n, rng):
        if isinstance(spec, BinaryCovariate):
            return (rng.random(n) < spec.prevalence).astype(float)
        if isinstance(spec, NumericCovariate):
            return np.clip(np.rint(rng.normal(spec.mean, spec.sd, n)), spec.lower, spec.upper)
        return np.minimum(rng.poisson(spec.mean, n), spec.upper).astype(float)

    s = preset("ed_bridge")
    rng = np.random.default_rng(11)
    n = 2_000_000
    lp = np.zeros(n)
    for name, (beta, centre) in covariate_coefficients(s).items():
        lp += beta * (draw(getattr(s.covariates, name), n, rng) - centre)
    z = rng.gamma(1 / s.frailty_variance, s.frailty_variance, n)
    t = compute_truth(s)
    for arm in ("usual_care", "peer"):
        for day in (30, 90, 180):
            H = float(arm_cumulative_hazard(np.array([day]), s, arm == "peer")[0])
            est = np.exp(-H * z * np.exp(lp))
            se = est.std() / math.sqrt(n)
            assert abs(est.mean() - t.net_survival[arm][str(day)]) < 4 * se + 1e-4


def test_coaching_cap_makes_hazard_ratio_one_after_the_cap():
    s = preset("ed_bridge")
    h_uc = arm_cumulative_hazard(np.array([90.0, 150.0]), s, False)
    h_peer = arm_cumulative_hazard(np.array([90.0, 150.0]), s, True)
    assert h_peer[0] == pytest.approx(0.8 * h_uc[0])
    assert h_peer[1] - h_peer[0] == pytest.approx(h_uc[1] - h_uc[0])


def test_linear_predictor_distribution_is_a_distribution():
    v, p = linear_predictor_distribution(preset("outpatient_default"))
    assert p.sum() == pytest.approx(1.0) and (p > 0).all()
    # mean of the linear predictor = sum of beta * (E[x] - centre); binary centres are 0
    s = preset("outpatient_default").covariates
    expected = sum(math.log(getattr(s, b).hazard_ratio) * getattr(s, b).prevalence
                   for b in ("female", "homeless", "stimulant_use", "injects", "unemployed"))
    # numeric covariates are centred at their mean; clipping/rounding shifts them by < 1e-3 here
    assert float(v @ p) == pytest.approx(expected, abs=2e-3)


def test_truth_sidecar_contract():
    from peerstudy.simulation.cohort import truth_sidecar

    doc = truth_sidecar(preset("outpatient_default"), seed=3)
    assert {"seed", "n", "scenario", "hazard_ratio", "estimands"} <= set(doc)
    est = doc["estimands"]
    for arm in ("usual_care", "peer"):
        assert set(est["net_survival"][arm]) == {"30", "90", "180"}
        for ending in ("dropout", "incarcerated", "died"):
            assert set(est["cif"][ending][arm]) == {"30", "90", "180"}
        assert {"90", "180"} <= set(est["rmst"])
        assert est["rmst"]["180"]["peer"] > est["rmst"]["180"]["usual_care"]


def test_contact_kernels_agree_with_each_other():
    """Survival from the cumulative-hazard kernel equals the empirical survival of times from the inversion kernel."""
    from peerstudy.simulation.contacts import draw_sessions, invert_with_windows, mean_survival_with_windows

    s = preset("observational")
    rng = np.random.default_rng(5)
    n = 200_000
    offsets, days = draw_sessions(n, s.contacts, 90.0, rng=rng)
    lp = np.zeros(n)
    args = (offsets, days, 14.0, 0.75, 0.9, np.inf, 60.0, 0.8)
    T = invert_with_windows(rng.standard_exponential(n), *args)
    grid = np.array([0.5, 7.0, 14.0, 30.0, 90.0, 180.0])
    S = mean_survival_with_windows(grid, lp, *args, 0.0)
    for g, s_g in zip(grid, S):
        emp = (T > g).mean()
        assert abs(emp - s_g) < 4 * math.sqrt(s_g * (1 - s_g) / n), (g, emp, s_g)
    # no sessions and no contact effect: the closed form
    none = np.zeros(n + 1, dtype=np.int64)
    S0 = mean_survival_with_windows(grid, lp, none, np.zeros(0), 14.0, 0.75, 0.9, np.inf, 60.0, 0.8, 0.0)
    np.testing.assert_allclose(S0, np.exp(-0.9 * (grid / 60.0) ** 0.8), rtol=1e-10)


def test_observational_truth_does_not_depend_on_assignment_or_size():
    s = preset("observational")
    a = compute_truth(s).to_dict()
    b = compute_truth(s.replace(n=50, allocation="individual")).to_dict()
    assert a == b
    assert a["contact"]["hazard_ratio_recent"] == 0.75 and a["contact"]["window_days"] == 14


@pytest.mark.slow
def test_cox_limits_are_what_large_cohorts_estimate():
    # 300,000 people at 1,500 sites (so the drawn sites stand for the superpopulation): the Cox model of the arm
    # alone estimates the marginal log-HR, the model stratified by site the within-site one; both differ from
    # the conditional log-HR the scenario states by many SEs (ed_bridge: strong covariates and frailty)
    import warnings

    import peerstudy as ps
    from peerstudy.survival.cox.engine import fit_cox

    sc = preset("ed_bridge").replace(n=300_000, n_sites=1500)
    df = ps.simulate_cohort(sc, rng=5)
    limits = df.attrs["truth"]["estimands"]["log_hazard_ratio"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        marginal = fit_cox(df, covariates=["arm"])
        within = fit_cox(df, covariates=["arm"], strata="site")
    assert abs(marginal.coef[0] - limits["marginal"]) < 3 * marginal.se[0]
    assert abs(within.coef[0] - limits["within_site"]) < 3 * within.se[0]
    assert limits["conditional"] - limits["within_site"] < -10 * within.se[0]


def test_cox_limit_is_the_stated_hr_without_frailty_or_covariate_effects():
    import dataclasses

    from peerstudy.simulation.truth import cox_limit

    sc = preset("outpatient_default")
    flat = sc.replace(frailty_variance=0.0, covariates=type(sc.covariates)(**{
        f: dataclasses.replace(getattr(sc.covariates, f), hazard_ratio=1.0) for f in sc.covariates.__dataclass_fields__}))
    for within in (False, True):
        assert cox_limit(flat, within_site=within) == pytest.approx(math.log(sc.hazard_ratio), abs=2e-5)


@pytest.mark.slow
def test_cox_limit_settings_are_fine_enough():
    from peerstudy.simulation import truth as T

    sc = T._limit_key(preset("ed_bridge"))
    coarse = (T.cox_limit(sc, within_site=True), T.cox_limit(sc, within_site=False))
    saved = T.FRAILTY_NODES, T.GRID_NEAR_ZERO, T.GRID_PER_DAY, T.LIMIT_BIN
    try:
        T.FRAILTY_NODES, T.GRID_NEAR_ZERO, T.GRID_PER_DAY, T.LIMIT_BIN = 40, 300, 6, 0.005
        T.cox_limit.cache_clear()
        fine = (T.cox_limit(sc, within_site=True), T.cox_limit(sc, within_site=False))
    finally:
        T.FRAILTY_NODES, T.GRID_NEAR_ZERO, T.GRID_PER_DAY, T.LIMIT_BIN = saved
        T.cox_limit.cache_clear()
    assert coarse == pytest.approx(fine, abs=1e-4)
