"""Small-sample inference for a Cox model with cluster-robust (sandwich) standard errors.

The grouped sandwich of ``coxph(..., cluster = )`` is consistent as the number of clusters grows,
but with the handful of sites a peer programme has it is too small: measured on this project, the
site-robust Cox had type I error 0.113 with 8 sites, and with 2 sites a robust SE of 0.019 against a
model SE of 0.085. This module gives

* :func:`mancl_derouen_variance`: the bias-corrected sandwich of Mancl & DeRouen (2001) in the form
  Wang, Turner & Li (2023) derived for the marginal Cox model. Each cluster's score ``U_i`` is
  inflated to ``U_i* = (I - Omega_i Omega^{-1})^{-1} U_i``, where ``Omega = sum_i Omega_i`` is the
  information and ``Omega_i`` the derivative of cluster ``i``'s own score
  ``sum_j int (X_j - xbar(t)) dM_j(t)`` with respect to the coefficients (through ``xbar`` and the
  Breslow cumulative hazard; increments at the estimate; the published code holds the hazard fixed,
  which makes the correction depend on how covariates are centred). The variance is
  ``I^{-1} (sum_i U_i* U_i*') I^{-1}``. ``U_i`` are the cluster sums of the score residuals of the fit
  (Efron or Breslow as fitted), so with no correction (``Omega_i = 0``) the result is R's robust variance
  exactly.
* inference on a t distribution with ``G - 1`` degrees of freedom (``G`` clusters), as the same
  authors and the cluster-trial literature use (Wang, Turner & Li 2023; Li & Redden 2015 for GEE).
* :class:`~peerstudy.exceptions.FewClustersWarning`, raised by the Cox fit whenever a plain
  cluster-robust SE rests on fewer than :data:`FEW_CLUSTERS` clusters.

References
----------
Mancl LA, DeRouen TA (2001). A covariance estimator for GEE with improved small-sample properties.
*Biometrics* 57:126-34. doi:10.1111/j.0006-341X.2001.00126.x

Wang X, Turner EL, Li F (2023). Improving sandwich variance estimation for marginal Cox analysis of
cluster randomized trials. *Biometrical Journal* 65:e2200113. doi:10.1002/bimj.202200113

Li P, Redden DT (2015). Small sample performance of bias-corrected sandwich estimators for
cluster-randomized trials with binary outcomes. *Statistics in Medicine* 34:281-96. doi:10.1002/sim.6344
"""

from __future__ import annotations

import numpy as np

from peerstudy.exceptions import AnalysisError

__all__ = ["FEW_CLUSTERS", "SMALL_SAMPLE", "cluster_information", "mancl_derouen_variance"]

#: below this many clusters a plain cluster-robust SE is too small (the warning's threshold)
FEW_CLUSTERS = 30

#: small-sample corrections of the cluster-robust variance ("md": Mancl-DeRouen with t on G - 1 df)
SMALL_SAMPLE = ("md",)


