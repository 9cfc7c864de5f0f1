"""Meta-analysis of study effects: fixed and random effects, heterogeneity, prediction, subgroups, small studies.

Conventions are those of R's ``metafor`` (``rma``, ``confint``, ``predict``, ``leave1out``, ``regtest``), and
``tests/reference/metafor.R`` checks them to 1e-6:

* **Effects.** ``yi`` are effects on an additive scale (log risk, odds or hazard ratios, or risk
  differences) with sampling variances ``vi``; :func:`effect_sizes` computes them from counts as
  ``metafor::escalc`` does.
* **Models.** ``method="FE"`` (fixed / common effect, ``tau2 = 0``), ``"DL"`` (DerSimonian-Laird) or
  ``"REML"`` (restricted maximum likelihood, Fisher scoring from the Hedges estimate, step-halving at the
  boundary, as ``rma``). Cochran's ``Q`` and the DerSimonian-Laird ``tau2`` come from
  :func:`statsmodels.stats.meta_analysis.combine_effects` (``tau2`` truncated at 0, as ``rma`` does; statsmodels
  leaves it negative); REML, meta-regression (for Egger's test), the Q-profile interval, the prediction
  interval and everything below are written here because statsmodels lacks them. The weighted estimate and
  its variance are one small function for every model, so that all of them share one code path.
* **Inference.** ``test="z"``: Wald tests and intervals with the normal distribution. ``test="knha"``: the
  Hartung-Knapp(-Sidik-Jonkman) adjustment, the variance multiplied by
  ``sum w_i (y_i - mu)^2 / (k - p)`` (not truncated at 1) and the t distribution with ``k - p`` degrees of
  freedom.
* **Heterogeneity.** ``Q`` with ``k - p`` degrees of freedom; ``I2 = 100 tau2 / (tau2 + s2)`` and
  ``H2 = (tau2 + s2) / s2`` with the typical within-study variance ``s2 = (k - p) / tr(P)`` (for
  ``"FE"``: ``I2 = 100 (Q - df) / Q`` truncated at 0 and ``H2 = Q / df``); the confidence interval of
  ``tau2`` by the Q-profile method (``confint.rma.uni``), bounds set to 0 where the generalised ``Q`` at
  ``tau2 = 0`` is already below the critical value.
* **Prediction interval** of the effect in a new study: ``mu -/+ crit sqrt(se^2 + tau2)``, with ``crit``
  normal for ``test="z"`` and t with ``k - p`` degrees of freedom for ``"knha"`` (``predict.rma``).
* **Small-study effects.** :func:`egger_test`: ``model="rma"`` (``regtest`` default) adds the standard error
  as a moderator to the same model; ``model="lm"`` is Egger's weighted regression with the t test on
  ``k - 2`` degrees of freedom.

>>> res = meta_analysis([-0.5, -0.1, 0.2, -0.3], [0.04, 0.09, 0.05, 0.02], method="DL")
>>> round(res.estimate, 4), round(res.tau2, 4), res.k
(-0.2038, 0.0412, 4)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Sequence

import numpy as np
import pandas as pd

from peerstudy.exceptions import DataError, ParameterError
from peerstudy.survival._display import html_table, num, paragraph

__all__ = [
    "MEASURES",
    "MetaResult",
    "EggerResult",
    "SubgroupResult",
    "effect_sizes",
    "effects_from_ci",
    "meta_analysis",
    "leave_one_out",
    "subgroup_analysis",
    "egger_test",
]

Method = Literal["FE", "DL", "REML"]
Test = Literal["z", "knha"]

#: Effect measures: on the log scale (ratios, shown exponentiated) or additive (risk difference).
MEASURES: dict[str, str] = {"OR": "odds ratio", "RR": "risk ratio", "HR": "hazard ratio", "RD": "risk difference"}
_LOG = {"OR", "RR", "HR"}
_REML_TOL, _REML_MAXITER = 1e-12, 1000


# ----- effect sizes ------------------------------------------------------------------------------
def effect_sizes(events_peer: Sequence[int], n_peer: Sequence[int], events_control: Sequence[int],
                 n_control: Sequence[int], *, measure: str = "OR") -> pd.DataFrame:
    """Effects and sampling variances from 2x2 counts, as ``metafor::escalc``.

    Parameters
    ----------
    events_peer, n_peer, events_control, n_control : sequences of int
        Events and group sizes, peer support and comparison, one per study.
    measure : {"OR", "RR", "RD"}
        Log odds ratio, log risk ratio or risk difference, peer minus comparison. For the ratios, a study
        with a zero cell gets 0.5 added to each of its four cells (``escalc``'s ``add=1/2, to="only0"``).

    Returns
    -------
    pandas.DataFrame
        Columns ``yi`` and ``vi``.

    Raises
    ------
    DataError
        Counts that are not whole numbers, negative, or larger than the group.

    Examples
    --------
    >>> es = effect_sizes([81], [323], [95], [325], measure="RR")
    >>> round(float(np.exp(es["yi"].iloc[0])), 3)
    0.858
    """
    if measure not in ("OR", "RR", "RD"):
        raise ParameterError(f"measure must be 'OR', 'RR' or 'RD' for counts; got {measure!r}")
    cols = {}
    for name, values in (("events_peer", events_peer), ("n_peer", n_peer), ("events_control", events_control),
                         ("n_control", n_control)):
        arr = np.asarray(values, dtype=float).ravel()
        if arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr < 0) or np.any(arr != np.round(arr)):
            raise DataError(f"{name} must be whole numbers >= 0; got {list(np.asarray(values).ravel())}")
        cols[name] = arr
    if len({a.size for a in cols.values()}) != 1:
        raise DataError(f"counts must have one value per study; got lengths {[a.size for a in cols.values()]}")
    a, n1, c, n2 = cols["events_peer"], cols["n_peer"], cols["events_control"], cols["n_control"]
    for ev, n, label in ((a, n1, "peer"), (c, n2, "control")):
        bad = np.flatnonzero((n <= 0) | (ev > n))
        if bad.size:
            raise DataError(f"events_{label} must be <= n_{label} > 0; got {ev[bad[0]]:g} of {n[bad[0]]:g} "
                            f"(study {bad[0] + 1})")
    b, d = n1 - a, n2 - c
    if measure == "RD":
        p1, p2 = a / n1, c / n2
        return pd.DataFrame({"yi": p1 - p2, "vi": p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2})
    zero = (a == 0) | (b == 0) | (c == 0) | (d == 0)
    add = np.where(zero, 0.5, 0.0)
    a, b, c, d = a + add, b + add, c + add, d + add
    n1, n2 = a + b, c + d
    if measure == "OR":
        return pd.DataFrame({"yi": np.log(a * d / (b * c)), "vi": 1 / a + 1 / b + 1 / c + 1 / d})
    return pd.DataFrame({"yi": np.log((a / n1) / (c / n2)), "vi": 1 / a - 1 / n1 + 1 / c - 1 / n2})


def effects_from_ci(estimate: Sequence[float], lower: Sequence[float], upper: Sequence[float], *,
                    log: bool = True, level: float = 0.95) -> pd.DataFrame:
    """Effects and variances from reported estimates and confidence intervals (ratios: ``log=True``).

    The standard error is the interval's width on the analysis scale over ``2 z_{(1+level)/2}``.

    Examples
    --------
    >>> es = effects_from_ci([0.86], [0.67], [1.11])
    >>> round(float(np.sqrt(es["vi"].iloc[0])), 4)
    0.1288
    """
    from scipy.stats import norm

    est, lo, hi = (np.asarray(x, dtype=float).ravel() for x in (estimate, lower, upper))
    if not (est.size == lo.size == hi.size) or est.size == 0:
        raise DataError(f"estimate, lower and upper need one value per study; got {est.size}, {lo.size}, {hi.size}")
    if np.any(~((lo <= est) & (est <= hi))):
        i = int(np.flatnonzero(~((lo <= est) & (est <= hi)))[0])
        raise DataError(f"the interval must bracket the estimate; got {est[i]:g} ({lo[i]:g} to {hi[i]:g})")
    if log:
        if np.any(lo <= 0):
            raise DataError(f"ratios and their limits must be > 0; got lower limits {lo.tolist()}")
        est, lo, hi = np.log(est), np.log(lo), np.log(hi)
    se = (hi - lo) / (2 * norm.ppf((1 + level) / 2))
    return pd.DataFrame({"yi": est, "vi": se**2})


# ----- results -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class MetaResult:
    """A fitted meta-analysis (intercept-only model): pooled effect, heterogeneity, prediction interval.

    Effects are on the analysis scale (log ratios); :meth:`exp` and the HTML view show ratios. ``weights``
    are percentages of the total weight; ``df`` is ``None`` for normal-based inference.
    """

    method: str
    test: str
    measure: str | None
    level: float
    k: int
    labels: tuple[str, ...]
    yi: tuple[float, ...]
    vi: tuple[float, ...]
    weights: tuple[float, ...]
    estimate: float
    se: float
    statistic: float
    pvalue: float
    df: int | None
    ci_lower: float
    ci_upper: float
    pi_lower: float
    pi_upper: float
    tau2: float
    tau2_ci: tuple[float, float]
    i2: float
    i2_ci: tuple[float, float]
    h2: float
    q: float
    q_df: int
    q_pvalue: float

    @property
    def tau(self) -> float:
        return math.sqrt(self.tau2)

    @property
    def is_ratio(self) -> bool:
        return self.measure in _LOG

    def exp(self, value: float) -> float:
        """A value of the analysis scale on the reporting scale (``exp`` for ratios)."""
        return math.exp(value) if self.is_ratio else value

    def studies(self) -> pd.DataFrame:
        """One row per study: label, effect and its interval (reporting scale), weight in percent."""
        from scipy.stats import norm

        z = norm.ppf((1 + self.level) / 2)
        y, se = np.asarray(self.yi), np.sqrt(self.vi)
        f = np.exp if self.is_ratio else (lambda x: x)
        return pd.DataFrame({"study": self.labels, "estimate": f(y), "ci_lower": f(y - z * se),
                             "ci_upper": f(y + z * se), "weight": self.weights})

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("labels", "yi", "vi", "weights", "tau2_ci", "i2_ci"):
            out[key] = list(out[key])
        out["tau"] = self.tau
        return out

    def _repr_html_(self) -> str:
        name = MEASURES.get(self.measure or "", "effect")
        f = self.exp
        rows = [[r.study, num(r.estimate), f"{num(r.ci_lower)} – {num(r.ci_upper)}", num(r.weight, ".1f")]
                for r in self.studies().itertuples()]
        rows.append([f"pooled ({self.method}{', Hartung-Knapp' if self.test == 'knha' else ''})", num(f(self.estimate)),
                     f"{num(f(self.ci_lower))} – {num(f(self.ci_upper))}", "100.0"])
        foot = (f"Prediction interval {num(f(self.pi_lower))} – {num(f(self.pi_upper))}. Heterogeneity: "
                f"Q = {num(self.q, '.2f')} on {self.q_df} df (p = {num(self.q_pvalue, '.3g')}), "
                f"tau² = {num(self.tau2, '.4f')} ({num(self.tau2_ci[0], '.4f')} – {num(self.tau2_ci[1], '.4f')}), "
                f"I² = {num(self.i2, '.1f')}%.")
        return html_table(["study", name, f"{self.level:.0%} CI", "weight %"], rows,
                          caption=f"Meta-analysis of {self.k} studies") + paragraph(foot)


@dataclass(frozen=True)
class EggerResult:
    """Regression test for funnel-plot asymmetry: the slope on the standard error and its test."""

    model: str
    method: str | None
    k: int
    slope: float
    slope_se: float
    statistic: float
    df: int | None
    pvalue: float
    limit_estimate: float
    limit_se: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SubgroupResult:
    """Separate meta-analyses per subgroup and a Wald-type test that the subgroup effects are equal.

    ``q_between`` is Cochran's Q of the subgroup estimates under a fixed-effect model (their standard
    errors as known), on ``groups - 1`` degrees of freedom.
    """

    variable: str
    fits: dict[str, MetaResult] = field(repr=False)
    q_between: float
    df_between: int
    pvalue_between: float

    def table(self) -> pd.DataFrame:
        rows = []
        for g, r in self.fits.items():
            rows.append({self.variable: g, "k": r.k, "estimate": r.exp(r.estimate), "ci_lower": r.exp(r.ci_lower),
                         "ci_upper": r.exp(r.ci_upper), "tau2": r.tau2, "i2": r.i2})
        return pd.DataFrame(rows)

    def to_dict(self) -> dict[str, Any]:
        return {"variable": self.variable, "fits": {g: r.to_dict() for g, r in self.fits.items()},
                "q_between": self.q_between, "df_between": self.df_between, "pvalue_between": self.pvalue_between}


# ----- fitting -----------------------------------------------------------------------------------
def _check_effects(yi: Sequence[float], vi: Sequence[float], labels: Sequence[str] | None) -> tuple:
    y = np.asarray(yi, dtype=float).ravel()
    v = np.asarray(vi, dtype=float).ravel()
    if y.size == 0:
        raise DataError("a meta-analysis needs at least one study; got none")
    if y.size != v.size:
        raise DataError(f"yi and vi need one value per study; got {y.size} and {v.size}")
    if not np.all(np.isfinite(y)):
        raise DataError(f"yi must be finite numbers; got {y.tolist()}")
    if not np.all(np.isfinite(v)) or np.any(v <= 0):
        raise DataError(f"vi (sampling variances) must be finite and > 0; got {v.tolist()}")
    if labels is None:
        labels = [f"study {i + 1}" for i in range(y.size)]
    labels = tuple(str(s) for s in labels)
    if len(labels) != y.size:
        raise DataError(f"labels need one per study; got {len(labels)} for {y.size} studies")
    return y, v, labels


def _check_options(method: str, test: str, level: float, measure: str | None) -> None:
    if method not in ("FE", "DL", "REML"):
        raise ParameterError(f"method must be 'FE', 'DL' or 'REML'; got {method!r}")
    if test not in ("z", "knha"):
        raise ParameterError(f"test must be 'z' or 'knha' (Hartung-Knapp); got {test!r}")
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
        raise ParameterError(f"level must be in (0, 1); got {level!r}")
    if measure is not None and measure not in MEASURES:
        raise ParameterError(f"measure must be one of {', '.join(MEASURES)} or None; got {measure!r}")


def _projection(v: np.ndarray, X: np.ndarray, tau2: float) -> tuple[np.ndarray, np.ndarray]:
    """``P = W - W X (X'WX)^-1 X'W`` and ``(X'WX)^-1`` for weights ``1 / (v + tau2)``."""
    w = 1 / (v + tau2)
    xtwx_inv = np.linalg.inv(X.T @ (w[:, None] * X))
    wx = w[:, None] * X
    return np.diag(w) - wx @ xtwx_inv @ wx.T, xtwx_inv


def _combine(y: np.ndarray, v: np.ndarray) -> Any:
    """statsmodels' ``combine_effects`` (DerSimonian-Laird): Cochran's Q and the untruncated DL tau2."""
    from statsmodels.stats.meta_analysis import combine_effects

    with np.errstate(invalid="ignore"):  # a negative DL tau2 makes its random-effects SE NaN; not used here
        return combine_effects(y, v, method_re="dl")


def _tau2_dl(y: np.ndarray, v: np.ndarray, X: np.ndarray) -> float:
    if X.shape[1] == 1:  # intercept only: statsmodels' DerSimonian-Laird, truncated at 0 as rma does
        return max(0.0, float(_combine(y, v).tau2))
    p0, _ = _projection(v, X, 0.0)
    return max(0.0, float((y @ p0 @ y - (len(y) - X.shape[1])) / np.trace(p0)))


def _tau2_reml(y: np.ndarray, v: np.ndarray, X: np.ndarray) -> float:
    """REML by Fisher scoring from the Hedges estimate, halving steps that would go below 0 (as ``rma``)."""
    k, p = X.shape
    hat = X @ np.linalg.pinv(X)
    resid = y - hat @ y
    tau2 = max(0.0, float((resid @ resid - np.trace((np.eye(k) - hat) @ np.diag(v))) / (k - p)))
    for _ in range(_REML_MAXITER):
        pm, _ = _projection(v, X, tau2)
        py = pm @ y
        step = float((py @ py - np.trace(pm)) / np.trace(pm @ pm))
        while tau2 + step < 0:
            step /= 2
        tau2 += step
        if abs(step) < _REML_TOL:
            return tau2
    raise DataError(f"REML did not converge in {_REML_MAXITER} iterations (last tau2 {tau2:g}); try method='DL'")


def _tau2(y: np.ndarray, v: np.ndarray, X: np.ndarray, method: str) -> float:
    if method == "FE" or len(y) <= X.shape[1]:
        return 0.0
    return _tau2_dl(y, v, X) if method == "DL" else _tau2_reml(y, v, X)


def _wls(y: np.ndarray, v: np.ndarray, X: np.ndarray, tau2: float, test: str) -> dict[str, Any]:
    """Coefficients, their covariance (Hartung-Knapp-scaled for ``"knha"``) and the residual df."""
    k, p = X.shape
    w = 1 / (v + tau2)
    vb = np.linalg.inv(X.T @ (w[:, None] * X))
    b = vb @ (X.T @ (w * y))
    df = None
    if test == "knha":
        if k <= p:
            raise DataError(f"the Hartung-Knapp adjustment needs more studies than coefficients; got {k} studies")
        vb = vb * float(np.sum(w * (y - X @ b) ** 2) / (k - p))
        df = k - p
    return {"b": b, "vb": vb, "df": df, "w": w}


def _crit(level: float, df: int | None) -> float:
    from scipy.stats import norm, t

    return float(norm.ppf((1 + level) / 2) if df is None else t.ppf((1 + level) / 2, df))


def _pvalue(stat: float, df: int | None) -> float:
    from scipy.stats import norm, t

    return float(2 * (norm.sf(abs(stat)) if df is None else t.sf(abs(stat), df)))


def _q_generalised(y: np.ndarray, v: np.ndarray, X: np.ndarray, tau2: float) -> float:
    pm, _ = _projection(v, X, tau2)
    return float(y @ pm @ y)


def _tau2_qprofile(y: np.ndarray, v: np.ndarray, X: np.ndarray, level: float) -> tuple[float, float]:
    """Q-profile confidence interval of tau2 (``confint.rma.uni``): where the generalised Q crosses chi2 quantiles."""
    from scipy.optimize import brentq
    from scipy.stats import chi2

    k, p = X.shape
    if k - p < 1:
        return (float("nan"), float("nan"))
    df = k - p
    alpha = 1 - level
    q0 = _q_generalised(y, v, X, 0.0)

    def bound(crit: float) -> float:
        if q0 < crit:
            return 0.0
        hi = max(100.0, 10 * float(np.var(y)))
        while _q_generalised(y, v, X, hi) > crit:
            hi *= 10
            if hi > 1e12:  # pragma: no cover - Q falls to 0 as tau2 grows, so this is not reached
                return float("inf")
        return float(brentq(lambda t2: _q_generalised(y, v, X, t2) - crit, 0.0, hi, xtol=1e-14, rtol=1e-14,
                            maxiter=500))

    return bound(chi2.ppf(1 - alpha / 2, df)), bound(chi2.ppf(alpha / 2, df))


def _heterogeneity_shares(tau2: float, s2: float) -> tuple[float, float]:
    return 100 * tau2 / (s2 + tau2), (s2 + tau2) / s2


def meta_analysis(yi: Sequence[float], vi: Sequence[float], *, method: Method = "REML", test: Test = "z",
                  labels: Sequence[str] | None = None, measure: str | None = None, level: float = 0.95) -> MetaResult:
    """Pool study effects: fixed effect, DerSimonian-Laird or REML, optionally with Hartung-Knapp.

    Parameters
    ----------
    yi, vi : sequences of float
        Effects on the analysis scale (log ratios, risk differences) and their sampling variances (> 0).
    method : {"REML", "DL", "FE"}
        Estimator of the between-study variance ``tau2`` (``"FE"``: none, a common effect).
    test : {"z", "knha"}
        Normal-based inference, or the Hartung-Knapp adjustment with t on ``k - 1`` degrees of freedom.
    labels : sequence of str, optional
        Study labels (default ``study 1``, ...).
    measure : {"OR", "RR", "HR", "RD"}, optional
        What ``yi`` measures; ratios are reported exponentiated.
    level : float
        Confidence level of all intervals.

    Returns
    -------
    MetaResult

    Raises
    ------
    DataError
        No studies, non-finite effects, variances that are not > 0, labels of the wrong length.
    ParameterError
        An unknown method, test, measure or a level outside (0, 1).

    Examples
    --------
    >>> res = meta_analysis([-0.5, -0.1, 0.2, -0.3], [0.04, 0.09, 0.05, 0.02], test="knha")
    >>> res.method, res.df, round(res.ci_upper, 4)
    ('REML', 3, 0.269)
    """
    _check_options(method, test, level, measure)
    y, v, labels = _check_effects(yi, vi, labels)
    k = y.size
    X = np.ones((k, 1))
    if test == "knha" and k < 2:
        raise DataError(f"the Hartung-Knapp adjustment needs at least 2 studies; got {k}")
    from scipy.stats import chi2

    tau2 = _tau2(y, v, X, method)
    fit = _wls(y, v, X, tau2, test)
    b, se = float(fit["b"][0]), float(math.sqrt(fit["vb"][0, 0]))
    crit = _crit(level, fit["df"])
    stat = b / se
    q_df = k - 1
    q = float(_combine(y, v).q) if k > 1 else 0.0
    s2 = q_df * np.sum(1 / v) / (np.sum(1 / v) ** 2 - np.sum(1 / v**2)) if k > 1 else float("nan")
    tau2_ci = _tau2_qprofile(y, v, X, level)
    if method == "FE":
        i2 = max(0.0, 100 * (q - q_df) / q) if q > 0 else 0.0
        h2 = q / q_df if q_df else float("nan")
    else:
        i2, h2 = _heterogeneity_shares(tau2, s2) if k > 1 else (0.0, 1.0)
    i2_ci = tuple(_heterogeneity_shares(t, s2)[0] for t in tau2_ci) if k > 1 else (float("nan"),) * 2
    pi_half = crit * math.sqrt(se**2 + tau2)
    w = fit["w"]
    return MetaResult(
        method=method, test=test, measure=measure, level=float(level), k=k, labels=labels,
        yi=tuple(map(float, y)), vi=tuple(map(float, v)), weights=tuple(map(float, 100 * w / w.sum())),
        estimate=b, se=se, statistic=stat, pvalue=_pvalue(stat, fit["df"]), df=fit["df"],
        ci_lower=b - crit * se, ci_upper=b + crit * se, pi_lower=b - pi_half, pi_upper=b + pi_half,
        tau2=float(tau2), tau2_ci=tuple(map(float, tau2_ci)), i2=float(i2), i2_ci=tuple(map(float, i2_ci)),
        h2=float(h2), q=q, q_df=q_df, q_pvalue=float(chi2.sf(q, q_df)) if q_df else float("nan"),
    )


def leave_one_out(yi: Sequence[float], vi: Sequence[float], *, labels: Sequence[str] | None = None,
                  **options: Any) -> pd.DataFrame:
    """The meta-analysis refitted without each study in turn (``metafor::leave1out``).

    ``options`` are those of :func:`meta_analysis`. One row per omitted study: ``omitted``, ``estimate``,
    ``se``, ``ci_lower``, ``ci_upper``, ``pvalue``, ``q``, ``tau2``, ``i2`` (analysis scale).

    Examples
    --------
    >>> loo = leave_one_out([-0.5, -0.1, 0.2], [0.04, 0.09, 0.05], method="FE")
    >>> loo["omitted"].tolist()
    ['study 1', 'study 2', 'study 3']
    """
    y, v, labels = _check_effects(yi, vi, labels)
    if y.size < 2:
        raise DataError(f"leave-one-out needs at least 2 studies; got {y.size}")
    rows = []
    for i in range(y.size):
        keep = np.arange(y.size) != i
        r = meta_analysis(y[keep], v[keep], labels=[s for j, s in enumerate(labels) if j != i], **options)
        rows.append({"omitted": labels[i], "estimate": r.estimate, "se": r.se, "ci_lower": r.ci_lower,
                     "ci_upper": r.ci_upper, "pvalue": r.pvalue, "q": r.q, "tau2": r.tau2, "i2": r.i2})
    return pd.DataFrame(rows)


def subgroup_analysis(yi: Sequence[float], vi: Sequence[float], groups: Sequence[Any], *, variable: str = "group",
                      labels: Sequence[str] | None = None, **options: Any) -> SubgroupResult:
    """A meta-analysis per subgroup (e.g. design or setting) and a test of differences between them.

    Each subgroup has its own ``tau2``. The test of differences is Cochran's Q of the subgroup estimates
    with their standard errors (a fixed-effect model on the subgroup results, as ``rma(est, sei=se,
    method="FE")``). A subgroup of one study is that study (tau2 = 0); with ``test="knha"`` such a subgroup
    falls back to the normal-based interval.

    Examples
    --------
    >>> sg = subgroup_analysis([-0.5, -0.1, 0.2, -0.3], [0.04, 0.09, 0.05, 0.02], ["a", "a", "b", "b"],
    ...                        method="FE")
    >>> sorted(sg.fits), sg.df_between
    (['a', 'b'], 1)
    """
    from scipy.stats import chi2

    y, v, labels = _check_effects(yi, vi, labels)
    g = np.asarray(list(groups), dtype=object)
    if g.size != y.size:
        raise DataError(f"groups need one value per study; got {g.size} for {y.size} studies")
    order = list(dict.fromkeys(g.tolist()))
    if len(order) < 2:
        raise DataError(f"subgroup analysis needs at least 2 groups of {variable}; got {order}")
    fits = {}
    for level_ in order:
        idx = np.flatnonzero(g == level_)
        opts = dict(options)
        if idx.size == 1 and opts.get("test") == "knha":
            opts["test"] = "z"
        fits[str(level_)] = meta_analysis(y[idx], v[idx], labels=[labels[i] for i in idx], **opts)
    est = np.array([r.estimate for r in fits.values()])
    w = 1 / np.array([r.se for r in fits.values()]) ** 2
    qb = float(np.sum(w * (est - np.sum(w * est) / np.sum(w)) ** 2))
    dfb = len(order) - 1
    return SubgroupResult(variable=variable, fits=fits, q_between=qb, df_between=dfb,
                          pvalue_between=float(chi2.sf(qb, dfb)))


def egger_test(yi: Sequence[float], vi: Sequence[float], *, model: Literal["rma", "lm"] = "rma",
               method: Method = "REML", test: Test = "z") -> EggerResult:
    """Regression test for funnel-plot asymmetry (``metafor::regtest`` with the standard error as predictor).

    Parameters
    ----------
    yi, vi : sequences of float
    model : {"rma", "lm"}
        ``"rma"``: the meta-analytic model (``method``, ``test``) with the standard error as a moderator
        (``regtest``'s default); ``"lm"``: Egger's original weighted least squares, ``yi ~ sei`` with weights
        ``1 / vi`` and a t test on ``k - 2`` degrees of freedom.
    method, test
        The model's estimator and test, for ``model="rma"``.

    Returns
    -------
    EggerResult
        The slope on the standard error and its test (asymmetry), and the limit estimate (the intercept:
        the effect in a study of infinite size).

    Examples
    --------
    >>> eg = egger_test([-0.5, -0.1, 0.2, -0.3, 0.1], [0.04, 0.09, 0.05, 0.02, 0.1], model="lm")
    >>> eg.df
    3
    """
    _check_options(method, test, 0.95, None)
    if model not in ("rma", "lm"):
        raise ParameterError(f"model must be 'rma' or 'lm'; got {model!r}")
    y, v, _ = _check_effects(yi, vi, None)
    k = y.size
    if k < 3:
        raise DataError(f"Egger's test needs at least 3 studies; got {k}")
    X = np.column_stack([np.ones(k), np.sqrt(v)])
    if model == "lm":
        w = 1 / v
        vb = np.linalg.inv(X.T @ (w[:, None] * X))
        b = vb @ (X.T @ (w * y))
        sigma2 = float(np.sum(w * (y - X @ b) ** 2) / (k - 2))
        vb, df, used = vb * sigma2, k - 2, None
    else:
        fit = _wls(y, v, X, _tau2(y, v, X, method), test)
        b, vb, df, used = fit["b"], fit["vb"], fit["df"], method
    se = np.sqrt(np.diag(vb))
    stat = float(b[1] / se[1])
    return EggerResult(model=model, method=used, k=k, slope=float(b[1]), slope_se=float(se[1]), statistic=stat,
                       df=df, pvalue=_pvalue(stat, df), limit_estimate=float(b[0]), limit_se=float(se[0]))
