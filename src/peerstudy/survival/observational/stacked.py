"""Standard errors of weighted comparisons that count the estimation of the propensity model (M-estimation).

A weighted Kaplan-Meier curve or Cox log hazard ratio ``psi`` solves its estimating equations with weights
``w_i = w(pi_i)`` that depend on the logistic propensity model ``logit pi_i = gamma'x_i`` (and, for stabilised
weights, on the treated share ``pbar``). Stacking the propensity score equations ``sum x_i (A_i - pi_i) = 0`` (and
``sum (A_i - pbar) = 0``) under those of ``psi`` and solving the whole system (Lunceford and Davidian 2004, Stat Med
23:2937; Stefanski and Boos 2002, Am Stat 56:29) gives each person's influence on ``psi``:

    IF_i(psi) = w_i d psi / d w_i  +  J IF_i(theta),       J = sum_k (d psi / d w_k) (d w_k / d theta),

with ``theta = (gamma, pbar)``. The first term alone is the robust (sandwich, infinitesimal jackknife) influence
that treats the weights as known, R's ``survfit(..., weights = w, robust = TRUE)`` and ``coxph(..., weights = w,
robust = TRUE)``; the second carries the uncertainty of the propensity model into ``psi``. The variance is
``sum_i IF_i^2``, or ``sum_g (sum_{i in g} IF_i)^2`` over clusters ``g``.

The two pieces:

* **Kaplan-Meier** at day ``t``: ``d S(t) / d w_i = -S(t) sum_{t_j <= t} (dN_i(t_j) - Y_i(t_j) dN_w(t_j) /
  n_w(t_j)) / (n_w(t_j) - dN_w(t_j))`` with weighted events ``dN_w`` and numbers at risk ``n_w``;
* **Cox**: ``d beta / d w_i = V U_i``, with ``U_i`` the score residual (R's ``residuals(fit, "score")``, Efron or
  Breslow) and ``V`` the inverse weighted information.

For ATE weights this SE is smaller than the known-weights one (estimating the propensity helps, Lunceford and
Davidian 2004); for ATT and overlap weights it can be either. Weights changed by percentile truncation, and the
people kept by Crump trimming, are taken as fixed (their derivative is 0): the truncation bounds and the trimming
set are not differentiated.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from peerstudy.exceptions import ParameterError

__all__ = ["SCHEMES", "theta_influence", "weight_derivatives", "km_weight_derivatives", "cox_weight_derivatives",
           "stacked_influence", "cluster_se"]

#: how the weight of each arm depends on the propensity ``p`` (and on the treated share ``pbar`` if stabilised)
SCHEMES = ("ate_stabilised", "ate", "att", "overlap")


def theta_influence(X1: np.ndarray, a: np.ndarray, ps: np.ndarray, *, stabilised: bool = False) -> np.ndarray:
    """Influence of each person on the propensity coefficients (and, if ``stabilised``, on the treated share).

    ``X1`` is the propensity design with its intercept column; the result (``n x q``) is on the sum scale
    (``sum_i IF_i IF_i'`` is the sandwich variance of the logistic fit, equal to its model variance at the MLE
    in expectation).
    """
    X1 = np.asarray(X1, dtype=float)
    ps = np.asarray(ps, dtype=float)
    a = np.asarray(a, dtype=float)
    info = (X1 * (ps * (1 - ps))[:, None]).T @ X1
    out = (X1 * (a - ps)[:, None]) @ np.linalg.inv(info)
    if stabilised:
        out = np.column_stack([out, (a - a.mean()) / len(a)])
    return out


def weight_derivatives(X1: np.ndarray, a: np.ndarray, ps: np.ndarray, scheme: str,
                       fixed: np.ndarray | None = None) -> np.ndarray:
    """``d w_i / d theta`` (``n x q``) for a weighting ``scheme`` (:data:`SCHEMES`); rows in ``fixed`` get 0.

    Examples
    --------
    >>> X1 = np.column_stack([np.ones(2), [0.0, 1.0]])
    >>> weight_derivatives(X1, np.array([1, 0]), np.array([0.5, 0.5]), "overlap").tolist()
    [[-0.25, -0.0], [0.25, 0.25]]
    """
    if scheme not in SCHEMES:
        raise ParameterError(f"scheme must be one of {list(SCHEMES)}; got {scheme!r}")
    X1 = np.asarray(X1, dtype=float)
    p = np.asarray(ps, dtype=float)
    t = np.asarray(a) == 1
    pbar = float(np.mean(t))
    if scheme == "ate_stabilised":
        dp = np.where(t, -pbar / p ** 2, (1 - pbar) / (1 - p) ** 2)
    elif scheme == "ate":
        dp = np.where(t, -1 / p ** 2, 1 / (1 - p) ** 2)
    elif scheme == "att":
        dp = np.where(t, 0.0, 1 / (1 - p) ** 2)
    else:
        dp = np.where(t, -1.0, 1.0)
    out = X1 * (dp * p * (1 - p))[:, None]
    if scheme == "ate_stabilised":
        out = np.column_stack([out, np.where(t, 1 / p, -1 / (1 - p))])
    if fixed is not None:
        out[np.asarray(fixed, dtype=bool)] = 0.0
    return out


def km_weight_derivatives(t: np.ndarray, e: np.ndarray, w: np.ndarray, days: Sequence[float]) -> np.ndarray:
    """``d S(day) / d w_i`` of the weighted Kaplan-Meier curve of these rows (``n x len(days)``).

    ``sum_i (w_i dS/dw_i)^2`` is the infinitesimal jackknife variance (R's ``survfit(..., robust = TRUE)``).
    """
    t = np.asarray(t, dtype=float)
    e = np.asarray(e).astype(bool)
    w = np.asarray(w, dtype=float)
    days = np.asarray(days, dtype=float)
    ut, inv = np.unique(t, return_inverse=True)
    dN = np.bincount(inv, weights=w * e, minlength=len(ut))
    Y = np.cumsum(np.bincount(inv, weights=w, minlength=len(ut))[::-1])[::-1]
    rest = Y - dN
    with np.errstate(divide="ignore", invalid="ignore"):
        surv = np.cumprod(np.where(Y > 0, 1 - dN / Y, 1.0))
        jump = np.where((dN > 0) & (rest > 0), dN / (Y * rest), 0.0)
        own_at = np.where(rest > 0, 1 / rest, 0.0)
    c = np.concatenate([[0.0], np.cumsum(jump)])
    hk = np.searchsorted(ut, days, side="right")            # distinct times <= day
    s_day = np.where(hk > 0, surv[np.maximum(hk - 1, 0)], 1.0)
    ki = inv + 1                                             # distinct times <= T_i
    m = np.minimum(ki[:, None], hk[None, :])
    own = np.where(e[:, None] & (ki[:, None] <= hk[None, :]), own_at[inv][:, None], 0.0)
    return -s_day[None, :] * (own - c[m])


def cox_weight_derivatives(fit) -> np.ndarray:
    """``d beta / d w_i`` (``n x p``) of a weighted Cox fit (:func:`peerstudy.survival.cox.fit_cox`): ``V U_i``."""
    engine = fit.internals["engine"]
    ev = engine.evaluate(np.asarray(fit.internals["beta"], dtype=float))
    return engine.score_residuals(ev) @ fit.internals["naive_var"]


def stacked_influence(dpsi_dw: np.ndarray, w: np.ndarray, dw_dtheta: np.ndarray,
                      if_theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(known-weights influence, stacked influence) of ``psi`` from ``d psi / d w`` (``n x k``).

    ``known = w_i d psi / d w_i``; ``stacked = known + IF(theta) J'`` with ``J = sum_i d psi / d w_i d w_i / d theta``.
    """
    known = dpsi_dw * np.asarray(w, dtype=float)[:, None]
    J = dpsi_dw.T @ dw_dtheta                                # k x q
    return known, known + if_theta @ J.T


def cluster_se(influence: np.ndarray, cluster: np.ndarray | None = None) -> np.ndarray:
    """``sqrt(sum_i IF_i^2)`` per column, or over cluster sums of the influence when ``cluster`` codes are given."""
    if cluster is not None:
        codes = np.unique(np.asarray(cluster), return_inverse=True)[1]
        sums = np.zeros((int(codes.max()) + 1, influence.shape[1]))
        np.add.at(sums, codes, influence)
        influence = sums
    return np.sqrt((influence ** 2).sum(axis=0))
