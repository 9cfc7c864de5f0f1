"""Recurrent episodes (relapses, overdoses) with a subject frailty and death as the terminal event.

The model (scenario block :class:`peerstudy.scenario.Recurrent`; all times in days):

* Person ``i`` has a frailty ``W_i ~ Gamma(mean 1, variance theta)`` (``theta = frailty_variance``), drawn by
  inverting its CDF at a uniform, ``W = theta * P^-1(1 / theta, u)``, as the site frailty is.
* Given ``W_i``, episodes form a Poisson process with rate ``W_i * lambda0 * rr_a(t)`` per day, with
  ``lambda0 = rate_per_year / 365.25`` and ``rr_a(t) = rate_ratio`` in the peer arm while
  ``t <= effect_stops_day``, else 1. The cumulative rate is piecewise linear, inverted exactly.
* Death, the terminal event, has hazard ``delta * W_i ** death_frailty`` (``delta`` the scenario's death
  hazard per day): :func:`death_multiplier` is what the cohort's ending kernel multiplies ``delta`` by.
  Episodes stop at death.
* Episodes are observed on ``(0, min(time_i, D_i))`` with ``time_i`` the cohort's whole-day end of
  observation and ``D_i`` the (continuous) death time; each is recorded on day ``ceil(t)``, at most one a
  day (the first of the day, whose kind is kept): overdose with probability ``overdose_fraction``, else relapse.

* ``effect_while_coached``: the peer rate ratio applies on day ``d`` only while the person is coached,
  ``d <= ceil(T_drop)`` (``T_drop`` the latent continuous dropout day) and ``d <= contacts.cap_day``
  (:func:`coached_until`): the cumulative rate stays piecewise linear, with a knee per person.
* Re-entries (``reentry_rate_per_year > 0``): after a recorded dropout on day ``time_i``, a Poisson process
  with rate ``W_i mu_r rr_r(a)`` per day on ``(time_i, min(E_i, D_i))``, recorded on day ``floor(t) + 1``
  (a later day than the dropout), at most one a day. ``E_i``, the end of the observation of events, is the
  whole day of the first of the end of follow-up, loss to follow-up, incarceration and death (latent
  continuous times from the cohort's own uniforms, the arithmetic of its ending kernel): dropout no
  longer ends it, for episodes either.

Random streams: everything here draws from the cohort's fourth spawned child (``rng.spawn(4)[3]``; see
:mod:`peerstudy.simulation.cohort`), in this order: the frailty uniforms (``n``), the episode counts
(Poisson, ``n``), the episode times (uniforms, one per episode) and their kinds (uniforms, one per episode);
with re-entries then their counts (Poisson, ``n``) and times (uniforms, one per re-entry).

The truth (:func:`recurrent_truth`) is computed from the scenario alone, by quadrature over the frailty:
per day ``d`` the probability that a person alive at ``d - 1`` has an episode in ``(d - 1, d]`` before
dying is ``a / (a + b) * (1 - exp(-(a + b)))`` with ``a = W lambda0 rr_a(d)`` and ``b = delta W^gamma``, so
the marginal mean number of recorded episodes by day ``t``, accounting for death (the Ghosh-Lin estimand
``E[N(t ^ D)]``), is ``sum_{d <= t} E_W[exp(-b (d - 1)) a / (a + b) (1 - exp(-(a + b)))]``. The dropout time
is independent of ``W`` and of death, so with ``effect_while_coached`` day ``d``'s term is the mixture
``q_d f(rr) + (1 - q_d) f(1)``, ``q_d = S(d - 1)`` the peer arm's net retention (while ``d`` is within the
cap), and re-entries add ``sum_{d <= t} (1 - S_a(d - 1)) E_W[...]`` with their own rate ``a``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats
from scipy.special import gammaincinv

from peerstudy.scenario import DAYS_PER_YEAR, RECURRENT_KINDS, REENTRY_KIND, Recurrent, Scenario

__all__ = ["EVENT_KINDS", "REENTRY_KIND", "EVENTS_ENDINGS", "draw_frailty", "death_multiplier", "death_times",
           "draw_episodes", "draw_reentries", "coached_until", "episode_log",
           "frailty_nodes", "death_survival", "RECURRENT_HORIZONS"]

EVENT_KINDS: tuple[str, ...] = RECURRENT_KINDS
#: Days at which the truth states the mean number of episodes (those within follow-up, and its end).
RECURRENT_HORIZONS: tuple[int, ...] = (90, 180, 365)


def draw_frailty(n: int, recurrent: Recurrent, *, rng: Any) -> np.ndarray:
    """Subject frailties ``W`` (mean 1, variance ``recurrent.frailty_variance``) for ``n`` people; ones if 0."""
    rng = np.random.default_rng(rng)
    u = rng.random(n)
    theta = float(recurrent.frailty_variance)
    if theta == 0:
        return np.ones(n)
    return theta * gammaincinv(1.0 / theta, u)


def death_multiplier(frailty: np.ndarray, recurrent: Recurrent) -> np.ndarray:
    """``W ** death_frailty``: what the death hazard is multiplied by for each person."""
    if recurrent.death_frailty == 0:
        return np.ones_like(frailty)
    return frailty ** float(recurrent.death_frailty)


def death_times(u_death: np.ndarray, death_hazard: float, multiplier: np.ndarray) -> np.ndarray:
    """Continuous death times (days) from the cohort's death uniforms: ``-log(1 - u) / (delta * multiplier)``.

    The same arithmetic as the cohort's ending kernel, so a person recorded as ``died`` died at this time.
    """
    e = -np.log1p(-np.asarray(u_death, dtype=float))
    rate = death_hazard * np.asarray(multiplier, dtype=float)
    out = np.full(e.shape, np.inf)
    pos = rate > 0
    out[pos] = e[pos] / rate[pos]
    return out


def _cumulative_rate(t: np.ndarray, peer: np.ndarray, lam: float, rr: float, stop: float) -> np.ndarray:
    """``lambda0 * int_0^t rr_a(s) ds`` per person (without the frailty)."""
    t = np.asarray(t, dtype=float)
    early = np.minimum(t, stop)
    return lam * np.where(peer, rr * early + (t - early), t)


def _inverse_cumulative_rate(v: np.ndarray, peer: np.ndarray, lam: float, rr: float, stop: float) -> np.ndarray:
    """Times ``t`` with ``_cumulative_rate(t) == v`` (piecewise linear, exact)."""
    x = v / lam
    if not np.isfinite(stop):
        return np.where(peer, x / rr, x)
    knee = rr * stop
    return np.where(peer, np.where(x <= knee, x / rr, stop + (x - knee)), x)


def _inverse_cumulative_rate_each(v: np.ndarray, peer: np.ndarray, lam: float, rr: float,
                                  stop: np.ndarray) -> np.ndarray:
    """:func:`_inverse_cumulative_rate` with one stop day per event (``inf`` = no stop)."""
    x = v / lam
    knee = rr * stop
    return np.where(peer, np.where(x <= knee, x / rr, stop + (x - knee)), x)


def draw_episodes(peer: np.ndarray, frailty: np.ndarray, end: np.ndarray, recurrent: Recurrent, *,
                  rng: Any, stop: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Episodes of each person on ``(0, end)``: (person index, whole day, overdose flag), sorted by person and day.

    ``peer`` (bool), ``frailty`` and ``end`` (days, continuous or whole) are per person. At most one episode
    is kept per person and day (the first; see the module docstring for the draw order). ``stop``, per
    person, is the day after which the peer rate ratio no longer applies (default ``effect_stops_day``).
    """
    rng = np.random.default_rng(rng)
    lam = recurrent.rate_per_year / DAYS_PER_YEAR
    rr = float(recurrent.rate_ratio)
    each = stop is not None
    if not each:
        stop = np.inf if recurrent.effect_stops_day is None else float(recurrent.effect_stops_day)
    end = np.maximum(np.asarray(end, dtype=float), 0.0)
    total = frailty * _cumulative_rate(end, peer, lam, rr, stop)
    counts = rng.poisson(total)
    person = np.repeat(np.arange(len(end)), counts)
    v = rng.random(person.size) * (total[person] / frailty[person])
    overdose = rng.random(person.size) < recurrent.overdose_fraction
    if each:
        t = _inverse_cumulative_rate_each(v, peer[person], lam, rr, stop[person])
    else:
        t = _inverse_cumulative_rate(v, peer[person], lam, rr, stop)
    day = np.maximum(np.ceil(t), 1.0).astype(np.int64)
    order = np.lexsort((t, person))
    person, day, overdose = person[order], day[order], overdose[order]
    keep = np.ones(person.size, dtype=bool)
    keep[1:] = (person[1:] != person[:-1]) | (day[1:] != day[:-1])
    return person[keep], day[keep], overdose[keep]


