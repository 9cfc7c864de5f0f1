"""Proportional-hazards test from scaled Schoenfeld residuals, as R survival 3.x ``cox.zph``.

R survival 3.x replaced the old approximate test (which lifelines' ``proportional_hazard_test``
still follows, lifelines#997) by a score test: each term's covariates are multiplied by a centred
transform of time, ``g(t)``, and the score and full 2p x 2p information of that augmented model
are evaluated at ``(beta_hat, 0)``. This module computes exactly that (Efron or Breslow, strata,
case weights, counting-process data), plus the scaled residuals and transformed times for plots.

Tests are per model *term* (one per covariate column, several degrees of freedom for a
categorical column with several levels), as R's default ``terms = TRUE``, and a global test.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from peerstudy.exceptions import ParameterError, ProportionalHazardsWarning
from peerstudy.survival._display import html_table
from peerstudy.survival._validate import check_choice
from peerstudy.survival.cox.engine import CoxData, CoxResult

__all__ = ["ZphResult", "cox_zph", "PH_ALPHA"]

#: a term (or the global test) with p below this warns ProportionalHazardsWarning.
PH_ALPHA = 0.05
_TRANSFORMS = ("km", "rank", "identity", "log")


@dataclass(frozen=True)
class ZphResult:
    """Scaled Schoenfeld residual tests of proportional hazards.

    Attributes
    ----------
    table : dict
        ``{TERM or "GLOBAL": {"chisq", "df", "p"}}``; TERM is the covariate column (R's term).
    transform : str
        The time transform: ``km`` (1 - left-continuous Kaplan-Meier of all rows), ``rank``, ``identity`` or ``log``.
    x : numpy.ndarray
        Transformed time of each event (plot abscissa), events ordered by stratum then time.
    time : numpy.ndarray
        Event times (days) in the same order.
    residuals : dict of str to numpy.ndarray
        Scaled Schoenfeld residuals per term (``beta_j + scaled residual``, an estimate of beta_j(t)); for a
        multi-level categorical term, the combined residual on the scale where 1 means "as estimated" (R's
        convention). NaN where the covariate is constant in the event's stratum.
    """

    table: dict[str, dict[str, float]]
    transform: str
    x: np.ndarray
    time: np.ndarray
    residuals: dict[str, np.ndarray]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready ``{"transform", "table": {TERM: {"chisq", "df", "p"}}}`` (residuals are left out)."""
        return {"transform": self.transform, "table": {k: dict(v) for k, v in self.table.items()}}

    def _repr_html_(self) -> str:
        rows = [(k, f"{v['chisq']:.3f}", v["df"], f"{v['p']:.3g}") for k, v in self.table.items()]
        return html_table(("term", "chi-square", "df", "p"), rows,
                          caption=f"Proportional hazards (scaled Schoenfeld, transform = {self.transform})")


def _km_transform(stop, start, status):
    """1 - KM(t-) of all rows (ignoring strata and weights), evaluated at each row's time, as R does."""
    etimes = np.unique(stop[status == 1])
    order_stop = np.sort(stop)
    n_out = np.searchsorted(order_stop, etimes, side="left")     # rows with stop < t
    at_risk = len(stop) - n_out
    if start is not None:
        at_risk = at_risk - (len(start) - np.searchsorted(np.sort(start), etimes, side="left"))
    deaths = np.bincount(np.searchsorted(etimes, stop[status == 1]), minlength=len(etimes))
    surv = np.cumprod(1.0 - deaths / at_risk)
    idx = np.searchsorted(etimes, stop, side="left")           # event times strictly before t
    return 1.0 - np.concatenate([[1.0], surv])[idx]


def cox_zph(result: CoxResult, *, transform: str = "km") -> ZphResult:
    """Test proportional hazards for each term and globally, as R survival 3.x ``cox.zph``.

    Parameters
    ----------
    result : CoxResult
        A fit from :func:`peerstudy.survival.cox.fit_cox`. The test does not depend on a cluster
        (robust) variance, as in R.
    transform : {"km", "rank", "identity", "log"}
        Transform of time ``g(t)``; ``km`` is R's default.

    Returns
    -------
    ZphResult

    Raises
    ------
    ParameterError
        An unknown transform, or a result that does not carry its fitted data.

    Warns
    -----
    ProportionalHazardsWarning
        When a term's p-value, or the global one, is below ``PH_ALPHA`` (0.05), naming the terms.
    """
    check_choice(transform, _TRANSFORMS, name="transform")
    fit = getattr(result, "internals", None)
    if not fit:
        raise ParameterError("this CoxResult carries no fitted data; refit with fit_cox")
    data, engine, beta = fit["data"], fit["engine"], fit["beta"]
    tt = _transformed_time(data, transform)
    ev = engine.evaluate(beta, groups=True)
    imat, u2 = _augmented_score(engine, ev, tt)
    table = _score_tests(data.assign, imat, u2)
    rows, sres = _scaled_residuals(data, engine, ev, beta, imat)
    bad = [k for k, v in table.items() if v["p"] < PH_ALPHA]
    if bad:
        warnings.warn(f"proportional hazards look violated (p < {PH_ALPHA}) for: {', '.join(bad)}",
                      ProportionalHazardsWarning, stacklevel=2)
    return ZphResult(table=table, transform=transform, x=tt[rows], time=data.stop[rows],
                     residuals={n: sres[:, i] for i, n in enumerate(data.assign)})


def _transformed_time(data: CoxData, transform: str) -> np.ndarray:
    """``g(t)`` of every row before centring: the KM, rank, log or identity transform of its time."""
    if transform == "km":
        return _km_transform(data.stop, data.start, data.status)
    if transform == "rank":
        return stats.rankdata(data.stop)
    if transform == "log":
        return np.log(data.stop)
    return data.stop.astype(float)


def _augmented_score(engine: Any, ev: dict, tt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Information (2p x 2p) and score of the time-interaction terms of the model augmented by ``g(t) x``.

    Evaluated at ``(beta_hat, 0)``, where the score of the original terms is 0.
    """
    dead = engine.dead
    gtime = tt - tt[dead].mean()
    # g(t) per distinct event time (all rows at one time share it)
    g = np.empty(engine.G)
    g[engine.gdead] = gtime[dead]
    ug, ig = ev["ug"], ev["ig"]
    p = ug.shape[1]
    imat = np.zeros((2 * p, 2 * p))
    imat[:p, :p] = ig.sum(axis=0)
    imat[:p, p:] = np.einsum("k,kab->ab", g, ig)
    imat[p:, :p] = imat[:p, p:].T
    imat[p:, p:] = np.einsum("k,kab->ab", g * g, ig)
    return imat, g @ ug


def _score_tests(assign: dict[str, list[int]], imat: np.ndarray, u2: np.ndarray) -> dict[str, dict[str, float]]:
    """Chi-squared score test per term (its columns' time interactions) and for all terms (``GLOBAL``)."""
    p = len(u2)
    table: dict[str, dict[str, float]] = {}
    for term, cols in assign.items():
        kk = list(range(p)) + [c + p for c in cols]
        u = np.concatenate([np.zeros(p), u2[cols]])
        chisq = float(np.linalg.solve(imat[np.ix_(kk, kk)], u) @ u)
        table[term] = {"chisq": chisq, "df": len(cols), "p": float(stats.chi2.sf(chisq, len(cols)))}
    u = np.concatenate([np.zeros(p), u2])
    chisq = float(np.linalg.solve(imat, u) @ u)
    table["GLOBAL"] = {"chisq": chisq, "df": p, "p": float(stats.chi2.sf(chisq, p))}
    return table


def _scaled_residuals(data: CoxData, engine: Any, ev: dict, beta: np.ndarray,
                      imat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the events (by stratum, then time, then row, as R) and their scaled Schoenfeld residuals per term."""
    dead, status, p = engine.dead, data.status, len(beta)
    order = np.lexsort((np.arange(len(dead)), data.stop[dead], data.strata[dead]))
    rows = dead[order]
    schoen = data.X[rows] - data.X.mean(axis=0) - ev["xbarbar"][engine.gdead[order]]
    # 'used': events per stratum for covariates that vary within the stratum (R's zph1)
    nstrat = int(data.strata.max()) + 1
    used = np.zeros((nstrat, p))
    for s in range(nstrat):
        m = data.strata == s
        varies = np.ptp(data.X[m], axis=0) > 0 if m.any() else np.zeros(p, bool)
        used[s] = varies * status[m].sum()
    wtmat = sum(np.minimum.outer(u_s, u_s) for u_s in used)
    vmean = imat[:p, :p] / np.where(wtmat == 0, 1, wtmat)
    if any(len(c) > 1 for c in data.assign.values()):
        T = np.zeros((p, len(data.assign)))
        for i, cols in enumerate(data.assign.values()):
            T[cols, i] = 1.0 if len(cols) == 1 else beta[cols]
        schoen = schoen @ T
        vmean = T.T @ vmean @ T
        used = used[:, [c[0] for c in data.assign.values()]]
    sres = np.array(schoen, dtype=float)
    ev_strata = data.strata[rows]
    for s in range(nstrat):
        k = np.flatnonzero(used[s] > 0)
        j = ev_strata == s
        if not j.any():
            continue
        if len(k):
            sres[np.ix_(j, k)] = np.linalg.solve(vmean[np.ix_(k, k)], schoen[np.ix_(j, k)].T).T
        other = np.setdiff1d(np.arange(sres.shape[1]), k)
        sres[np.ix_(j, other)] = np.nan
    for i, cols in enumerate(data.assign.values()):
        sres[:, i] += beta[cols[0]] if len(cols) == 1 else 1.0
    return rows, sres
