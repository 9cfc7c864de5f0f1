"""Shared frailty Cox model, written to agree with R's ``coxph`` with a ``frailty(site)`` term.

Participants of one site share an unobserved multiplier of their dropout hazard (the frailty). The model is
fitted as R's ``survival`` package fits it: by penalised partial likelihood, with the site log-frailties as
penalised coefficients (Therneau & Grambsch 2000, ch. 9; Therneau, Grambsch & Pankratz 2003):

* an inner Newton-Raphson loop maximises the penalised partial likelihood at a fixed frailty variance theta;
* an outer loop searches theta: for gamma frailty (R's ``method = "em"``) the integrated ("I-")likelihood,
  the penalised partial likelihood plus a closed-form correction, is maximised by R's bracketing search;
  for Gaussian frailty (R's ``method = "reml"``) theta solves the REML-type equation
  ``theta = sum(b^2) / (G - trace(H^-1_bb) / theta)``.

Both loops mirror R's ``coxpenal.fit`` / ``coxfit5`` step for step: the same starting values (each outer
fit starts from the earlier fit whose theta is nearest), the same step halving, the same stopping rules
(inner: relative change of the penalised log-likelihood <= 1e-9, at most 20 iterations; outer: relative
change of the I-likelihood < 1e-5 (gamma) or the absolute REML residual < sqrt(1e-9) (Gaussian), at most 10 outer
iterations) and, with more than 5 clusters, R's "sparse" information: the frailty-by-frailty block is
replaced by its diagonal. With 5 clusters or fewer the full information is used (R's dense
``frailty()``). R's theta is where its search stopped, not necessarily the maximiser (the gamma search
often uses all 10 outer iterations; then a :class:`~peerstudy.exceptions.ConvergenceWarning` says so);
repeating R's path is what makes the estimates equal R's.

Computation
-----------
Rows are binned once into event-time slots (as :mod:`peerstudy.survival.cox.engine`); per Newton step the
covariate part comes from the engine's kernels (:func:`~peerstudy.survival.cox.kernels.aggregate`,
``reverse_cumsum``, ``event_terms``) and the frailty part (score, the diagonal frailty information and the
covariate-by-frailty block) from one extra O(n) pass (:func:`_frailty_terms`): per-row cumulative hazards give
the first-order sums and a piecewise-constant accumulation of each site's risk-set sum gives the squared
terms. The Newton system ``[[D, B'], [B, A]]`` (D diagonal, G x G) is solved through the Schur complement
``A - B D^-1 B'`` (p x p), so a step costs O(n p^2 + G p^2 + p^3), never O(G^3). Only the Gaussian
likelihood-ratio test needs the exact G x G frailty block, once, at the estimate (:func:`_frailty_cross`,
O(n G), and a log-determinant, O(G^3)).

R's gamma stopping rule is relative: with many events (a log-likelihood of -600,000) 1e-5 is several
log-likelihood units, and R's search can stop far from the maximiser (theta 1.2 where the integrated
likelihood peaks near 0.3 on 100,000 simulated participants). ``eps`` and ``outer_max`` (R's
``frailty(eps = )`` and ``coxph.control(outer.max = )``) tighten it.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd
from numba import njit
from scipy import special, stats

from peerstudy.exceptions import AnalysisError, ConvergenceWarning, ParameterError
from peerstudy.survival._display import terms_html
from peerstudy.survival._validate import (as_list, check_choice, check_event_count, check_number, group_codes,
                                          require_columns, require_frame, show, time_event)
from peerstudy.survival.cox import kernels as K
from peerstudy.survival.cox.engine import TIES, design_matrix

__all__ = ["FrailtyCoxResult", "fit_frailty_cox", "DISTRIBUTIONS"]

#: frailty distribution -> R's default method for it
DISTRIBUTIONS = {"gamma": "em", "gaussian": "reml"}
_Z975 = stats.norm.ppf(0.975)
_ITER_MAX = 20                 # coxph.control(iter.max)
_OUTER_MAX = 10                # coxph.control(outer.max)
_EPS = 1e-9                    # coxph.control(eps): inner convergence
_EPS_GAMMA = 1e-5              # frailty.gamma(eps)
_EPS_GAUSS = math.sqrt(_EPS)   # frailty.controlgauss: opt$eps partially matches eps2 = sqrt(eps)
_SPARSE_ABOVE = 5              # frailty(sparse = nclass > 5)


# --------------------------------------------------------------------------------------------- kernels
@njit(cache=True)
def _frailty_terms(order, pos, cnt, slot, cl, status, r, X, h0, h1, h0d, h1d, s0, d0, d, dw, efron,
                   G):  # pragma: no cover - compiled
    """Frailty score, diagonal frailty information and covariate-by-frailty information in one pass.

    ``slot[i]`` is the number of event times <= row i's time (so row i is at risk at events 0..slot-1);
    ``order`` lists rows by decreasing slot, slot ``s`` occupying ``order[pos[s]:pos[s] + cnt[s]]``.
    ``h0, h1, h0d, h1d, s0, d0`` are per event time, as :func:`peerstudy.survival.cox.kernels.event_terms`
    and ``aggregate`` return them.

    Returns ``uf`` (observed minus expected events per cluster), ``fd`` (sum over event steps of
    ``w * (s_g/s - (s_g/s)^2)``, the diagonal of the frailty information; ``s_g`` the cluster's share of the
    risk-set sum) and ``B`` (p x G, covariate-by-frailty information), as R's ``coxfit5_b`` accumulates them.
    """
    n, p = X.shape
    nk = h0.shape[0]
    q0 = np.zeros(nk + 1)
    q1 = np.zeros((nk + 1, p))
    for k in range(nk):
        q0[k + 1] = q0[k] + h0[k]
        for a in range(p):
            q1[k + 1, a] = q1[k, a] + h1[k, a]
    uf = np.zeros(G)
    fd = np.zeros(G)
    B = np.zeros((p, G))
    H1 = np.zeros(p)
    for i in range(n):
        g = cl[i]
        s = slot[i]
        if status[i] != 0:
            uf[g] += 1.0
        if s == 0:
            continue
        if status[i] != 0:
            H0 = q0[s - 1] + h0d[s - 1]
            for a in range(p):
                H1[a] = q1[s - 1, a] + h1d[s - 1, a]
        else:
            H0 = q0[s]
            for a in range(p):
                H1[a] = q1[s, a]
        e = r[i] * H0
        uf[g] -= e
        fd[g] += e
        for a in range(p):
            B[a, g] += r[i] * (X[i, a] * H0 - H1[a])
    # sum over the steps of an event time of w/s^2, w*f/s^2 and w*f^2/s^2 (Efron's f = m/d)
    P = np.zeros(nk + 1)
    bet = np.zeros(nk)
    gam = np.zeros(nk)
    for k in range(nk):
        nd = d[k]
        steps = int(nd) if (efron and nd > 1) else 1
        wt = dw[k] / steps
        a_ = 0.0
        b_ = 0.0
        c_ = 0.0
        for m in range(steps):
            f = m / steps if steps > 1 else 0.0
            den = s0[k] - f * d0[k]
            q = wt / (den * den)
            a_ += q
            b_ += q * f
            c_ += q * f * f
        P[k + 1] = P[k] + a_
        bet[k] = b_
        gam[k] = c_
    # sum over events of w*(S_g - f D_g)^2/s^2, S_g piecewise constant between rows of cluster g
    Sg = np.zeros(G)
    Dg = np.zeros(G)
    last = np.full(G, nk, dtype=np.int64)
    Q = np.zeros(G)
    touched = np.empty(G, dtype=np.int64)
    for s in range(nk, 0, -1):
        nt = 0
        for j in range(pos[s], pos[s] + cnt[s]):
            i = order[j]
            g = cl[i]
            Q[g] += Sg[g] * Sg[g] * (P[last[g]] - P[s])
            last[g] = s
            Sg[g] += r[i]
            if status[i] != 0:
                if Dg[g] == 0.0:
                    touched[nt] = g
                    nt += 1
                Dg[g] += r[i]
        k = s - 1
        for t in range(nt):
            g = touched[t]
            Q[g] += -2.0 * Sg[g] * Dg[g] * bet[k] + Dg[g] * Dg[g] * gam[k]
            Dg[g] = 0.0
    for g in range(G):
        Q[g] += Sg[g] * Sg[g] * (P[last[g]] - P[0])
    for g in range(G):
        fd[g] -= Q[g]
    return uf, fd, B, P, bet, gam


@njit(cache=True)
def _frailty_cross(order, pos, cnt, cl, status, r, P, bet, gam, G):  # pragma: no cover - compiled
    """Full G x G matrix of ``sum over event steps of w * s_g s_h / s^2`` (the off-diagonal frailty information
    is its negative). O(n G) time, O(G^2) memory; only used once, for the Laplace integrated likelihood."""
    nk = bet.shape[0]
    Qm = np.zeros((G, G))
    last = np.full((G, G), nk, dtype=np.int64)
    Sg = np.zeros(G)
    Dg = np.zeros(G)
    touched = np.empty(G, dtype=np.int64)
    for s in range(nk, 0, -1):
        nt = 0
        for j in range(pos[s], pos[s] + cnt[s]):
            i = order[j]
            g = cl[i]
            for h in range(G):
                v = Sg[g] * Sg[h] * (P[last[g, h]] - P[s])
                Qm[g, h] += v
                if h != g:
                    Qm[h, g] += v
                last[g, h] = s
                last[h, g] = s
            Sg[g] += r[i]
            if status[i] != 0:
                if Dg[g] == 0.0:
                    touched[nt] = g
                    nt += 1
                Dg[g] += r[i]
        k = s - 1
        for t in range(nt):
            g = touched[t]
            for h in range(G):
                v = -bet[k] * Dg[g] * Sg[h]
                Qm[g, h] += v
                Qm[h, g] += v
            for t2 in range(nt):
                h = touched[t2]
                Qm[g, h] += gam[k] * Dg[g] * Dg[h]
        for t in range(nt):
            Dg[touched[t]] = 0.0
    for g in range(G):
        for h in range(g, G):
            v = Sg[g] * Sg[h] * (P[last[g, h]] - P[0])
            Qm[g, h] += v
            if h != g:
                Qm[h, g] += v
    return Qm


# --------------------------------------------------------------------------------------------- data
@dataclass
class _Data:
    Xc: np.ndarray           # centred design matrix (n x p)
    names: list[str]
    assign: dict[str, list[int]]
    status: np.ndarray       # int64 0/1
    cl: np.ndarray           # cluster codes 0..G-1
    labels: tuple[str, ...]
    G: int
    slot: np.ndarray         # number of event times <= time
    nk: int                  # distinct event times
    slot_last: np.ndarray
    dead: np.ndarray
    gdead: np.ndarray
    d: np.ndarray
    dw: np.ndarray
    wx_dead: np.ndarray
    order: np.ndarray
    pos: np.ndarray
    cnt: np.ndarray
    d_cluster: np.ndarray    # events per cluster
    efron: bool


def _prepare(df, covariates, frailty, time, event, ties) -> _Data:
    require_frame(df)
    covariates = as_list(covariates)
    require_columns(df, [time, event, frailty, *covariates])
    if not covariates:
        raise ParameterError("covariates is empty: the frailty model needs at least one covariate")
    if frailty in covariates:
        raise ParameterError(f"the frailty column {frailty!r} is also a covariate; a site cannot be both")
    t, e = time_event(df, time, event)
    cl, labels = group_codes(df, frailty, role="frailty cluster", min_levels=2)
    X, names, assign = design_matrix(df, covariates)
    status = e.astype(np.int64)
    check_event_count(status, event=event, params=names, stacklevel=3)
    Xc = np.ascontiguousarray(X - X.mean(axis=0))
    et = np.unique(t[status == 1])
    nk = len(et)
    slot = np.searchsorted(et, t, side="right").astype(np.int64)
    slot_last = np.zeros(nk + 1, dtype=np.bool_)
    slot_last[nk] = True
    dead = np.flatnonzero(status == 1)
    gdead = slot[dead] - 1
    d = np.bincount(gdead, minlength=nk).astype(np.float64)
    order = np.argsort(-slot, kind="stable").astype(np.int64)
    cnt = np.bincount(slot, minlength=nk + 1).astype(np.int64)
    pos = np.zeros(nk + 1, dtype=np.int64)
    pos[:nk] = np.cumsum(cnt[::-1])[::-1][1:]      # rows with a larger slot come first
    G = len(labels)
    return _Data(Xc=Xc, names=names, assign=assign, status=status, cl=cl.astype(np.int64), labels=labels, G=G,
                 slot=slot, nk=nk, slot_last=slot_last, dead=dead, gdead=gdead.astype(np.int64), d=d, dw=d.copy(),
                 wx_dead=Xc[dead].sum(axis=0), order=order, pos=pos, cnt=cnt,
                 d_cluster=np.bincount(cl, weights=status, minlength=G), efron=ties == "efron")


def _cox_sums(data: _Data, X: np.ndarray, eta: np.ndarray, Xdead: np.ndarray | None = None):
    """Partial log-likelihood, covariate score and information at linear predictor ``eta`` (engine kernels).

    ``Xdead`` is ``X[data.dead]`` (contiguous), when the caller keeps it."""
    p = X.shape[1]
    if Xdead is None:
        Xdead = np.ascontiguousarray(X[data.dead])
    r = np.exp(eta)
    agg = K.aggregate(data.slot, r, X, data.nk + 1)
    S = K.reverse_cumsum(agg, data.slot_last)[:data.nk]
    D = K.aggregate(data.gdead, r[data.dead], Xdead, data.nk)
    ll, xsum, info, h0, h1, h0d, h1d, _, _, _ = K.event_terms(S, D, data.d, data.dw, p, data.efron, False)
    ll += eta[data.dead].sum()
    score = Xdead.sum(axis=0) - xsum
    return ll, score, info, r, S, D, h0, h1, h0d, h1d


# --------------------------------------------------------------------------------------------- penalties
def _penalty(distribution: str, b: np.ndarray, theta: float):
    """R's ``pfun`` of frailty.gamma / frailty.gaussian: (flag, recentred b, -first, second, log-penalty)."""
    if theta == 0:
        return True, b, None, None, 0.0
    if distribution == "gamma":
        rc = math.log(np.mean(np.exp(b)))
        b = b - rc
        nu = 1.0 / theta
        eb = np.exp(b)
        return False, b, -(eb - 1.0) * nu, eb * nu, float(np.sum(b)) * nu
    rc = float(np.mean(b))
    b = b - rc
    G = len(b)
    return (False, b, -b / theta, np.full(G, 1.0 / theta),
            -0.5 * float(np.sum(b * b / theta + math.log(2 * math.pi * theta))))


