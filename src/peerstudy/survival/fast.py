"""A compiled fast path for many small two-arm analyses: log-rank, Efron Cox and RMST difference.

Simulation studies fit the same few models to thousands of small cohorts; a general-purpose fitter
(lifelines: about 30 ms per small Cox fit) spends most of its time on fixed costs. The kernels here
are compiled with numba and take a *batch* of data sets of equal size as 2-D arrays, one row per
data set, and return one estimate per row. They give the same numbers as R's ``survival`` package
(``survdiff``, ``coxph(ties = "efron")`` with and without ``cluster()``, ``survfit`` ``rmean``) to
1e-6 (``tests/reference/fast_path.R``).

Conventions
-----------
* ``time``: days (any positive numbers; ties are handled exactly); ``event``: 1 = dropout, 0 = censored;
  ``group``: 1 = peer support, 0 = usual care. Censored times tied with event times are at risk at
  that time (the usual convention).
* Log-rank: ``O - E`` and the hypergeometric variance ``V`` for the peer arm, as ``survdiff``;
  ``estimate = (O - E) / V`` is the Peto one-step log hazard ratio with ``se = 1 / sqrt(V)``.
* Cox: Efron's approximation for ties, Newton-Raphson from 0 with step halving, covariates centred.
  ``se`` is the model-based standard error; ``robust_se`` (when ``cluster`` is given) is the grouped
  sandwich estimator of ``coxph(..., cluster = site)`` built from Efron score residuals (no small-sample
  factor). Fits that do not converge (e.g. monotone likelihood) return NaN and ``converged = False``.
* RMST: area under each arm's Kaplan-Meier curve from 0 to ``tau``; its standard error is
  ``sqrt(sum_j A_j^2 d_j / (n_j (n_j - d_j)))`` over event times ``t_j <= tau``, with ``A_j`` the area
  from ``t_j`` to ``tau`` (as ``survfit``'s ``se(rmean)``); the difference is peer minus usual care.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from numba import njit

from peerstudy.exceptions import AnalysisError, SchemaError
from peerstudy.survival._display import html_table
from peerstudy.survival._validate import batch_array, batch_time_event, check_number

__all__ = ["LogrankBatch", "CoxBatch", "RmstBatch", "logrank_batch", "cox_batch", "rmst_batch"]


# ----- results ----------------------------------------------------------------------------------
class _BatchResult:
    """Shared behaviour of the batch results: per-field arrays, JSON and HTML views."""

    def to_dict(self) -> dict[str, Any]:
        """Field name -> list (JSON-ready; NaN stays NaN, dumped as null by ``peerstudy._io``)."""
        return {f.name: np.asarray(getattr(self, f.name)).tolist() for f in fields(self)}

    def __len__(self) -> int:
        return len(getattr(self, fields(self)[0].name))

    def _repr_html_(self) -> str:
        rows = []
        for f in fields(self):
            v = np.asarray(getattr(self, f.name), dtype=float)
            if v.ndim == 1:
                rows.append((f.name, f"{np.nanmean(v):.4g}", f"{np.nanstd(v):.4g}"))
        return html_table(("", "mean", "sd"), rows, caption=f"{type(self).__name__}: {len(self)} data sets")


# ----- log-rank ---------------------------------------------------------------------------------
@njit(cache=True)
def _logrank_kernel(time, event, group, o_minus_e, var):
    n_sets, n = time.shape
    for r in range(n_sets):
        order = np.argsort(time[r])
        t, e, g = time[r][order], event[r][order], group[r][order]
        at_risk = float(n)
        at_risk1 = float(g.sum())
        ome = 0.0
        v = 0.0
        i = 0
        while i < n:
            j = i
            d = 0.0
            d1 = 0.0
            m1 = 0.0
            while j < n and t[j] == t[i]:
                d += e[j]
                d1 += e[j] * g[j]
                m1 += g[j]
                j += 1
            if d > 0:
                ome += d1 - d * at_risk1 / at_risk
                if at_risk > 1:
                    p1 = at_risk1 / at_risk
                    v += d * p1 * (1.0 - p1) * (at_risk - d) / (at_risk - 1.0)
            at_risk -= j - i
            at_risk1 -= m1
            i = j
        o_minus_e[r] = ome
        var[r] = v


@dataclass(frozen=True, repr=False)
class LogrankBatch(_BatchResult):
    """Log-rank tests of peer vs usual care, one per data set (arrays of length n_sets)."""

    o_minus_e: np.ndarray
    variance: np.ndarray
    z: np.ndarray
    chi2: np.ndarray
    p_value: np.ndarray
    estimate: np.ndarray
    se: np.ndarray

    def __repr__(self) -> str:
        return f"LogrankBatch({len(self)} data sets, mean chi2 {np.nanmean(self.chi2):.3f})"


def logrank_batch(time: Any, event: Any, group: Any) -> LogrankBatch:
    """Two-sample log-rank test for each row of ``time``/``event``/``group``.

    Parameters
    ----------
    time, event, group : array_like, shape (n_sets, n) or (n,)
        Days, 1 = dropout, 1 = peer support.

    Returns
    -------
    LogrankBatch
        ``o_minus_e`` (peer arm), ``variance``, ``z = (O - E) / sqrt(V)``, ``chi2 = z^2`` (as
        ``survdiff``), two-sided ``p_value``, Peto log-HR ``estimate = (O - E) / V`` and its ``se``.

    Raises
    ------
    SchemaError
        Shapes differ, or values are out of range.
    """
    from scipy.special import erfc

    t, e, g = batch_time_event(time, event, group)
    ome = np.empty(t.shape[0])
    var = np.empty(t.shape[0])
    _logrank_kernel(t, e, g, ome, var)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = ome / np.sqrt(var)
        return LogrankBatch(o_minus_e=ome, variance=var, z=z, chi2=z * z, p_value=erfc(np.abs(z) / math.sqrt(2.0)),
                            estimate=ome / var, se=1.0 / np.sqrt(var))


# ----- Efron Cox --------------------------------------------------------------------------------
@njit(cache=True)
def _efron_time(d, s0, e0, s1, e1, s2, e2, score, info):  # pragma: no cover - compiled
    """Efron's contribution of one event time with ``d`` deaths; adds to ``score``/``info``, returns the log terms.

    ``s*`` are the risk-set sums, ``e*`` the sums over the deaths. It sums, over the Efron steps ``l``,
    ``s2_l / den_l - xbar_l xbar_l'`` with ``s_l = S - (l/d) E``, in O(p^2) per time.
    """
    p = len(s1)
    log_den = 0.0
    c0 = 0.0  # sum 1/den
    c1 = 0.0  # sum f/den
    q0 = 0.0  # sum 1/den^2
    q1 = 0.0  # sum f/den^2
    q2 = 0.0  # sum f^2/den^2
    for l in range(d):
        f = l / d
        den = s0 - f * e0
        log_den += math.log(den)
        c0 += 1.0 / den
        c1 += f / den
        q0 += 1.0 / (den * den)
        q1 += f / (den * den)
        q2 += f * f / (den * den)
    for a in range(p):
        score[a] -= s1[a] * c0 - e1[a] * c1
        for b in range(a + 1):
            info[a, b] += (s2[a, b] * c0 - e2[a, b] * c1
                           - (s1[a] * s1[b] * q0 - (s1[a] * e1[b] + e1[a] * s1[b]) * q1 + e1[a] * e1[b] * q2))
    return log_den


@njit(cache=True)
def _efron_derivs(t, e, X, beta, score, info):
    """Log partial likelihood (Efron) and its score and information, for data sorted by time descending."""
    n, p = X.shape
    eta = X @ beta
    risk = np.exp(eta)
    s0 = 0.0
    s1 = np.zeros(p)
    s2 = np.zeros((p, p))
    e1 = np.zeros(p)
    e2 = np.zeros((p, p))
    w = np.zeros(p)
    score[:] = 0.0
    info[:, :] = 0.0
    loglik = 0.0
    i = 0
    while i < n:
        j = i
        d = 0
        e0 = 0.0
        e1[:] = 0.0
        e2[:, :] = 0.0
        while j < n and t[j] == t[i]:
            r = risk[j]
            s0 += r
            for a in range(p):
                w[a] = r * X[j, a]
                s1[a] += w[a]
            for a in range(p):
                xa = X[j, a]
                for b in range(a + 1):
                    s2[a, b] += w[b] * xa
            if e[j] == 1:
                d += 1
                e0 += r
                loglik += eta[j]
                for a in range(p):
                    xa = X[j, a]
                    e1[a] += w[a]
                    score[a] += xa
                    for b in range(a + 1):
                        e2[a, b] += w[b] * xa
            j += 1
        if d > 0:
            loglik -= _efron_time(d, s0, e0, s1, e1, s2, e2, score, info)
        i = j
    for a in range(p):
        for b in range(a):
            info[b, a] = info[a, b]
    return loglik


@njit(cache=True)
def _efron_increments(t, e, X, risk):  # pragma: no cover - compiled
    """Per tied block (time descending): its rows and the Efron increments of the hazard and of hazard * xbar.

    Returns ``blocks, starts, ends, h_all, hx_all, h_dead, hx_dead, xbar_mean``: for those at risk but not
    dying in the block ``sum_l h_l`` and ``sum_l h_l xbar_l``; for its deaths the same weighted by ``1 - l/d``;
    and the mean of the step means ``xbar_l``.
    """
    n, p = X.shape
    s0 = 0.0
    s1 = np.zeros(p)
    e1 = np.zeros(p)
    blocks = 0
    starts = np.empty(n, np.int64)
    ends = np.empty(n, np.int64)
    h_all = np.zeros(n)
    hx_all = np.zeros((n, p))
    h_dead = np.zeros(n)
    hx_dead = np.zeros((n, p))
    xbar_mean = np.zeros((n, p))
    i = 0
    while i < n:
        j = i
        d = 0
        e0 = 0.0
        e1[:] = 0.0
        while j < n and t[j] == t[i]:
            r = risk[j]
            s0 += r
            for a in range(p):
                s1[a] += r * X[j, a]
            if e[j] == 1:
                d += 1
                e0 += r
                for a in range(p):
                    e1[a] += r * X[j, a]
            j += 1
        starts[blocks] = i
        ends[blocks] = j
        for l in range(d):
            f = l / d
            den = s0 - f * e0
            h = 1.0 / den
            h_all[blocks] += h
            h_dead[blocks] += h * (1.0 - f)
            for a in range(p):
                xb = (s1[a] - f * e1[a]) / den
                hx_all[blocks, a] += h * xb
                hx_dead[blocks, a] += h * (1.0 - f) * xb
                xbar_mean[blocks, a] += xb / d
        blocks += 1
        i = j
    return blocks, starts, ends, h_all, hx_all, h_dead, hx_dead, xbar_mean


@njit(cache=True)
def _efron_score_residuals(t, e, X, beta, resid):  # pragma: no cover - compiled
    """Efron score residuals (as R's ``residuals(fit, "score")``) for data sorted by time descending."""
    p = X.shape[1]
    risk = np.exp(X @ beta)
    blocks, starts, ends, h_all, hx_all, h_dead, hx_dead, xbar_mean = _efron_increments(t, e, X, risk)
    # ascending time: cumulative sums over blocks at earlier times
    cum_h = 0.0
    cum_hx = np.zeros(p)
    for k in range(blocks - 1, -1, -1):
        for j in range(starts[k], ends[k]):
            r = risk[j]
            if e[j] == 1:
                hh = cum_h + h_dead[k]
                for a in range(p):
                    resid[j, a] = (X[j, a] - xbar_mean[k, a]) - r * (X[j, a] * hh - (cum_hx[a] + hx_dead[k, a]))
            else:
                hh = cum_h + h_all[k]
                for a in range(p):
                    resid[j, a] = -r * (X[j, a] * hh - (cum_hx[a] + hx_all[k, a]))
        cum_h += h_all[k]
        for a in range(p):
            cum_hx[a] += hx_all[k, a]


@njit(cache=True)
def _cox_kernel(time, event, X, cluster, n_clusters, max_iter, coef, var, robust_var, loglik, iters, converged):
    n_sets, n, p = X.shape
    score = np.zeros(p)
    info = np.zeros((p, p))
    resid = np.zeros((n, p))
    for r in range(n_sets):
        order = np.argsort(-time[r])
        t = time[r][order]
        e = event[r][order]
        Xr = np.empty((n, p))
        for a in range(p):
            col = X[r, :, a][order]
            Xr[:, a] = col - col.mean()
        beta = np.zeros(p)
        ll = _efron_derivs(t, e, Xr, beta, score, info)
        ok = False
        it = 0
        for it in range(1, max_iter + 1):
            try:
                step = np.linalg.solve(info, score)
            except Exception:  # singular information: a constant covariate or no events
                break
            if np.max(np.abs(step)) < 1e-9:
                # converged: Newton is quadratic, so the remaining error is ~1e-18; keep the last information
                beta = beta + step
                ok = True
                break
            new = beta + step
            new_ll = _efron_derivs(t, e, Xr, new, score, info)
            halving = 0
            while (not new_ll >= ll - 1e-12 * abs(ll)) and halving < 30:
                step *= 0.5
                new = beta + step
                new_ll = _efron_derivs(t, e, Xr, new, score, info)
                halving += 1
            beta = new
            ll = new_ll
            if np.max(np.abs(beta)) > 30:
                break  # monotone likelihood: the estimate runs off to infinity
        iters[r] = it
        loglik[r] = ll
        converged[r] = ok
        if not ok:
            coef[r, :] = np.nan
            var[r, :, :] = np.nan
            robust_var[r, :, :] = np.nan
            continue
        v = np.linalg.inv(info)
        coef[r, :] = beta
        var[r, :, :] = v
        if n_clusters > 0:
            _efron_score_residuals(t, e, Xr, beta, resid)
            cl = cluster[r][order]
            grouped = np.zeros((n_clusters, p))
            for j in range(n):
                for a in range(p):
                    grouped[cl[j], a] += resid[j, a]
            dfb = grouped @ v
            robust_var[r, :, :] = dfb.T @ dfb


@dataclass(frozen=True, repr=False)
class CoxBatch(_BatchResult):
    """Efron Cox fits, one per data set: ``coef``/``se``/``robust_se`` have shape (n_sets, p)."""

    coef: np.ndarray
    se: np.ndarray
    robust_se: np.ndarray
    loglik: np.ndarray
    iterations: np.ndarray
    converged: np.ndarray
    covariance: np.ndarray

    def __repr__(self) -> str:
        return f"CoxBatch({len(self)} data sets, p = {self.coef.shape[1]}, {int(self.converged.sum())} converged)"

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d.pop("covariance")
        return d


def cox_batch(time: Any, event: Any, X: Any, *, cluster: Any | None = None, max_iter: int = 50) -> CoxBatch:
    """Efron Cox regression for each data set.

    Parameters
    ----------
    time, event : array_like, shape (n_sets, n) or (n,)
        Days and 1 = dropout.
    X : array_like, shape (n_sets, n, p), (n_sets, n) or (n,)
        Covariates (the first column is usually the arm, 1 = peer). Centred internally; the
        coefficients are log hazard ratios per unit.
    cluster : array_like of int, shape (n_sets, n), optional
        Cluster codes (e.g. site, 0..K-1) for the grouped robust standard error.
    max_iter : int
        Newton-Raphson iterations.

    Returns
    -------
    CoxBatch
        ``coef``, ``se``, ``robust_se`` (NaN without ``cluster``), ``loglik``, ``iterations``,
        ``converged`` and the model ``covariance`` (n_sets, p, p).

    Raises
    ------
    SchemaError
        Shapes differ, values out of range, or non-finite covariates.
    ParameterError
        ``max_iter`` not a whole number >= 1.
    """
    t, e = batch_time_event(time, event)
    x = np.asarray(X, dtype=np.float64)
    if x.ndim == 1:
        x = x[None, :, None]
    elif x.ndim == 2:
        x = x[:, :, None] if x.shape == t.shape else x[None, :, :]
    if x.ndim != 3 or x.shape[:2] != t.shape:
        raise SchemaError(f"X must have shape (n_sets, n, p) matching time {t.shape}; got {np.shape(X)}")
    if not np.all(np.isfinite(x)):
        raise SchemaError("X must be finite")
    max_iter = check_number(max_iter, name="max_iter", minimum=1, whole=True)
    x = np.ascontiguousarray(x)
    n_sets, n, p = x.shape
    if cluster is None:
        cl = np.zeros((n_sets, n), dtype=np.int64)
        k = 0
    else:
        cl = batch_array("cluster", cluster, np.float64)
        if cl.shape != t.shape:
            raise SchemaError(f"cluster has shape {cl.shape} but time has shape {t.shape}")
        if np.any(cl < 0) or np.any(cl != np.floor(cl)):
            raise SchemaError("cluster codes must be whole numbers >= 0")
        cl = cl.astype(np.int64)
        k = int(cl.max()) + 1
    coef = np.empty((n_sets, p))
    var = np.empty((n_sets, p, p))
    rvar = np.full((n_sets, p, p), np.nan)
    ll = np.empty(n_sets)
    iters = np.empty(n_sets, dtype=np.int64)
    conv = np.empty(n_sets, dtype=np.bool_)
    _cox_kernel(t, e, x, cl, k, max_iter, coef, var, rvar, ll, iters, conv)
    se = np.sqrt(np.diagonal(var, axis1=1, axis2=2))
    rse = np.sqrt(np.diagonal(rvar, axis1=1, axis2=2))
    return CoxBatch(coef=coef, se=se, robust_se=rse, loglik=ll, iterations=iters, converged=conv, covariance=var)


# ----- RMST -------------------------------------------------------------------------------------
@njit(cache=True)
def _rmst_arm(t, e, tau):  # pragma: no cover - compiled
    """Area under one arm's Kaplan-Meier curve to ``tau`` and its variance, for times sorted ascending."""
    m = len(t)
    # KM steps up to tau
    ts = np.empty(m + 1)
    ss = np.empty(m + 1)
    ns = np.empty(m + 1)
    ds = np.empty(m + 1)
    steps = 0
    s = 1.0
    at_risk = float(m)
    i = 0
    while i < m and t[i] <= tau:
        j = i
        d = 0.0
        while j < m and t[j] == t[i]:
            d += e[j]
            j += 1
        if d > 0:
            ts[steps] = t[i]
            ns[steps] = at_risk
            ds[steps] = d
            s *= 1.0 - d / at_risk
            ss[steps] = s
            steps += 1
        at_risk -= j - i
        i = j
    # area: S is 1 before ts[0], ss[k] on [ts[k], ts[k+1])
    total = 0.0
    prev_t = 0.0
    prev_s = 1.0
    for k in range(steps):
        total += prev_s * (ts[k] - prev_t)
        prev_t = ts[k]
        prev_s = ss[k]
    total += prev_s * (tau - prev_t)
    # variance: area after each event time, accumulated backwards
    v = 0.0
    tail = 0.0
    nxt = tau
    for k in range(steps - 1, -1, -1):
        tail += ss[k] * (nxt - ts[k])
        nxt = ts[k]
        if ns[k] > ds[k]:
            v += tail * tail * ds[k] / (ns[k] * (ns[k] - ds[k]))
        else:
            v += np.inf if tail > 0 else 0.0
    return total, v


@njit(cache=True)
def _rmst_kernel(time, event, group, tau, area, var):  # pragma: no cover - compiled
    n_sets, n = time.shape
    for r in range(n_sets):
        order = np.argsort(time[r])
        for arm in range(2):
            m = 0
            for j in range(n):
                if group[r, order[j]] == arm:
                    m += 1
            t = np.empty(m)
            e = np.empty(m)
            k = 0
            for j in range(n):
                q = order[j]
                if group[r, q] == arm:
                    t[k] = time[r, q]
                    e[k] = event[r, q]
                    k += 1
            a, v = _rmst_arm(t, e, tau)
            area[r, arm] = a
            var[r, arm] = v


@dataclass(frozen=True, repr=False)
class RmstBatch(_BatchResult):
    """RMST by arm and its difference (peer minus usual care), one per data set."""

    tau: np.ndarray
    rmst_usual_care: np.ndarray
    rmst_peer: np.ndarray
    se_usual_care: np.ndarray
    se_peer: np.ndarray
    difference: np.ndarray
    se_difference: np.ndarray

    def __repr__(self) -> str:
        return f"RmstBatch({len(self)} data sets, tau = {float(self.tau[0]):g}, mean difference {np.nanmean(self.difference):.3f})"


def rmst_batch(time: Any, event: Any, group: Any, *, tau: float) -> RmstBatch:
    """Restricted mean survival time to ``tau`` days by arm, and the peer - usual care difference.

    Parameters
    ----------
    time, event, group : array_like, shape (n_sets, n) or (n,)
        Days, 1 = dropout, 1 = peer support.
    tau : float
        Horizon in days (> 0).

    Returns
    -------
    RmstBatch

    Raises
    ------
    SchemaError
        Shapes differ, or values are out of range.
    AnalysisError
        An arm is empty in some data set.
    ParameterError
        ``tau`` is not a positive number.
    """
    t, e, g = batch_time_event(time, event, group)
    tau = check_number(tau, name="tau", minimum=0, strict=True, unit="days")
    sizes = g.sum(axis=1)
    if np.any(sizes == 0) or np.any(sizes == g.shape[1]):
        raise AnalysisError("each data set needs participants in both arms (group 0 and 1)")
    area = np.empty((t.shape[0], 2))
    var = np.empty((t.shape[0], 2))
    _rmst_kernel(t, e, g, tau, area, var)
    se = np.sqrt(var)
    return RmstBatch(tau=np.full(t.shape[0], tau), rmst_usual_care=area[:, 0], rmst_peer=area[:, 1],
                     se_usual_care=se[:, 0], se_peer=se[:, 1], difference=area[:, 1] - area[:, 0],
                     se_difference=np.sqrt(var[:, 0] + var[:, 1]))
