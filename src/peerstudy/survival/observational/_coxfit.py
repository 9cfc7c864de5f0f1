"""A Cox model as the standardisation estimators need it: predictions for counterfactual rows and influence functions.

:func:`fit_cox_model` fits ``coxph`` with :func:`peerstudy.survival.cox.fit_cox` and keeps what prediction
needs: the baseline hazard increments of R's ``survfit.coxph`` / ``riskRegression::predictCox`` (Breslow, or
Efron's tie correction with ``ties="efron"``), the risk-set sums and the influence functions of the
coefficients and of the cumulative baseline hazard in the form of ``riskRegression::iidCox``:

* ``iid_beta[i] = V U_i`` with ``V`` the inverse information and ``U_i`` the Breslow-type score residual
  ``delta_i (x_i - E(T_i)) - exp(eta_i) sum_{t_j <= T_i} (x_i - E(t_j)) dN(t_j) / S0(t_j)``;
* ``iid_cumhaz[i](t) = sum_{t_j <= t} (dN_i(t_j) - Y_i(t_j) exp(eta_i) dL0(t_j)) / S0(t_j) - H(t)' iid_beta[i]``
  with ``H(t) = sum_{t_j <= t} E(t_j) dL0(t_j)``.

Both are on the "iid" scale of riskRegression (an influence function divided by ``n``): a variance is the sum
of squares. Covariates are centred at their means (the baseline is that of the mean covariate); predictions use
the same centring, so nothing depends on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from peerstudy.exceptions import AnalysisError
from peerstudy.survival.cox.engine import CoxData, _Engine, _newton, design_matrix, fit_cox

__all__ = ["CoxModel", "fit_cox_model", "refit_beta", "arm_log_hr"]


@dataclass(frozen=True)
class CoxModel:
    """A fitted Cox model with its baseline hazard, for predictions and influence functions.

    Attributes
    ----------
    terms : tuple of str
    beta : numpy.ndarray
    var : numpy.ndarray
        Inverse information (model-based variance).
    X : numpy.ndarray
        Centred design (``n x p``); ``means`` the centring.
    time, status : numpy.ndarray
    etimes : numpy.ndarray
        Distinct event times, increasing.
    dlam : numpy.ndarray
        Baseline hazard increments at ``etimes`` (for the centred covariates).
    ties : str
    """

    terms: tuple[str, ...]
    beta: np.ndarray
    var: np.ndarray
    X: np.ndarray
    means: np.ndarray
    time: np.ndarray
    status: np.ndarray
    etimes: np.ndarray
    dlam: np.ndarray
    S0: np.ndarray
    E: np.ndarray
    ties: str

    @property
    def n(self) -> int:
        return int(len(self.time))

    def centred(self, X: np.ndarray) -> np.ndarray:
        """Centre a raw design (same columns as the model) as the model's own."""
        return np.asarray(X, dtype=float) - self.means

    def cumhaz_at(self, times: Sequence[float]) -> np.ndarray:
        """Cumulative baseline hazard at ``times`` (right-continuous step function)."""
        idx = np.searchsorted(self.etimes, np.asarray(times, dtype=float), side="right")
        return np.concatenate([[0.0], np.cumsum(self.dlam)])[idx]

    def cumhaz_before(self, times: Sequence[float]) -> np.ndarray:
        """Cumulative baseline hazard just before ``times`` (left limit)."""
        idx = np.searchsorted(self.etimes, np.asarray(times, dtype=float), side="left")
        return np.concatenate([[0.0], np.cumsum(self.dlam)])[idx]

    def linear_predictor(self, X: np.ndarray | None = None) -> np.ndarray:
        """``exp`` of the centred linear predictor of the model's rows (or of a centred design ``X``)."""
        return np.exp((self.X if X is None else X) @ self.beta)

    def n_before(self, times: Sequence[float]) -> np.ndarray:
        """Number of event times ``<= t`` for each ``t``."""
        return np.searchsorted(self.etimes, np.asarray(times, dtype=float), side="right")

    def iid_beta(self, *, tie_counts: bool = True) -> np.ndarray:
        """Influence of each row on the coefficients (``n x p``, riskRegression's ``IFbeta`` scale).

        With ``tie_counts=True`` this is R's ``residuals(coxph, "dfbeta")`` (Breslow score residual); with
        ``False`` the compensator counts one event per distinct event time, as ``riskRegression::iidCox``
        (version 2022.11.28) does: the two agree without tied event times.
        """
        eta = self.X @ self.beta
        r = np.exp(eta)
        k = self.n_before(self.time)  # event times <= T_i
        dN = self.dlam_breslow_counts() if tie_counts else np.ones(len(self.etimes))
        inc = dN / self.S0                                  # dN(t_j) / S0(t_j)
        c0 = np.concatenate([[0.0], np.cumsum(inc)])
        c1 = np.vstack([np.zeros((1, self.X.shape[1])), np.cumsum(self.E * inc[:, None], axis=0)])
        U = -r[:, None] * (self.X * c0[k][:, None] - c1[k])
        dead = self.status == 1
        U[dead] += self.X[dead] - self.E[k[dead] - 1]
        return U @ self.var

    def dlam_breslow_counts(self) -> np.ndarray:
        """Number of events at each distinct event time."""
        dead = self.status == 1
        return np.bincount(np.searchsorted(self.etimes, self.time[dead]), minlength=len(self.etimes)).astype(float)

    def iid_cumhaz(self, times: Sequence[float], iid_beta: np.ndarray | None = None,
                   rows: slice | None = None) -> np.ndarray:
        """Influence of each row (or of ``rows``) on the cumulative baseline hazard at ``times`` (rows x times)."""
        rows = slice(None) if rows is None else rows
        ib = (self.iid_beta() if iid_beta is None else iid_beta)[rows]
        kt = self.n_before(times)                       # event times <= t
        ki = self.n_before(self.time[rows])             # event times <= T_i (Y_i(t_j) = 1 for j < ki)
        r = np.exp(self.X[rows] @ self.beta)
        dead = self.status[rows] == 1
        inv_s0 = np.concatenate([[0.0], 1.0 / self.S0])
        c = np.concatenate([[0.0], np.cumsum(self.dlam / self.S0)])
        H = np.vstack([np.zeros((1, self.X.shape[1])), np.cumsum(self.E * self.dlam[:, None], axis=0)])
        # jump of row i's own event, counted where t >= T_i
        own = np.where(dead[:, None] & (ki[:, None] <= kt[None, :]), inv_s0[ki][:, None], 0.0)
        at_risk = r[:, None] * c[np.minimum(ki[:, None], kt[None, :])]
        return own - at_risk - ib @ H[kt].T