def _gammacon(d: np.ndarray, nu: float) -> float:
    """R's ``frailty.gammacon``: I-likelihood minus penalised partial likelihood for gamma frailty."""
    maxd = float(np.max(d))
    if nu > 1e7 * maxd:
        term1 = float(np.sum(d * d)) / nu
    else:
        term1 = float(np.sum(d + nu * np.log(nu / (nu + d))))
    pos = d[d > 0]
    term2 = float(np.sum(special.gammaln(nu + pos) - special.gammaln(nu) - pos * np.log(nu + pos)))
    return term1 + term2


def _brent(x: np.ndarray, y: np.ndarray, lower: float) -> float:
    """R's ``frailty.brent``: next point of the search for the maximum of ``y(x)``."""
    n = len(x)
    if n < 3:
        return float(np.mean(x))
    ord_ = np.argsort(x, kind="stable")
    xx, yy = x[ord_], y[ord_]
    best = np.flatnonzero(yy == np.max(y))
    if len(best) > 1:
        raise AnalysisError("the search for the frailty variance found two equal maxima of the integrated "
                            "likelihood (R: 'Ties for max(y), I surrender')")
    best = int(best[0])
    if best == 0:
        new = xx[0] - 3 * (xx[1] - xx[0])
        if new < lower:
            new = lower + (np.min(xx[xx > lower]) - lower) / 10
        return float(new)
    if best == n - 1:
        return float(xx[n - 1] + 3 * (xx[n - 1] - xx[n - 2]))
    xx = xx[best - 1:best + 2]
    yy = yy[best - 1:best + 2]
    t1 = (xx[1] - xx[0]) ** 2 * (yy[1] - yy[2]) - (xx[1] - xx[2]) ** 2 * (yy[1] - yy[0])
    t2 = (xx[1] - xx[0]) * (yy[1] - yy[2]) - (xx[1] - xx[2]) * (yy[1] - yy[0])
    new = xx[1] - 0.5 * t1 / t2
    if new < xx[0] or new > xx[2] or (n > 4 and (new - x[n - 1]) > 0.5 * abs(x[n - 2] - x[n - 3])):
        if (xx[1] - xx[0]) > (xx[2] - xx[1]):
            return float(xx[1] - 0.38 * (xx[1] - xx[0]))
        return float(xx[1] + 0.32 * (xx[2] - xx[1]))
    return float(new)


