"""Cox proportional-hazards regression, written to agree with R's ``survival::coxph``.

Why not lifelines or statsmodels: lifelines' cluster-robust SE differs from R's by about 1e-4
relative and its Cox is slow on large tied data; statsmodels' ``PHReg`` has no case weights.
This module is a vectorised Newton-Raphson fit: rows are binned once into (stratum, event-time)
slots, risk-set sums come from reverse cumulative sums over the slots (numba kernels in
:mod:`.kernels`), and Efron's tie correction runs per distinct event time. It supports Efron and
Breslow ties, strata, counting-process ``(start, stop]`` data, case weights and the grouped
(cluster) sandwich variance of ``coxph(..., cluster = )``, and reproduces R to about 1e-9.

Covariates
----------
Numeric columns enter as they are. ``object``, ``category`` and ``bool`` columns are dummy-coded
as ``COL[LEVEL]`` against a reference level: the first category of a pandas ``Categorical``
(R's factor order), the schema order for the canonical arm (``usual_care`` before ``peer``, giving
``arm[peer]``), otherwise the first level in sorted order.

Input rules (the classes of :mod:`peerstudy.survival._validate`, each message naming the column and
value): a missing column, missing values, times <= 0 (or ``start >= stop``), an event column that is not
0/1 and non-positive or non-finite weights raise :class:`~peerstudy.exceptions.SchemaError`; a constant
numeric covariate, a categorical covariate with one level, no events, fewer events than model terms and
collinear covariates raise :class:`~peerstudy.exceptions.AnalysisError`; an unknown ``ties`` or an empty
covariate list raise :class:`~peerstudy.exceptions.ParameterError`. Fewer than 10 events per term warns
(:class:`~peerstudy.exceptions.PeerstudyWarning`): estimates are then unstable. A coefficient
that runs off to infinity (monotone likelihood) warns :class:`~peerstudy.exceptions.SeparationWarning`
naming the term, with R's rule (the last Newton step is still larger than ``sqrt(1e-9) * |coef|``) or when the
coefficient exceeds 10 per standard deviation of its covariate (a hazard ratio beyond e^10) or its SE
exceeds 1000 per standard deviation (the likelihood is flat: it keeps rising towards infinity).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from peerstudy.exceptions import AnalysisError, ConvergenceWarning, FewClustersWarning, ParameterError, SeparationWarning
from peerstudy.data.schema import CENSORING
from peerstudy.survival._display import terms_html
from peerstudy.survival._validate import (EVENTS_PER_TERM, as_list, case_weights, categorical_levels, check_choice,
                                          check_event_count, complete_values, is_categorical, numeric_covariate,
                                          require_columns, require_frame, start_stop, time_event)
from peerstudy.survival.competing import ending_codes
from peerstudy.survival.cox import kernels as K
from peerstudy.survival.cox.small_sample import FEW_CLUSTERS, SMALL_SAMPLE, cluster_information, mancl_derouen_variance

__all__ = ["CoxResult", "CoxData", "fit_cox", "fit_cause_specific_cox", "prepare", "fit_prepared", "design_matrix",
           "term_dict", "TIES", "EVENTS_PER_TERM"]

#: tie corrections of the partial likelihood
TIES = ("efron", "breslow")
_Z975 = stats.norm.ppf(0.975)
_MAX_ITER = 40
_EPS = 1e-9


# --------------------------------------------------------------------------------------------- design
def design_matrix(df: pd.DataFrame, covariates: Sequence[str]) -> tuple[np.ndarray, list[str], dict[str, list[int]]]:
    """Model matrix, term names and the columns each covariate produced (R's ``assign``).

    Raises
    ------
    SchemaError
        A missing column, missing or non-finite values, a non-numeric covariate that is not categorical.
    AnalysisError
        A constant numeric covariate or a categorical covariate with a single level.
    """
    require_columns(df, covariates, role="covariate")
    cols: list[np.ndarray] = []
    names: list[str] = []
    assign: dict[str, list[int]] = {}
    for cov in covariates:
        start = len(names)
        s = df[cov]
        if is_categorical(s):
            levels = categorical_levels(df, cov)
            codes = pd.Categorical(s, categories=levels).codes
            for k, lev in enumerate(levels[1:], start=1):
                cols.append((codes == k).astype(float))
                names.append(f"{cov}[{lev}]")
        else:
            cols.append(numeric_covariate(df, cov))
            names.append(cov)
        assign[cov] = list(range(start, len(names)))
    X = np.column_stack(cols) if cols else np.zeros((len(df), 0))
    return np.ascontiguousarray(X, dtype=float), names, assign


def _codes(s: pd.Series) -> tuple[np.ndarray, list]:
    codes, uniq = pd.factorize(s, sort=True)
    return codes.astype(np.int64), list(uniq)


# --------------------------------------------------------------------------------------------- data
@dataclass(frozen=True)
class CoxData:
    """Checked model inputs: the design, times, events, weights and codes of strata and clusters."""

    X: np.ndarray            # raw design matrix
    stop: np.ndarray
    start: np.ndarray | None
    status: np.ndarray       # 0/1 ints
    weights: np.ndarray
    strata: np.ndarray       # int codes 0..S-1
    cluster: np.ndarray | None
    names: list[str]
    assign: dict[str, list[int]]


def _strata_codes(df: pd.DataFrame, strata: str | Sequence[str] | None) -> np.ndarray:
    scols = as_list(strata)
    if not scols:
        return np.zeros(len(df), dtype=np.int64)
    for c in scols:
        complete_values(df, c, role="strata")
    key = df[scols[0]] if len(scols) == 1 else df[scols].astype(str).agg("/".join, axis=1)
    return _codes(key)[0]


def prepare(df: pd.DataFrame, *, time: str, event: str, covariates: str | Sequence[str],
            strata: str | Sequence[str] | None = None, cluster: str | None = None,
            weights: str | np.ndarray | None = None, start: str | None = None) -> CoxData:
    """Check the data of a Cox-type model and lay it out as :class:`CoxData` (arguments as :func:`fit_cox`).

    Raises
    ------
    SchemaError, AnalysisError, ParameterError
        See the module docstring.
    """
    require_frame(df)
    covariates = as_list(covariates)
    if not covariates:
        raise ParameterError("covariates is empty: a Cox model needs at least one covariate")
    require_columns(df, [time, event, start])
    for role, cols in (("covariate", covariates), ("strata", as_list(strata)), ("cluster", [cluster]),
                       ("weights", [weights if isinstance(weights, str) else None])):
        require_columns(df, cols, role=role)
    if start is None:
        stop, status = time_event(df, time, event)
        st = None
    else:
        st, stop, status = start_stop(df, start, time, event)
    X, names, assign = design_matrix(df, covariates)
    w = case_weights(df, weights, allow_zero=False)
    s_codes = _strata_codes(df, strata)
    cl = None if cluster is None else _codes(complete_values(df, cluster, role="cluster"))[0]
    status = status.astype(np.int64)
    check_event_count(status, event=event, params=names, stacklevel=3)
    return CoxData(X, stop, st, status, w, s_codes, cl, names, assign)


# --------------------------------------------------------------------------------------------- engine
class _Engine:
    """Risk-set bookkeeping for one data set; evaluates log-likelihood, score and information."""

    def __init__(self, data: CoxData, efron: bool):
        self.efron = efron
        X = data.X
        self.means = X.mean(axis=0)
        self.Xc = np.ascontiguousarray(X - self.means)
        self.w = data.weights
        self.status = data.status
        n = len(data.stop)
        nstrat = int(data.strata.max()) + 1
        dead = data.status == 1
        # distinct event times per stratum, laid out stratum after stratum
        self.etimes: list[np.ndarray] = []
        eoff = np.zeros(nstrat + 1, dtype=np.int64)
        local_hi = np.empty(n, dtype=np.int64)
        local_lo = np.zeros(n, dtype=np.int64)
        order = np.argsort(data.strata, kind="stable")
        bounds = np.searchsorted(data.strata[order], np.arange(nstrat + 1))
        for s in range(nstrat):
            idx = order[bounds[s]:bounds[s + 1]]
            et = np.unique(data.stop[idx][dead[idx]])
            self.etimes.append(et)
            eoff[s + 1] = eoff[s] + len(et)
            local_hi[idx] = np.searchsorted(et, data.stop[idx], side="right")
            if data.start is not None:
                local_lo[idx] = np.searchsorted(et, data.start[idx], side="right")
        self.G = int(eoff[-1])
        s_of = data.strata
        # slots: K_s + 1 per stratum (the extra one for rows ending after the last event)
        sbase = eoff[:-1] + np.arange(nstrat)
        self.nslots = self.G + nstrat
        self.slot_hi = sbase[s_of] + local_hi
        self.slot_lo = sbase[s_of] + local_lo if data.start is not None else None
        last = np.zeros(self.nslots, dtype=np.bool_)
        last[sbase + (eoff[1:] - eoff[:-1])] = True
        self.slot_last = last
        # event index g -> slot of "after g" = sbase + k + 1
        g_str = np.repeat(np.arange(nstrat), eoff[1:] - eoff[:-1])
        self.g_slot = sbase[g_str] + (np.arange(self.G) - eoff[g_str]) + 1
        self.g_strata = g_str
        # rows' event-index range [glo, ghi) of event times at which they are at risk
        self.ghi = eoff[s_of] + local_hi
        self.glo = eoff[s_of] + local_lo
        self.dead = np.flatnonzero(dead)
        self.gdead = self.ghi[self.dead] - 1
        self.d = np.bincount(self.gdead, minlength=self.G).astype(np.float64)
        self.dw = np.bincount(self.gdead, weights=self.w[self.dead], minlength=self.G)
        self.wx_dead = (self.w[self.dead, None] * self.Xc[self.dead]).sum(axis=0)
        # event index of each death (0 for the others: only read where status is 1)
        self.gev = np.where(dead, self.ghi - 1, 0)

    def evaluate(self, beta, groups=False):
        beta = np.ascontiguousarray(beta, dtype=float)
        eta, agg, D, weta = K.risk_and_death_sums(self.slot_hi, self.gev, self.status, self.w, self.Xc, beta,
                                                  self.nslots, self.G)
        # risk set at event g = rows whose slot_hi lies after g, i.e. slot >= g_slot
        S = K.reverse_cumsum(agg, self.slot_last)[self.g_slot - 1]
        if self.slot_lo is not None:
            agg2 = K.aggregate(self.slot_lo, self.w * np.exp(eta), self.Xc, self.nslots)
            S = S - K.reverse_cumsum(agg2, self.slot_last)[self.g_slot - 1]
        p = len(beta)
        ll, xsum, info, h0, h1, h0d, h1d, xbb, ug, ig = K.event_terms(S, D, self.d, self.dw, p, self.efron, groups)
        ll += weta
        score = self.wx_dead - xsum
        out = {"ll": ll, "score": score, "info": info, "eta": eta, "h0": h0, "h1": h1, "h0d": h0d,
               "h1d": h1d, "xbarbar": xbb}
        if groups:
            wx = np.zeros((self.G, p))
            np.add.at(wx, self.gdead, self.w[self.dead, None] * self.Xc[self.dead])
            out["ug"] = ug + wx
            out["ig"] = ig
        return out

    def score_residuals(self, ev):
        """Unweighted score residuals per row (R's ``residuals(fit, "score")`` before weighting)."""
        score = np.exp(ev["eta"])
        X = self.Xc
        Q0 = np.concatenate([[0.0], np.cumsum(ev["h0"])])
        Q1 = np.vstack([np.zeros((1, X.shape[1])), np.cumsum(ev["h1"], axis=0)])
        hi = self.ghi.copy()
        is_dead = self.status == 1
        hi[is_dead] -= 1   # the death's own time is handled with the Efron death weights
        H0 = Q0[hi] - Q0[self.glo]
        H1 = Q1[hi] - Q1[self.glo]
        g = self.gdead
        H0[self.dead] += ev["h0d"][g]
        H1[self.dead] += ev["h1d"][g]
        resid = -score[:, None] * (X * H0[:, None] - H1)
        resid[self.dead] += X[self.dead] - ev["xbarbar"][g]
        return resid


def _evaluate(engine: _Engine, beta: np.ndarray) -> dict:
    """The engine at ``beta``; a step so large that every risk score underflows counts as a worse fit."""
    try:
        return engine.evaluate(beta)
    except ZeroDivisionError:
        return {"ll": -np.inf}


def _within_strata(data: CoxData) -> None:
    """Refuse a covariate that is constant within every stratum: no within-stratum comparison estimates it."""
    if data.strata.max() == 0:
        return
    for j, name in enumerate(data.names):
        x = data.X[:, j]
        lo = np.full(int(data.strata.max()) + 1, np.inf)
        hi = np.full_like(lo, -np.inf)
        np.minimum.at(lo, data.strata, x)
        np.maximum.at(hi, data.strata, x)
        if np.all(hi - lo == 0):
            raise AnalysisError(f"covariate {name!r} is constant within every stratum: a stratified model compares "
                                f"people within strata, so its effect cannot be estimated (when whole sites were "
                                f"allocated, do not stratify by site)")


def _newton(engine: _Engine, p: int) -> tuple[np.ndarray, dict, dict, int, bool]:
    beta = np.zeros(p)
    ev0 = engine.evaluate(beta)
    ev = ev0
    converged = False
    it = 0
    for it in range(1, _MAX_ITER + 1):
        try:
            step = np.linalg.solve(ev["info"], ev["score"])
        except np.linalg.LinAlgError:
            raise AnalysisError("the information matrix is singular: covariates are collinear "
                                "(one is a combination of others); drop one") from None
        new = beta + step
        ev_new = _evaluate(engine, new)
        halvings = 0
        while not np.isfinite(ev_new["ll"]) or ev_new["ll"] < ev["ll"] - 1e-12 * abs(ev["ll"]):
            new = (new + beta) / 2
            ev_new = _evaluate(engine, new)
            halvings += 1
            if halvings > 30:
                break
        done = abs(ev_new["ll"] - ev["ll"]) <= 1e-13 * abs(ev_new["ll"]) and np.max(np.abs(new - beta)) < 1e-6
        beta, ev = new, ev_new
        if done:
            converged = True
            break
    return beta, ev, ev0, it, converged


# --------------------------------------------------------------------------------------------- result
def term_dict(coef: float, se: float, robust_se: float | None = None, df: int | None = None) -> dict[str, float]:
    """One term of a proportional-hazards fit: coef, SE, HR and its 95% CI and p (robust SE when given, as R).

    With ``df`` the CI and p-value use a t distribution on ``df`` degrees of freedom (small-sample inference)
    instead of the normal."""
    use = robust_se if robust_se is not None else se
    z = coef / use
    crit = _Z975 if df is None else float(stats.t.ppf(0.975, df))
    p = 2 * stats.norm.sf(abs(z)) if df is None else 2 * stats.t.sf(abs(z), df)
    out = {"coef": float(coef), "se": float(se), "hr": float(np.exp(coef)),
           "ci_lower": float(np.exp(coef - crit * use)), "ci_upper": float(np.exp(coef + crit * use)),
           "p": float(p)}
    if robust_se is not None:
        out["robust_se"] = float(robust_se)
    if df is not None:
        out["df"] = int(df)
    return out


@dataclass(frozen=True)
class CoxResult:
    """A fitted Cox model (log hazard ratios), as R's ``coxph`` reports it.

    Attributes
    ----------
    terms : tuple of str
        Model terms (``COL`` or ``COL[LEVEL]``).
    coef, se : numpy.ndarray
        Log hazard ratios and their model-based (inverse information) standard errors.
    robust_se : numpy.ndarray or None
        Grouped sandwich SE when ``cluster`` was given (R's ``coxph(..., cluster = )``), or the
        per-row sandwich when the case weights are not whole numbers (R does the same).
        When present, hazard-ratio CIs and p-values use it, as R does.
    var : numpy.ndarray
        The variance matrix used for inference (robust when present, else naive).
    loglik, loglik_null : float
        Partial log-likelihood at the estimate and at zero.
    concordance : float
        Harrell's C as R's ``coxph`` reports it: (concordant + tied/2) / (concordant + discordant + tied)
        over comparable pairs, pairs weighted by the product of case weights, within strata.
    n, events : int
        Rows used and number of events (unweighted).
    ties : str
        ``"efron"`` or ``"breslow"``.
    iterations : int
        Newton-Raphson iterations.
    variance : str
        Which variance the CIs use: ``"model"`` (inverse information), ``"robust"`` (R's grouped
        sandwich) or ``"robust_md"`` (the Mancl-DeRouen small-sample sandwich,
        :mod:`~peerstudy.survival.cox.small_sample`).
    n_clusters : int or None
        Clusters of the sandwich variance.
    df : int or None
        Degrees of freedom of the t reference (``n_clusters - 1`` with ``small_sample="md"``), else normal.
    internals : dict
        What :func:`~peerstudy.survival.cox.zph.cox_zph` needs to test the fit: ``data``
        (:class:`CoxData`), ``engine``, ``beta`` and ``naive_var``; not compared, not shown.
    """

    terms: tuple[str, ...]
    coef: np.ndarray
    se: np.ndarray
    robust_se: np.ndarray | None
    var: np.ndarray
    loglik: float
    loglik_null: float
    concordance: float
    n: int
    events: int
    ties: str
    iterations: int
    variance: str = "model"
    n_clusters: int | None = None
    df: int | None = None
    internals: Any = field(default=None, repr=False, compare=False)

    @property
    def hazard_ratios(self) -> dict[str, float]:
        return {t: float(np.exp(c)) for t, c in zip(self.terms, self.coef)}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"ties", "terms": {TERM: {"coef","se","hr","ci_lower","ci_upper","p"[, "robust_se"]}},
        "loglik", "loglik_null", "concordance", "n", "events"}``."""
        rse = self.robust_se
        terms = {t: term_dict(self.coef[i], self.se[i], None if rse is None else rse[i], self.df)
                 for i, t in enumerate(self.terms)}
        out = {"ties": self.ties, "terms": terms, "loglik": float(self.loglik),
               "loglik_null": float(self.loglik_null), "concordance": float(self.concordance),
               "n": int(self.n), "events": int(self.events), "variance": self.variance}
        if self.n_clusters is not None:
            out["n_clusters"] = int(self.n_clusters)
        return out

    def _repr_html_(self) -> str:
        d = self.to_dict()
        foot = (f"n = {self.n}, events = {self.events}, ties = {self.ties}, log-likelihood = {self.loglik:.3f}, "
                f"concordance = {self.concordance:.3f}" + _VARIANCE_NOTE[self.variance].format(g=self.n_clusters,
                                                                                              df=self.df))
        return terms_html("Cox proportional hazards", d["terms"], "hr", foot)


_VARIANCE_NOTE = {"model": "", "robust": "; robust SE ({g} clusters)",
                  "robust_md": "; small-sample robust SE (Mancl-DeRouen, {g} clusters, t on {df} df)"}


def _concordance(data: CoxData, eta: np.ndarray) -> float:
    _, rank = np.unique(eta, return_inverse=True)
    rank = rank.astype(np.int64)
    nrank = int(rank.max()) + 1
    c = d = t = 0.0
    has_start = data.start is not None
    start = data.start if has_start else np.zeros_like(data.stop)
    for s in np.unique(data.strata):
        m = data.strata == s
        if data.strata.max() == 0:
            m = slice(None)
        stop_s, start_s = data.stop[m], start[m]
        order = np.argsort(-stop_s, kind="stable")
        sorder = np.argsort(-start_s, kind="stable") if has_start else order
        cc, dd, tt = K.concordance_counts(stop_s, start_s, data.status[m], rank[m], data.weights[m],
                                          nrank, has_start, order, sorder)
        c, d, t = c + cc, d + dd, t + tt
    tot = c + d + t
    return (c + t / 2) / tot if tot > 0 else float("nan")


def fit_prepared(data: CoxData, ties: str = "efron", small_sample: str | None = None) -> CoxResult:
    """Fit a Cox model to checked data from :func:`prepare` (``ties`` and ``small_sample`` as :func:`fit_cox`)."""
    check_choice(ties, TIES, name="ties")
    if small_sample is not None:
        check_choice(small_sample, SMALL_SAMPLE, name="small_sample")
        if data.cluster is None:
            raise ParameterError(f"small_sample={small_sample!r} corrects a cluster-robust SE: give cluster=COLUMN")
    p = data.X.shape[1]
    _within_strata(data)
    engine = _Engine(data, efron=ties == "efron")
    beta, ev, ev0, it, converged = _newton(engine, p)
    try:
        naive = np.linalg.inv(ev["info"])
    except np.linalg.LinAlgError:
        raise AnalysisError("the information matrix is singular at the estimate: covariates are collinear") from None
    # R's check for a coefficient running to infinity (coxph.fit: 'Loglik converged before variable ...')
    infs = np.abs(ev["score"] @ naive)
    diverging = (infs > _EPS) & (infs > np.sqrt(_EPS) * np.abs(beta))
    sd = data.X.std(axis=0)
    # a hazard ratio beyond e^10 per SD, or an SE of 1000 per SD, is separation in practice
    diverging |= (np.abs(beta) * sd > 10) | (np.sqrt(np.diag(naive)) * sd > 1e3)
    if diverging.any():
        names = ", ".join(n for n, f in zip(data.names, diverging) if f)
        warnings.warn(f"coefficient of {names} appears to diverge (monotone likelihood, i.e. (quasi-)separation): "
                      f"the estimate and its SE are not meaningful", SeparationWarning, stacklevel=3)
    elif not converged:
        warnings.warn(f"Cox fit did not converge in {_MAX_ITER} iterations", ConvergenceWarning, stacklevel=3)
    se = np.sqrt(np.diag(naive))
    robust = None
    var = naive
    kind, n_clusters, df = "model", None, None
    whole = np.all(data.weights == np.floor(data.weights))
    if data.cluster is not None or not whole:
        scores = engine.score_residuals(ev) * data.weights[:, None]
        if data.cluster is not None:
            n_clusters = int(data.cluster.max()) + 1
            U = np.zeros((n_clusters, p))
            np.add.at(U, data.cluster, scores)
        else:
            U = scores
        kind = "robust"
        if small_sample == "md":
            if not whole or np.any(data.weights != 1):
                raise ParameterError("small_sample='md' is for unweighted fits: the correction has no case weights")
            omega = cluster_information(data.X, data.stop, data.start, data.status, data.strata,
                                        data.cluster, beta)
            var = mancl_derouen_variance(U, omega, naive)
            kind, df = "robust_md", n_clusters - 1
        else:
            D = U @ naive
            var = D.T @ D
            if n_clusters is not None and n_clusters < FEW_CLUSTERS:
                warnings.warn(f"the cluster-robust SE rests on {n_clusters} clusters, too few to trust (it is too "
                              f"small below about {FEW_CLUSTERS}): use the small-sample correction "
                              f"(small_sample='md', t on {n_clusters - 1} df), stratify by the clusters, a frailty "
                              f"model, or a permutation test", FewClustersWarning, stacklevel=3)
        robust = np.sqrt(np.diag(var))
    conc = _concordance(data, ev["eta"])
    return CoxResult(terms=tuple(data.names), coef=beta, se=se, robust_se=robust, var=var, loglik=float(ev["ll"]),
                     loglik_null=float(ev0["ll"]), concordance=float(conc), n=len(data.stop),
                     events=int(data.status.sum()), ties=ties, iterations=it, variance=kind,
                     n_clusters=n_clusters, df=df,
                     internals={"data": data, "naive_var": naive, "engine": engine, "beta": beta})


def fit_cox(df: pd.DataFrame, *, time: str = "time", event: str = "event", covariates: Sequence[str] = ("arm",),
            strata: str | Sequence[str] | None = None, cluster: str | None = None,
            weights: str | np.ndarray | None = None, ties: str = "efron", start: str | None = None,
            small_sample: str | None = None) -> CoxResult:
    """Fit a Cox proportional-hazards model for time to dropout.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per participant, or per ``(start, stop]`` interval when ``start`` is given.
    time, event : str
        Columns of follow-up time (days, > 0; the interval end with ``start``) and event (1 = event, 0 = censored).
    covariates : sequence of str
        Covariate columns: numeric ones enter as they are; categorical ones are dummy-coded ``COL[LEVEL]``
        (see the module docstring for the reference level).
    strata : str or sequence of str, optional
        Column(s) defining strata with their own baseline hazard (R's ``strata()``).
    cluster : str, optional
        Column of clusters (site, coach, participant id) for the grouped sandwich variance of R's
        ``coxph(..., cluster = )``. CIs and p-values then use the robust SE (as R does).
    weights : str or array, optional
        Case weights (R's ``weights =``), > 0. Non-integer weights also switch to the robust
        (per-row sandwich) variance, as R does.
    ties : {"efron", "breslow"}
        Handling of tied event times.
    start : str, optional
        Column of interval starts for counting-process data (R's ``Surv(start, stop, event)``).
    small_sample : {"md"}, optional
        With ``cluster``: the Mancl-DeRouen bias-corrected sandwich and a t reference on ``G - 1`` degrees of
        freedom (:mod:`~peerstudy.survival.cox.small_sample`), for few clusters. Unweighted fits only.

    Returns
    -------
    CoxResult

    Raises
    ------
    SchemaError
        Naming the column and value: a missing column, missing values, times <= 0 (``start >= time``), a
        non-0/1 event, bad weights.
    AnalysisError
        A constant covariate, a single-level categorical covariate, no events, fewer events than terms,
        or collinear covariates.
    ParameterError
        Unknown ``ties``, no covariates, a weights array of the wrong length.

    Warns
    -----
    PeerstudyWarning
        Fewer than ``EVENTS_PER_TERM`` (10) events per term.
    SeparationWarning
        A coefficient diverges (monotone likelihood), naming the term.
    FewClustersWarning
        A plain cluster-robust SE from fewer than 30 clusters (naming the number and the better options).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"time": [5, 8, 12, 20, 3, 9, 15, 30], "event": [1, 1, 0, 1, 1, 1, 1, 0],
    ...                    "arm": ["peer"] * 4 + ["usual_care"] * 4})
    >>> import warnings; warnings.simplefilter("ignore")
    >>> fit = fit_cox(df, covariates=["arm"])
    >>> fit.terms
    ('arm[peer]',)
    """
    check_choice(ties, TIES, name="ties")
    data = prepare(df, time=time, event=event, covariates=covariates, strata=strata, cluster=cluster,
                   weights=weights, start=start)
    return fit_prepared(data, ties, small_sample)


def fit_cause_specific_cox(df: pd.DataFrame, *, time: str = "time", ending: str = "outcome", cause: str = "dropout",
                           censored: Sequence[str] = CENSORING, covariates: Sequence[str] = ("arm",),
                           ties: str = "efron", cluster: str | None = None) -> CoxResult:
    """Cause-specific Cox model: the hazard of ``cause``; the other endings end follow-up for it.

    The endings are coded as in :func:`~peerstudy.survival.competing.ending_codes` (values compared as
    strings): values in ``censored`` are censoring, ``cause`` is the event, and every other value is a
    competing ending, which for this hazard also ends follow-up (R's ``coxph(Surv(time, ending == cause) ~ ...)``).
    ``censored`` therefore decides which endings can be modelled: asking for a ``cause`` listed as
    censored is refused.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per participant with a column of endings.
    time : str
        Days to the ending.
    ending : str
        Column holding how observation ended (``outcome`` in the canonical schema).
    cause : str
        The ending of interest (``dropout``).
    censored : sequence of str, default ("retained", "lost_to_follow_up")
        Endings meaning censoring (observation ended while still in treatment).
    covariates, ties, cluster
        As in :func:`fit_cox`.

    Returns
    -------
    CoxResult

    Raises
    ------
    SchemaError
        A missing ``ending`` column or missing endings, and the input errors of :func:`fit_cox`.
    AnalysisError
        A ``cause`` that never occurs, and the model errors of :func:`fit_cox`.
    ParameterError
        A ``cause`` that is also listed in ``censored``; unknown ``ties``.
    """
    require_frame(df)
    check_choice(ties, TIES, name="ties")
    status, order = ending_codes(df, ending, censored=censored, causes=(cause,))
    col = "__cause_event__"
    work = df.assign(**{col: (status == 1).astype(np.int8)})
    return fit_cox(work, time=time, event=col, covariates=covariates, ties=ties, cluster=cluster)
