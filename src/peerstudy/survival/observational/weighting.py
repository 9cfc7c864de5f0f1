"""Propensity scores and inverse probability of treatment weights (IPTW) for observational cohorts.

When people choose (or are offered) a peer coach, who gets one differs from who does not, and a
plain comparison of the arms is confounded. Weighting each person by the inverse of the probability
of the arm they actually received makes the weighted arms resemble the whole cohort, so a weighted
comparison estimates the *marginal* (population-average) effect, provided every confounder is in the
propensity model and both arms are possible for everyone (positivity).

* :func:`fit_propensity`: ``P(treated | x)`` by logistic regression (statsmodels ``GLM`` with a
  ``Binomial`` family, logit link), from named covariate columns or a formula (``"age + homeless +
  C(site)"``; a left-hand side, if given, is ignored: the treatment comes from ``treatment``/``treated``).
  Numeric columns enter as they are; text and categorical columns are dummy-coded.
* :func:`iptw_weights`: stabilised weights ``w = P(A = a) / P(A = a | x)`` for the arm ``a`` received
  (``P(A = 1)`` is the observed treated share), or unstabilised ``1 / P(A = a | x)``; optionally
  truncated at percentiles of the weights (``trim=(1, 99)``: weights below the 1st percentile are
  raised to it, weights above the 99th lowered to it; nobody is dropped).
* :func:`effective_sample_size`: Kish's ``(sum w)^2 / sum w^2``.
* :func:`balance_table`: standardised mean differences (SMD) of each model column before and after
  weighting, ``SMD = (mean_treated - mean_control) / sqrt((var_treated + var_control) / 2)``, where the
  means are weighted after weighting and the denominator is always the *unweighted* pooled standard
  deviation (so before and after are on one scale; the convention of R's cobalt). ``|SMD| < 0.1`` is the
  usual mark of adequate balance (Austin 2009).

Warnings (named categories of :mod:`peerstudy.exceptions`):

* :class:`~peerstudy.exceptions.SeparationWarning` when a covariate (nearly) perfectly predicts the
  arm: a level of a 0/1 or categorical column in which everyone (of at least :data:`MIN_CELL` people)
  got the same arm, a numeric column whose ranges in the two arms do not overlap, or fitted
  probabilities within ``1e-8`` of 0 or 1. The message names the column(s).
* :class:`~peerstudy.exceptions.ExtremeWeightsWarning` when the effective sample size is below
  :data:`ESS_FRACTION` (one half) of ``n``, or a stabilised weight exceeds :data:`MAX_WEIGHT` (10; for
  unstabilised weights the bound is ``MAX_WEIGHT / min(p, 1 - p)`` with ``p`` the treated share, the same
  bound on the stabilised scale). The message reports the ESS and the largest weight.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

from peerstudy.survival._formula import check_formula, formula_env
from peerstudy.exceptions import AnalysisError, ExtremeWeightsWarning, ParameterError, SchemaError, SeparationWarning
from peerstudy.survival._display import frame_table, html_table, paragraph
from peerstudy.survival._validate import (as_list, case_weights, categorical_levels, complete_values, is_categorical,
                                          numeric_covariate, require_columns, require_frame, show)

__all__ = [
    "PropensityModel",
    "IPTWeights",
    "fit_propensity",
    "iptw_weights",
    "effective_sample_size",
    "balance_table",
    "treatment_indicator",
    "refit_weights",
    "MAX_WEIGHT",
    "ESS_FRACTION",
    "MIN_CELL",
]

#: a stabilised weight above this is extreme (a person counts for more than 10 others of their arm);
#: the rule of thumb of Cole & Hernan (2008, Am J Epidemiol 168:656) and of Austin & Stuart (2015).
MAX_WEIGHT = 10.0
#: an effective sample size below this fraction of n warns.
ESS_FRACTION = 0.5
#: a covariate level must hold at least this many people for "all in one arm" to count as separation.
MIN_CELL = 5
_PS_EPS = 1e-8


def treatment_indicator(df: pd.DataFrame, *, treatment: str = "arm", treated: Any = "peer") -> np.ndarray:
    """0/1 array: 1 where ``df[treatment] == treated``.

    Raises
    ------
    SchemaError
        ``df`` is not a non-empty DataFrame; ``treatment`` is not a column or has missing values.
    AnalysisError
        A ``treated`` level that never occurs, or a column with more than two levels or a single level.
    """
    require_frame(df)
    s = complete_values(df, treatment, role="treatment")
    values = s.astype("object").to_numpy()
    levels = sorted({str(v) for v in values})
    if str(treated) not in levels:
        raise AnalysisError(f"treated level {show(treated)} never occurs in column {treatment!r}; levels are {levels}")
    if len(levels) != 2:
        raise AnalysisError(f"treatment column {treatment!r} must have exactly two levels; got {levels}")
    return (np.array([str(v) for v in values]) == str(treated)).astype(np.int64)


def effective_sample_size(weights: Any) -> float:
    """Kish's effective sample size ``(sum w)^2 / sum w^2`` (equals ``n`` for equal weights).

    Examples
    --------
    >>> effective_sample_size([1.0, 1.0, 1.0, 1.0])
    4.0
    >>> round(effective_sample_size([1.0, 1.0, 1.0, 5.0]), 3)
    2.286
    """
    w = np.asarray(weights, dtype=float)
    if w.size == 0:
        return 0.0
    return float(w.sum() ** 2 / np.sum(w ** 2))


# --------------------------------------------------------------------------------------------- design
def _design_from_columns(df: pd.DataFrame, covariates: Sequence[str]) -> tuple[pd.DataFrame, dict[str, str]]:
    """Model columns (without intercept) and, for each, the source covariate.

    Dummy coding is the Cox engine's (:func:`peerstudy.survival.cox.engine.design_matrix`), so the
    propensity and outcome models name terms alike.
    """
    role = "propensity covariate"
    require_columns(df, covariates, role=role)
    for cov in covariates:
        complete_values(df, cov, role=role)
    cols: dict[str, np.ndarray] = {}
    source: dict[str, str] = {}
    for cov in covariates:
        s = df[cov]
        if is_categorical(s):
            values = s.astype("object").to_numpy()
            for lev in categorical_levels(df, cov, role=role)[1:]:
                name = f"{cov}[{lev}]"
                cols[name] = (values == lev).astype(float)
                source[name] = cov
        else:
            cols[cov] = numeric_covariate(df, cov, role=role)
            source[cov] = cov
    return pd.DataFrame(cols, index=df.index), source


def _design_from_formula(df: pd.DataFrame, formula: str) -> tuple[pd.DataFrame, dict[str, str]]:
    import patsy

    rhs = formula.split("~", 1)[1] if "~" in formula else formula
    if not rhs.strip():
        raise ParameterError(f"formula has no terms; got {formula!r}")
    # never let patsy evaluate anything but columns and listed transforms
    rhs = check_formula(formula, df.columns,
                        require=lambda names: require_columns(df, names, role=f"named in the propensity formula {formula!r}"))
    try:
        X = patsy.dmatrix(rhs, df, return_type="dataframe", NA_action="raise", eval_env=formula_env())
    except patsy.PatsyError as exc:
        names = re.findall(r"name '([^']+)' is not defined", str(exc))
        if names:
            require_columns(df, names, role=f"named in the propensity formula {formula!r}")
        first = str(exc).splitlines()[0]
        if "missing values" in first:
            raise SchemaError(f"propensity formula {formula!r}: {first}; drop or impute them first") from None
        raise ParameterError(f"cannot build the propensity model from formula {formula!r}: {first}") from None
    X = X.drop(columns=[c for c in X.columns if c == "Intercept"])
    if X.shape[1] == 0:
        raise ParameterError(f"formula has no terms besides the intercept; got {formula!r}")
    # the source covariate of a model column is the first data column its name mentions
    source = {}
    for col in X.columns:
        hits = [c for c in df.columns if re.search(rf"(?<![\w.]){re.escape(str(c))}(?![\w])", col)]
        source[col] = hits[0] if hits else col
    return X, source


# --------------------------------------------------------------------------------------------- separation
def _separation_flags(X: pd.DataFrame, a: np.ndarray) -> list[str]:
    """Model columns that (quasi-)perfectly separate the arms, each with the reason."""
    flags = []
    for col in X.columns:
        x = X[col].to_numpy(dtype=float)
        vals = np.unique(x)
        if len(vals) <= 2:
            for v in vals:
                m = x == v
                if m.sum() >= MIN_CELL and (a[m].min() == a[m].max()):
                    arm = "treated" if a[m][0] == 1 else "untreated"
                    flags.append(f"{col} (all {int(m.sum())} with {col} = {v:g} are {arm})")
                    break
        else:
            t, c = x[a == 1], x[a == 0]
            if t.max() < c.min() or c.max() < t.min():
                flags.append(f"{col} (its ranges in the two arms do not overlap)")
    return flags


# --------------------------------------------------------------------------------------------- results
@dataclass(frozen=True)
class PropensityModel:
    """A fitted propensity model ``logit P(treated | x) = b0 + b'x``.

    Attributes
    ----------
    terms : tuple of str
        Model columns (``COL`` or ``COL[LEVEL]``), without the intercept.
    coef, se : dict
        Log-odds coefficients (``"Intercept"`` included) and their model-based SEs.
    scores : numpy.ndarray
        Fitted ``P(treated | x)`` per row.
    treated : numpy.ndarray
        0/1 treatment indicator per row.
    treatment, treated_level : str
        Column and level defining treatment.
    formula : str
        The model as a formula (for the record).
    separated : tuple of str
        Columns flagged for (quasi-)separation (empty if none).
    """

    terms: tuple[str, ...]
    coef: dict[str, float]
    se: dict[str, float]
    scores: np.ndarray
    treated: np.ndarray
    treatment: str
    treated_level: str
    formula: str
    separated: tuple[str, ...] = ()
    _design: Any = field(default=None, repr=False, compare=False)

    @property
    def n(self) -> int:
        return int(len(self.scores))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no per-row values): formula, coefficients, SEs, n, treated count, score range."""
        return {"formula": self.formula, "treatment": self.treatment, "treated_level": self.treated_level,
                "coef": dict(self.coef), "se": dict(self.se), "n": self.n, "n_treated": int(self.treated.sum()),
                "score_min": float(self.scores.min()), "score_max": float(self.scores.max()),
                "separated": list(self.separated)}

    def _repr_html_(self) -> str:
        rows = [(k, f"{v:.4f}", f"{self.se[k]:.4f}") for k, v in self.coef.items()]
        return html_table(("term", "log-odds", "SE"), rows, caption=f"Propensity model: {self.formula}",
                          footer=f"n = {self.n}, treated = {int(self.treated.sum())}, scores in "
                                 f"[{self.scores.min():.3f}, {self.scores.max():.3f}]")