def _baseline(X: np.ndarray, beta: np.ndarray, time: np.ndarray, status: np.ndarray, efron: bool):
    """Distinct event times, baseline hazard increments, risk-set sums S0 and means E at them."""
    r = np.exp(X @ beta)
    dead = status == 1
    etimes = np.unique(time[dead])
    if len(etimes) == 0:
        raise AnalysisError("no events: the Cox model has no baseline hazard")
    order = np.argsort(time, kind="stable")
    ts = time[order]
    rs = r[order]
    rev0 = np.concatenate([np.cumsum(rs[::-1])[::-1], [0.0]])
    rev1 = np.vstack([np.cumsum((rs[:, None] * X[order])[::-1], axis=0)[::-1], np.zeros((1, X.shape[1]))])
    first = np.searchsorted(ts, etimes, side="left")
    S0 = rev0[first]
    E = rev1[first] / S0[:, None]
    j = np.searchsorted(etimes, time[dead])
    d = np.bincount(j, minlength=len(etimes)).astype(float)
    if not efron:
        return etimes, d / S0, S0, E
    D = np.bincount(j, weights=r[dead], minlength=len(etimes))
    # Efron: sum over k = 0..d-1 of 1 / (S0 - k/d D), one term per death
    jj = np.repeat(np.arange(len(etimes)), d.astype(int))
    start = np.concatenate([[0], np.cumsum(d.astype(int))[:-1]])
    k = np.arange(len(jj)) - start[jj]
    dlam = np.bincount(jj, weights=1.0 / (S0[jj] - k / d[jj] * D[jj]), minlength=len(etimes))
    return etimes, dlam, S0, E


def _model(terms, beta, var, X, means, time, status, ties) -> CoxModel:
    Xc = X - means
    etimes, dlam, S0, E = _baseline(Xc, beta, time, status, ties == "efron")
    return CoxModel(terms=tuple(terms), beta=beta, var=var, X=Xc, means=means, time=time, status=status,
                    etimes=etimes, dlam=dlam, S0=S0, E=E, ties=ties)


