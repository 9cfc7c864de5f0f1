"""The retention model in one place: baseline hazard, covariates, the arm's hazard, its exact inversion.

Every generator in :mod:`peerstudy.simulation` (one cohort, replicate cohorts, the contact-dependent
hazard, the synthetic TEDS-D file) and the truth (:mod:`peerstudy.simulation.truth`) take the model from
here, so there is one definition of each piece.

Parameterisation (all times in days)
------------------------------------
* Baseline: Weibull with ``scale`` (days, not a rate) and ``shape``; cumulative hazard
  ``H0(t) = (t / scale) ** shape``, hazard ``h0(t) = (shape / scale) * (t / scale) ** (shape - 1)``.
* Covariates: each has a discrete distribution (:func:`covariate_pmf`): a binary covariate is 0/1
  with ``P(1) = prevalence``; a numeric covariate is ``round(Normal(mean, sd))`` clipped to
  ``[lower, upper]``, which is the discrete distribution on the whole numbers ``lower..upper`` whose end
  atoms collect the clipped tails; a count is ``Poisson(mean)`` capped at ``upper`` (the top atom holds
  the tail). Draws invert the cumulative distribution at a uniform (:func:`draw_covariate`).
* Linear predictor: ``lp = sum_k beta_k (x_k - centre_k)`` with ``beta_k`` the log hazard ratio per unit
  of ``x_k`` (``log(hazard_ratio) / per``) and ``centre_k`` 0 for binary covariates, else the mean
  (:func:`covariate_coefficients`).
* Arm: the peer arm's hazard is multiplied by ``hazard_ratio`` (an HR, not a log-HR) up to
  ``effect_stops_day`` and by 1 after it. A cumulative hazard with a piecewise-constant multiplier is a
  table of *pieces* ``(t_start, h0_start, cum_start, mult)``: on piece ``q``,
  ``H(t) = cum_start[q] + mult[q] * (H0(t) - h0_start[q])`` (:func:`arm_pieces`). Contact windows
  (:mod:`peerstudy.simulation.contacts`) make longer tables of the same kind.
* Dropout time of a person with multiplier ``k = Z * exp(lp)`` (site frailty times covariates): the ``T``
  solving ``k * H(T) = E`` with ``E ~ Exp(1)``, found exactly by :func:`invert_pieces` (closed form on
  each piece: no time grid).
* Frailties: site ``Z_j`` and coach ``W_c`` are gamma with mean 1 and variance ``theta``, drawn by inverting
  the gamma CDF at a uniform, ``theta * P^-1(1 / theta, u)`` (:func:`gamma_frailty`; 1 when ``theta = 0``).
* Coaches (peer arm only, :class:`~peerstudy.scenario.Coaches`): a client at site ``j`` has coach
  ``j * per_site + floor(u * per_site)`` and is matched with them when ``u' < match_probability``
  (:func:`coach_assignment`); their multiplier becomes ``Z_j * W_c * match_hazard_ratio ** match * exp(lp)``
  (:func:`coach_multiplier`). Usual-care participants have no coach (code -1) and multiplier ``Z_j exp(lp)``.
* Competing endings and loss to follow-up: exponential with constant daily hazards (rates per day,
  not means), ``T = E / rate`` (:func:`exponential_time`).

The scale is not a scenario field: :func:`peerstudy.simulation.truth.weibull_scale` solves it so that the
marginal usual-care retention at ``target_day`` is ``target_retention``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit
from scipy.special import gammaincinv, ndtr

from peerstudy.data.schema import COVARIATES
from peerstudy.scenario import BinaryCovariate, Coaches, CountCovariate, Covariates, NumericCovariate, Scenario

__all__ = ["COVARIATE_NAMES", "GUIDE", "covariate_pmf", "covariate_coefficients", "covariate_tables",
           "draw_covariate", "invert_cdf", "cumulative_baseline", "inverse_cumulative_baseline", "weibull_cumulative",
           "weibull_inverse", "arm_pieces", "arm_tables", "arm_cumulative_hazard", "invert_pieces",
           "cumulative_pieces", "cumulative_on_piece", "invert_arm_hazard", "unit_exponential", "exponential_time",
           "exponential_times", "ending_hazards", "gamma_frailty", "coach_assignment", "coach_multiplier",
           "NO_COACH"]

#: Covariates in the order of the scenario (and of :data:`peerstudy.data.schema.COVARIATES`).
COVARIATE_NAMES: tuple[str, ...] = tuple(Covariates.__dataclass_fields__)
assert COVARIATE_NAMES == COVARIATES


# ----- covariates -------------------------------------------------------------------------------------
def covariate_pmf(spec: Any) -> tuple[np.ndarray, np.ndarray]:
    """Support (whole numbers, as float) and probabilities of one covariate's discrete distribution.

    Parameters
    ----------
    spec : BinaryCovariate, NumericCovariate or CountCovariate

    Returns
    -------
    (support, probabilities) : tuple of numpy.ndarray
        Probabilities sum to 1; atoms may have probability 0 (e.g. a count whose mean is 0).
    """
    if isinstance(spec, BinaryCovariate):
        return np.array([0.0, 1.0]), np.array([1 - spec.prevalence, spec.prevalence])
    if isinstance(spec, NumericCovariate):
        k = np.arange(int(spec.lower), int(spec.upper) + 1, dtype=float)
        upper = ndtr((k + 0.5 - spec.mean) / spec.sd)
        lower = ndtr((k - 0.5 - spec.mean) / spec.sd)
        lower[0], upper[-1] = 0.0, 1.0  # the end atoms hold the clipped tails
        return k, upper - lower
    if isinstance(spec, CountCovariate):
        k = np.arange(0, spec.upper + 1, dtype=float)
        if spec.mean == 0:
            p = (k == 0).astype(float)
        else:
            p = np.exp(k * math.log(spec.mean) - spec.mean - np.array([math.lgamma(x + 1) for x in k]))
        p[-1] = max(0.0, 1.0 - p[:-1].sum())  # Poisson(mean) capped at upper
        return k, p
    raise TypeError(f"covariate spec must be a BinaryCovariate, NumericCovariate or CountCovariate; got {spec!r}")


def covariate_coefficients(scenario: Scenario) -> dict[str, tuple[float, float]]:
    """Covariate name -> ``(beta, centre)``: log hazard ratio per unit of the covariate, and its centre.

    ``beta = log(hazard_ratio) / per`` (``per`` is 1 for binary and count covariates); the centre is 0 for
    binary covariates and the distribution's ``mean`` parameter otherwise.
    """
    out = {}
    for name in COVARIATE_NAMES:
        spec = getattr(scenario.covariates, name)
        beta = math.log(spec.hazard_ratio) / getattr(spec, "per", 1.0)
        centre = 0.0 if isinstance(spec, BinaryCovariate) else float(spec.mean)
        out[name] = (beta, centre)
    return out


def _cdf(spec: Any) -> tuple[np.ndarray, np.ndarray]:
    support, p = covariate_pmf(spec)
    keep = p > 0
    cdf = np.cumsum(p[keep])
    cdf[-1] = 1.0
    return support[keep], cdf


#: Size of the guide tables of :func:`covariate_tables` (a power of two, so ``u * GUIDE`` is exact).
GUIDE = 256


def covariate_tables(scenario: Scenario) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The covariates' distributions as padded tables for compiled code, in :data:`COVARIATE_NAMES` order.

    Returns
    -------
    (values, cdfs, guides)
        ``values[j]`` are covariate ``j``'s atoms with positive probability (ascending, padded by repeating
        the last), ``cdfs[j]`` their cumulative probabilities (the last exactly 1, padding 1), and
        ``guides[j, g]`` the first index whose cumulative probability exceeds ``g / GUIDE``, where the
        search of :func:`invert_cdf` starts.
    """
    return _tables([getattr(scenario.covariates, name) for name in COVARIATE_NAMES])