def draw_reentries(peer: np.ndarray, frailty: np.ndarray, start: np.ndarray, end: np.ndarray, recurrent: Recurrent,
                   *, rng: Any) -> tuple[np.ndarray, np.ndarray]:
    """Re-entries to treatment on ``(start, end)`` per person: (person index, whole day), at most one a day.

    Rate ``W * reentry_rate_per_year / 365.25`` per day, times ``reentry_rate_ratio`` in the peer arm;
    ``start`` is ``inf`` for people who did not drop out. Draws: the counts (Poisson, ``n``), then the
    times (uniforms, one per re-entry).
    """
    rng = np.random.default_rng(rng)
    lam = recurrent.reentry_rate_per_year / DAYS_PER_YEAR * np.where(peer, recurrent.reentry_rate_ratio, 1.0)
    start = np.asarray(start, dtype=float)
    span = np.where(np.isfinite(start), np.maximum(np.asarray(end, dtype=float) - start, 0.0), 0.0)
    counts = rng.poisson(frailty * lam * span)
    person = np.repeat(np.arange(len(span)), counts)
    t = start[person] + rng.random(person.size) * span[person]
    day = (np.floor(t) + 1.0).astype(np.int64)  # on a later day than the dropout's
    order = np.lexsort((t, person))
    person, day = person[order], day[order]
    keep = np.ones(person.size, dtype=bool)
    keep[1:] = (person[1:] != person[:-1]) | (day[1:] != day[:-1])
    return person[keep], day[keep]