# --------------------------------------------------------------------------------------------- inner fit
@dataclass
class _Inner:
    beta: np.ndarray
    b: np.ndarray
    ppl: float                   # penalised partial log-likelihood (R's coxfit$loglik)
    pl: float                    # partial log-likelihood
    iterations: int
    converged: bool
    H: tuple                     # information at the estimate (sparse: D, B, A; dense: full matrix)
    second: np.ndarray | None    # penalty second derivatives (R's coxlist$second)
    eta: np.ndarray


class _Model:
    """One data set and frailty distribution: evaluates and maximises the penalised partial likelihood."""

    def __init__(self, data: _Data, distribution: str):
        self.data = data
        self.distribution = distribution
        self.sparse = data.G > _SPARSE_ABOVE
        self.p = data.Xc.shape[1]
        if not self.sparse:
            Z = np.zeros((len(data.cl), data.G))
            Z[np.arange(len(data.cl)), data.cl] = 1.0
            self.Xfull = np.ascontiguousarray(np.hstack([data.Xc, Z]))
            self.Xfull_dead = np.ascontiguousarray(self.Xfull[data.dead])
        self.Xc_dead = np.ascontiguousarray(data.Xc[data.dead])

    # R's coxfit5_b loop body: information and score at (beta, b), penalty added
    def _evaluate(self, beta, b, theta):
        flag, b, upen, ipen, logpen = _penalty(self.distribution, b, theta)
        data, p, G = self.data, self.p, self.data.G
        if self.sparse:
            eta = data.Xc @ beta + b[data.cl]
            ll, uc, A, r, S, D, h0, h1, h0d, h1d = _cox_sums(data, data.Xc, eta, self.Xc_dead)
            uf, fd, B, *_ = _frailty_terms(data.order, data.pos, data.cnt, data.slot, data.cl, data.status, r,
                                           data.Xc, h0, h1, h0d, h1d, S[:, 0], D[:, 0], data.d, data.dw,
                                           data.efron, G)
            newlk = ll
            if flag:
                uf = np.zeros(G)
                fd = np.ones(G)
                B = np.zeros((p, G))
            else:
                uf = uf + upen
                fd = fd + ipen
                newlk += logpen
            return b, newlk, ll, np.concatenate([uc, uf]), (fd, B, A), ipen, eta
        eta = self.Xfull @ np.concatenate([beta, b])
        ll, u, H, *_ = _cox_sums(data, self.Xfull, eta, self.Xfull_dead)
        H = H.copy()
        newlk = ll
        if flag:
            u[p:] = 0.0
            H[p:, :] = 0.0
            H[:, p:] = 0.0
            H[p:, p:] = np.eye(G)
        else:
            u[p:] += upen
            H[p:, p:] += np.diag(ipen)
            newlk += logpen
        return b, newlk, ll, u, (H,), ipen, eta

    def _solve(self, H, u):
        p = self.p
        if self.sparse:
            fd, B, A = H
            W = B / fd
            Sc = A - W @ B.T
            try:
                xc = _chol_solve(Sc, u[:p] - W @ u[p:], scale=max(float(np.max(fd)), float(np.max(np.diag(A)))))
            except np.linalg.LinAlgError:
                raise AnalysisError("the information matrix is singular: covariates are collinear (one is a "
                                    "combination of others, or constant within every site); drop one") from None
            xf = (u[p:] - B.T @ xc) / fd
            return xc, xf
        try:
            x = _chol_solve(H[0], u)
        except np.linalg.LinAlgError:
            raise AnalysisError("the information matrix is singular: covariates are collinear "
                                "(one is a combination of others); drop one") from None
        return x[:p], x[p:]

    def fit(self, beta, b, theta) -> _Inner:
        """R's ``coxfit5_b``: Newton-Raphson with step halving from (beta, b) at fixed theta."""
        beta = np.array(beta, dtype=float)
        b = np.array(b, dtype=float)
        old_beta, old_b = beta.copy(), b.copy()
        loglik = 0.0
        halving = False
        converged = False
        it = 0
        for it in range(_ITER_MAX + 1):
            try:
                b, newlk, pl, u, H, second, eta = self._evaluate(beta, b, theta)
            except ZeroDivisionError:   # a step so long that every risk score underflows: halve it, as R would
                if it == 0:
                    raise AnalysisError("the frailty model cannot be evaluated at its starting values "
                                        "(risk scores overflow): rescale the covariates") from None
                newlk = -np.inf
            if abs(newlk) < _EPS or (abs(1 - loglik / newlk) <= _EPS and not halving):
                converged = True
                break
            if it == _ITER_MAX:
                break
            if it > 0 and newlk < loglik:
                halving = True
                beta = (old_beta + beta) / 2
                b = (old_b + b) / 2
            else:
                halving = False
                loglik = newlk
                xc, xf = self._solve(H, u)
                old_beta, old_b = beta, b
                beta = beta + xc
                b = b + xf
        return _Inner(beta=beta, b=b, ppl=newlk, pl=pl, iterations=it, converged=converged, H=H,
                      second=second, eta=eta)

    def variances(self, fit: _Inner):
        """R's ``coxpenal.df``: var (inverse penalised information), var2, frailty variances, df and trace."""
        p, G = self.p, self.data.G
        if self.sparse:
            fd, B, A = fit.H
            W = B / fd                                   # B D^-1 (p x G)
            C = _inv(A - W @ B.T)                        # covariate block of H^-1
            Vfc = -(W.T @ C)                             # frailty-by-covariate block of H^-1 (G x p)
            fvar = 1.0 / fd + np.einsum("gp,pq,gq->g", W.T, C, W.T)
            pen = fit.second
            var2 = C - Vfc.T @ (pen[:, None] * Vfc)
            df_frail = G - float(np.sum(fvar * pen))
            trH = float(np.sum(fvar))
            return C, var2, fvar, df_frail, trH, None
        H = fit.H[0]
        Hinv = _inv(H)
        Pm = np.zeros_like(H)
        Pm[p:, p:] = np.diag(fit.second)
        var2 = Hinv @ (H - Pm) @ Hinv
        f = slice(p, p + G)
        df_frail = float(np.trace(np.linalg.solve(Hinv[f, f], var2[f, f])))
        trH = float(np.trace(Hinv[f, f]))
        return Hinv[:p, :p], var2[:p, :p], np.diag(Hinv)[f].copy(), df_frail, trH, Hinv[f, f]

    def frailty_information(self, fit: _Inner) -> np.ndarray:
        """The exact G x G frailty block of the (unpenalised) partial-likelihood information at the estimate."""
        data, G = self.data, self.data.G
        if not self.sparse:
            H = fit.H[0][self.p:, self.p:].copy()
            return H - np.diag(fit.second)
        _, _, _, r, S, D, h0, h1, h0d, h1d = _cox_sums(data, data.Xc, fit.eta)
        _, fd, _, P, bet, gam = _frailty_terms(data.order, data.pos, data.cnt, data.slot, data.cl, data.status, r,
                                                data.Xc, h0, h1, h0d, h1d, S[:, 0], D[:, 0], data.d, data.dw,
                                                data.efron, G)
        Qm = _frailty_cross(data.order, data.pos, data.cnt, data.cl, data.status, r, P, bet, gam, G)
        E = fd + np.diag(Qm)
        return np.diag(E) - Qm


