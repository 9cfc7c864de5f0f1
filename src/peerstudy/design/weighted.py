"""Weighted log-rank and max-combo tests on replicate cohorts, and the simulation check of :mod:`.nonph`.

:func:`fh_statistics` computes, for each replicate of whole-day data (replicate x participant arrays), the
Fleming-Harrington ``FH(rho, gamma)`` scores ``U = sum_t w_t (O_peer,t - R_peer,t O_t / R_t)`` with weight
``w_t = S(t-)^rho (1 - S(t-))^gamma`` (``S`` the pooled Kaplan-Meier estimate before day ``t``), their
hypergeometric covariance ``sum_t w_a w_b (R_peer R_uc / R^2) O (R - O) / (R - 1)`` and ``Z = U / sqrt(V)``;
``FH(0, 0)`` is the log-rank test. The max-combo p-value of a replicate is ``P(max |Z_i| >= m)`` for
``Z ~ N(0, corr)`` with the replicate's own correlation of the scores and ``m`` its largest ``|Z_i|``
(:func:`peerstudy.design.nonph` box probabilities), computed only where the answer is not already settled (``m`` below the single
test's critical value: no rejection; above Bonferroni's: rejection).

:func:`simulate_nonph` runs the tests of :func:`peerstudy.design.nonph.power_nonph` on replicate cohorts of a
scenario (:func:`peerstudy.design.study.simulate_replicates`, replicate ``i`` from
``SeedSequence(seed, spawn_key=(i,))``) and sets the simulated power beside the formula's.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from peerstudy.design.nonph import DEFAULT_WEIGHTS, _box, check_weights, curves_from_scenario, power_nonph
from peerstudy.exceptions import ParameterError

__all__ = ["fh_statistics", "maxcombo_reject", "simulate_nonph"]


def _day_counts(time: np.ndarray, event: np.ndarray, peer: np.ndarray, days: int):
    """Per replicate and day 1..days: dropouts (all, peer) and at risk (all, peer)."""
    reps = time.shape[0]
    t = np.clip(time.astype(np.int64), 1, days)
    base = np.arange(reps)[:, None] * (days + 1)
    size = reps * (days + 1)

    def count(mask):
        return np.bincount((base + t)[mask], minlength=size).reshape(reps, days + 1)[:, 1:].astype(np.float64)

    ev, pe = event == 1, peer == 1
    leave_all, leave_peer = count(np.ones_like(ev)), count(pe)
    at_risk = np.cumsum(leave_all[:, ::-1], axis=1)[:, ::-1]
    at_risk_peer = np.cumsum(leave_peer[:, ::-1], axis=1)[:, ::-1]
    return count(ev), count(ev & pe), at_risk, at_risk_peer


def fh_statistics(time: Any, event: Any, peer: Any, weights: Sequence[tuple[float, float]] = DEFAULT_WEIGHTS,
                  *, days: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Z statistics (replicate x weight) and covariance of the scores (replicate x weight x weight).

    ``time`` holds whole days >= 1. The sign of ``Z`` is that of ``O - E`` in the peer arm.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> t = np.ceil(rng.exponential(50, (2, 200))); e = np.ones((2, 200), int); g = np.tile([0, 1], (2, 100))
    >>> z, cov = fh_statistics(t, e, g)
    >>> z.shape, cov.shape
    ((2, 2), (2, 2, 2))
    """
    time, event, peer = (np.atleast_2d(np.asarray(x)) for x in (time, event, peer))
    days = int(np.max(time)) if days is None else int(days)
    O, O1, R, R1 = _day_counts(time, event, peer, days)
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(R > 0, O / np.maximum(R, 1), 0.0)
        km = np.cumprod(1 - frac, axis=1)
        before = np.concatenate([np.ones((km.shape[0], 1)), km[:, :-1]], axis=1)
        p = np.where(R > 0, R1 / np.maximum(R, 1), 0.0)
        v = np.where(R > 1, p * (1 - p) * O * (R - O) / np.maximum(R - 1, 1), 0.0)
    W = np.stack([before ** rho * (1 - before) ** gam for rho, gam in weights], axis=1)  # reps x k x days
    U = np.einsum("rkd,rd->rk", W, O1 - p * O)
    cov = np.einsum("rkd,rld,rd->rkl", W, W, v)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = U / np.sqrt(np.einsum("rkk->rk", cov))
    return z, cov