#: How the observation of episodes ends when re-entries are simulated (``events_ending``; codes 0 to 3).
EVENTS_ENDINGS: tuple[str, ...] = ("end_of_follow_up", "lost_to_follow_up", "incarcerated", "died")


def episode_log(scenario: Scenario, peer: np.ndarray, frailty: np.ndarray, time: np.ndarray, u_death: np.ndarray,
                *, rng: Any, t_drop: np.ndarray | None = None, other: tuple[np.ndarray, np.ndarray] | None = None,
                dropped: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The episode log of one cohort (see :func:`draw_episodes` and :func:`draw_reentries`).

    ``t_drop`` (continuous latent dropout days, ``inf`` = none in follow-up) and ``other`` (continuous latent
    days of loss to follow-up and incarceration) are needed with ``effect_while_coached``, ``other`` and
    ``dropped`` (whose ``time`` ended in dropout) with re-entries.
    Without re-entries episodes are observed on ``(0, min(time, death))``; with them on
    ``(0, min(events_time, death))``, ``events_time`` the whole day at which the first of the end of
    follow-up, loss, incarceration and death came (dropout left out), and re-entries on
    ``(time, min(events_time, death))`` for people whose ``time`` ended in dropout.

    Returns
    -------
    dict
        ``person``, ``day``, ``overdose`` (the episodes); with re-entries also ``reentry_person``,
        ``reentry_day``, ``events_time`` (float days) and ``events_ending`` (int8 codes of
        :data:`EVENTS_ENDINGS`).
    """
    rec = scenario.recurrent
    time = np.asarray(time, dtype=float)
    dies = death_times(u_death, scenario.death_hazard, death_multiplier(frailty, rec))
    stop = None
    if rec.effect_while_coached:
        stop = coached_until(scenario, t_drop)
    end = time
    out: dict[str, np.ndarray] = {}
    if rec.reentries:
        first = np.full(time.shape, float(scenario.follow_up_days))
        code = np.zeros(time.shape, dtype=np.int8)
        for j, t in enumerate((other[0], other[1], dies), start=1):
            earlier = t < first
            first[earlier], code[earlier] = t[earlier], j
        end = np.maximum(np.ceil(first), 1.0)
        out.update(events_time=end, events_ending=code)
    person, day, overdose = draw_episodes(peer, frailty, np.minimum(end, dies), rec, rng=rng, stop=stop)
    out.update(person=person, day=day, overdose=overdose)
    if rec.reentries:
        start = np.where(dropped, time, np.inf)
        out["reentry_person"], out["reentry_day"] = draw_reentries(peer, frailty, start, np.minimum(end, dies), rec,
                                                                   rng=rng)
    return out


def coached_until(scenario: Scenario, t_treat: np.ndarray) -> np.ndarray:
    """Last day on which the peer rate ratio applies with ``effect_while_coached``, per person.

    A person is coached on day ``d`` while in treatment (``t_treat``, the continuous latent day of dropout, is
    after ``d - 1``), up to the coaching cap ``contacts.cap_day`` and ``effect_stops_day``. Loss to follow-up
    and incarceration stay pure censoring (they do not end coaching), so estimators that assume independent
    censoring still target the truth.
    """
    cap = min(np.inf if scenario.contacts.cap_day is None else float(scenario.contacts.cap_day),
              np.inf if scenario.recurrent.effect_stops_day is None else float(scenario.recurrent.effect_stops_day))
    return np.minimum(np.ceil(np.asarray(t_treat, dtype=float)), cap)


# ----- truth ------------------------------------------------------------------------------------------------
def frailty_nodes(theta: float, size: int = 2001) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights for ``E[f(W)]``, ``W ~ Gamma(mean 1, variance theta)``: trapezoid on ``log W``.

    The integrand ``W * density(W)`` is smooth and decays fast at both ends of the log scale, where the
    trapezoid rule converges geometrically; the weights are normalised to sum to 1 (their mean is 1 to
    about 1e-12, checked in tests).
    """
    if theta == 0:
        return np.ones(1), np.ones(1)
    dist = stats.gamma(a=1.0 / theta, scale=theta)
    lo, hi = dist.ppf(1e-15), dist.isf(1e-15)
    lo = max(lo, 1e-300)
    x = np.linspace(math.log(lo), math.log(hi), size)
    w = np.exp(x)
    p = dist.pdf(w) * w
    p[[0, -1]] *= 0.5
    return w, p / p.sum()


def death_survival(grid: np.ndarray, scenario: Scenario) -> tuple[np.ndarray, np.ndarray] | None:
    """Marginal death survival ``E[exp(-delta W^g u)]`` and density at ``grid``, or ``None`` if death ignores ``W``.

    ``None`` when recurrent episodes are off, or the frailty does not enter the death hazard (the death hazard
    is then the constant ``delta`` of the scenario).
    """
    rec = scenario.recurrent
    if not rec.enabled or rec.frailty_variance == 0 or rec.death_frailty == 0 or scenario.death_hazard == 0:
        return None
    w, p = frailty_nodes(rec.frailty_variance)
    rate = scenario.death_hazard * w ** rec.death_frailty
    e = np.exp(-np.outer(grid, rate))
    return e @ p, (e * rate) @ p