#: R's ``coxph.control(toler.chol)``: pivots below this times the largest diagonal element count as zero.
_TOLER_CHOL = np.finfo(float).eps ** 0.75


def _chol_solve(M: np.ndarray, y: np.ndarray, scale: float | None = None) -> np.ndarray:
    """Solve ``M x = y`` as R's ``cholesky2``/``chsolve2`` do: an LDL' factorisation in which a pivot below
    ``toler.chol * max(diag)`` (``scale``, when given, is that maximum over the whole penalised matrix, as in
    R's ``cholesky3``) is set to zero, so its component of the Newton step is zero. With a cluster-level
    covariate (arm constant within sites) the sparse (diagonal-frailty) information's covariate block can be
    non-positive: R then takes no step in that direction for that iteration, and so does this."""
    n = len(y)
    L = np.array(M, dtype=float, copy=True)
    top = float(np.max(np.diag(L))) if scale is None else float(scale)
    eps = _TOLER_CHOL * top if top > 0 else _TOLER_CHOL
    if not np.all(np.isfinite(L)):
        raise np.linalg.LinAlgError("non-finite information matrix")
    for i in range(n):
        pivot = L[i, i]
        if not np.isfinite(pivot) or pivot < eps:
            L[i, i] = 0.0
            L[i + 1:, i] = 0.0
            continue
        for j in range(i + 1, n):
            temp = L[j, i] / pivot
            L[j, i] = temp
            L[j, j] -= temp * temp * pivot
            L[j + 1:, j] -= temp * L[j + 1:, i]
    if scale is None and not np.any(np.diag(L) > 0):
        raise np.linalg.LinAlgError("information matrix has no positive pivot")
    x = np.array(y, dtype=float, copy=True)
    for i in range(n):  # forward: unit lower triangle
        x[i] -= L[i, :i] @ x[:i]
    d = np.diag(L)
    x = np.where(d > 0, x / np.where(d > 0, d, 1.0), 0.0)
    for i in range(n - 1, -1, -1):  # backward: L' (unit)
        if d[i] == 0:
            x[i] = 0.0
            continue
        x[i] -= L[i + 1:, i] @ x[i + 1:]
    return x