def fit_cox_model(df: pd.DataFrame, *, time: str, event: str, covariates: Sequence[str],
                  ties: str = "efron") -> CoxModel:
    """Fit ``coxph(Surv(time, event) ~ covariates)`` and return the :class:`CoxModel` (errors as ``fit_cox``)."""
    fit = fit_cox(df, time=time, event=event, covariates=list(covariates), ties=ties)
    data = fit.internals["data"]
    X = np.asarray(data.X, dtype=float)
    return _model(fit.terms, np.asarray(fit.coef, dtype=float), np.asarray(fit.internals["naive_var"]), X,
                  X.mean(axis=0), np.asarray(data.stop, dtype=float), np.asarray(data.status), ties)


def refit_beta(X: np.ndarray, time: np.ndarray, status: np.ndarray, *, ties: str, terms: Sequence[str],
               beta0: np.ndarray | None = None) -> CoxModel:
    """Refit the model on a resample (raw design ``X``), without the checks and diagnostics of ``fit_cox``.

    Newton-Raphson on the partial likelihood of the Cox engine, started from ``beta0`` (the full-data
    estimate: a resample's maximum is near it, so two or three steps reach it).

    Raises
    ------
    AnalysisError
        No events in the resample or a singular information matrix.
    """
    status = np.asarray(status, dtype=np.int64)
    if status.sum() == 0:
        raise AnalysisError("no events in the resample")
    n, p = X.shape
    data = CoxData(np.ascontiguousarray(X), np.asarray(time, dtype=float), None, status, np.ones(n),
                   np.zeros(n, dtype=np.int64), None, list(terms), {})
    engine = _Engine(data, efron=ties == "efron")
    if beta0 is None:
        beta = _newton(engine, p)[0]
    else:
        beta = _newton_from(engine, np.asarray(beta0, dtype=float))
    if not np.all(np.isfinite(beta)):
        raise AnalysisError("the Cox model did not converge in the resample")
    return _model(terms, beta, np.full((p, p), np.nan), X, X.mean(axis=0), data.stop, status, ties)


def _newton_from(engine: _Engine, beta: np.ndarray, max_iter: int = 30) -> np.ndarray:
    """Newton-Raphson with step halving from ``beta``; stops when the step is below 1e-9 (relative)."""
    ev = engine.evaluate(beta)
    for _ in range(max_iter):
        try:
            step = np.linalg.solve(ev["info"], ev["score"])
        except np.linalg.LinAlgError:
            raise AnalysisError("the Cox model is singular in the resample") from None
        new = beta + step
        ev_new = engine.evaluate(new)
        halvings = 0
        while not np.isfinite(ev_new["ll"]) or ev_new["ll"] < ev["ll"] - 1e-12 * abs(ev["ll"]):
            new = (new + beta) / 2
            ev_new = engine.evaluate(new)
            halvings += 1
            if halvings > 30:
                raise AnalysisError("the Cox model did not converge in the resample")
        done = np.max(np.abs(new - beta)) < 1e-9 * (1 + np.max(np.abs(new)))
        beta, ev = new, ev_new
        if done:
            return beta
    raise AnalysisError("the Cox model did not converge in the resample")


def arm_log_hr(a: np.ndarray, time: np.ndarray, status: np.ndarray, weights: np.ndarray, *, ties: str,
               beta0: float) -> float:
    """Weighted Cox log hazard ratio of a 0/1 arm alone, for resamples: Newton-Raphson from ``beta0`` (the
    full-data estimate) without the checks and robust SE of ``fit_cox``."""
    n = len(time)
    data = CoxData(np.ascontiguousarray(np.asarray(a, dtype=float)[:, None]), np.asarray(time, dtype=float), None,
                   np.asarray(status, dtype=np.int64), np.asarray(weights, dtype=float), np.zeros(n, dtype=np.int64),
                   None, ["arm"], {})
    return float(_newton_from(_Engine(data, efron=ties == "efron"), np.array([float(beta0)]))[0])


def design(df: pd.DataFrame, covariates: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """The raw Cox design matrix and its term names (the engine's dummy coding)."""
    X, names, _ = design_matrix(df, list(covariates))
    return X, names
