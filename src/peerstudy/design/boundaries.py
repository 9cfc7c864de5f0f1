"""Group-sequential boundaries: crossing probabilities of a Brownian motion with drift and the designs built on them.

The statistic at look ``k`` of ``K`` is ``Z_k = B(t_k) / sqrt(t_k)`` with ``B`` a Brownian motion in information
time, ``B(t) = W(t) + drift * t``, and ``t_k`` the information fraction (``t_K = 1``): ``drift`` is the mean of
the final z-statistic, ``effect * sqrt(max information)``. Crossing probabilities come from the recursive
numerical integration of Armitage, McPherson & Rowe (1969) as laid out by Jennison & Turnbull (2000, ch. 19):
the sub-density of ``Z_k`` on the continuation region is carried from look to look on a Simpson grid of step
:data:`STEP` over the region cut to the mean +/- :data:`SPAN` (the mass beyond is below 1e-20).

Designs (the conventions of rpact's ``getDesignGroupSequential``, checked by ``tests/reference/design_sequential.R``):

* ``"OF"``: O'Brien & Fleming (1979) boundaries ``c_k = C / sqrt(t_k)``; ``"P"``: Pocock (1977), ``c_k = C``;
  ``C`` solves ``P(reject at some look | no effect) = alpha``.
* ``"asOF"`` and ``"asP"``: Lan & DeMets (1983) alpha spending; the boundary at look ``k`` spends
  ``alpha(t_k) - alpha(t_{k-1})`` with, for a one-sided level ``a``, ``alpha(t) = 2 - 2 Phi(z_{1-a/2} / sqrt t)``
  (O'Brien-Fleming type) or ``a log(1 + (e - 1) t)`` (Pocock type). A two-sided design of level ``alpha`` has
  symmetric boundaries ``+/- c_k`` and spends ``2 x`` the one-sided function of level ``alpha / 2``.
* Futility bounds (one-sided designs) are given on the z scale for the interim looks: the trial stops for
  futility when ``Z_k < f_k``. **Binding** bounds enter the calculation of the efficacy boundaries (less alpha
  is lost to paths that would have stopped); **non-binding** bounds do not (the boundaries are those without
  futility, so alpha is kept whether or not the trial stops), but both reduce the power.

References: Jennison C, Turnbull BW. Group Sequential Methods with Applications to Clinical Trials. Chapman &
Hall/CRC 2000. Lan KKG, DeMets DL. Discrete sequential boundaries for clinical trials. Biometrika 1983;70:659-63.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from peerstudy.exceptions import ParameterError

__all__ = ["DESIGNS", "crossing_probabilities", "spending", "boundaries", "drift_for_power", "STEP", "SPAN"]

#: Types of design: O'Brien-Fleming, Pocock, and Lan-DeMets spending of the two types.
DESIGNS: tuple[str, ...] = ("OF", "P", "asOF", "asP")
#: Simpson grid step on the z scale.
STEP = 0.03
#: Half-width of the integration range around the mean, in standard deviations.
SPAN = 10.0
#: Largest boundary on the z scale (as rpact: a larger one is no boundary in practice).
ZMAX = 8.0
_INF = 50.0


def _phi(x):
    return np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def _ndtr(x):
    from scipy.special import ndtr

    return ndtr(x)


def _grid(low: float, high: float, mean: float) -> tuple[np.ndarray, np.ndarray]:
    """Simpson nodes and weights on [low, high] cut to mean +/- SPAN."""
    a, b = max(low, mean - SPAN), min(high, mean + SPAN)
    if b <= a:
        return np.array([a]), np.array([0.0])
    m = max(2, 2 * math.ceil((b - a) / (2 * STEP)))
    z = np.linspace(a, b, m + 1)
    w = np.full(m + 1, 2.0)
    w[1::2] = 4.0
    w[0] = w[-1] = 1.0
    return z, w * (b - a) / (3 * m)


class _Recursion:
    """Sub-densities of ``Z_k`` on the continuation regions, look by look (the regions fixed as they are set)."""

    def __init__(self, t: Sequence[float], drift: float):
        self.t = np.asarray(t, float)
        self.s = np.sqrt(self.t)
        self.drift = float(drift)
        self.nodes: np.ndarray | None = None
        self.dens: np.ndarray | None = None  # weighted sub-density at the nodes
        self.k = 0  # looks whose region is fixed

    def exit(self, low: float, high: float) -> tuple[float, float]:
        """(P(Z_k >= high), P(Z_k <= low)) at the next look k, jointly with continuing up to k - 1."""
        k, s, d = self.k, self.s, self.drift
        if k == 0:
            return float(_ndtr(d * s[0] - high)), float(_ndtr(low - d * s[0]))
        dt = self.t[k] - self.t[k - 1]
        sd = math.sqrt(dt)
        m = self.nodes * s[k - 1] + d * dt
        up = float(np.dot(self.dens, _ndtr((m - high * s[k]) / sd)))
        lo = float(np.dot(self.dens, _ndtr((low * s[k] - m) / sd)))
        return up, lo

    def fix(self, low: float, high: float) -> None:
        """Fix the continuation region (low, high) of the next look and carry the density to it."""
        k, s, d = self.k, self.s, self.drift
        z, w = _grid(low, high, d * s[k])
        if k == 0:
            f = _phi(z - d * s[0])
        else:
            dt = self.t[k] - self.t[k - 1]
            sd = math.sqrt(dt)
            m = self.nodes * s[k - 1] + d * dt
            f = (s[k] / sd) * (_phi((z[:, None] * s[k] - m[None, :]) / sd) @ self.dens)
        self.nodes, self.dens, self.k = z, w * f, k + 1


def crossing_probabilities(upper: Sequence[float], lower: Sequence[float], t: Sequence[float], drift: float
                           ) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities of first crossing the upper and the lower boundary at each look.

    Parameters
    ----------
    upper, lower : sequence of float
        Boundaries on the z scale at each look (``-inf`` / ``inf`` for none; use ``lower = -upper`` for a
        two-sided design).
    t : sequence of float
        Information fractions, increasing, the last 1.
    drift : float
        Mean of the final z-statistic.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        P(stop at look k by crossing the upper boundary), P(... the lower boundary).

    Examples
    --------
    >>> up, lo = crossing_probabilities([1.959964], [-1.959964], [1.0], 0.0)
    >>> round(float(up[0] + lo[0]), 6)
    0.05
    """
    rec = _Recursion(t, drift)
    K = len(t)
    up, lo = np.zeros(K), np.zeros(K)
    for k in range(K):
        hi, low = min(float(upper[k]), _INF), max(float(lower[k]), -_INF)
        up[k], lo[k] = rec.exit(low, hi)
        if k < K - 1:
            rec.fix(low, hi)
    return up, lo


