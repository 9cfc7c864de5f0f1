"""Estimands computed from a scenario (not estimated from a sample): the truth a cohort is simulated from.

For each arm the module computes, from the scenario alone:

* ``net_survival``: P(T_dropout > t), the retention curve net of the other endings, marginal over the
  covariate distribution and the gamma site frailty. Here competing endings and loss to follow-up have
  constant hazards independent of covariates and frailty, so this is what Kaplan-Meier with every other
  ending censored estimates.
* ``cif``: cumulative incidence of each ending (``dropout``, ``incarcerated``, ``died``) in the absence of
  loss to follow-up (which is independent censoring), i.e. what Aalen-Johansen estimates.
* ``log_hazard_ratio``: the log hazard ratio of dropout, peer vs usual care, that each kind of Cox model
  estimates (:func:`cox_limit`). Hazard ratios are not collapsible: the model of the arm alone estimates
  the ``marginal`` (population-averaged) value, closer to 0 than the ``conditional`` one the scenario
  states (given site frailty and covariates) whenever frailty or covariates affect dropout; a model
  stratified by site (or a frailty model) of the arm alone estimates the ``within_site`` value (given the
  site, averaged over covariates). The unadjusted log-rank statistic targets the marginal value too.
* ``rmst``: restricted mean time in treatment up to ``tau`` days, for time recorded in whole days as the
  simulator does (``time = ceil(T)``): ``E[min(ceil(T), tau)] = sum_{k=0}^{tau-1} S(k)``, which is exactly the
  area under a Kaplan-Meier curve of whole-day data.

Marginalisation is exact up to a binning of the linear predictor: each covariate has a discrete
distribution (see :mod:`peerstudy.simulation.hazards`, where the model lives), their independent sum is formed by convolution on a grid of
width 5e-4 (each bin keeps its probability-weighted mean), and the gamma frailty is integrated in closed
form, ``E[exp(-Z x)] = (1 + theta x) ** (-1 / theta)``. Survival is accurate to well below 1e-4.

With coaches (``coaches.enabled``), the peer arm's survival is also marginal over the coach-client match (a
two-point mixture) and the gamma coach frailty, whose quadrature nodes (generalised Gauss-Laguerre on its
density, 64 nodes; for a variance below 0.01, Gauss-Legendre over its quantile function, 400 nodes) join the
linear predictor's distribution by the same binned convolution. Usual care has no coaches, so the calibration of the Weibull scale is
unchanged. The truth's ``coach`` block states the match effect, the coach frailty variance and survival by
match.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.polynomial.legendre import leggauss
from scipy import optimize
from scipy.special import gammaincinv, roots_genlaguerre

from peerstudy.scenario import DAYS_PER_YEAR, Assignment, Coaches, Scenario
from peerstudy.simulation.events import RECURRENT_HORIZONS, death_survival, frailty_nodes
from peerstudy.simulation.contacts import contact_horizon, draw_sessions, mean_survival_with_windows
from peerstudy.simulation.hazards import (COVARIATE_NAMES, arm_cumulative_hazard as _arm_hazard, arm_pieces,
                                          covariate_coefficients, covariate_pmf, cumulative_baseline)

__all__ = ["Truth", "compute_truth", "linear_predictor_distribution", "arm_lp_distribution", "covariate_coefficients",
           "cox_limit", "gamma_nodes", "net_survival_curve", "recurrent_truth",
           "net_survival_given_sites",
           "weibull_scale", "cumulative_baseline", "arm_cumulative_hazard", "HORIZONS", "ENDINGS"]

HORIZONS: tuple[int, ...] = (30, 90, 180)
ENDINGS: tuple[str, ...] = ("dropout", "incarcerated", "died")
ARMS: tuple[str, ...] = ("usual_care", "peer")
_BIN = 5e-4


@lru_cache(maxsize=64)
def linear_predictor_distribution(scenario: Scenario) -> tuple[np.ndarray, np.ndarray]:
    """Atoms and probabilities of the covariate linear predictor ``beta'(x - centre)``."""
    values, probs = np.array([0.0]), np.array([1.0])
    coefs = covariate_coefficients(scenario)
    for name in COVARIATE_NAMES:
        beta, centre = coefs[name]
        support, p = covariate_pmf(getattr(scenario.covariates, name))
        keep = p > 0
        contrib, p = beta * (support[keep] - centre), p[keep]
        values, probs = _convolve(values, probs, contrib, p)
    return values, probs / probs.sum()