def _inv(M: np.ndarray) -> np.ndarray:
    try:
        L = np.linalg.cholesky(M)
    except np.linalg.LinAlgError:
        raise AnalysisError("the penalised information matrix is singular at the estimate: "
                            "covariates are collinear") from None
    Li = np.linalg.inv(L)
    return Li.T @ Li


# --------------------------------------------------------------------------------------------- outer loop
def _outer(model: _Model, theta_method: str, outer_max: int, eps: float):
    """R's ``coxpenal.fit`` outer loop with ``frailty.controlgam`` (gamma, em) or ``frailty.controlgauss``
    (gaussian, reml). Returns the last inner fit, its theta, the history, iteration counts and done flag."""
    p, G = model.p, model.data.G
    d = model.data.d_cluster
    theta = 0.0 if theta_method == "em" else 1.0
    init_beta, init_b = np.zeros(p), np.zeros(G)
    thetasave = [theta]
    saved: list[_Inner] = []
    history: list[tuple] = []
    newton = 0
    done = False
    fit = None
    for outer in range(1, outer_max + 1):
        fit = model.fit(init_beta, init_b, theta)
        newton += fit.iterations
        if not fit.converged:
            warnings.warn(f"the inner Newton-Raphson loop did not converge in {_ITER_MAX} iterations at frailty "
                          f"variance {theta:.6g} (R warns 'Inner loop failed to converge')", ConvergenceWarning,
                          stacklevel=4)
        if theta_method == "em":
            correct = 0.0 if theta == 0 else _gammacon(d, 1.0 / theta)
            history.append((theta, fit.ppl, fit.ppl + correct))
            x = np.array([h[0] for h in history])
            y = np.array([h[2] for h in history])
            if outer == 1:
                new = 1.0
            elif outer == 2:
                new = float(np.mean(x[:2])) if y[1] < y[0] + 1 else 2 * x[1]
            else:
                done = abs(1 - y[-1] / y[-2]) < eps
                if y[-1] == np.max(y) and x[-1] == np.max(x):
                    new = 2 * float(np.max(x))
                else:
                    new = _brent(np.sqrt(x), y, lower=0.0) ** 2
        else:
            _, _, _, _, trH, _ = model.variances(fit)
            fsum = float(np.sum(fit.b ** 2))
            resid = fsum / (G - trH / theta) - theta
            history.append((theta, resid, fsum, trH))
            x = np.array([h[0] for h in history])
            y = np.array([h[1] for h in history])
            if outer == 1:
                new = theta * 3 if resid > 0 else theta / 3
            elif outer == 2:
                if np.all(y > 0):
                    new = x[1] * 2
                elif np.all(y < 0):
                    new = x[1] / 2
                else:
                    new = float(np.mean(x[:2]))
            else:
                done = abs(y[-1]) < eps
                new = _reml_next(x, y)
        if done:
            break
        saved.append(fit)
        if outer == 1:
            start = fit
        else:
            howclose = (np.array(thetasave) - new) ** 2
            start = saved[int(np.flatnonzero(howclose == howclose.min())[0])]
        thetasave.append(new)
        init_beta, init_b = start.beta, start.b
        if outer < outer_max:
            theta = new
    return fit, theta, history, newton, done


def _reml_next(x: np.ndarray, y: np.ndarray) -> float:
    """The interpolation step of R's ``frailty.controlgauss`` (iteration 3 on)."""
    n = len(x)
    ord_ = np.argsort(x, kind="stable")
    ty, tx = y[ord_], x[ord_]
    if np.all(ty > 0):
        return 2 * float(np.max(tx))
    if np.all(ty < 0):
        return 0.5 * float(np.min(tx))
    b1 = int(np.flatnonzero(ord_ == n - 1)[0])
    if b1 == 0:
        b1 = 1
    elif b1 == n - 1:
        b1 = n - 2
    R = ty[b1] / ty[b1 + 1]
    S = ty[b1] / ty[b1 - 1]
    U = R / S
    P = S * (U * (R - U) * (tx[b1 + 1] - tx[b1]) - (1 - R) * (tx[b1] - tx[b1 - 1]))
    Q = (U - 1) * (R - 1) * (S - 1)
    new = tx[b1] + P / Q
    if new > tx[b1 + 1]:
        new = (tx[b1] + tx[b1 + 1]) / 2
    if new < tx[b1 - 1]:
        new = (tx[b1] + tx[b1 - 1]) / 2
    return float(new)