def _tables(specs: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    tables = [_cdf(spec) for spec in specs]
    width = max(len(v) for v, _ in tables)
    values = np.zeros((len(tables), width))
    cdfs = np.ones((len(tables), width))
    guides = np.zeros((len(tables), GUIDE), dtype=np.int64)
    for j, (v, c) in enumerate(tables):
        values[j, : len(v)], values[j, len(v):] = v, v[-1]
        cdfs[j, : len(c)] = c
        guides[j] = np.searchsorted(c, np.arange(GUIDE) / GUIDE, side="right")
    return values, cdfs, guides


@njit(cache=True)
def invert_cdf(values, cdf, guide, u):
    """The atom ``values[i]`` with ``i`` the first index such that ``cdf[i] > u`` (``u`` uniform on [0, 1)).

    The search starts at ``guide[floor(u * GUIDE)]``, which never passes the answer, and steps up.
    """
    i = guide[int(u * GUIDE)]
    while cdf[i] <= u:
        i += 1
    return values[i]


@njit(cache=True)
def _invert_cdf_many(values, cdf, guide, u):
    out = np.empty(u.shape[0], dtype=np.int64)
    for q in range(u.shape[0]):
        out[q] = np.int64(invert_cdf(values, cdf, guide, u[q]))
    return out


def draw_covariate(spec: Any, u: Any) -> np.ndarray:
    """Covariate values (int64) at uniforms ``u`` on [0, 1), by inverting the distribution's CDF (:func:`invert_cdf`)."""
    values, cdfs, guides = _tables([spec])
    u = np.ascontiguousarray(u, dtype=float)
    return _invert_cdf_many(values[0], cdfs[0], guides[0], u.ravel()).reshape(u.shape)


# ----- frailties and coaches -------------------------------------------------------------------------
def gamma_frailty(u: Any, variance: float) -> np.ndarray:
    """Gamma frailties with mean 1 and variance ``variance`` at uniforms ``u`` (inverse CDF); 1 if the variance is 0.

    ``variance * P^-1(1 / variance, u)`` with ``P^-1`` the inverse regularised lower incomplete gamma function.

    Examples
    --------
    >>> gamma_frailty([0.5], 0.0)
    array([1.])
    >>> round(float(gamma_frailty([0.5], 1.0)[0]), 4)   # the median of Exp(1)
    0.6931
    """
    u = np.asarray(u, dtype=float)
    theta = float(variance)
    return theta * gammaincinv(1.0 / theta, u) if theta > 0 else np.ones(u.shape)


#: Coach code of a participant without a coach (usual care).
NO_COACH = -1


def coach_assignment(u_coach: Any, u_match: Any, site: Any, peer: Any,
                     coaches: Coaches) -> tuple[np.ndarray, np.ndarray]:
    """Coach codes and coach-client matches from uniforms (peer arm only).

    A peer-arm participant at site ``j`` has coach ``j * per_site + floor(u_coach * per_site)`` (each of the
    site's coaches equally likely) and is matched when ``u_match < match_probability``.

    Returns
    -------
    (coach, match) : tuple of numpy.ndarray
        ``coach`` int64 codes ``0 .. n_sites * per_site - 1``, :data:`NO_COACH` in usual care; ``match``
        int8 1/0, -1 in usual care (no coach, so no match).
    """
    k = int(coaches.per_site)
    site = np.asarray(site, dtype=np.int64)
    peer = np.asarray(peer, dtype=bool)
    within = np.minimum((np.asarray(u_coach, dtype=float) * k).astype(np.int64), k - 1)
    coach = np.where(peer, site * k + within, NO_COACH)
    match = np.where(peer, (np.asarray(u_match, dtype=float) < coaches.match_probability).astype(np.int8), -1)
    return coach.astype(np.int64), match.astype(np.int8)


def coach_multiplier(coach: np.ndarray, match: np.ndarray, frailty: np.ndarray, coaches: Coaches) -> np.ndarray:
    """Each participant's coach factor of the dropout hazard: ``W_c * match_hazard_ratio ** match`` (1 without a coach)."""
    has = coach >= 0
    w = np.where(has, frailty[np.where(has, coach, 0)], 1.0)
    return w * np.where(match == 1, float(coaches.match_hazard_ratio), 1.0)


# ----- baseline ---------------------------------------------------------------------------------------
def cumulative_baseline(t: Any, scale: float, shape: float) -> np.ndarray:
    """Weibull cumulative baseline hazard ``H0(t) = (t / scale) ** shape`` (``t`` and ``scale`` in days)."""
    return (np.asarray(t, dtype=float) / scale) ** shape


def inverse_cumulative_baseline(h: Any, scale: float, shape: float) -> np.ndarray:
    """The time (days) at which the Weibull cumulative baseline hazard reaches ``h``: ``scale * h ** (1 / shape)``."""
    return scale * np.asarray(h, dtype=float) ** (1.0 / shape)


@njit(cache=True)
def weibull_cumulative(t, scale, shape):
    """Scalar :func:`cumulative_baseline` for compiled code."""
    return (t / scale) ** shape


@njit(cache=True)
def weibull_inverse(h, scale, shape):
    """Scalar :func:`inverse_cumulative_baseline` for compiled code."""
    return scale * h ** (1.0 / shape)


# ----- the arm's cumulative hazard and its exact inversion --------------------------------------------
def arm_pieces(scale: float, shape: float, hazard_ratio: float, effect_stops_day: float | None,
               peer: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pieces ``(t_start, h0_start, cum_start, mult)`` of an arm's cumulative baseline-scale hazard.

    Usual care: one piece with multiplier 1. Peer: multiplier ``hazard_ratio`` (an HR) from day 0, and 1
    from ``effect_stops_day`` (days; ``None`` = never) on. On piece ``q``,
    ``H(t) = cum_start[q] + mult[q] * (H0(t) - h0_start[q])`` with ``H0`` the Weibull baseline of
    ``scale`` (days) and ``shape``.
    """
    if not peer:
        return np.zeros(1), np.zeros(1), np.zeros(1), np.ones(1)
    if effect_stops_day is None:
        return np.zeros(1), np.zeros(1), np.zeros(1), np.array([float(hazard_ratio)])
    stop = float(effect_stops_day)
    h0c = float(cumulative_baseline(stop, scale, shape))
    return (np.array([0.0, stop]), np.array([0.0, h0c]), np.array([0.0, hazard_ratio * h0c]),
            np.array([float(hazard_ratio), 1.0]))


def arm_tables(scale: float, shape: float, hazard_ratio: float,
               effect_stops_day: float | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Both arms' pieces stacked for compiled code: ``(t_start, h0_start, cum_start, mult, m)``.

    Row 0 is usual care, row 1 peer support; ``m[a]`` is the number of pieces of arm ``a`` (rows are
    padded to the longer one).
    """
    arms = [arm_pieces(scale, shape, hazard_ratio, effect_stops_day, peer) for peer in (False, True)]
    width = max(len(a[0]) for a in arms)
    out = [np.zeros((2, width)) for _ in range(3)] + [np.ones((2, width))]
    m = np.zeros(2, dtype=np.int64)
    for a, pieces in enumerate(arms):
        for table, column in zip(out, pieces):
            table[a, : len(column)] = column
        m[a] = len(pieces[0])
    return (*out, m)


def arm_cumulative_hazard(t: Any, scale: float, shape: float, hazard_ratio: float,
                          effect_stops_day: float | None, peer: bool) -> np.ndarray:
    """An arm's cumulative baseline-scale hazard at days ``t`` (multiply by ``Z exp(lp)`` for a person)."""
    t_start, h0_start, cum_start, mult = arm_pieces(scale, shape, hazard_ratio, effect_stops_day, peer)
    t = np.asarray(t, dtype=float)
    h0 = cumulative_baseline(t, scale, shape)
    q = np.searchsorted(t_start, t, side="right") - 1
    return cum_start[q] + mult[q] * (h0 - h0_start[q])


@njit(cache=True)
def invert_pieces(target, h0_start, cum_start, mult, m, scale, shape):
    """The time ``T`` (days) at which a piecewise cumulative hazard reaches ``target``, exactly.

    ``target`` is ``E / k`` (a unit exponential over the person's multiplier). The piece is the last
    whose ``cum_start`` does not exceed ``target``; within it ``H0(T) = h0_start + (target - cum_start) / mult``
    and ``T = scale * H0(T) ** (1 / shape)``. The last piece is unbounded, so every target has a time.
    """
    q = m - 1
    while q > 0 and cum_start[q] > target:
        q -= 1
    return weibull_inverse(h0_start[q] + (target - cum_start[q]) / mult[q], scale, shape)


@njit(cache=True)
def cumulative_on_piece(h0t, q, h0_start, cum_start, mult):
    """A piecewise cumulative hazard on piece ``q`` where the baseline has reached ``h0t = H0(t)``."""
    return cum_start[q] + mult[q] * (h0t - h0_start[q])


@njit(cache=True)
def cumulative_pieces(t, t_start, h0_start, cum_start, mult, m, scale, shape):
    """A piecewise cumulative hazard at day ``t`` (the forward map that :func:`invert_pieces` inverts)."""
    q = m - 1
    while q > 0 and t_start[q] > t:
        q -= 1
    return cumulative_on_piece(weibull_cumulative(t, scale, shape), q, h0_start, cum_start, mult)


@njit(cache=True)
def _invert_many(target, peer, h0_start, cum_start, mult, m, scale, shape):
    out = np.empty(target.shape[0])
    for i in range(target.shape[0]):
        a = 1 if peer[i] else 0
        out[i] = invert_pieces(target[i], h0_start[a], cum_start[a], mult[a], m[a], scale, shape)
    return out


def invert_arm_hazard(target: Any, peer: Any, scale: float, shape: float, hazard_ratio: float,
                      effect_stops_day: float | None) -> np.ndarray:
    """Dropout times (days) solving ``H_arm(T) = target`` for each person (``target = E / (Z exp(lp))``).

    ``peer`` is a boolean array (or scalar) choosing the arm; the inversion is :func:`invert_pieces`.
    """
    target = np.ascontiguousarray(target, dtype=float)
    peer = np.broadcast_to(np.asarray(peer, dtype=bool), target.shape).ravel()
    _, h0_start, cum_start, mult, m = arm_tables(scale, shape, hazard_ratio, effect_stops_day)
    return _invert_many(target.ravel(), peer, h0_start, cum_start, mult, m, scale, shape).reshape(target.shape)


# ----- competing endings ------------------------------------------------------------------------------
@njit(cache=True)
def unit_exponential(u):
    """A unit exponential from a uniform on [0, 1): ``-log(1 - u)``."""
    return -math.log1p(-u)


@njit(cache=True)
def exponential_time(e, rate):
    """Time (days) of an ending with constant hazard ``rate`` per day from a unit exponential ``e``; inf if 0."""
    if rate > 0.0:
        return e / rate
    return np.inf


def exponential_times(e: Any, rate: float) -> np.ndarray:
    """Array form of :func:`exponential_time`: ``e / rate`` days for unit exponentials ``e`` (inf where ``rate`` is 0)."""
    e = np.asarray(e, dtype=float)
    return e / rate if rate > 0 else np.full(e.shape, np.inf)


def ending_hazards(scenario: Scenario) -> np.ndarray:
    """Daily hazards of the endings other than dropout: loss to follow-up, incarceration, death (in that order)."""
    return np.array([scenario.loss_hazard, scenario.incarceration_hazard, scenario.death_hazard])