def fit_propensity(df: pd.DataFrame, *, covariates: Sequence[str] | None = None, formula: str | None = None,
                   treatment: str = "arm", treated: Any = "peer") -> PropensityModel:
    """Fit ``P(treated | x)`` by logistic regression (statsmodels GLM, Binomial family, logit link).

    Parameters
    ----------
    df : pandas.DataFrame
        One row per participant.
    covariates : sequence of str, optional
        Columns of the model; numeric ones enter linearly, text/categorical ones as dummies.
    formula : str, optional
        A patsy right-hand side instead (``"age + I(age**2) + homeless + C(site)"``); give exactly one
        of ``covariates`` and ``formula``.
    treatment : str, default "arm"
        Column of the received arm.
    treated : default "peer"
        Level of ``treatment`` that counts as treated.

    Returns
    -------
    PropensityModel

    Raises
    ------
    SchemaError
        A covariate (or a name in the formula) is not a column (the message names every missing one);
        missing values.
    AnalysisError
        A constant covariate, a treatment column without exactly two levels, collinear covariates.
    ParameterError
        Neither or both of ``covariates`` and ``formula``; a formula that cannot be read.

    Warns
    -----
    SeparationWarning
        A covariate (nearly) perfectly predicts the arm, naming it (see the module docstring).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"arm": ["peer", "usual_care"] * 4, "age": [20, 30, 25, 35, 40, 30, 45, 50]})
    >>> m = fit_propensity(df, covariates=["age"])
    >>> m.terms
    ('age',)
    """
    # the GLM module alone: statsmodels.api also loads time series and graphics (about a second)
    from statsmodels.genmod import families
    from statsmodels.genmod.generalized_linear_model import GLM

    if (covariates is None) == (formula is None):
        raise ParameterError("give exactly one of covariates (column names) or formula")
    a = treatment_indicator(df, treatment=treatment, treated=treated)
    if covariates is not None:
        covariates = as_list(covariates)
        if not covariates:
            raise ParameterError("covariates is empty: name at least one propensity covariate")
        X, source = _design_from_columns(df, covariates)
        label = " + ".join(covariates)
    else:
        X, source = _design_from_formula(df, str(formula))
        label = str(formula).split("~", 1)[-1].strip()
    flags = _separation_flags(X, a)
    exog = np.column_stack([np.ones(len(X)), X.to_numpy(dtype=float)])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            res = GLM(a, exog, family=families.Binomial()).fit()
        except np.linalg.LinAlgError:
            raise AnalysisError(f"the propensity model {label!r} cannot be fitted: covariates are collinear") from None
    sm_sep = any("separation" in str(w.message).lower() for w in caught)
    ps = np.asarray(res.fittedvalues, dtype=float)
    if not flags and (sm_sep or np.any(ps < _PS_EPS) or np.any(ps > 1 - _PS_EPS)):
        # multivariable separation: name the columns with the largest standardised coefficients
        sd = X.std(axis=0, ddof=0).to_numpy()
        size = np.abs(np.asarray(res.params)[1:]) * sd
        top = np.argsort(-size)[:2]
        flags = [f"{X.columns[i]} (fitted probabilities reach 0 or 1; largest standardised log-odds)" for i in top]
    if flags:
        warnings.warn(f"propensity model: perfect or quasi-perfect separation by {'; '.join(flags)}: some "
                      f"people can only be in one arm (no overlap); weights for them are extreme and the estimate "
                      f"rests on extrapolation. Restrict the cohort or coarsen/drop the covariate",
                      SeparationWarning, stacklevel=2)
    names = ["Intercept", *map(str, X.columns)]
    with np.errstate(invalid="ignore"):
        bse = np.asarray(res.bse, dtype=float)
    return PropensityModel(terms=tuple(map(str, X.columns)), coef=dict(zip(names, map(float, res.params))),
                           se=dict(zip(names, map(float, bse))), scores=ps, treated=a, treatment=treatment,
                           treated_level=str(treated), formula=f"{treatment} == {treated!r} ~ {label}",
                           separated=tuple(f.split(" (")[0] for f in flags),
                           _design={"X": X, "source": source})


