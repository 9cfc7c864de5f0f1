"""Interval-censored retention: Turnbull's NPMLE curve and an interval-censored Weibull regression.

Retention known only to a band (TEDS-D records stays beyond 30 days as 31-45, 46-60, ... days) is
*interval-censored*: the dropout time lies somewhere in ``(lower, upper]``. These estimators use
the interval as it is instead of pretending a band's midpoint is exact.

Conventions (all times in days):

* Each observation is an interval ``(lower, upper]``: ``lower < upper`` for an interval,
  ``upper = inf`` for right-censored (still in treatment after ``lower``), ``lower == upper``
  for an exactly known time, ``lower = 0`` for "by day ``upper``". The same half-open convention
  as R's ``Surv(lower, upper, type = "interval2")``.
* A dropout recorded on whole day ``d`` is the interval ``(d - 1, d]``; a stay ending otherwise on
  day ``d`` is right-censored at ``d`` (see :mod:`peerstudy.data.programme`).

Checked against R ``survival`` (``survfit`` for the NPMLE, ``survreg(dist = "weibull")`` for the
regression) on stored outputs in ``tests/reference/interval.R``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

from peerstudy.exceptions import AnalysisError, ConvergenceWarning, ParameterError, SchemaError
from peerstudy.survival._display import html_table, num
from peerstudy.survival._validate import (as_list, case_weights, check_horizons, check_number, horizon_key,
                                          numeric_covariate, require_columns, require_frame, row_list)

__all__ = ["TurnbullResult", "IntervalWeibullResult", "turnbull", "fit_interval_weibull", "interval_arrays"]

_Z975 = 1.959963984540054


def interval_arrays(data: pd.DataFrame, *, lower: str = "time_lower", upper: str = "time_upper") -> tuple[np.ndarray, np.ndarray]:
    """Check and return the ``(lower, upper]`` columns of ``data`` as float arrays.

    Missing or infinite ``upper`` means right-censored. Raises :class:`SchemaError` naming the
    column and up to five rows when a bound is missing, negative, or ``upper < lower``.
    """
    require_frame(data)
    require_columns(data, [lower, upper])
    problems: list[str] = []
    lo = pd.to_numeric(data[lower], errors="coerce").to_numpy(dtype=float)
    hi = pd.to_numeric(data[upper], errors="coerce").to_numpy(dtype=float)
    hi = np.where(np.isnan(hi), np.inf, hi)
    checks = [
        (np.isnan(lo) | np.isinf(lo), f"column {lower!r} must be a finite number of days"),
        (lo < 0, f"column {lower!r} must be >= 0"),
        (hi < lo, f"column {upper!r} must be >= {lower!r}"),
        (hi <= 0, f"column {upper!r} must be > 0"),
    ]
    for bad, rule in checks:
        if bad.any():
            problems.append(f"{rule}; {int(bad.sum())} row(s) are not ({row_list(bad)})")
    if problems:
        raise SchemaError("interval data has problems: " + "; ".join(problems), problems)
    return lo, hi


# ----------------------------------------------------------------------------------------------
# Turnbull NPMLE
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TurnbullResult:
    """Turnbull's nonparametric maximum-likelihood retention curve.

    The NPMLE puts probability ``mass`` on the innermost intervals ``(left, right]`` (a point
    when ``left == right``); within one it is not identified. ``survival[j]`` is ``S`` just after
    ``right[j]``, i.e. ``P(T > right[j])``.

    Attributes
    ----------
    left, right, mass, survival : numpy.ndarray
        Innermost intervals, their probability mass, and the survival after each.
    n : int
        Observations used.
    iterations : int
        EM (self-consistency) iterations.
    converged : bool
        Whether the largest change in mass fell below the tolerance.
    loglik : float
        Log-likelihood of the fitted distribution.
    """

    left: np.ndarray
    right: np.ndarray
    mass: np.ndarray
    survival: np.ndarray
    n: int
    iterations: int
    converged: bool
    loglik: float

    def survival_at(self, t: float | Sequence[float]) -> np.ndarray:
        """``P(T > t)`` at days ``t``; NaN where ``t`` falls strictly inside an innermost interval with mass.

        Returns
        -------
        numpy.ndarray
            One value per ``t``.
        """
        t = np.atleast_1d(np.asarray(t, dtype=float))
        out = np.empty_like(t)
        cum = np.concatenate([[0.0], np.cumsum(self.mass)])
        for i, ti in enumerate(t):
            before = self.right <= ti  # intervals entirely at or before t
            inside = (self.left < ti) & (ti < self.right) & (self.mass > 1e-12)
            out[i] = np.nan if inside.any() else 1.0 - cum[int(before.sum())]
        return np.clip(out, 0.0, 1.0)

    def to_dict(self, horizons: Sequence[int] = (30, 90, 180)) -> dict[str, Any]:
        """JSON-ready summary: the intervals with mass, and survival at ``horizons`` (string keys)."""
        hz = check_horizons(horizons)
        keep = self.mass > 1e-12
        return {
            "method": "turnbull_npmle",
            "n": self.n,
            "iterations": self.iterations,
            "converged": self.converged,
            "loglik": self.loglik,
            "intervals": [
                {"left": float(a), "right": (None if math.isinf(b) else float(b)), "mass": float(m), "survival": float(s)}
                for a, b, m, s in zip(self.left[keep], self.right[keep], self.mass[keep], self.survival[keep])
            ],
            "survival": {horizon_key(h): float(v) for h, v in zip(hz, self.survival_at(hz))},
        }

    def _repr_html_(self) -> str:
        d = self.to_dict()
        rows = [(h, num(v)) for h, v in d["survival"].items()]
        return html_table(("day", "P(still in treatment)"), rows,
                          caption=f"Turnbull NPMLE retention (n = {self.n}, {int((self.mass > 1e-12).sum())} "
                                  f"intervals with mass, converged = {self.converged})")


def _innermost(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Innermost intervals of (lo, hi] data, as values and as sort ranks, plus the observations' ranks.

    An exact time t (lo == hi) is the point [t, t]: its left end sorts just before t; an open left
    end (lo < hi) sorts just after lo; right ends sort at their value.
    """
    exact = lo == hi
    # tag: 0 = exact's left end (just before v), 1 = a right end (at v), 2 = an open left end (just after v)
    vals = np.concatenate([lo, hi])
    tags = np.concatenate([np.where(exact, 0, 2), np.ones_like(hi, dtype=int)])
    is_left = np.concatenate([np.ones(len(lo), bool), np.zeros(len(hi), bool)])
    order = np.lexsort((tags, vals))
    # rank of each endpoint (ties in value and tag share a rank)
    key_v, key_t = vals[order], tags[order]
    new = np.ones(len(order), bool)
    new[1:] = (key_v[1:] != key_v[:-1]) | (key_t[1:] != key_t[:-1])
    ranks_sorted = np.cumsum(new) - 1
    ranks = np.empty(len(order), int)
    ranks[order] = ranks_sorted
    l_rank, r_rank = ranks[: len(lo)], ranks[len(lo):]
    # per distinct rank: does it hold a left end, a right end? Innermost = a left rank followed by a right rank.
    nr = int(ranks_sorted[-1]) + 1
    has_left = np.zeros(nr, bool)
    has_right = np.zeros(nr, bool)
    has_left[ranks[is_left]] = True
    has_right[ranks[~is_left]] = True
    rank_val = np.empty(nr)
    rank_val[ranks_sorted] = key_v
    # a rank with both a left and a right end cannot occur (tags differ), so each rank is one kind
    kinds = np.where(has_left, 0, 1)
    start = np.flatnonzero((kinds[:-1] == 0) & (kinds[1:] == 1))
    return rank_val[start], rank_val[start + 1], start, start + 1, np.stack([l_rank, r_rank])