def spending(design: str, alpha: float, t: np.ndarray | float, sided: int = 1) -> np.ndarray:
    """Cumulative alpha spent by information fraction ``t`` (Lan-DeMets; see the module notes).

    Examples
    --------
    >>> round(float(spending("asOF", 0.025, 1.0)), 10)
    0.025
    >>> round(float(spending("asP", 0.05, 0.5)), 6)
    0.031006
    """
    from scipy.stats import norm

    t = np.asarray(t, float)
    a = alpha / sided
    if design == "asOF":
        return sided * 2 * norm.sf(norm.isf(a / 2) / np.sqrt(t))
    if design == "asP":
        return sided * a * np.log1p((math.e - 1) * t)
    raise ParameterError(f"design must be asOF or asP for a spending function; got {design!r}")


def _root(fn, lo: float, hi: float) -> float:
    from scipy.optimize import brentq

    return float(brentq(fn, lo, hi, xtol=1e-12, rtol=1e-13, maxiter=200))


def _spending_bounds(design, alpha, t, sided, futility, binding) -> np.ndarray:
    K = len(t)
    cum = spending(design, alpha, t, sided)
    rec = _Recursion(t, 0.0)
    bounds = np.zeros(K)
    spent = 0.0
    for k in range(K):
        target = cum[k] - spent
        fut = futility[k] if (binding and futility is not None and k < K - 1) else -_INF

        def excess(c, fut=fut):
            up, lo = rec.exit(-c if sided == 2 else fut, c)
            return (up + (lo if sided == 2 else 0.0)) - target

        # spending next to nothing at a look gives a boundary beyond ZMAX: rpact caps it there
        c = ZMAX if excess(ZMAX) >= 0 else _root(excess, 0.0 if sided == 2 else -ZMAX, ZMAX)
        up, lo = rec.exit(-c if sided == 2 else fut, c)
        spent += up + (lo if sided == 2 else 0.0)
        bounds[k] = c
        if k < K - 1:
            rec.fix(-c if sided == 2 else fut, c)
    return bounds


def _shape_bounds(design, alpha, t, sided, futility, binding) -> np.ndarray:
    K = len(t)
    shape = 1 / np.sqrt(t) if design == "OF" else np.ones(K)
    fut = np.full(K, -_INF)
    if binding and futility is not None:
        fut[: K - 1] = futility

    def excess(c):
        upper = np.minimum(c * shape, ZMAX)
        lower = -upper if sided == 2 else fut
        up, lo = crossing_probabilities(upper, lower, t, 0.0)
        return up.sum() + (lo.sum() if sided == 2 else 0.0) - alpha

    return np.minimum(_root(excess, 0.0, ZMAX) * shape, ZMAX)


def boundaries(design: str, alpha: float, t: Sequence[float], *, sided: int = 1,
               futility: Sequence[float] | None = None, binding: bool = False) -> np.ndarray:
    """Efficacy boundaries on the z scale, one per look (two-sided designs: the upper of ``+/- c_k``).

    Examples
    --------
    >>> [round(float(c), 4) for c in boundaries("OF", 0.025, [1/3, 2/3, 1])]
    [3.4711, 2.4544, 2.004]
    """
    t = np.asarray(t, float)
    fut = None if futility is None else np.asarray(futility, float)
    if design in ("OF", "P"):
        return _shape_bounds(design, alpha, t, sided, fut, binding)
    return _spending_bounds(design, alpha, t, sided, fut, binding)


def rejection(upper: np.ndarray, t: np.ndarray, drift: float, *, sided: int = 1,
              futility: Sequence[float] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(P(reject at look k) in the direction of the drift, P(reject in the other direction), P(stop for futility))."""
    K = len(t)
    if sided == 2:
        up, lo = crossing_probabilities(upper, -np.asarray(upper), t, drift)
        return up, lo, np.zeros(K)
    fut = np.full(K, -_INF)
    if futility is not None:
        fut[: K - 1] = futility
    up, lo = crossing_probabilities(upper, fut, t, drift)
    return up, np.zeros(K), lo


def drift_for_power(upper: np.ndarray, t: np.ndarray, power: float, *, sided: int = 1,
                    futility: Sequence[float] | None = None) -> float:
    """Drift (mean of the final z) at which the design rejects in the drift's direction with probability ``power``.

    As rpact, the sample size counts rejections in the direction of the effect only (the far tail of a
    two-sided test is ignored); power for a given size counts both.
    """
    def short(d):
        return rejection(upper, t, d, sided=sided, futility=futility)[0].sum() - power

    return _root(short, 0.0, 40.0)
