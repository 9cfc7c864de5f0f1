"""Weibull accelerated failure time model, as R's ``survreg(..., dist = "weibull")``.

Parameterisation (R's): ``log(T) = b0 + x'b + sigma * W`` with ``W`` the standard minimum extreme-value
distribution. ``exp(b)`` is a *time ratio* (> 1: longer retention). ``sigma`` is R's ``scale``; the Weibull
shape is ``1 / sigma`` and the Weibull scale (in days) ``exp(b0 + x'b)``. The proportional-hazards
coefficient of the same model is ``-b / sigma``. The log-likelihood is on the time scale (it includes
the ``-log t`` Jacobian of each event), as R reports it. Lifelines' ``WeibullAFTFitter`` uses another
parameterisation (rho = shape) and is not used here; a direct Newton-Raphson with the exact Hessian gives
R's standard errors (inverse observed information, log(scale) as the scale parameter).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from peerstudy.exceptions import AnalysisError, ConvergenceWarning
from peerstudy.survival._display import terms_html
from peerstudy.survival.cox.engine import prepare

__all__ = ["AftResult", "fit_weibull_aft"]

_Z975 = stats.norm.ppf(0.975)


@dataclass(frozen=True)
class AftResult:
    """A fitted Weibull AFT model.

    Attributes
    ----------
    terms : tuple of str
        Covariate terms (as in :func:`peerstudy.survival.cox.fit_cox`), without the intercept.
    coef, se : numpy.ndarray
        Log time ratios and SEs.
    intercept, intercept_se : float
        ``b0`` (log days) and its SE.
    log_scale, log_scale_se : float
        ``log(sigma)`` and its SE.
    loglik : float
        Log-likelihood (time scale, as R).
    n, events : int
    """

    terms: tuple[str, ...]
    coef: np.ndarray
    se: np.ndarray
    intercept: float
    intercept_se: float
    log_scale: float
    log_scale_se: float
    loglik: float
    n: int
    events: int

    @property
    def scale(self) -> float:
        """R's ``scale`` (sigma)."""
        return float(np.exp(self.log_scale))

    @property
    def shape(self) -> float:
        """Weibull shape ``1 / sigma`` (< 1: falling dropout hazard)."""
        return float(np.exp(-self.log_scale))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"terms": {TERM: {"coef","se","time_ratio","ci_lower","ci_upper","p"}}, "intercept",
        "log_scale", "log_scale_se", "scale", "shape", "loglik", "n", "events"}``."""
        terms = {}
        for t, c, s in zip(self.terms, self.coef, self.se):
            terms[t] = {"coef": float(c), "se": float(s), "time_ratio": float(np.exp(c)),
                        "ci_lower": float(np.exp(c - _Z975 * s)), "ci_upper": float(np.exp(c + _Z975 * s)),
                        "p": float(2 * stats.norm.sf(abs(c / s)))}
        return {"terms": terms, "intercept": {"coef": float(self.intercept), "se": float(self.intercept_se)},
                "log_scale": float(self.log_scale), "log_scale_se": float(self.log_scale_se),
                "scale": self.scale, "shape": self.shape, "loglik": float(self.loglik), "n": int(self.n),
                "events": int(self.events)}

    def _repr_html_(self) -> str:
        return terms_html("Weibull accelerated failure time", self.to_dict()["terms"], "time_ratio",
                          f"n = {self.n}, events = {self.events}, shape = {self.shape:.3f}, "
                          f"log-likelihood = {self.loglik:.3f}")


def _loglik(theta, Z, y, d):
    p = Z.shape[1]
    beta, tau = theta[:p], theta[p]
    sigma = np.exp(tau)
    z = (y - Z @ beta) / sigma
    ez = np.exp(z)
    ll = float(np.sum(d * (z - tau - y)) - np.sum(ez))
    l1 = d - ez                     # dl/dz
    l2 = -ez                        # d2l/dz2
    g = np.empty(p + 1)
    g[:p] = -(Z.T @ l1) / sigma
    g[p] = -(l1 @ z) - d.sum()
    H = np.empty((p + 1, p + 1))
    H[:p, :p] = (Z.T * l2) @ Z / sigma**2
    H[:p, p] = H[p, :p] = Z.T @ (l2 * z + l1) / sigma
    H[p, p] = np.sum(l2 * z * z + l1 * z)
    return ll, g, H


def fit_weibull_aft(df: pd.DataFrame, *, time: str = "time", event: str = "event",
                    covariates: Sequence[str] = ("arm",)) -> AftResult:
    """Fit a Weibull accelerated failure time model (time ratios), matching R's ``survreg``.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per participant.
    time, event : str
        Days in treatment (> 0) and event indicator (1 = dropout).
    covariates : sequence of str
        Covariates, coded as in :func:`peerstudy.survival.cox.fit_cox`.

    Returns
    -------
    AftResult

    Raises
    ------
    SchemaError, AnalysisError, ParameterError
        As :func:`peerstudy.survival.cox.fit_cox` for bad input; AnalysisError when the information
        matrix is singular.
    """
    data = prepare(df, time=time, event=event, covariates=covariates)
    y = np.log(data.stop)
    d = data.status.astype(float)
    Z = np.column_stack([np.ones(len(y)), data.X])
    p = Z.shape[1]
    # start from least squares on log time (R starts from a similar crude fit)
    b0, *_ = np.linalg.lstsq(Z, y, rcond=None)
    resid_sd = float(np.std(y - Z @ b0)) or 1.0
    theta = np.concatenate([b0, [np.log(resid_sd * np.sqrt(6) / np.pi)]])
    ll, g, H = _loglik(theta, Z, y, d)
    converged = False
    for _ in range(100):
        try:
            step = -np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            raise AnalysisError("the AFT information matrix is singular: covariates are collinear") from None
        if g @ step < 0:          # not an ascent direction (Hessian not negative definite): use gradient
            step = g / max(1.0, np.abs(g).max())
        t = 1.0
        for _ in range(60):
            new = theta + t * step
            ll_new, g_new, H_new = _loglik(new, Z, y, d)
            if np.isfinite(ll_new) and ll_new >= ll - 1e-12 * abs(ll):
                break
            t /= 2
        done = abs(ll_new - ll) <= 1e-13 * abs(ll_new) and np.max(np.abs(new - theta)) < 1e-7
        theta, ll, g, H = new, ll_new, g_new, H_new
        if done:
            converged = True
            break
    if not converged:
        warnings.warn("Weibull AFT fit did not converge in 100 iterations", ConvergenceWarning, stacklevel=2)
    try:
        var = np.linalg.inv(-H)
    except np.linalg.LinAlgError:
        raise AnalysisError("the AFT information matrix is singular at the estimate") from None
    se = np.sqrt(np.diag(var))
    return AftResult(terms=tuple(data.names), coef=theta[1:p], se=se[1:p], intercept=float(theta[0]),
                     intercept_se=float(se[0]), log_scale=float(theta[p]), log_scale_se=float(se[p]),
                     loglik=float(ll), n=len(y), events=int(d.sum()))