def _convolve(values: np.ndarray, probs: np.ndarray, add: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distribution of the sum of two independent discrete variables, binned at width 5e-4 (bin means kept)."""
    v = (values[:, None] + add[None, :]).ravel()
    w = (probs[:, None] * p[None, :]).ravel()
    bins = np.rint(v / _BIN).astype(np.int64)
    uniq, inv = np.unique(bins, return_inverse=True)
    wsum = np.bincount(inv, weights=w)
    vsum = np.bincount(inv, weights=w * v)
    nz = wsum > 1e-300
    return vsum[nz] / wsum[nz], wsum[nz]


def _frailty_transform(x: np.ndarray, theta: float) -> np.ndarray:
    """E[exp(-Z x)] for Z ~ Gamma(mean 1, variance theta)."""
    if theta == 0:
        return np.exp(-x)
    return np.exp(-np.log1p(theta * x) / theta)


@lru_cache(maxsize=64)
def weibull_scale(scenario: Scenario) -> float:
    """The Weibull scale calibrated so marginal usual-care net retention at ``target_day`` is ``target_retention``.

    Solves ``sum_x p(x) E_Z[exp(-Z exp(lp(x)) c)] = target_retention`` for ``c = H0(target_day)`` by bisection on
    ``log c`` (to 1e-13), with the linear predictor's exact distribution (:func:`linear_predictor_distribution`)
    and the gamma frailty integrated in closed form; then ``scale = target_day / c ** (1 / shape)``.

    Returns
    -------
    float
        Weibull scale in days (not a rate): ``H0(t) = (t / scale) ** shape``.
    """
    lp, p = linear_predictor_distribution(scenario)
    e = np.exp(lp)
    theta = scenario.frailty_variance
    target = scenario.target_retention

    def surv(log_c: float) -> float:
        return float(p @ _frailty_transform(math.exp(log_c) * e, theta))

    lo, hi = -60.0, 30.0  # surv(lo) ~ 1, surv(hi) ~ 0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if surv(mid) > target:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-13:
            break
    c = math.exp(0.5 * (lo + hi))  # = (target_day / scale) ** shape
    return scenario.target_day / c ** (1.0 / scenario.weibull_shape)


def arm_cumulative_hazard(t: np.ndarray, scenario: Scenario, peer: bool) -> np.ndarray:
    """Cumulative baseline-scale hazard of an arm at days ``t``, with the peer HR up to ``effect_stops_day``.

    :func:`peerstudy.simulation.hazards.arm_cumulative_hazard` at the scenario's calibrated Weibull scale.
    """
    return _arm_hazard(t, weibull_scale(scenario), scenario.weibull_shape, scenario.hazard_ratio,
                       scenario.effect_stops_day, peer)


#: Monte Carlo size and seed for the peer arm's truth when recent contact changes the hazard (see compute_truth).
CONTACT_TRUTH_DRAWS = 200_000
CONTACT_TRUTH_SEED = 20261123


def gamma_nodes(variance: float) -> tuple[np.ndarray, np.ndarray]:
    """Quadrature nodes and weights (summing to 1) for expectations over a gamma frailty of mean 1.

    Generalised Gauss-Laguerre (64 nodes) on the gamma density for a variance of at least 0.01, where it is
    exact for polynomials of degree 127; Gauss-Legendre (400 nodes) over the quantile function below (where the
    Laguerre weights underflow), with an error of about 1e-8 on survival-type integrands. Variance 0: one node at 1.
    """
    v = float(variance)
    if v == 0:
        return np.ones(1), np.ones(1)
    shape = 1.0 / v
    if v >= 0.01:
        x, w = roots_genlaguerre(64, shape - 1.0)
        return x / shape, w / w.sum()
    g, w = leggauss(400)
    return v * gammaincinv(shape, (g + 1.0) / 2.0), w / w.sum()


def _coach_factors(coaches: Coaches, matched: bool | None) -> tuple[np.ndarray, np.ndarray]:
    """Values and probabilities of a peer-arm client's coach factor ``W * match_hazard_ratio ** match``.

    ``matched`` None: over the match too (probability ``match_probability``); True/False: given it."""
    w, q = gamma_nodes(coaches.frailty_variance)
    if matched is not None:
        return w * (coaches.match_hazard_ratio if matched else 1.0), q
    pm = coaches.match_probability
    return (np.concatenate([w, w * coaches.match_hazard_ratio]), np.concatenate([q * (1.0 - pm), q * pm]))


def arm_lp_distribution(scenario: Scenario, peer: bool, matched: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Atoms and probabilities of an arm's log multiplier of the hazard, beside the site frailty.

    The covariate linear predictor (:func:`linear_predictor_distribution`); for the peer arm with coaches, plus
    the log coach factor ``log(W * match_hazard_ratio ** match)`` (independent of the covariates), over the match
    (``matched`` None) or given it, by the same binned convolution.
    """
    lp, p = linear_predictor_distribution(scenario)
    if not (peer and scenario.coaches.enabled):
        return lp, p
    factors, q = _coach_factors(scenario.coaches, matched)
    keep = (q > 0) & (factors > 0)
    lp, p = _convolve(lp, p, np.log(factors[keep]), q[keep])
    return lp, p / p.sum()


def _marginal_survival(t: np.ndarray, scenario: Scenario, peer: bool, matched: bool | None = None) -> np.ndarray:
    if peer and scenario.contacts.enabled and scenario.contacts.hazard_ratio_recent != 1.0:
        return _marginal_survival_with_contacts(t, scenario, matched)
    lp, p = arm_lp_distribution(scenario, peer, matched)
    H = arm_cumulative_hazard(t, scenario, peer)
    return _frailty_transform(H[:, None] * np.exp(lp)[None, :], scenario.frailty_variance) @ p


def net_survival_curve(t: np.ndarray, scenario: Scenario, *, peer: bool) -> np.ndarray:
    """``P(no dropout by day t)`` in an arm, net of the other endings, marginal over covariates and frailties.

    Examples
    --------
    >>> from peerstudy.scenario import preset
    >>> s = preset("outpatient_default")
    >>> round(float(net_survival_curve(np.array([90.0]), s, peer=False)[0]), 2) == s.target_retention
    True
    """
    return _marginal_survival(np.asarray(t, dtype=float), scenario, peer)


def _marginal_survival_with_contacts(t: np.ndarray, scenario: Scenario, matched: bool | None = None) -> np.ndarray:
    """Peer-arm net survival when recent contact multiplies the hazard: no closed form over session processes.

    Rao-Blackwellised Monte Carlo: for ``CONTACT_TRUTH_DRAWS`` draws of the linear predictor (from its exact
    distribution) and of a planned session process, the conditional survival given both is exact and the gamma
    frailty is integrated in closed form; the average has a Monte Carlo SE below 1e-3 (checked in tests) (fixed seed, so the
    truth is deterministic).
    """
    rng = np.random.default_rng(CONTACT_TRUTH_SEED)
    lp_atoms, p = linear_predictor_distribution(scenario)
    lp = lp_atoms[rng.choice(len(p), size=CONTACT_TRUTH_DRAWS, p=p)]
    offsets, days = draw_sessions(CONTACT_TRUTH_DRAWS, scenario.contacts, contact_horizon(scenario), rng=rng)
    if scenario.coaches.enabled:  # each draw's coach factor, from the same quadrature, enters its linear predictor
        factors, q = _coach_factors(scenario.coaches, matched)
        with np.errstate(divide="ignore"):
            lp = lp + np.log(factors[rng.choice(len(q), size=CONTACT_TRUTH_DRAWS, p=q)])
    stop = np.inf if scenario.effect_stops_day is None else float(scenario.effect_stops_day)
    order = np.argsort(t)
    S = mean_survival_with_windows(np.asarray(t, dtype=float)[order], lp, offsets, days,
                                   float(scenario.contacts.window_days), scenario.contacts.hazard_ratio_recent,
                                   scenario.hazard_ratio, stop, weibull_scale(scenario), scenario.weibull_shape,
                                   float(scenario.frailty_variance))
    out = np.empty_like(S)
    out[order] = S
    return out


@dataclass(frozen=True)
class Truth:
    """Estimands of a scenario; ``to_dict()`` is the ``estimands`` block of a truth sidecar."""

    hazard_ratio: float
    weibull_scale: float
    coefficients: dict
    net_survival: dict
    cif: dict
    rmst: dict
    horizons: tuple
    contact: dict | None = None
    coach: dict | None = None
    log_hazard_ratios: dict | None = None
    recurrent: dict | None = None

    def to_dict(self) -> dict[str, Any]:
        rmst_diff = {h: v["peer"] - v["usual_care"] for h, v in self.rmst.items()}
        extra = {"contact": self.contact} if self.contact else {}
        if self.coach:
            extra["coach"] = self.coach
        if self.recurrent:
            extra["recurrent"] = self.recurrent
        return {**extra,
            "hazard_ratio": self.hazard_ratio,
            "log_hazard_ratio": math.log(self.hazard_ratio),
            "weibull_scale": self.weibull_scale,
            "coefficients": dict(self.coefficients),
            "estimands": {
                "net_survival": self.net_survival,
                "cif": self.cif,
                "rmst": self.rmst,
                "rmst_difference": rmst_diff,
                **({"log_hazard_ratio": dict(self.log_hazard_ratios)} if self.log_hazard_ratios else {}),
            },
        }


_IRRELEVANT = dict(n=2, name="truth", description="", n_sites=2, allocation="individual", peer_fraction=0.5,
                   enrolment_days=1, loss_to_follow_up_per_year=0.0)


def compute_truth(scenario: Scenario) -> Truth:
    """The estimands of ``scenario`` at days 30, 90, 180 (those within follow-up) and the follow-up end.

    They do not depend on the cohort's size, sites, enrolment, allocation or loss to follow-up (the
    estimands are per arm, marginal over the superpopulation of sites, and net of loss to follow-up), so
    scenarios differing only in those share one cached computation.
    """
    truth = _compute_truth(scenario.replace(**_IRRELEVANT, assignment=Assignment()))
    if scenario.contacts.enabled and scenario.contacts.hazard_ratio_recent != 1.0:
        return truth   # the peer hazard is not a function of time alone: no closed-form Cox limit here
    limits = {"conditional": math.log(scenario.hazard_ratio),
              "within_site": cox_limit(_limit_key(scenario), within_site=True),
              "marginal": cox_limit(_limit_key(scenario), within_site=False)}
    limits = {k: v for k, v in limits.items() if math.isfinite(v)}
    return Truth(**{**truth.__dict__, "log_hazard_ratios": limits})


def _limit_key(scenario: Scenario) -> Scenario:
    """The scenario with what the Cox limit does not depend on set aside (so the cache is shared)."""
    return scenario.replace(n=2, name="truth", description="", n_sites=2, allocation="individual",
                            enrolment_days=1, assignment=Assignment())


#: nodes of the Gauss-Laguerre rule over the gamma site frailty (within-site limit)
FRAILTY_NODES = 24
#: integration grid of the Cox limit: points in (0, 1] (geometric: the Weibull hazard is infinite at 0) and per day
GRID_NEAR_ZERO, GRID_PER_DAY = 120, 2
#: bin width of the linear predictor for the Cox limit (probability-weighted means kept)
LIMIT_BIN = 0.02


def _coarse(values: np.ndarray, probs: np.ndarray, width: float) -> tuple[np.ndarray, np.ndarray]:
    bins = np.rint(values / width).astype(np.int64)
    _, inv = np.unique(bins, return_inverse=True)
    w = np.bincount(inv, weights=probs)
    return np.bincount(inv, weights=probs * values) / w, w


@lru_cache(maxsize=64)
def cox_limit(scenario: Scenario, *, within_site: bool) -> float:
    """The log hazard ratio a Cox model of the arm alone converges to (its estimand), by numerical integration.

    With follow-up ended by the competing endings and loss to follow-up (constant hazards, the same in both
    arms) and by the end of follow-up at ``follow_up_days``, the limit ``b`` solves the population score
    equation (Struthers & Kalbfleisch 1986; Lin & Wei 1989)::

        int_0^F C(t) [ pi1 f1(t) - xbar_b(t) (pi0 f0(t) + pi1 f1(t)) ] dt = 0,
        xbar_b(t) = pi1 e^b S1(t) / (pi0 S0(t) + pi1 e^b S1(t)),

    where ``S_a``, ``f_a`` are the arm's net retention and its density, ``pi_a`` the arm shares and ``C`` the
    probability of still being followed. ``within_site=False``: ``S_a`` marginal over covariates and the gamma
    site frailty (the estimand of an unadjusted Cox model or log-rank). ``within_site=True``: the score is
    averaged over the site frailty with ``S_a`` given the frailty (a Gauss-Laguerre rule of
    :data:`FRAILTY_NODES` nodes), the estimand of a Cox model stratified by site. Covariates enter through the
    distribution of their linear predictor (in bins of :data:`LIMIT_BIN`); with coaches, the peer arm's through
    :func:`arm_lp_distribution` (marginal over coach frailty and match). Solved by Brent's method to 1e-12;
    the integration settings change the result by less than 1e-4 (checked in the tests against finer ones).
    """
    F = float(scenario.follow_up_days)
    grid = np.unique(np.concatenate([np.geomspace(1e-9, 1.0, GRID_NEAR_ZERO), np.linspace(1.0, F, int(F) * GRID_PER_DAY + 1)]))
    lam = scenario.incarceration_hazard + scenario.death_hazard + scenario.loss_hazard
    C = np.exp(-lam * grid)
    dists = [_coarse(*arm_lp_distribution(scenario, peer), LIMIT_BIN) for peer in (False, True)]  # coaches: peer
    scale, shape = weibull_scale(scenario), scenario.weibull_shape
    pi1 = scenario.peer_fraction
    pi0 = 1.0 - pi1
    theta = scenario.frailty_variance
    H = [arm_cumulative_hazard(grid, scenario, peer) for peer in (False, True)]
    h = []
    for peer in (False, True):
        t_start, _, _, mult = arm_pieces(scale, shape, scenario.hazard_ratio, scenario.effect_stops_day, peer)
        q = np.searchsorted(t_start, grid, side="right") - 1
        h.append(mult[q] * shape / scale * (grid / scale) ** (shape - 1.0))
    if within_site and theta > 0:
        a = 1.0 / theta
        x, w = roots_genlaguerre(FRAILTY_NODES, a - 1.0)
        z, wz = x / a, w / w.sum()       # Z ~ Gamma(shape a, scale 1/a): mean 1, variance theta
    else:
        z, wz = np.array([1.0]), np.array([1.0])

    def arm_curves(k: int, zz: float | None) -> tuple[np.ndarray, np.ndarray]:
        lp, p = dists[k]
        e = np.exp(lp)
        if zz is None:   # marginal over the frailty, closed form
            base = 1.0 + theta * H[k][:, None] * e[None, :] if theta > 0 else None
            if theta > 0:
                S = base ** (-1.0 / theta) @ p
                f = (base ** (-1.0 / theta - 1.0) * e[None, :]) @ p * h[k]
            else:
                ex = np.exp(-H[k][:, None] * e[None, :])
                S, f = ex @ p, (ex * e[None, :]) @ p * h[k]
            return S, f
        ex = np.exp(-zz * H[k][:, None] * e[None, :])
        return ex @ p, zz * (ex * e[None, :]) @ p * h[k]

    curves = [(arm_curves(0, zz), arm_curves(1, zz)) for zz in (z if within_site and theta > 0 else [None])]

    def score(b: float) -> float:
        total = 0.0
        for wk, ((S0, f0), (S1, f1)) in zip(wz, curves):
            den = pi0 * S0 + pi1 * math.exp(b) * S1
            with np.errstate(invalid="ignore", divide="ignore"):
                xbar = np.where(den > 0, pi1 * math.exp(b) * S1 / den, 0.0)   # nobody left at risk: no information
            y = C * (pi1 * f1 - xbar * (pi0 * f0 + pi1 * f1))
            total += wk * float(np.sum(0.5 * (y[1:] + y[:-1]) * np.diff(grid)))
        return total

    try:
        return float(optimize.brentq(score, -5.0, 5.0, xtol=1e-12))
    except ValueError:   # no root in (-5, 5): a scenario with (almost) no dropouts in follow-up
        return float("nan")


@lru_cache(maxsize=64)
def _compute_truth(scenario: Scenario) -> Truth:
    F = scenario.follow_up_days
    horizons = tuple(sorted({h for h in HORIZONS if h <= F} | {F}))
    lam_inc, lam_death = scenario.incarceration_hazard, scenario.death_hazard
    lam_c = lam_inc + lam_death
    # grid: fine near 0 (the Weibull hazard is infinite at 0 when shape < 1), whole days after
    grid = np.unique(np.concatenate([np.linspace(0.0, 1.0, 65), np.arange(1, F + 1, dtype=float)]))
    day_index = {int(d): i for i, d in enumerate(grid) if float(d).is_integer()}
    coefs = {name: beta for name, (beta, _) in covariate_coefficients(scenario).items()}
    coefs["arm[peer]"] = math.log(scenario.hazard_ratio)
    net, rmst = {}, {}
    cif: dict[str, dict] = {e: {} for e in ENDINGS}
    disc = np.exp(-lam_c * grid)
    death = death_survival(grid, scenario)  # death sharing the recurrent-episode frailty: not exponential
    if death is not None:
        disc = np.exp(-lam_inc * grid) * death[0]
        dens_death = np.exp(-lam_inc * grid) * death[1]
        dens_other = lam_inc * disc + dens_death
    for arm in ARMS:
        S = _marginal_survival(grid, scenario, arm == "peer")
        net[arm] = {str(h): float(S[day_index[h]]) for h in horizons}
        whole = S[[day_index[d] for d in range(0, F + 1)]]
        cums = np.concatenate([[0.0], np.cumsum(whole)])  # cums[k] = sum_{j<k} S(j)
        rmst[arm] = {str(h): float(cums[h]) for h in horizons}
        # CIF_dropout(t) = e^{-lc t}(1 - S(t)) + lc * int_0^t e^{-lc u} (1 - S(u)) du
        # CIF_k(t) = lam_k * int_0^t e^{-lc u} S(u) du
        int_s = _cumtrapz(disc * S, grid)
        int_f = _cumtrapz(disc * (1 - S), grid)
        if death is not None:
            int_f = _cumtrapz(dens_other * (1 - S), grid)
            int_d = _cumtrapz(dens_death * S, grid)
            for h in horizons:
                i = day_index[h]
                cif["dropout"].setdefault(arm, {})[str(h)] = float(disc[i] * (1 - S[i]) + int_f[i])
                cif["incarcerated"].setdefault(arm, {})[str(h)] = float(lam_inc * int_s[i])
                cif["died"].setdefault(arm, {})[str(h)] = float(int_d[i])
            continue
        for h in horizons:
            i = day_index[h]
            cif["dropout"][arm] = cif["dropout"].get(arm, {})
            cif["dropout"][arm][str(h)] = float(disc[i] * (1 - S[i]) + lam_c * int_f[i])
            cif.setdefault("incarcerated", {}).setdefault(arm, {})[str(h)] = float(lam_inc * int_s[i])
            cif.setdefault("died", {}).setdefault(arm, {})[str(h)] = float(lam_death * int_s[i])
    rmst_by_h = {str(h): {arm: rmst[arm][str(h)] for arm in ARMS} for h in horizons}
    return Truth(
        hazard_ratio=scenario.hazard_ratio,
        weibull_scale=weibull_scale(scenario),
        coefficients=coefs,
        net_survival=net,
        cif=cif,
        rmst=rmst_by_h,
        horizons=horizons,
        contact=_contact_truth(scenario),
        coach=_coach_truth(scenario, grid, day_index, horizons),
        recurrent=recurrent_truth(scenario),
    )


def _coach_truth(scenario: Scenario, grid: np.ndarray, day_index: dict, horizons: tuple) -> dict | None:
    c = scenario.coaches
    if not c.enabled:
        return None
    by_match = {}
    for label, matched in (("matched", True), ("unmatched", False)):
        S = _marginal_survival(grid, scenario, True, matched)
        by_match[label] = {str(h): float(S[day_index[h]]) for h in horizons}
    hr = scenario.hazard_ratio
    return {
        "per_site": c.per_site,
        "frailty_variance": c.frailty_variance,
        "match_on": c.match_on,
        "match_probability": c.match_probability,
        "match_hazard_ratio": c.match_hazard_ratio,
        "log_match_hazard_ratio": math.log(c.match_hazard_ratio),
        "hazard_ratio_unmatched": hr,
        "hazard_ratio_matched": hr * c.match_hazard_ratio,
        "log_hazard_ratio_unmatched": math.log(hr),
        "log_hazard_ratio_matched": math.log(hr * c.match_hazard_ratio),
        "net_survival_by_match": by_match,
        "meaning": "peer-arm clients only (usual care has no coach): match_hazard_ratio is the conditional dropout "
                   "hazard ratio of clients matched with their coach against unmatched ones, given covariates, site "
                   "and coach frailty (the interaction of arm and match); hazard_ratio_matched and "
                   "hazard_ratio_unmatched compare each group with usual care while the arm effect lasts; "
                   "frailty_variance is the variance of the gamma coach frailty (mean 1); net_survival_by_match is "
                   "marginal over covariates, site and coach frailty",
    }


def _contact_truth(scenario: Scenario) -> dict | None:
    c = scenario.contacts
    if not c.enabled:
        return None
    return {
        "hazard_ratio_recent": c.hazard_ratio_recent,
        "log_hazard_ratio_recent": math.log(c.hazard_ratio_recent),
        "window_days": c.window_days,
        "meaning": f"conditional dropout hazard ratio during the {c.window_days} days after a session (peer arm), "
                   "given covariates, site frailty and arm",
        "peer_arm_estimands": "Monte Carlo over session processes" if c.hazard_ratio_recent != 1 else "exact",
    }


def _cumtrapz(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    return np.concatenate([[0.0], np.cumsum(0.5 * (y[1:] + y[:-1]) * np.diff(x))])


def net_survival_given_sites(scenario: Scenario, frailty: np.ndarray, site: np.ndarray,
                             peer: np.ndarray) -> dict[str, dict[str, float]] | None:
    """Net retention of each arm given the site frailties a cohort drew: what its Kaplan-Meier curves estimate.

    With few sites a cohort's Kaplan-Meier curve misses the superpopulation ``net_survival`` by between-site
    sampling error that does not shrink with the number of people (0.03 at day 30 with 8 sites and frailty
    variance 0.1). Given the drawn frailties ``z_s`` the expected curve of arm ``a`` is
    ``sum_s w_as E_x[exp(-z_s exp(lp(x)) H_a(t))]`` with ``w_as`` the arm's share of participants at site ``s``
    (covariates from their exact distribution); the gap between the two is the sites' doing, not the
    estimator's. ``None`` when recent contact changes the peer hazard (no closed form) or for
    non-randomised arms (their covariates differ by arm).

    Parameters
    ----------
    frailty : array (n_sites,)
        The sites' frailties.
    site, peer : arrays (n,)
        Each participant's site code and arm (True = peer).
    """
    if scenario.allocation == "observational" or (scenario.contacts.enabled and scenario.contacts.hazard_ratio_recent != 1.0):
        return None
    F = scenario.follow_up_days
    horizons = sorted({h for h in HORIZONS if h <= F} | {F})
    out: dict[str, dict[str, float]] = {}
    for arm, is_peer in zip(ARMS, (False, True)):
        lp, p = arm_lp_distribution(scenario, is_peer)  # with coaches, the peer arm is marginal over them
        e = np.exp(lp)
        mask = np.asarray(peer, dtype=bool) == is_peer
        if not mask.any():
            continue
        w = np.bincount(np.asarray(site)[mask], minlength=len(frailty)) / mask.sum()
        H = arm_cumulative_hazard(np.asarray(horizons, dtype=float), scenario, is_peer)
        S = np.exp(-np.asarray(frailty)[None, :, None] * H[:, None, None] * e[None, None, :]) @ p   # (h, site)
        out[arm] = {str(h): float(S[i] @ w) for i, h in enumerate(horizons)}
    return out


# ----- recurrent episodes -------------------------------------------------------------------------------
def recurrent_truth(scenario: Scenario) -> dict[str, Any] | None:
    """The recurrent-episode estimands of ``scenario`` (``None`` when ``recurrent.enabled`` is false).

    Returns
    -------
    dict or None
        ``rate_ratio`` and ``log_rate_ratio`` (peer vs usual care, conditional on the frailty, as simulated;
        also the marginal ratio among people at risk, since neither death nor the other endings depend on
        the arm and the frailty at once); ``mean_events`` ``{ARM: {DAY: value}}``: the marginal mean
        number of recorded episodes per person by each day, accounting for death (the Ghosh-Lin mean
        frequency function; loss to follow-up, dropout and incarceration are censoring);
        ``cumulative_rate`` ``{ARM: {DAY: value}}``: the cumulative rate among people alive (what the
        Nelson-Aalen type MCF, which ignores death, estimates); ``horizons``.

    Examples
    --------
    >>> from peerstudy.scenario import preset
    >>> s = preset("outpatient_default")
    >>> s = s.replace(follow_up_days=365, recurrent=s.recurrent.__class__(enabled=True, frailty_variance=0))
    >>> t = recurrent_truth(s)
    >>> round(t["mean_events"]["usual_care"]["365"], 3) < 2.0
    True
    """
    rec = scenario.recurrent
    if not rec.enabled:
        return None
    F = scenario.follow_up_days
    horizons = tuple(sorted({h for h in RECURRENT_HORIZONS if h <= F} | {F}))
    w, p = frailty_nodes(rec.frailty_variance)
    lam = rec.rate_per_year / DAYS_PER_YEAR
    b = scenario.death_hazard * w ** rec.death_frailty          # death hazard per day, by node
    days = np.arange(1, F + 1, dtype=float)
    alive = np.exp(-np.outer(days - 1.0, b))                    # P(alive at d - 1 | W)
    stop = np.inf if rec.effect_stops_day is None else rec.effect_stops_day
    still = _in_treatment(scenario, days - 1.0) if (rec.effect_while_coached or rec.reentries) else None

    def per_day_mean(rate_per_day: np.ndarray) -> np.ndarray:
        """``E_W[P(alive at d - 1) P(an event on day d before death)]`` for a rate per day (vector over days)."""
        a = np.outer(rate_per_day, w)
        s = a + b[None, :]
        return (alive * np.where(s > 0, a / np.where(s > 0, s, 1.0) * -np.expm1(-s), 0.0)) @ p

    mean, rate, reentry = {}, {}, {}
    for arm in ("usual_care", "peer"):
        rr = np.where(days <= stop, rec.rate_ratio, 1.0) if arm == "peer" else np.ones_like(days)
        if arm == "peer" and rec.effect_while_coached:
            cap = np.inf if scenario.contacts.cap_day is None else scenario.contacts.cap_day
            q = np.where((days <= stop) & (days <= cap), still["treatment"], 0.0)  # P(coached on day d)
            per_day = q * per_day_mean(rec.rate_ratio * lam * np.ones_like(days)) + (1 - q) * per_day_mean(
                lam * np.ones_like(days))
        else:
            per_day = per_day_mean(rr * lam)
        mu = np.cumsum(per_day)
        cr = np.cumsum(per_day / (alive @ p))
        mean[arm] = {str(h): float(mu[h - 1]) for h in horizons}
        rate[arm] = {str(h): float(cr[h - 1]) for h in horizons}
        if rec.reentries:
            rr_r = rec.reentry_rate_ratio if arm == "peer" else 1.0
            r = np.cumsum(still["dropped_" + arm] * per_day_mean(np.full(F, rr_r * rec.reentry_rate_per_year
                                                                         / DAYS_PER_YEAR)))
            reentry[arm] = {str(h): float(r[h - 1]) for h in horizons}
    stops = "" if rec.effect_stops_day is None else f" up to day {rec.effect_stops_day}, 1 after it"
    if rec.effect_while_coached:
        cap = scenario.contacts.cap_day
        stops += f", on days coached (in treatment{'' if cap is None else f', to day {cap}'})"
    extra: dict[str, Any] = {}
    if rec.reentries:
        extra = {"reentry_rate_ratio": float(rec.reentry_rate_ratio), "mean_reentries": reentry}
    notes = {"mean_reentries": "marginal mean number of re-entries to treatment after a dropout per person by "
                               "day t, stopped at death; other endings are censoring"} if rec.reentries else {}
    return {
        "rate_ratio": float(rec.rate_ratio),
        "log_rate_ratio": math.log(rec.rate_ratio),
        "effect_stops_day": rec.effect_stops_day,
        "frailty_variance": float(rec.frailty_variance),
        "death_frailty": float(rec.death_frailty),
        "mean_events": mean,
        "cumulative_rate": rate,
        "horizons": [str(h) for h in horizons],
        "effect_while_coached": bool(rec.effect_while_coached),
        **extra,
        "notes": {
            **notes,
            "rate_ratio": f"episode rate ratio, peer vs usual care{stops}, given the subject frailty",
            "mean_events": "marginal mean number of recorded episodes per person by day t, stopped at death "
                           "(the Ghosh-Lin mean frequency function); other endings are censoring",
            "cumulative_rate": "cumulative episode rate among people alive (the Nelson-Aalen type MCF ignoring death)",
        },
    }


def _in_treatment(scenario: Scenario, t: np.ndarray) -> dict[str, np.ndarray]:
    """Marginal probabilities at days ``t``: ``treatment`` (peer arm still in treatment: no dropout by ``t``)
    and ``dropped_ARM`` (the latent dropout came by ``t``), from the cohort's net survival."""
    out = {"dropped_" + arm: 1.0 - net_survival_curve(t, scenario, peer=arm == "peer") for arm in ("usual_care", "peer")}
    out["treatment"] = 1.0 - out["dropped_peer"]
    return out