def cluster_information(X: np.ndarray, stop: np.ndarray, start: np.ndarray | None, status: np.ndarray,
                        strata: np.ndarray, cluster: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """``Omega_i``: minus the derivative of each cluster's score, ``(G, p, p)`` (Wang, Turner & Li 2023).

    For row ``j`` with risk score ``r_j = exp(X_j beta)``, at-risk indicator ``Y_j(t)``, Breslow increments
    ``dL(t) = dN(t) / S0(t)`` and ``V(t) = S2/S0 - xbar xbar'`` within the row's stratum::

        Omega_j = status_j V(t_j) - r_j int Y_j V dL + r_j int Y_j (X_j - xbar)(X_j - xbar)' dL

    summed over the rows of each cluster. This is the exact derivative of the cluster score with Breslow's
    cumulative hazard a function of the coefficients, so it does not change when covariates are centred,
    and ``sum_i Omega_i`` is the (Breslow) information.
    """
    n, p = X.shape
    G = int(cluster.max()) + 1
    out = np.zeros((G, p, p))
    lo_all = start if start is not None else np.full(n, -np.inf)
    for s in np.unique(strata):
        rows = np.flatnonzero(strata == s)
        Xs, stop_s, lo_s, st_s = X[rows], stop[rows], lo_all[rows], status[rows]
        tau, d = np.unique(stop_s[st_s == 1], return_counts=True)
        if len(tau) == 0:
            continue
        r = np.exp(Xs @ beta)
        # risk set at tau_k: lo < tau_k <= stop  ->  event-index range [klo, khi)
        khi = np.searchsorted(tau, stop_s, side="right")
        klo = np.searchsorted(tau, lo_s, side="right")
        K = len(tau)
        # S0, S1, S2 at each event time by difference of cumulative sums over rows entering/leaving
        def at_risk_sum(values: np.ndarray) -> np.ndarray:
            acc = np.zeros((K + 1,) + values.shape[1:])
            np.add.at(acc, khi, values)       # rows at risk for k < khi
            np.add.at(acc, klo, -values)      # minus rows not yet entered (k < klo)
            return _suffix(acc)
        S0 = at_risk_sum(r)
        S1 = at_risk_sum(r[:, None] * Xs)
        S2 = at_risk_sum(r[:, None, None] * Xs[:, :, None] * Xs[:, None, :])
        xbar = S1 / S0[:, None]
        V = S2 / S0[:, None, None] - xbar[:, :, None] * xbar[:, None, :]
        dL = d / S0
        def cum(a: np.ndarray) -> np.ndarray:   # int over (lo, stop] of a dL, per row
            c = np.concatenate([np.zeros((1,) + a.shape[1:]), np.cumsum(a * dL.reshape((-1,) + (1,) * (a.ndim - 1)),
                                                                        axis=0)])
            return c[khi] - c[klo]
        iV = cum(V)
        iL = cum(np.ones(K))
        iX = cum(xbar)
        iXX = cum(xbar[:, :, None] * xbar[:, None, :])
        k_ev = np.searchsorted(tau, stop_s)          # the row's own event time (read where status is 1)
        own = np.where(st_s[:, None, None] == 1, V[np.minimum(k_ev, K - 1)], 0.0)
        # int Y_j (X_j - xbar)(X_j - xbar)' dL
        spread = (iL[:, None, None] * Xs[:, :, None] * Xs[:, None, :] - Xs[:, :, None] * iX[:, None, :]
                  - iX[:, :, None] * Xs[:, None, :] + iXX)
        omega = own + r[:, None, None] * (spread - iV)
        np.add.at(out, cluster[rows], omega)
    return out


def _suffix(acc: np.ndarray) -> np.ndarray:
    """Suffix sums ``out[k] = sum_{m > k} acc[m]``: the rows whose range ends after event ``k``."""
    rev = np.cumsum(acc[::-1], axis=0)[::-1]
    return rev[1:]


def mancl_derouen_variance(cluster_scores: np.ndarray, omega: np.ndarray, naive: np.ndarray) -> np.ndarray:
    """The Mancl-DeRouen bias-corrected sandwich ``I^{-1} sum_i U_i* U_i*' I^{-1}``.

    Parameters
    ----------
    cluster_scores : (G, p) array
        ``U_i``, the cluster sums of the score residuals.
    omega : (G, p, p) array
        ``Omega_i`` from :func:`cluster_information`.
    naive : (p, p) array
        The inverse information ``I^{-1}``.

    Raises
    ------
    AnalysisError
        A cluster carries the whole information of a coefficient (``I - Omega_i I^{-1}`` is singular),
        as when one cluster alone holds every participant of an arm.
    """
    p = naive.shape[0]
    eye = np.eye(p)
    star = np.empty_like(cluster_scores)
    for i, (u, om) in enumerate(zip(cluster_scores, omega)):
        try:
            star[i] = np.linalg.solve(eye - om @ naive, u)
        except np.linalg.LinAlgError:
            raise AnalysisError(f"the small-sample correction is undefined: cluster {i + 1} carries all the "
                                f"information on a coefficient (a cluster that is alone in its arm?)") from None
    return naive @ (star.T @ star) @ naive