def _weighted_var(x: np.ndarray) -> float:
    return float(np.var(x, ddof=1)) if len(x) > 1 else 0.0


def balance_table(df: pd.DataFrame | None = None, *, model: PropensityModel | None = None,
                  covariates: Sequence[str] | None = None, treatment: str = "arm", treated: Any = "peer",
                  weights: Any = None) -> pd.DataFrame:
    """Standardised mean differences of each model column before and (with ``weights``) after weighting.

    Parameters
    ----------
    df : pandas.DataFrame, optional
        The data (needed with ``covariates``).
    model : PropensityModel, optional
        Take the columns and the treatment from a fitted model instead.
    covariates, treatment, treated
        As in :func:`fit_propensity` (when no ``model`` is given).
    weights : array, optional
        Per-row weights; without them only the "before" columns are filled (``smd_after`` is NaN).

    Returns
    -------
    pandas.DataFrame
        One row per model column: ``term``, ``covariate`` (its source column), ``mean_treated``,
        ``mean_control`` (unweighted), ``mean_treated_weighted``, ``mean_control_weighted``,
        ``smd_before``, ``smd_after``. The denominator is the unweighted pooled SD (module docstring).
    """
    if model is None:
        if df is None or covariates is None:
            raise ParameterError("balance_table needs a fitted model, or df and covariates")
        a = treatment_indicator(df, treatment=treatment, treated=treated)
        X, source = _design_from_columns(df, as_list(covariates))
    else:
        a, X, source = model.treated, model._design["X"], model._design["source"]
    w = case_weights(None, weights, rows=len(a))
    t, c = a == 1, a == 0
    rows = []
    for col in X.columns:
        x = X[col].to_numpy(dtype=float)
        sd = np.sqrt((_weighted_var(x[t]) + _weighted_var(x[c])) / 2)
        mt, mc = x[t].mean(), x[c].mean()
        mtw, mcw = np.average(x[t], weights=w[t]), np.average(x[c], weights=w[c])
        with np.errstate(divide="ignore", invalid="ignore"):
            before = (mt - mc) / sd if sd > 0 else np.nan
            after = (mtw - mcw) / sd if sd > 0 else np.nan
        rows.append({"term": str(col), "covariate": source.get(col, str(col)), "mean_treated": mt,
                     "mean_control": mc, "mean_treated_weighted": mtw if weights is not None else np.nan,
                     "mean_control_weighted": mcw if weights is not None else np.nan,
                     "smd_before": before, "smd_after": after if weights is not None else np.nan})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class IPTWeights:
    """Inverse probability of treatment weights with their diagnostics.

    Attributes
    ----------
    weights : numpy.ndarray
        One weight per row (after truncation, if any).
    model : PropensityModel
        The propensity model the weights come from.
    stabilised : bool
        ``True`` for ``P(A = a) / P(A = a | x)``, ``False`` for ``1 / P(A = a | x)``.
    trim : tuple of float or None
        Percentiles at which the weights were truncated.
    trim_bounds : tuple of float or None
        The weight values at those percentiles.
    n_trimmed : int
        Rows whose weight was changed by truncation.
    ess, ess_treated, ess_control : float
        Kish effective sample sizes, overall and per arm.
    max_bound : float
        The bound above which a weight counts as extreme (see the module docstring).
    balance : pandas.DataFrame
        :func:`balance_table` before and after weighting.
    """

    weights: np.ndarray
    model: PropensityModel
    stabilised: bool
    trim: tuple[float, float] | None
    trim_bounds: tuple[float, float] | None
    n_trimmed: int
    ess: float
    ess_treated: float
    ess_control: float
    max_bound: float
    balance: pd.DataFrame

    @property
    def n(self) -> int:
        return int(len(self.weights))

    @property
    def max_abs_smd_after(self) -> float:
        return float(np.nanmax(np.abs(self.balance["smd_after"].to_numpy())))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: propensity model, weight summary (min/mean/max, ESS), truncation and balance rows."""
        w = self.weights
        return {"propensity": self.model.to_dict(), "stabilised": self.stabilised,
                "trim": list(self.trim) if self.trim else None,
                "trim_bounds": list(self.trim_bounds) if self.trim_bounds else None, "n_trimmed": self.n_trimmed,
                "n": self.n, "weight_min": float(w.min()), "weight_mean": float(w.mean()),
                "weight_max": float(w.max()), "max_bound": self.max_bound, "ess": self.ess,
                "ess_treated": self.ess_treated, "ess_control": self.ess_control,
                "balance": self.balance.to_dict(orient="records")}

    def _repr_html_(self) -> str:
        summary = (f"IPT weights ({'stabilised' if self.stabilised else 'unstabilised'}"
                   f"{', truncated at percentiles ' + str(self.trim) if self.trim else ''}): n = {self.n}, "
                   f"ESS = {self.ess:.1f} (treated {self.ess_treated:.1f}, control {self.ess_control:.1f}), "
                   f"weights in [{self.weights.min():.3f}, {self.weights.max():.3f}]")
        return paragraph(summary) + frame_table(self.balance[["term", "smd_before", "smd_after"]],
                                                caption="Standardised mean differences")


def _check_trim(trim: Any) -> tuple[float, float] | None:
    if trim is None:
        return None
    if isinstance(trim, (int, float)) and not isinstance(trim, bool):
        lo, hi = float(trim), 100.0 - float(trim)
    else:
        try:
            lo, hi = (float(v) for v in trim)
        except (TypeError, ValueError):
            raise ParameterError(f"trim must be a percentile q (meaning (q, 100 - q)) or a pair (low, high); "
                                 f"got {show(trim)}") from None
    if not (0 <= lo < hi <= 100):
        raise ParameterError(f"trim percentiles must satisfy 0 <= low < high <= 100; got ({lo:g}, {hi:g})")
    return lo, hi


def _weights_from_scores(a: np.ndarray, ps: np.ndarray, stabilised: bool,
                         trim_pct: tuple[float, float] | None) -> tuple[np.ndarray, tuple[float, float] | None, int]:
    p_treat = float(a.mean())
    num_t, num_c = (p_treat, 1 - p_treat) if stabilised else (1.0, 1.0)
    with np.errstate(divide="ignore"):
        w = np.where(a == 1, num_t / ps, num_c / (1 - ps))
    w = np.where(np.isfinite(w), w, np.finfo(float).max / 1e10)
    if trim_pct is None:
        return w, None, 0
    lo, hi = np.percentile(w, trim_pct)
    n_trimmed = int(np.sum((w < lo) | (w > hi)))
    return np.clip(w, lo, hi), (float(lo), float(hi)), n_trimmed


def refit_weights(model: PropensityModel, rows: np.ndarray, *, stabilised: bool = True,
                  trim: float | tuple[float, float] | None = None) -> np.ndarray:
    """Weights for a resample of the rows (e.g. a bootstrap), refitting the propensity model on it.

    The same maximum-likelihood fit as :func:`fit_propensity` (Newton-Raphson on the stored model matrix,
    started from the full-data estimate), without rebuilding the design or the diagnostics; for
    bootstraps, where it is many times faster.

    Raises
    ------
    AnalysisError
        The resample has one arm only, or the fit does not converge (separation in the resample).
    """
    X = model._design["X"].to_numpy(dtype=float)[rows]
    X = np.column_stack([np.ones(len(X)), X])
    a = model.treated[rows]
    if a.min() == a.max():
        raise AnalysisError("the resample holds one arm only")
    beta = np.array(list(model.coef.values()), dtype=float)
    for _ in range(50):
        eta = np.clip(X @ beta, -35, 35)
        p = 1 / (1 + np.exp(-eta))
        info = (X * (p * (1 - p))[:, None]).T @ X
        try:
            step = np.linalg.solve(info, X.T @ (a - p))
        except np.linalg.LinAlgError:
            raise AnalysisError("the propensity model is singular in the resample") from None
        beta = beta + step
        if np.max(np.abs(step)) < 1e-10 * (1 + np.max(np.abs(beta))):
            break
    else:
        raise AnalysisError("the propensity model did not converge in the resample")
    ps = 1 / (1 + np.exp(-np.clip(X @ beta, -35, 35)))
    return _weights_from_scores(a, ps, stabilised, _check_trim(trim))[0]


def iptw_weights(df: pd.DataFrame, *, covariates: Sequence[str] | None = None, formula: str | None = None,
                 treatment: str = "arm", treated: Any = "peer", stabilised: bool = True,
                 trim: float | tuple[float, float] | None = None) -> IPTWeights:
    """Inverse probability of treatment weights from a logistic propensity model.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per participant.
    covariates, formula, treatment, treated
        The propensity model, as in :func:`fit_propensity`.
    stabilised : bool, default True
        Stabilised weights ``P(A = a) / P(A = a | x)`` (mean near 1, same target) or ``1 / P(A = a | x)``.
    trim : float or (float, float), optional
        Truncate the weights at these percentiles (``1`` means ``(1, 99)``); weights outside are set to
        the bound, nobody is dropped. Truncation trades a little bias for less variance.

    Returns
    -------
    IPTWeights

    Raises
    ------
    SchemaError, AnalysisError, ParameterError
        As :func:`fit_propensity`; ``ParameterError`` for bad ``trim``.

    Warns
    -----
    ExtremeWeightsWarning
        ESS below half of n or a weight above the bound, reporting the ESS and the largest weight.
    SeparationWarning
        From :func:`fit_propensity`.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"arm": ["peer", "usual_care"] * 4, "age": [20, 30, 25, 35, 40, 30, 45, 50]})
    >>> w = iptw_weights(df, covariates=["age"])
    >>> round(float(w.weights.mean()), 2)
    1.0
    """
    trim_pct = _check_trim(trim)
    model = fit_propensity(df, covariates=covariates, formula=formula, treatment=treatment, treated=treated)
    a, ps = model.treated, model.scores
    p_treat = float(a.mean())
    w, bounds, n_trimmed = _weights_from_scores(a, ps, bool(stabilised), trim_pct)
    bound = MAX_WEIGHT if stabilised else MAX_WEIGHT / min(p_treat, 1 - p_treat)
    ess = effective_sample_size(w)
    n = len(w)
    if ess < ESS_FRACTION * n or w.max() > bound:
        why = []
        if ess < ESS_FRACTION * n:
            why.append(f"the effective sample size is {ess:.1f} of n = {n} (below {ESS_FRACTION:.0%})")
        if w.max() > bound:
            why.append(f"{int(np.sum(w > bound))} weight(s) exceed {bound:g} (largest {w.max():.3g})")
        warnings.warn(f"extreme inverse probability weights: {'; '.join(why)}; ESS = {ess:.1f}. The estimate "
                      f"leans on few people: check overlap, simplify the propensity model or truncate (trim=1)",
                      ExtremeWeightsWarning, stacklevel=2)
    w.setflags(write=False)
    return IPTWeights(weights=w, model=model, stabilised=bool(stabilised), trim=trim_pct, trim_bounds=bounds,
                      n_trimmed=n_trimmed, ess=ess, ess_treated=effective_sample_size(w[a == 1]),
                      ess_control=effective_sample_size(w[a == 0]), max_bound=float(bound),
                      balance=balance_table(model=model, weights=w))