def turnbull(data: pd.DataFrame, *, lower: str = "time_lower", upper: str = "time_upper", weights: str | None = None,
             tol: float = 1e-9, max_iter: int = 100_000) -> TurnbullResult:
    """Turnbull's NPMLE of retention ``S(t) = P(T > t)`` from interval-censored times.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per participant with ``(lower, upper]`` in days (see the module docstring).
    lower, upper : str
        Column names of the interval ends; ``upper`` NaN or ``inf`` = right-censored.
    weights : str, optional
        Column of non-negative case weights (frequency weights).
    tol : float
        Stop when the largest change in any interval's mass is below ``tol``.
    max_iter : int
        Most EM iterations; a :class:`~peerstudy.exceptions.ConvergenceWarning` if reached.

    Returns
    -------
    TurnbullResult

    Raises
    ------
    SchemaError
        Missing or impossible bounds; weights that are negative, not finite or all 0.
    ParameterError
        ``tol`` not > 0 or ``max_iter`` not a whole number >= 1.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"time_lower": [0, 1, 30, 30], "time_upper": [1, 2, 45, float("inf")]})
    >>> fit = turnbull(df)
    >>> [round(float(s), 3) for s in fit.survival_at([1, 2, 45])]
    [0.75, 0.5, 0.0]
    """
    check_number(tol, name="tol", minimum=0, strict=True)
    check_number(max_iter, name="max_iter", minimum=1, whole=True)
    lo, hi = interval_arrays(data, lower=lower, upper=upper)
    w = case_weights(data, weights)
    if w.sum() <= 0:
        raise SchemaError(f"column {weights!r} (weights) must have a positive sum; every weight is 0")
    left, right, l_r, r_r, obs = _innermost(lo, hi)
    # collapse identical observations (TEDS-like data has few distinct intervals)
    pairs, inverse = np.unique(obs.T, axis=0, return_inverse=True)
    wt = np.bincount(inverse.ravel(), weights=w)
    a = (pairs[:, [0]] <= l_r[None, :]) & (r_r[None, :] <= pairs[:, [1]])  # (distinct obs) x (intervals)
    a = a.astype(float)
    m = len(left)
    p = np.full(m, 1.0 / m)
    total = wt.sum()
    converged = False
    it = 0
    for it in range(1, max_iter + 1):
        denom = a @ p
        new = p * ((wt / denom) @ a) / total
        delta = np.max(np.abs(new - p))
        p = new
        if delta < tol:
            converged = True
            break
    if not converged:
        warnings.warn(f"Turnbull EM stopped after {max_iter} iterations (largest change {delta:.2e} > tol {tol:g})",
                      ConvergenceWarning, stacklevel=2)
    p = np.where(p < 1e-14, 0.0, p)
    p = p / p.sum()
    loglik = float(wt @ np.log(np.maximum(a @ p, 1e-300)))
    surv = np.clip(1.0 - np.cumsum(p), 0.0, 1.0)
    return TurnbullResult(left=left, right=right, mass=p, survival=surv, n=int(len(lo)), iterations=it,
                          converged=converged, loglik=loglik)