def maxcombo_reject(z: np.ndarray, cov: np.ndarray, alpha: float = 0.05) -> np.ndarray:
    """Two-sided max-combo rejections at ``alpha``, one per replicate (multiplicity by the joint normal law)."""
    from scipy.stats import norm

    k = z.shape[1]
    m = np.max(np.abs(np.where(np.isfinite(z), z, 0.0)), axis=1)
    low, high = norm.isf(alpha / 2), norm.isf(alpha / (2 * k))
    reject = m >= high
    open_ = np.flatnonzero((m >= low) & (m < high))
    if len(open_):
        sd = np.sqrt(np.einsum("rkk->rk", cov[open_]))
        corr = cov[open_] / (sd[:, :, None] * sd[:, None, :])
        p_value = 1 - _box(np.zeros((len(open_), k)), corr, m[open_])
        reject[open_] = p_value <= alpha
    return reject


def simulate_nonph(scenario: Any, *, reps: int, seed: int = 0, n: int | None = None, alpha: float = 0.05,
                   tau: int | None = None, fh: tuple[float, float] = (0.0, 1.0),
                   weights: Sequence[tuple[float, float]] = DEFAULT_WEIGHTS) -> dict[str, Any]:
    """Simulated power (rejection rate, with its Monte Carlo SE) of each test beside the formula's.

    Returns
    -------
    dict
        ``reps``, ``n``, ``tau``, ``simulated`` (test -> rate), ``mcse`` (test -> SE), ``formula``
        (:class:`~peerstudy.design.nonph.NonPHPower` as a dict). The formula's ``logrank`` and
        ``average_hr`` are both set against the simulated log-rank test.

    Examples
    --------
    >>> out = simulate_nonph("ed_bridge", reps=20, seed=1, n=300)
    >>> sorted(out["simulated"])
    ['fh', 'logrank', 'maxcombo', 'rmst']
    """
    from peerstudy.design.study import analyse_replicates, simulate_replicates
    from peerstudy.scenario import load_scenario
    from peerstudy.simulation.cohort import override

    sc = load_scenario(scenario)
    if n is not None:
        sc = override(sc, {"n": n})
    if isinstance(reps, bool) or not isinstance(reps, (int, np.integer)) or reps < 2:
        raise ParameterError(f"reps must be a whole number >= 2; got {reps!r}")
    tau = int(sc.follow_up_days if tau is None else tau)
    weights = check_weights(weights)
    hits = {t: 0 for t in ("logrank", "fh", "maxcombo", "rmst")}
    block = 500
    for start in range(0, int(reps), block):
        data = simulate_replicates(sc, range(start, min(start + block, int(reps))), seed=int(seed))
        z, cov = fh_statistics(data["time"], data["event"], data["peer"], ((0.0, 0.0), tuple(fh)) + weights,
                               days=sc.follow_up_days)
        crit = 2 * (1 - _ndtr(np.abs(z[:, :2])))
        hits["logrank"] += int(np.sum(crit[:, 0] < alpha))
        hits["fh"] += int(np.sum(crit[:, 1] < alpha))
        hits["maxcombo"] += int(np.sum(maxcombo_reject(z[:, 2:], cov[:, 2:, 2:], alpha)))
        rm = analyse_replicates(data, methods=("rmst",), tau=float(tau), alpha=alpha)["rmst"]
        hits["rmst"] += int(np.sum(rm["reject"]))
    rates = {t: h / reps for t, h in hits.items()}
    formula = power_nonph(curves_from_scenario(sc), sc.n, alpha=alpha, tau=tau, fh=fh, weights=weights)
    return {"reps": int(reps), "n": sc.n, "tau": tau, "simulated": rates,
            "mcse": {t: math.sqrt(r * (1 - r) / reps) for t, r in rates.items()}, "formula": formula.to_dict()}


def _ndtr(x):
    from scipy.special import ndtr

    return ndtr(x)