# --------------------------------------------------------------------------------------------- result
@dataclass(frozen=True)
class FrailtyCoxResult:
    """A fitted shared frailty Cox model, as R's ``coxph(... + frailty(cluster))`` reports it.

    Attributes
    ----------
    distribution : str
        ``"gamma"`` or ``"gaussian"``.
    method : str
        How theta was chosen: ``"em"`` (gamma; maximise the integrated likelihood) or ``"reml"`` (gaussian).
    variance : float
        The frailty variance theta at which the coefficients were fitted (R's "Variance of random effect").
    terms : dict
        ``{TERM: {"coef", "se", "se2", "hr", "ci_lower", "ci_upper", "z", "p"}}``: log hazard ratio, R's
        ``se(coef)`` (square root of the diagonal of the inverse ``H^-1`` of the penalised information of all
        coefficients, frailties included, ``fit$var``; with more than 5 clusters ``H`` is R's sparse one, its
        frailty block diagonal) and R's ``se2`` (``fit$var2``, ``H^-1 I H^-1`` with ``I`` the unpenalised
        information). ``se`` is the one shown and used for the CI, z and p, as R prints them.
    frailties : dict
        Estimated log-frailty per cluster (R's ``fit$frail``): gamma, ``log`` of the site's hazard multiplier
        (centred so the multipliers average 1); gaussian, the site's random effect (centred at 0).
    lrt_chisq, lrt_p : float
        Likelihood-ratio test of no frailty (theta = 0): ``lrt_chisq = 2 * (integrated_loglik - loglik_cox)``
        and ``lrt_p`` its p-value against the 50:50 mixture of chi-square(0) and chi-square(1) (the boundary
        null theta = 0; Self & Liang 1987), i.e. half the chi-square(1) tail. For gamma frailty the integrated
        log-likelihood is R's I-likelihood (penalised partial likelihood plus the closed-form gamma
        correction; Therneau & Grambsch 2000, sec. 9.6), evaluated at R's theta. For gaussian frailty R prints
        none; here it is the Laplace approximation ``pl - sum(b^2)/(2 theta) - log det(I + theta H_bb)/2``
        (Ripatti & Palmgren 2000; as ``coxme``), with the exact frailty block ``H_bb`` of the partial-likelihood
        information, at the REML theta.
    integrated_loglik, loglik_cox : float
        The two log-likelihoods of the test (``loglik_cox``: the Cox model without frailty).
    loglik, loglik_null, penalized_loglik : float
        Partial log-likelihood at the estimate (frailties in the linear predictor; R's ``loglik[2]``), at zero
        (R's ``loglik[1]``; with 5 clusters or fewer and gaussian frailty R adds its penalty at the starting
        theta = 1, ``-G log(2 pi) / 2``, and so does this) and the penalised partial log-likelihood.
    frailty_chisq, frailty_df, frailty_p : float
        R's printed frailty row: Wald-type statistic ``sum(b^2 / var(b))`` (dense: ``b' V^-1 b``), its effective
        degrees of freedom and p-value (chi-square on ``max(df, 0.5)`` df).
    n, events, clusters : int
    iterations, newton_iterations : int
        Outer iterations (fits at a given theta) and the total of inner Newton-Raphson iterations (R's ``iter``).
    converged : bool
        Whether the outer search met its stopping rule within ``outer_max`` iterations.
    sparse : bool
        Whether R's sparse computation (diagonal frailty block; more than 5 clusters) was used.
    ties : str
    history : tuple of tuple
        The outer iterations: gamma ``(theta, penalised loglik, I-likelihood)``; gaussian
        ``(theta, REML residual, sum(b^2), trace(H^-1_bb))``.
    """

    distribution: str
    method: str
    variance: float
    terms: dict[str, dict[str, float]]
    frailties: dict[str, float] = field(repr=False)
    lrt_chisq: float
    lrt_p: float
    integrated_loglik: float
    loglik_cox: float
    loglik: float
    loglik_null: float
    penalized_loglik: float
    frailty_chisq: float
    frailty_df: float
    frailty_p: float
    n: int
    events: int
    clusters: int
    iterations: int
    newton_iterations: int
    converged: bool
    sparse: bool
    ties: str
    history: tuple[tuple[float, ...], ...] = field(repr=False)
    var: np.ndarray = field(repr=False, compare=False)
    var2: np.ndarray = field(repr=False, compare=False)

    @property
    def hazard_ratios(self) -> dict[str, float]:
        return {t: v["hr"] for t, v in self.terms.items()}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"distribution", "variance", "terms": {TERM: {"coef", "se", "se2", "hr", "ci_lower",
        "ci_upper", "z", "p"}}, "lrt_p", "lrt_chisq", "method", "integrated_loglik", "loglik_cox", "loglik",
        "loglik_null", "penalized_loglik", "frailty_chisq", "frailty_df", "frailty_p", "frailties", "n",
        "events", "clusters", "iterations", "newton_iterations", "converged", "sparse", "ties", "se_shown"}``."""
        return {"distribution": self.distribution, "variance": float(self.variance),
                "terms": {t: dict(v) for t, v in self.terms.items()},
                "lrt_p": float(self.lrt_p), "lrt_chisq": float(self.lrt_chisq), "method": self.method,
                "integrated_loglik": float(self.integrated_loglik), "loglik_cox": float(self.loglik_cox),
                "loglik": float(self.loglik), "loglik_null": float(self.loglik_null),
                "penalized_loglik": float(self.penalized_loglik), "frailty_chisq": float(self.frailty_chisq),
                "frailty_df": float(self.frailty_df), "frailty_p": float(self.frailty_p),
                "frailties": dict(self.frailties), "n": int(self.n), "events": int(self.events),
                "clusters": int(self.clusters), "iterations": int(self.iterations),
                "newton_iterations": int(self.newton_iterations), "converged": bool(self.converged),
                "sparse": bool(self.sparse), "ties": self.ties, "se_shown": "se"}

    def _repr_html_(self) -> str:
        kind = "integrated likelihood" if self.distribution == "gamma" else "Laplace integrated likelihood"
        foot = (f"{self.distribution} frailty over {self.clusters} clusters: variance = {self.variance:.4g} "
                f"(method {self.method}); LRT of no frailty ({kind}, boundary chi-bar-square) = "
                f"{self.lrt_chisq:.2f}, p = {self.lrt_p:.3g}. n = {self.n}, events = {self.events}, ties = "
                f"{self.ties}. SE is R's se(coef) (inverse penalised information); se2 is stored too.")
        return terms_html(f"Shared frailty Cox model ({self.distribution} frailty)", self.terms, "hr", foot)


def _term(coef: float, se: float, se2: float) -> dict[str, float]:
    z = coef / se
    return {"coef": float(coef), "se": float(se), "se2": float(se2), "hr": float(np.exp(coef)),
            "ci_lower": float(np.exp(coef - _Z975 * se)), "ci_upper": float(np.exp(coef + _Z975 * se)),
            "z": float(z), "p": float(2 * stats.norm.sf(abs(z)))}


def _boundary_p(chisq: float) -> float:
    return float(0.5 * stats.chi2.sf(chisq, 1)) if chisq > 0 else 1.0


# --------------------------------------------------------------------------------------------- public
def _refuse_cluster_level(df: pd.DataFrame, covariates: Sequence[str], frailty: str) -> None:
    """The Gaussian fit's sparse information is not positive for a covariate constant within every cluster
    (R's own result there cannot be reproduced from its published algorithm): say so, and what to use."""
    groups = df.groupby(frailty, observed=True)
    for c in covariates:
        if c != frailty and (groups[c].nunique(dropna=False) <= 1).all():
            raise AnalysisError(f"Gaussian frailty is not available when a covariate is constant within every "
                                f"{frailty} (here {c!r}, as in a cluster-randomised design); use the gamma frailty "
                                f"(distribution='gamma')")


def fit_frailty_cox(df: pd.DataFrame, *, covariates: Sequence[str] = ("arm",), frailty: str = "site",
                    distribution: str = "gamma", time: str = "time", event: str = "event", ties: str = "efron",
                    method: str | None = None, eps: float | None = None,
                    outer_max: int = _OUTER_MAX) -> FrailtyCoxResult:
    """Fit a Cox model for time to dropout with a shared frailty per cluster (site).

    The hazard of participant ``i`` at site ``g`` is ``h0(t) * w_g * exp(x_i' beta)``, with ``w_g`` the site's
    frailty, or equivalently ``h0(t) * exp(x_i' beta + b_g)`` with ``b_g = log(w_g)``. Parameterisation, as
    R's ``frailty()``:

    * ``distribution="gamma"``: ``w_g`` is gamma with mean 1 and variance ``theta`` (the frailty variance);
    * ``distribution="gaussian"``: ``b_g`` is normal with mean 0 and variance ``theta`` (a random effect on
      the log-hazard).

    The fit is the penalised partial likelihood of Therneau & Grambsch (2000, ch. 9): the ``b_g`` are
    penalised coefficients, and theta is chosen by maximising the integrated likelihood (gamma, ``method =
    "em"``) or by R's REML-type equation (gaussian, ``method = "reml"``). It repeats R's
    ``coxph(Surv(time, event) ~ covariates + frailty(cluster))`` iteration for iteration (see the module
    docstring), so coefficients, SEs and theta agree with R's.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per participant.
    covariates : sequence of str
        Covariate columns, coded as :func:`peerstudy.survival.cox.engine.fit_cox` codes them (numeric as they
        are, categorical as ``COL[LEVEL]``, e.g. ``arm[peer]``).
    frailty : str
        Column of clusters sharing a frailty (site, coach); at least 2 distinct values.
    distribution : {"gamma", "gaussian"}
        Frailty distribution.
    time, event : str
        Follow-up time (days, > 0) and event (1 = dropout, 0 = censored) columns.
    ties : {"efron", "breslow"}
        Handling of tied event times.
    method : str, optional
        How theta is chosen; only R's default for the distribution is available (``"em"`` for gamma,
        ``"reml"`` for gaussian), and ``None`` means that default.
    eps : float, optional
        Stopping rule of the search for theta, R's ``frailty(cluster, eps = )``: gamma, the relative change of
        the integrated log-likelihood between outer iterations (R's default 1e-5); gaussian, the absolute REML
        residual (R's default ``sqrt(1e-9)``). ``None`` means R's default. With many events R's gamma default
        is loose (1e-5 of a log-likelihood of -600,000 is 6 units) and may stop far from the maximiser; a
        smaller ``eps`` (e.g. 1e-10, with ``outer_max=30``) searches further.
    outer_max : int
        Most outer iterations (fits at one theta) of the search for theta: R's ``coxph.control(outer.max)``,
        10. Raise it to let the search run to its stopping rule when R's default stops it early (the result
        then no longer equals R's default output).

    Returns
    -------
    FrailtyCoxResult
        ``terms`` holds, per covariate term, the log hazard ratio, R's ``se(coef)`` (``se``, used for the CI and
        p; the one shown) and ``se2``; ``variance`` the frailty variance; ``lrt_p`` the boundary
        likelihood-ratio test of no frailty (see :class:`FrailtyCoxResult`).

    Raises
    ------
    SchemaError
        A column (time, event, frailty or a covariate) is missing, naming it; missing values, times <= 0,
        a non-0/1 event.
    AnalysisError
        Fewer than 2 clusters, no events, a constant covariate, collinear covariates.
    ParameterError
        An unknown ``distribution``, ``method`` or ``ties``, naming the value; no covariates; the frailty
        column also given as a covariate.

    Warns
    -----
    ConvergenceWarning
        The search for theta used all ``outer_max`` outer iterations before its stopping rule was met, or (gamma)
        stopped at a theta whose integrated log-likelihood is more than 0.01 below that of an earlier one (R
        stops silently in both cases; the estimates still equal R's), or an inner Newton-Raphson loop did not
        converge.
    PeerstudyWarning
        Fewer than 10 events per covariate term.

    References
    ----------
    Therneau TM, Grambsch PM (2000). *Modeling Survival Data: Extending the Cox Model*, ch. 9 (frailty models).
    Springer. Therneau TM, Grambsch PM, Pankratz VS (2003). Penalized survival models and frailty. *J Comput
    Graph Stat* 12:156-175. Self SG, Liang K-Y (1987). Asymptotic properties of maximum likelihood estimators and
    likelihood ratio tests under nonstandard conditions. *JASA* 82:605-610. Ripatti S, Palmgren J (2000).
    Estimation of multivariate frailty models using penalized partial likelihood. *Biometrics* 56:1016-1022.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> n, sites = 600, 10
    >>> site = rng.integers(0, sites, n)
    >>> w = rng.gamma(1 / 0.5, 0.5, sites)                     # gamma frailty, mean 1, variance 0.5
    >>> arm = rng.choice(["usual_care", "peer"], n)
    >>> t = rng.exponential(60 / (w[site] * np.where(arm == "peer", 0.7, 1.0)))
    >>> df = pd.DataFrame({"site": site, "arm": arm, "time": np.ceil(np.minimum(t, 180)),
    ...                    "event": (t < 180).astype(int)})
    >>> fit = fit_frailty_cox(df, covariates=["arm"], frailty="site", outer_max=30)
    >>> list(fit.terms)
    ['arm[peer]']
    >>> 0.5 < fit.terms["arm[peer]"]["hr"] < 0.9, fit.variance > 0.1, fit.lrt_p < 0.01
    (True, True, True)
    """
    check_choice(distribution, sorted(DISTRIBUTIONS), name="distribution")
    default = DISTRIBUTIONS[distribution]
    if method is None:
        method = default
    if method != default:
        raise ParameterError(f"method {method!r} is not available for {distribution} frailty; use {default!r} "
                             f"(R's default for it) or None")
    check_choice(ties, TIES, name="ties")
    outer_max = check_number(outer_max, name="outer_max", minimum=1, whole=True)
    if eps is None:
        eps = _EPS_GAMMA if method == "em" else _EPS_GAUSS
    elif isinstance(eps, bool) or not isinstance(eps, (int, float, np.floating)) or not 0 < eps < 1:
        raise ParameterError(f"eps must be a number between 0 and 1; got {show(eps)}")
    data = _prepare(df, covariates, frailty, time, event, ties)
    model = _Model(data, distribution)
    if distribution == "gaussian" and model.sparse:
        _refuse_cluster_level(df, covariates, frailty)
    fit, theta, history, newton, done = _outer(model, method, int(outer_max), float(eps))
    if not done:
        warnings.warn(f"the search for the frailty variance stopped after {outer_max} outer iterations before its "
                      f"stopping rule was met (R's coxph stops there too, silently): theta = {theta:.6g} is R's "
                      f"value, not the maximiser; pass outer_max to search further", ConvergenceWarning,
                      stacklevel=2)
    elif method == "em" and history[-1][2] < max(h[2] for h in history) - 0.01:
        best = max(history, key=lambda h: h[2])
        warnings.warn(f"the search for the frailty variance met its stopping rule (relative change of the integrated "
                      f"log-likelihood < {eps:g}) at theta = {theta:.6g}, although theta = {best[0]:.6g} gave a "
                      f"higher integrated log-likelihood (by {best[2] - history[-1][2]:.3g}): theta is R's value, "
                      f"not the maximiser; pass a smaller eps (e.g. 1e-10) and a larger outer_max to search "
                      f"further", ConvergenceWarning, stacklevel=2)
    var, var2, fvar, df_frail, _, vbb = model.variances(fit)
    with np.errstate(invalid="ignore"):  # a negative diagonal (R's NaN se2 for a cluster-level covariate)
        se = np.sqrt(np.diag(var))
        se2 = np.sqrt(np.diag(var2))
    terms = {name: _term(fit.beta[j], se[j], se2[j]) for j, name in enumerate(data.names)}
    if model.sparse:
        f_chisq = float(np.sum(fit.b ** 2 / fvar))
    else:
        f_chisq = float(fit.b @ np.linalg.solve(vbb, fit.b))
    f_p = float(stats.chi2.sf(f_chisq, max(df_frail, 0.5)))
    null = model.fit(np.zeros(model.p), np.zeros(data.G), 0.0) if method == "reml" else None
    if method == "em":
        loglik_cox = history[0][2]
        integrated = fit.ppl + _gammacon(data.d_cluster, 1.0 / theta)
    else:
        loglik_cox = null.pl
        Hbb = model.frailty_information(fit)
        _, logdet = np.linalg.slogdet(np.eye(data.G) + theta * Hbb)     # positive definite: H_bb >= 0
        integrated = fit.pl - float(np.sum(fit.b ** 2)) / (2 * theta) - 0.5 * logdet
    chisq = 2 * (integrated - loglik_cox)
    loglik_null = _cox_sums(data, data.Xc, np.zeros(len(data.cl)))[0]
    if not model.sparse:
        # R's coxfit5_a adds the dense penalty at the starting theta (gaussian: 1) to its loglik[1]
        loglik_null += _penalty(distribution, np.zeros(data.G), 0.0 if method == "em" else 1.0)[4]
    return FrailtyCoxResult(
        distribution=distribution, method=method, variance=float(theta), terms=terms,
        frailties={lab: float(v) for lab, v in zip(data.labels, fit.b)}, lrt_chisq=float(chisq),
        lrt_p=_boundary_p(chisq), integrated_loglik=float(integrated), loglik_cox=float(loglik_cox),
        loglik=float(fit.pl), loglik_null=float(loglik_null), penalized_loglik=float(fit.ppl),
        frailty_chisq=f_chisq, frailty_df=float(df_frail), frailty_p=f_p, n=len(data.cl),
        events=int(data.status.sum()), clusters=data.G, iterations=len(history), newton_iterations=newton,
        converged=bool(done), sparse=model.sparse, ties=ties, history=tuple(tuple(map(float, h)) for h in history),
        var=var, var2=var2)
