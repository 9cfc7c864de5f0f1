"""Estimands computed from a scenario (not estimated from a sample): the truth a cohort is simulated from.

For each arm the module computes, from the scenario alone:

* ``net_survival``: P(T_dropout > t), the retention curve net of the other endings, marginal over the
  covariate distribution and the gamma site frailty. Here competing endings and loss to follow-up have
  constant hazards independent of covariates and frailty, so this is what Kaplan-Meier with every other
  ending censored estimates.
* ``cif``: cumulative incidence of each ending (``dropout``, ``incarcerated``, ``died``) in the absence of
  loss to follow-up (which is independent censoring), i.e. what Aalen-Johansen estimates.
* ``rmst``: restricted mean time in treatment up to ``tau`` days, for time recorded in whole days as the
  simulator does (``time = ceil(T)``): ``E[min(ceil(T), tau)] = sum_{k=0}^{tau-1} S(k)``, which is exactly the
  area under a Kaplan-Meier curve of whole-day data.

Marginalisation is exact up to a binning of the linear predictor: each covariate has a discrete
distribution (see :mod:`peerstudy.simulation.hazards`, where the model lives), their independent sum is formed by convolution on a grid of
width 5e-4 (each bin keeps its probability-weighted mean), and the gamma frailty is integrated in closed
form, ``E[exp(-Z x)] = (1 + theta x) ** (-1 / theta)``. Survival is accurate to well below 1e-4.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from peerstudy.scenario import Assignment, Scenario
from peerstudy.simulation.events import death_survival, recurrent_truth
from peerstudy.simulation.contacts import contact_horizon, draw_sessions, mean_survival_with_windows
from peerstudy.simulation.hazards import (COVARIATE_NAMES, arm_cumulative_hazard as _arm_hazard, covariate_coefficients,
                                          covariate_pmf, cumulative_baseline)

__all__ = ["Truth", "compute_truth", "linear_predictor_distribution", "covariate_coefficients",
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
        v = (values[:, None] + contrib[None, :]).ravel()
        w = (probs[:, None] * p[None, :]).ravel()
        bins = np.rint(v / _BIN).astype(np.int64)
        uniq, inv = np.unique(bins, return_inverse=True)
        wsum = np.bincount(inv, weights=w)
        vsum = np.bincount(inv, weights=w * v)
        nz = wsum > 1e-300
        values, probs = vsum[nz] / wsum[nz], wsum[nz]
    return values, probs / probs.sum()


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


def _marginal_survival(t: np.ndarray, scenario: Scenario, peer: bool) -> np.ndarray:
    if peer and scenario.contacts.enabled and scenario.contacts.hazard_ratio_recent != 1.0:
        return _marginal_survival_with_contacts(t, scenario)
    lp, p = linear_predictor_distribution(scenario)
    H = arm_cumulative_hazard(t, scenario, peer)
    return _frailty_transform(H[:, None] * np.exp(lp)[None, :], scenario.frailty_variance) @ p


def _marginal_survival_with_contacts(t: np.ndarray, scenario: Scenario) -> np.ndarray:
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
    recurrent: dict | None = None

    def to_dict(self) -> dict[str, Any]:
        rmst_diff = {h: v["peer"] - v["usual_care"] for h, v in self.rmst.items()}
        extra = {"contact": self.contact} if self.contact else {}
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
    return _compute_truth(scenario.replace(**_IRRELEVANT, assignment=Assignment()))


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
        recurrent=recurrent_truth(scenario),
    )


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
