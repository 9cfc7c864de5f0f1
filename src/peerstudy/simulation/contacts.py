"""Numba kernels for dropout hazards that depend on recent peer-coach contact (piecewise multipliers).

The dropout hazard of a peer participant is ``k * m(t) * h0(t)`` with ``m(t) = hr_arm(t) * hr_recent ** e(t)``,
where ``e(t) = 1`` inside ``(d, d + w]`` for any session day ``d`` and ``hr_arm(t)`` is the arm's hazard ratio
(1 after ``stop``). ``m`` is piecewise constant, so the cumulative hazard is a sum of Weibull increments and
inverts exactly, piece by piece.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _pieces(days, s, e, w, stop):
    m = e - s
    pts = np.empty(2 * m + 1)
    c = 0
    for j in range(s, e):
        pts[c] = days[j]
        pts[c + 1] = days[j] + w
        c += 2
    pts[c] = stop
    c += 1
    return np.sort(pts[:c])


@njit(cache=True)
def _multiplier(t, days, s, e, w, hr_recent, hr_arm, stop):
    mult = hr_arm if t <= stop else 1.0
    for j in range(s, e):
        if days[j] < t <= days[j] + w:
            return mult * hr_recent
    return mult


@njit(cache=True)
def invert_with_windows(target, offsets, days, w, hr_recent, hr_arm, stop, scale, shape):
    """Times T with cumulative multiplied baseline hazard equal to ``target`` (= E / k) for each person."""
    n = target.shape[0]
    out = np.empty(n)
    for i in range(n):
        s, e = offsets[i], offsets[i + 1]
        pts = _pieces(days, s, e, w, stop)
        a, cum = 0.0, 0.0
        done = False
        for q in range(pts.shape[0] + 1):
            b = pts[q] if q < pts.shape[0] else np.inf
            if b <= a:
                continue
            mid = a + 0.5 * (b - a) if b < np.inf else a + 1.0
            mult = _multiplier(mid, days, s, e, w, hr_recent, hr_arm, stop)
            h0a = (a / scale) ** shape
            inc = np.inf if b == np.inf else mult * ((b / scale) ** shape - h0a)
            if cum + inc >= target[i]:
                h0t = h0a + (target[i] - cum) / mult
                out[i] = scale * h0t ** (1.0 / shape)
                done = True
                break
            cum += inc
            a = b
        if not done:  # pragma: no cover - unreachable: the last piece is unbounded
            out[i] = np.inf
    return out


@njit(cache=True)
def mean_survival_with_windows(grid, lp, offsets, days, w, hr_recent, hr_arm, stop, scale, shape, theta):
    """Average over persons of E_Z[exp(-Z exp(lp) H(t))] at each grid time (grid sorted ascending)."""
    n, g = lp.shape[0], grid.shape[0]
    total = np.zeros(g)
    h0g = (grid / scale) ** shape
    for i in range(n):
        s, e = offsets[i], offsets[i + 1]
        pts = _pieces(days, s, e, w, stop)
        P = pts.shape[0]
        k = np.exp(lp[i])
        q = 0
        left, h0left, cum = 0.0, 0.0, 0.0
        mult = _multiplier(0.5 * pts[0] if pts[0] < np.inf else 1.0, days, s, e, w, hr_recent, hr_arm, stop)
        for gi in range(g):
            t = grid[gi]
            while q < P and pts[q] < t:
                b = pts[q]
                if b > left:
                    h0b = (b / scale) ** shape
                    cum += mult * (h0b - h0left)
                    left, h0left = b, h0b
                q += 1
                nxt = pts[q] if q < P else left + 2.0
                if nxt > left:
                    mult = _multiplier(left + 0.5 * (nxt - left) if nxt < np.inf else left + 1.0,
                                       days, s, e, w, hr_recent, hr_arm, stop)
            x = k * (cum + mult * (h0g[gi] - h0left))
            if theta == 0.0:
                total[gi] += np.exp(-x)
            else:
                total[gi] += np.exp(-np.log1p(theta * x) / theta)
    return total / n