# ----------------------------------------------------------------------------------------------
# Interval-censored Weibull regression
# ----------------------------------------------------------------------------------------------


def _weibull_loglik(theta: np.ndarray, X: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                    kind: np.ndarray) -> tuple[float, np.ndarray]:
    """Log-likelihood and gradient in survreg's parameters (beta, log sigma).

    kind: 0 exact, 1 right-censored, 2 interval (lo > 0), 3 left-censored (lo == 0).
    With z = (log t - eta) / sigma and u = exp(z): S(t) = exp(-u), f(t) = exp(z - u) / (sigma t).
    """
    beta, log_s = theta[:-1], theta[-1]
    s = math.exp(log_s)
    eta = X @ beta
    ll = np.zeros(len(eta))
    d_eta = np.zeros(len(eta))  # d ll / d eta
    d_ls = np.zeros(len(eta))   # d ll / d log sigma
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        zl = np.where(lo > 0, (np.log(np.where(lo > 0, lo, 1.0)) - eta) / s, -np.inf)
        zr = np.where(np.isfinite(hi), (np.log(np.where(np.isfinite(hi), hi, 1.0)) - eta) / s, np.inf)
        ul = np.exp(zl)
        ur = np.exp(zr)
        ulzl = np.where(lo > 0, ul * zl, 0.0)
        # exact
        e = kind == 0
        ll[e] = -log_s - np.log(hi[e]) + zr[e] - ur[e]
        d_eta[e] = (ur[e] - 1.0) / s
        d_ls[e] = -1.0 + zr[e] * (ur[e] - 1.0)
        # right-censored: log S(lo)
        r = kind == 1
        ll[r] = -ul[r]
        d_eta[r] = ul[r] / s
        d_ls[r] = ulzl[r]
        # interval and left-censored: log(S(lo) - S(hi)) = -ul + log(1 - exp(-(ur - ul)))
        i = kind >= 2
        D = ur[i] - ul[i]
        em1 = np.expm1(D)
        ll[i] = -ul[i] + np.log(-np.expm1(-D))
        q = D / em1
        d_eta[i] = (ul[i] - q) / s
        d_ls[i] = ulzl[i] - (ur[i] * zr[i] - ulzl[i]) / em1
    grad = np.concatenate([X.T @ d_eta, [d_ls.sum()]])
    return float(ll.sum()), grad


