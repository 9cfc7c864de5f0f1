"""Peer-coach sessions and the dropout hazard that depends on recent contact.

Sessions (:func:`draw_sessions`) form a Poisson process with rate ``r0 * 2 ** (-t / halving_days)`` per
day (``r0 = rate_per_week / 7``) on ``(0, horizon]`` (:func:`contact_horizon`), each recorded on day
``ceil(t)``, at most one a day.

The dropout hazard of a peer participant is ``k * m(t) * h0(t)`` with ``m(t) = hr_arm(t) * hr_recent ** e(t)``,
where ``e(t) = 1`` inside ``(d, d + w]`` for any session day ``d`` and ``hr_arm(t)`` is the arm's hazard ratio
(1 after ``stop``). ``m`` is piecewise constant, so the cumulative hazard is a table of pieces in the form of
:mod:`peerstudy.simulation.hazards` (:func:`window_pieces`), inverted exactly by
:func:`peerstudy.simulation.hazards.invert_pieces`, the same inversion as every other dropout time.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit

from peerstudy.scenario import Contacts, Scenario
from peerstudy.simulation.hazards import cumulative_on_piece, invert_pieces, weibull_cumulative

__all__ = ["contact_horizon", "draw_sessions", "window_pieces", "invert_with_windows", "mean_survival_with_windows"]


def contact_horizon(scenario: Scenario) -> float:
    """Last day (days after enrolment) on which sessions can happen: follow-up, or the coaching cap if earlier."""
    cap = scenario.contacts.cap_day
    return float(scenario.follow_up_days if cap is None else min(cap, scenario.follow_up_days))


def draw_sessions(n: int, contacts: Contacts, horizon: float, *, rng: Any) -> tuple[np.ndarray, np.ndarray]:
    """Planned session days for ``n`` people: (offsets of length n + 1, sorted unique whole days per person).

    Sessions form a Poisson process with rate ``r0 * 2 ** (-t / halving_days)`` per day on ``(0, horizon]``
    (``r0 = rate_per_week / 7``; ``horizon`` in days), drawn by inverting its cumulative rate; each is
    recorded on day ``ceil(t)`` and at most one is kept per day. Person ``i``'s days are
    ``days[offsets[i]:offsets[i + 1]]``. ``rng`` is normalised with ``np.random.default_rng``.
    """
    rng = np.random.default_rng(rng)
    r0 = contacts.rate_per_week / 7.0
    h = contacts.halving_days
    if horizon <= 0 or r0 == 0:
        return np.zeros(n + 1, dtype=np.int64), np.zeros(0)
    cum_end = r0 * horizon if h is None else r0 * h / math.log(2) * (1 - 2.0 ** (-horizon / h))
    counts = rng.poisson(cum_end, n)
    v = rng.random(int(counts.sum())) * cum_end
    t = v / r0 if h is None else -h * np.log2(1 - v * math.log(2) / (r0 * h))
    person = np.repeat(np.arange(n), counts)
    day = np.clip(np.ceil(t), 1, math.ceil(horizon))
    order = np.lexsort((day, person))
    person, day = person[order], day[order]
    keep = np.ones(len(day), dtype=bool)
    keep[1:] = (person[1:] != person[:-1]) | (day[1:] != day[:-1])
    person, day = person[keep], day[keep]
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(person, minlength=n), out=offsets[1:])
    return offsets, day


@njit(cache=True)
def _multiplier(t, days, s, e, w, hr_recent, hr_arm, stop):
    mult = hr_arm if t <= stop else 1.0
    for j in range(s, e):
        if days[j] < t <= days[j] + w:
            return mult * hr_recent
    return mult


@njit(cache=True)
def window_pieces(days, s, e, w, hr_recent, hr_arm, stop, scale, shape):
    """Pieces ``(t_start, h0_start, cum_start, mult, m)`` of a peer participant's cumulative hazard.

    The person's session days are ``days[s:e]``; windows last ``w`` days; ``hr_recent`` and ``hr_arm`` are
    hazard ratios; ``stop`` is the day the arm's effect stops (``inf`` = never); ``scale`` (days) and
    ``shape`` are the Weibull baseline's.
    """
    pts = np.empty(2 * (e - s) + 1)
    c = 0
    for j in range(s, e):
        pts[c] = days[j]
        pts[c + 1] = days[j] + w
        c += 2
    if stop < np.inf:
        pts[c] = stop
        c += 1
    pts = np.sort(pts[:c])
    t_start = np.empty(c + 1)
    t_start[0] = 0.0
    m = 1
    for q in range(c):
        if pts[q] > t_start[m - 1]:
            t_start[m] = pts[q]
            m += 1
    h0_start = np.empty(m)
    cum_start = np.empty(m)
    mult = np.empty(m)
    for q in range(m):
        a = t_start[q]
        mid = a + 0.5 * (t_start[q + 1] - a) if q + 1 < m else a + 1.0
        mult[q] = _multiplier(mid, days, s, e, w, hr_recent, hr_arm, stop)
        h0_start[q] = weibull_cumulative(a, scale, shape)
        cum_start[q] = 0.0 if q == 0 else cum_start[q - 1] + mult[q - 1] * (h0_start[q] - h0_start[q - 1])
    return t_start[:m], h0_start, cum_start, mult, m


@njit(cache=True)
def invert_with_windows(target, offsets, days, w, hr_recent, hr_arm, stop, scale, shape):
    """Times T (days) with cumulative multiplied baseline hazard equal to ``target`` (= E / k) for each person."""
    n = target.shape[0]
    out = np.empty(n)
    for i in range(n):
        _, h0_start, cum_start, mult, m = window_pieces(days, offsets[i], offsets[i + 1], w, hr_recent, hr_arm,
                                                        stop, scale, shape)
        out[i] = invert_pieces(target[i], h0_start, cum_start, mult, m, scale, shape)
    return out


@njit(cache=True)
def mean_survival_with_windows(grid, lp, offsets, days, w, hr_recent, hr_arm, stop, scale, shape, theta):
    """Average over persons of ``E_Z[exp(-Z exp(lp) H(t))]`` at each grid day (ascending; gamma frailty of variance ``theta``)."""
    n, g = lp.shape[0], grid.shape[0]
    total = np.zeros(g)
    h0g = np.empty(g)
    for gi in range(g):
        h0g[gi] = weibull_cumulative(grid[gi], scale, shape)
    for i in range(n):
        t_start, h0_start, cum_start, mult, m = window_pieces(days, offsets[i], offsets[i + 1], w, hr_recent,
                                                              hr_arm, stop, scale, shape)
        k = np.exp(lp[i])
        q = 0
        for gi in range(g):  # grid ascending: sweep the pieces once
            while q + 1 < m and t_start[q + 1] <= grid[gi]:
                q += 1
            x = k * cumulative_on_piece(h0g[gi], q, h0_start, cum_start, mult)
            if theta == 0.0:
                total[gi] += np.exp(-x)
            else:
                total[gi] += np.exp(-np.log1p(theta * x) / theta)
    return total / n
