"""Parametric accelerated failure time (AFT) models: Weibull, log-normal and log-logistic.

The model is R's ``survival::survreg``::

    log(T) = b0 + x'b + sigma * W

with ``W`` standard minimum extreme-value (``"weibull"``), standard normal (``"lognormal"``) or standard
logistic (``"loglogistic"``). ``exp(b)`` is a *time ratio*: the factor by which a covariate stretches
(> 1, longer retention) or shrinks (< 1, earlier dropout) every quantile of time in treatment. ``sigma`` is
survreg's ``scale``.

The fits are lifelines' ``WeibullAFTFitter``, ``LogNormalAFTFitter`` and ``LogLogisticAFTFitter`` (exact
gradients and Hessians by automatic differentiation), reported in survreg's parameterisation:

=============  ==========================  ======================================================
distribution   lifelines                   survreg
=============  ==========================  ======================================================
weibull        ``lambda_`` coefficients    coefficients (``log`` of the Weibull scale in days)
               ``rho_ = exp(a)``           ``scale = 1 / rho_``, ``log(scale) = -a``
lognormal      ``mu_`` coefficients        coefficients (mean of ``log T``)
               ``sigma_ = exp(a)``         ``scale = sigma_``, ``log(scale) = a``
loglogistic    ``alpha_`` coefficients     coefficients (``log`` of the median in days)
               ``beta_ = exp(a)``          ``scale = 1 / beta_``, ``log(scale) = -a``
=============  ==========================  ======================================================

``a`` is lifelines' ancillary intercept (``params_[("rho_" | "sigma_" | "beta_", "Intercept")]``); its SE
is the SE of survreg's ``Log(scale)`` (the sign flip does not change it), and the covariances of ``log(scale)``
with the coefficients change sign with it. The log-likelihood is on the time scale in both (it includes the
``-log t`` Jacobian of each event).

Numerics: covariates are centred before the fit (the intercept and its variance are then transformed back),
and lifelines' optimiser is tightened (L-BFGS-B, gradient tolerance 1e-12, relative function tolerance 1e-15).
lifelines' defaults stop short of the maximum: up to 5e-3 relative (1e-2 standard errors) for the log-logistic,
5e-5 for the Weibull and 2e-4 for the log-normal coefficients. Tightened, the fits reproduce survreg's
coefficients to about 1e-7 relative (the optimiser works on the mean log-likelihood, whose rounding leaves
about 1e-7 standard errors), its standard errors and scale to about 1e-8 and its log-likelihood to about 1e-15
(``tests/test_survival_parametric.py`` checks them against stored survreg output). If the tight fit fails to
converge, lifelines' default settings are tried and a :class:`~peerstudy.exceptions.ConvergenceWarning` says so.

Input rules (:mod:`peerstudy.survival._validate`): a missing column, a time that is missing or not > 0 and
an event that is not 0/1 raise :class:`~peerstudy.exceptions.SchemaError`; an arm column without exactly two
levels, a constant or collinear covariate, no events, and fewer events than parameters (terms + intercept +
scale) raise :class:`~peerstudy.exceptions.AnalysisError`; an unknown distribution or a column given both as
``arm=`` and as a covariate raise :class:`~peerstudy.exceptions.ParameterError`. Each message names the
column (or option) and the value. Fewer than 10 events per term warns
(:class:`~peerstudy.exceptions.PeerstudyWarning`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from peerstudy.exceptions import AnalysisError, ConvergenceWarning, ParameterError
from peerstudy.survival._display import html_table, num
from peerstudy.survival._validate import (as_list, check_choice, check_event_count, group_codes, require_columns,
                                          require_frame, time_event)
from peerstudy.survival.cox.engine import design_matrix

__all__ = ["AFTFamilyResult", "fit_aft", "compare_aft", "DISTRIBUTIONS"]

#: the supported error distributions, in survreg's spelling
DISTRIBUTIONS = ("weibull", "lognormal", "loglogistic")

_Z975 = stats.norm.ppf(0.975)
_LABEL = {"weibull": "Weibull", "lognormal": "log-normal", "loglogistic": "log-logistic"}
# lifelines fitter, its location parameter, its ancillary parameter, sign of log(scale) in the ancillary one
_LIFELINES = {
    "weibull": ("WeibullAFTFitter", "lambda_", "rho_", -1.0),
    "lognormal": ("LogNormalAFTFitter", "mu_", "sigma_", 1.0),
    "loglogistic": ("LogLogisticAFTFitter", "alpha_", "beta_", -1.0),
}
_TIGHT_METHOD = "L-BFGS-B"
_TIGHT_OPTIONS = {"gtol": 1e-12, "ftol": 1e-15, "maxiter": 1000}


@dataclass(frozen=True)
class AFTFamilyResult:
    """A fitted parametric AFT model, in R ``survreg``'s parameterisation.

    Attributes
    ----------
    distribution : str
        ``"weibull"``, ``"lognormal"`` or ``"loglogistic"``.
    terms : tuple of str
        Model terms without the intercept: ``arm[peer]`` first when an arm was given, then the
        covariates (numeric as ``COL``, categorical as ``COL[LEVEL]``, as in :func:`peerstudy.survival.cox.fit_cox`).
    coef, se : numpy.ndarray
        Log time ratios and their standard errors (inverse observed information).
    intercept, intercept_se : float
        ``b0`` (log days, at covariates 0) and its SE.
    scale : float
        survreg's ``scale`` (sigma). Weibull shape = log-logistic shape = ``1 / scale``.
    log_scale, log_scale_se : float
        ``log(scale)`` and its SE (survreg's ``Log(scale)`` row).
    vcov : numpy.ndarray
        Variance matrix of ``(intercept, *coef, log_scale)``, as R's ``vcov(fit)``.
    loglik : float
        Log-likelihood at the estimate (time scale, as R reports it).
    n, events : int
        Rows and events (dropouts).
    optimizer : str
        How the maximum was found (the tight settings, or lifelines' defaults after a failed tight fit).
    """

    distribution: str
    terms: tuple[str, ...]
    coef: np.ndarray
    se: np.ndarray
    intercept: float
    intercept_se: float
    scale: float
    log_scale: float
    log_scale_se: float
    vcov: np.ndarray
    loglik: float
    n: int
    events: int
    optimizer: str

    @property
    def n_params(self) -> int:
        """Estimated parameters: intercept, terms and scale (R's ``AIC`` degrees of freedom)."""
        return len(self.terms) + 2

    @property
    def aic(self) -> float:
        """Akaike's information criterion, ``-2 loglik + 2 n_params`` (R's ``AIC(fit)``)."""
        return float(-2.0 * self.loglik + 2.0 * self.n_params)

    @property
    def shape(self) -> float:
        """lifelines' ancillary parameter: ``rho_`` (Weibull), ``sigma_`` (log-normal) or ``beta_`` (log-logistic)."""
        return float(self.scale if self.distribution == "lognormal" else 1.0 / self.scale)

    @property
    def z(self) -> np.ndarray:
        """Wald statistics ``coef / se``."""
        return self.coef / self.se

    @property
    def p(self) -> np.ndarray:
        """Two-sided Wald p-values."""
        return 2.0 * stats.norm.sf(np.abs(self.z))

    @property
    def ci(self) -> tuple[np.ndarray, np.ndarray]:
        """95% Wald interval of the coefficients (log time ratios): ``(lower, upper)``."""
        return self.coef - _Z975 * self.se, self.coef + _Z975 * self.se

    @property
    def time_ratio(self) -> np.ndarray:
        """Time ratios ``exp(coef)``."""
        return np.exp(self.coef)

    @property
    def time_ratio_ci(self) -> tuple[np.ndarray, np.ndarray]:
        """95% interval of the time ratios: ``(lower, upper)``."""
        lo, hi = self.ci
        return np.exp(lo), np.exp(hi)

    def to_frame(self) -> pd.DataFrame:
        """One row per term: coef, se, z, p, coef CI, time ratio and its CI."""
        lo, hi = self.ci
        return pd.DataFrame({"coef": self.coef, "se": self.se, "z": self.z, "p": self.p,
                             "coef_lower": lo, "coef_upper": hi, "time_ratio": self.time_ratio,
                             "ci_lower": np.exp(lo), "ci_upper": np.exp(hi)},
                            index=pd.Index(self.terms, name="term"))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"model", "distribution", "terms": {TERM: {"coef", "se", "z", "p", "coef_lower",
        "coef_upper", "time_ratio", "ci_lower", "ci_upper"}}, "intercept": {"coef", "se"}, "scale",
        "log_scale", "log_scale_se", "shape", "loglik", "aic", "n_params", "n", "events", "optimizer"}``
        (``ci_lower``/``ci_upper`` bound the time ratio)."""
        terms = {t: {k: float(v) for k, v in row.items()} for t, row in self.to_frame().iterrows()}
        return {"model": "aft", "distribution": self.distribution, "terms": terms,
                "intercept": {"coef": float(self.intercept), "se": float(self.intercept_se)},
                "scale": float(self.scale), "log_scale": float(self.log_scale),
                "log_scale_se": float(self.log_scale_se), "shape": self.shape, "loglik": float(self.loglik),
                "aic": self.aic, "n_params": self.n_params, "n": int(self.n), "events": int(self.events),
                "optimizer": self.optimizer}

    def _repr_html_(self) -> str:
        rows = [(t, num(r.coef, ".4f"), num(r.se, ".4f"), num(r.z, ".2f"), num(r.p, ".3g"), num(r.time_ratio),
                 f"{num(r.ci_lower)} – {num(r.ci_upper)}") for t, r in self.to_frame().iterrows()]
        foot = (f"n = {self.n}, events = {self.events}, scale = {self.scale:.4f}, "
                f"log-likelihood = {self.loglik:.3f}, AIC = {self.aic:.2f}")
        return html_table(("term", "coef", "SE", "z", "p", "time ratio", "95% CI"), rows,
                          caption=f"{_LABEL[self.distribution]} accelerated failure time", footer=foot)


def _check_distribution(distribution: object) -> str:
    return check_choice(distribution, DISTRIBUTIONS, name="distribution")


def _design(df: pd.DataFrame, *, covariates: Sequence[str], time: str, event: str,
            arm: str | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    require_frame(df)
    covariates = as_list(covariates)
    if arm is not None and arm in covariates:
        raise ParameterError(f"column {arm!r} is both arm= and one of the covariates; give it once "
                             f"(arm= enters it as {arm}[peer])")
    require_columns(df, [time, event, arm, *covariates])
    t, e = time_event(df, time, event)
    cols: list[np.ndarray] = []
    names: list[str] = []
    if arm is not None:
        codes, labels = group_codes(df, arm, role="arm")
        if len(labels) != 2:
            raise AnalysisError(f"column {arm!r} (arm) must have exactly two levels (usual_care and peer); "
                                f"it has {len(labels)}: {', '.join(map(repr, labels))}")
        cols.append(codes.astype(float))
        names.append(f"{arm}[{labels[1]}]")
    if covariates:
        X, cov_names, _ = design_matrix(df, covariates)
        cols.extend(X.T)
        names.extend(cov_names)
    X = np.column_stack(cols) if cols else np.zeros((len(df), 0))
    p = X.shape[1]
    if p and np.linalg.matrix_rank(np.column_stack([np.ones(len(t)), X - X.mean(axis=0)])) < p + 1:
        raise AnalysisError(f"the model terms are collinear ({', '.join(names)}): "
                            f"one of them is a combination of the others; drop it")
    check_event_count(e, event=event, params=["intercept", *names, "scale"], unit="parameter", terms=p,
                      stacklevel=3)
    return t, e, X, names


def _lifelines_fit(distribution: str, frame: pd.DataFrame, method: str | None, options: dict | None):
    import lifelines
    from lifelines.exceptions import ConvergenceError

    cls_name, *_ = _LIFELINES[distribution]
    fitter = getattr(lifelines, cls_name)()
    if method is not None:
        fitter._scipy_fit_method = method
    try:
        fitter.fit(frame, duration_col="T", event_col="E", fit_options=options)
    except ConvergenceError:
        return None
    return fitter


def fit_aft(df: pd.DataFrame, *, distribution: str = "weibull", covariates: Sequence[str] = (),
            time: str = "time", event: str = "event", arm: str | None = "arm") -> AFTFamilyResult:
    """Fit a Weibull, log-normal or log-logistic accelerated failure time model (time ratios).

    Agrees with R's ``survreg(Surv(time, event) ~ arm + covariates, dist = distribution)``; see the module
    docstring for the parameterisation (lifelines' ``rho_``/``sigma_``/``beta_`` against survreg's ``scale``).

    Parameters
    ----------
    df : pandas.DataFrame
        One row per participant.
    distribution : {"weibull", "lognormal", "loglogistic"}
        Error distribution of ``log T``.
    covariates : sequence of str
        Further covariates: numeric columns enter as they are, categorical ones as indicators
        (``COL[LEVEL]``) against a reference level, as in :func:`peerstudy.survival.cox.fit_cox`.
    time, event : str
        Days in treatment (> 0) and event indicator (1 = dropout, 0 = censored).
    arm : str or None
        Two-level treatment column, entered first as the indicator ``arm[peer]`` (peer against
        usual_care; another two-level column against its first sorted level). ``None``: no arm term.

    Returns
    -------
    AFTFamilyResult

    Raises
    ------
    SchemaError
        ``df`` is not a non-empty DataFrame; a named column is missing; times missing or not > 0;
        events not 0/1.
    AnalysisError
        An arm without exactly two levels; a constant, single-level or collinear covariate; no events
        or fewer events than parameters; or a fit that does not converge.
    ParameterError
        An unknown distribution; the arm also given as a covariate.

    Warns
    -----
    PeerstudyWarning
        Fewer than 10 events per term.
    ConvergenceWarning
        The tight fit failed and lifelines' default tolerance was used instead.

    Examples
    --------
    Time to return to drug use in the UMARU Impact Study: the longer planned programme (``TREAT``)
    stretches time to relapse by about 30% under a log-normal model.

    >>> from peerstudy.data.datasets import load_uis
    >>> fit = fit_aft(load_uis(), distribution="lognormal", covariates=["TREAT", "AGE", "BECK", "IV3"],
    ...               time="TIME", event="CENSOR", arm=None)
    >>> fit.terms
    ('TREAT', 'AGE', 'BECK', 'IV3')
    >>> round(float(fit.time_ratio[0]), 3), round(fit.scale, 4), round(fit.loglik, 2)
    (1.305, 1.2498, -3070.25)

    A two-arm trial simulated with a time ratio of 1.5 for peer support:

    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(7)
    >>> peer = rng.integers(0, 2, 400)
    >>> t = np.exp(4.0 + np.log(1.5) * peer + 0.8 * rng.standard_normal(400))
    >>> trial = pd.DataFrame({"arm": np.where(peer == 1, "peer", "usual_care"),
    ...                       "time": np.ceil(np.minimum(t, 180)), "event": (t <= 180).astype(int)})
    >>> fit = fit_aft(trial, distribution="lognormal")
    >>> fit.terms, fit.n, fit.events
    (('arm[peer]',), 400, 366)
    >>> round(float(fit.time_ratio[0]), 2), round(fit.scale, 2)
    (1.51, 0.75)
    """
    distribution = _check_distribution(distribution)
    t, e, X, names = _design(df, covariates=covariates, time=time, event=event, arm=arm)
    p = X.shape[1]
    means = X.mean(axis=0)
    cols = [f"x{j}" for j in range(p)]
    frame = pd.DataFrame(X - means, columns=cols)
    frame["T"] = t
    frame["E"] = e.astype(int)

    fitter = _lifelines_fit(distribution, frame, _TIGHT_METHOD, dict(_TIGHT_OPTIONS))
    optimizer = f"{_TIGHT_METHOD} ({', '.join(f'{k} {v:g}' for k, v in _TIGHT_OPTIONS.items())})"
    if fitter is None:
        fitter = _lifelines_fit(distribution, frame, None, None)
        if fitter is None:
            raise AnalysisError(f"the {_LABEL[distribution]} AFT fit did not converge "
                                f"(terms: {', '.join(names) or 'none'}); check for extreme times or covariates")
        optimizer = f"lifelines default ({fitter._scipy_fit_method})"
        warnings.warn(f"the {_LABEL[distribution]} AFT fit did not converge with the tight tolerance; "
                      f"lifelines' default tolerance was used, so estimates may be off the maximum by up to about "
                      f"0.01 standard errors", ConvergenceWarning, stacklevel=2)

    _, loc, anc, sign = _LIFELINES[distribution]
    order = [(loc, "Intercept"), *[(loc, c) for c in cols], (anc, "Intercept")]
    theta_l = fitter.params_.loc[order].to_numpy(dtype=float)
    var_l = fitter.variance_matrix_.loc[order, order].to_numpy(dtype=float)
    # survreg's (b0, b, log scale) = A @ lifelines' (b0 centred, b, ancillary intercept)
    A = np.eye(p + 2)
    A[0, 1:p + 1] = -means
    A[p + 1, p + 1] = sign
    theta = A @ theta_l
    var = A @ var_l @ A.T
    var = (var + var.T) / 2
    diag = np.diag(var)
    if not np.all(np.isfinite(diag)) or np.any(diag <= 0) or not np.all(np.isfinite(theta)):
        raise AnalysisError(f"the {_LABEL[distribution]} AFT information matrix is singular at the estimate "
                            f"(terms: {', '.join(names) or 'none'}): a term may be (nearly) collinear "
                            f"or not identified")
    se = np.sqrt(diag)
    return AFTFamilyResult(
        distribution=distribution, terms=tuple(names), coef=theta[1:p + 1], se=se[1:p + 1],
        intercept=float(theta[0]), intercept_se=float(se[0]), scale=float(np.exp(theta[p + 1])),
        log_scale=float(theta[p + 1]), log_scale_se=float(se[p + 1]), vcov=var,
        loglik=float(fitter.log_likelihood_), n=len(t), events=int(e.sum()), optimizer=optimizer)


def compare_aft(df: pd.DataFrame, *, covariates: Sequence[str] = (), time: str = "time", event: str = "event",
                arm: str | None = "arm", distributions: Sequence[str] = DISTRIBUTIONS) -> pd.DataFrame:
    """Fit each AFT family with the same terms and tabulate AIC, best first.

    Parameters
    ----------
    df, covariates, time, event, arm
        As :func:`fit_aft`.
    distributions : sequence of str
        The families to fit (default all three).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``distribution``, sorted by AIC: ``loglik``, ``n_params``, ``aic``, ``delta_aic``
        (AIC minus the smallest), ``aic_weight`` (Akaike weight, ``exp(-delta/2)`` normalised), ``scale``
        (survreg's sigma) and, when an arm was given, ``time_ratio`` of the arm term with ``ci_lower``,
        ``ci_upper``.

    Raises
    ------
    SchemaError, AnalysisError, ParameterError
        As :func:`fit_aft`; ParameterError also for an empty or repeated list of distributions.

    Examples
    --------
    The log-logistic fits the UIS relapse times best (its hazard rises, then falls):

    >>> from peerstudy.data.datasets import load_uis
    >>> table = compare_aft(load_uis(), covariates=["TREAT", "AGE", "BECK", "IV3"], time="TIME",
    ...                     event="CENSOR", arm=None)
    >>> table[["loglik", "aic", "delta_aic"]].round(2)  # doctest: +NORMALIZE_WHITESPACE
                   loglik      aic  delta_aic
    distribution
    loglogistic  -3065.19  6142.38       0.00
    lognormal    -3070.25  6152.50      10.12
    weibull      -3092.36  6196.71      54.33
    """
    dists = as_list(distributions)
    if not dists:
        raise ParameterError("distributions is empty: give at least one of "
                             f"{', '.join(map(repr, DISTRIBUTIONS))}")
    for d in dists:
        _check_distribution(d)
    if len(set(dists)) != len(dists):
        raise ParameterError(f"distributions has repeats: {dists!r}")
    rows = []
    for d in dists:
        fit = fit_aft(df, distribution=d, covariates=covariates, time=time, event=event, arm=arm)
        row = {"distribution": d, "loglik": fit.loglik, "n_params": fit.n_params, "aic": fit.aic,
               "scale": fit.scale}
        if arm is not None:
            lo, hi = fit.time_ratio_ci
            row.update(time_ratio=float(fit.time_ratio[0]), ci_lower=float(lo[0]), ci_upper=float(hi[0]))
        rows.append(row)
    table = pd.DataFrame(rows).set_index("distribution").sort_values("aic", kind="stable")
    delta = table["aic"] - table["aic"].min()
    w = np.exp(-delta / 2)
    table.insert(3, "delta_aic", delta)
    table.insert(4, "aic_weight", w / w.sum())
    return table