@dataclass(frozen=True)
class IntervalWeibullResult:
    """Interval-censored Weibull regression (accelerated failure time = proportional hazards).

    Parameterisation as R's ``survreg(dist = "weibull")``: ``log T = X beta + sigma W`` with ``W``
    standard minimum-extreme-value. Equivalently ``S(t | x) = exp(-(t / lambda_x) ** shape)`` with
    ``shape = 1 / sigma`` and scale ``lambda_x = exp(x beta)`` in days; the hazard ratio of a unit
    increase in covariate ``j`` is ``exp(-beta_j / sigma)``.

    Attributes
    ----------
    terms : tuple of str
        ``"(Intercept)"`` then the covariates.
    coef, se : numpy.ndarray
        ``beta`` and its standard errors (inverse observed information).
    log_scale, log_scale_se : float
        ``log sigma`` and its standard error.
    hazard_ratio, hr_lower, hr_upper : dict
        Per covariate: ``exp(-beta/sigma)`` and its 95% CI (delta method on ``-beta/sigma``).
    loglik : float
    n : int
    converged : bool
    cov : numpy.ndarray
        Covariance of ``(beta, log sigma)``.
    """

    terms: tuple[str, ...]
    coef: np.ndarray
    se: np.ndarray
    log_scale: float
    log_scale_se: float
    hazard_ratio: dict[str, float]
    hr_lower: dict[str, float]
    hr_upper: dict[str, float]
    loglik: float
    n: int
    converged: bool
    cov: np.ndarray = field(repr=False)

    @property
    def scale(self) -> float:
        """``sigma`` (R's "Scale")."""
        return math.exp(self.log_scale)

    @property
    def shape(self) -> float:
        """Weibull shape ``1 / sigma``."""
        return 1.0 / self.scale

    def survival(self, t: float | Sequence[float], x: dict[str, float] | None = None) -> np.ndarray:
        """``P(T > t | x)`` for covariate values ``x`` (missing covariates = 0)."""
        x = x or {}
        unknown = set(x) - set(self.terms[1:])
        if unknown:
            raise ParameterError(f"unknown covariate(s) {sorted(unknown)}; the model has {list(self.terms[1:])}")
        row = np.array([1.0] + [float(x.get(k, 0.0)) for k in self.terms[1:]])
        lam = math.exp(float(row @ self.coef))
        t = np.asarray(t, dtype=float)
        return np.exp(-((t / lam) ** self.shape))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: coefficients, SEs, scale, hazard ratios with 95% CIs, log-likelihood."""
        return {
            "method": "interval_weibull",
            "parameterisation": "survreg: log T = X beta + sigma W; HR = exp(-beta / sigma); times in days",
            "n": self.n,
            "converged": self.converged,
            "loglik": self.loglik,
            "coef": {k: float(v) for k, v in zip(self.terms, self.coef)},
            "se": {k: float(v) for k, v in zip(self.terms, self.se)},
            "log_scale": self.log_scale,
            "log_scale_se": self.log_scale_se,
            "shape": self.shape,
            "hazard_ratio": {k: {"estimate": self.hazard_ratio[k], "lower": self.hr_lower[k], "upper": self.hr_upper[k]}
                             for k in self.terms[1:]},
        }

    def _repr_html_(self) -> str:
        rows = [(k, num(self.hazard_ratio[k]), f"{num(self.hr_lower[k])} – {num(self.hr_upper[k])}")
                for k in self.terms[1:]]
        return html_table(("term", "hazard ratio", "95% CI"), rows,
                          caption=f"Interval-censored Weibull regression (n = {self.n}, shape = {self.shape:.3f}, "
                                  f"log-likelihood = {self.loglik:.2f})")


def fit_interval_weibull(data: pd.DataFrame, *, covariates: Sequence[str] = (), lower: str = "time_lower",
                         upper: str = "time_upper", max_iter: int = 200) -> IntervalWeibullResult:
    """Fit a Weibull regression to interval-censored retention times by maximum likelihood.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per participant: ``(lower, upper]`` in days and the covariates.
    covariates : sequence of str
        Numeric covariate columns (none = intercept only).
    lower, upper : str
        Interval columns (see the module docstring).
    max_iter : int
        Most Newton iterations.

    Returns
    -------
    IntervalWeibullResult
        In R ``survreg``'s parameterisation (see the class docstring).

    Raises
    ------
    SchemaError
        Missing columns, bad bounds, non-numeric or missing covariate values.
    AnalysisError
        A covariate is constant, or there is no interval/exact observation to fit.
    ParameterError
        ``max_iter`` not a whole number >= 1.
    """
    check_number(max_iter, name="max_iter", minimum=1, whole=True)
    lo, hi = interval_arrays(data, lower=lower, upper=upper)
    covariates = as_list(covariates)
    require_columns(data, covariates, role="covariate")
    cols = [numeric_covariate(data, c) for c in covariates]
    X = np.column_stack([np.ones(len(lo)), *cols])
    kind = np.where(lo == hi, 0, np.where(np.isinf(hi), 1, np.where(lo > 0, 2, 3)))
    if not np.any(kind != 1):
        raise AnalysisError("every observation is right-censored; no dropout to fit a Weibull model to")
    theta, ll, converged = _maximise(X, lo, hi, kind, max_iter)
    if not converged:
        warnings.warn("interval-censored Weibull fit did not converge", ConvergenceWarning, stacklevel=2)
    H = _numeric_hessian(theta, X, lo, hi, kind)
    try:
        cov = np.linalg.inv(-H)
    except np.linalg.LinAlgError as exc:
        raise AnalysisError(f"the information matrix is singular ({exc}); a covariate may be collinear") from None
    se_all = np.sqrt(np.maximum(np.diag(cov), 0.0))
    hr, lo_ci, hi_ci = _hazard_ratios(theta, cov, covariates)
    return IntervalWeibullResult(terms=("(Intercept)", *covariates), coef=theta[:-1].copy(), se=se_all[:-1].copy(),
                                 log_scale=float(theta[-1]), log_scale_se=float(se_all[-1]), hazard_ratio=hr,
                                 hr_lower=lo_ci, hr_upper=hi_ci, loglik=ll, n=int(len(lo)), converged=converged,
                                 cov=cov)


def _maximise(X: np.ndarray, lo: np.ndarray, hi: np.ndarray, kind: np.ndarray,
              max_iter: int) -> tuple[np.ndarray, float, bool]:
    """Newton-Raphson with step halving from an exponential-like start; ``(theta, loglik, converged)``."""
    mid = np.where(np.isinf(hi), np.maximum(lo, 1.0) * 2, np.where(kind == 3, hi / 2, (lo + hi) / 2))
    theta = np.zeros(X.shape[1] + 1)
    theta[0] = float(np.log(np.mean(mid)))
    ll, g = _weibull_loglik(theta, X, lo, hi, kind)
    for _ in range(max_iter):
        H = _numeric_hessian(theta, X, lo, hi, kind)
        try:
            step = np.linalg.solve(-H, g)
        except np.linalg.LinAlgError:
            step = g * 1e-3
        if not np.all(np.isfinite(step)) or g @ step <= 0:  # not an ascent direction: gradient step
            step = g / max(1.0, np.abs(g).max())
        t = 1.0
        while t > 1e-10:
            cand = theta + t * step
            ll_new, g_new = _weibull_loglik(cand, X, lo, hi, kind)
            if np.isfinite(ll_new) and ll_new >= ll - 1e-12:
                break
            t /= 2
        else:
            return theta, ll, False
        done = abs(ll_new - ll) < 1e-11 * (1 + abs(ll)) and np.max(np.abs(t * step)) < 1e-8
        theta, ll, g = cand, ll_new, g_new
        if done or np.max(np.abs(g)) < 1e-8:
            return theta, ll, True
    return theta, ll, False


def _hazard_ratios(theta: np.ndarray, cov: np.ndarray,
                   covariates: Sequence[str]) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """``exp(-beta_j / sigma)`` per covariate with its 95% CI (delta method on ``-beta_j / sigma``)."""
    beta, s = theta[:-1], math.exp(float(theta[-1]))
    hr, lo_ci, hi_ci = {}, {}, {}
    for j, name in enumerate(covariates, start=1):
        # log HR = -beta_j / sigma = -beta_j * exp(-log_s); gradient wrt (beta_j, log_s)
        lhr = -beta[j] / s
        grad = np.zeros(len(theta))
        grad[j] = -1.0 / s
        grad[-1] = beta[j] / s
        se_l = math.sqrt(max(float(grad @ cov @ grad), 0.0))
        hr[name] = math.exp(lhr)
        lo_ci[name], hi_ci[name] = math.exp(lhr - _Z975 * se_l), math.exp(lhr + _Z975 * se_l)
    return hr, lo_ci, hi_ci


def _numeric_hessian(theta: np.ndarray, X: np.ndarray, lo: np.ndarray, hi: np.ndarray, kind: np.ndarray) -> np.ndarray:
    """Hessian by central differences of the analytic gradient (symmetrised)."""
    k = len(theta)
    H = np.empty((k, k))
    for j in range(k):
        h = 1e-5 * max(1.0, abs(theta[j]))
        tp, tm = theta.copy(), theta.copy()
        tp[j] += h
        tm[j] -= h
        H[:, j] = (_weibull_loglik(tp, X, lo, hi, kind)[1] - _weibull_loglik(tm, X, lo, hi, kind)[1]) / (2 * h)
    return (H + H.T) / 2
