"""Doubly robust (AIPW) and inverse-probability-weighted risks of dropout, with censoring weights, as R's
``riskRegression::ate`` (estimators ``AIPTW`` and ``IPTW``).

Three working models, each fitted once:

* the **propensity** model ``pi(x) = P(treated | x)``, logistic (:func:`.weighting.fit_propensity`);
* the **outcome** model, a Cox model of dropout on the arm and the covariates (as :mod:`.gformula`), giving
  ``F(t | a, x) = 1 - S(t | a, x)``;
* the **censoring** model, a Cox model of censoring (``event == 0``) on the arm and covariates (by default those of
  the outcome model), giving ``G(t | z)``, the probability of still being observed at ``t``.

With ``W_a = 1{A = a} / pi_a(x)``, ``Y(t) = 1{T <= t, dropout}`` and the censoring weight
``C(t) / G(min(T, t)- | z)`` (``C(t) = 0`` for people censored by ``t``):

    IPTW:  F_a(t) = mean( W_a C(t) Y(t) / G(min(T, t)-) )
    AIPW:  F_a(t) = mean( F(t | a, x) + W_a [ C(t) Y(t) / G(min(T, t)-) - F(t | a, x) + A_c(t) ] )

where ``A_c(t) = int_0^{min(t, T)} (F(t | x) - F(u | x)) / (S(u- | x) G(u- | z)) dM_c(u)`` is the augmentation
for censoring, ``dM_c`` the censoring martingale of the censoring model (Ozenne, Scheike, Staerk and Gerds 2020,
Biometrical Journal 62:751). AIPW is consistent if the propensity model or the outcome model is right (with a
right censoring model); IPTW needs the propensity and censoring models. **Estimand**: the average effect over
the cohort (ATE), as the g-formula. The retention curve of each arm is ``1 - F_a``; the RMST is its area up
to ``tau`` (the AIPW curve need not be monotone).

Censoring times are taken once each (distinct times): with tied censoring times riskRegression 2022.11.28 adds
the jump at a time once per person censored then, so the two agree exactly when no two censorings share a time.

Uncertainty, ``se="influence"``: the influence function with the three models treated as known
(riskRegression's ``known.nuisance = TRUE``), which is the efficient one when all are right; ``se="bootstrap"``
refits all three models in every resample (the honest choice when a model may be wrong).
"""

from __future__ import annotations

import warnings
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from peerstudy.exceptions import AnalysisError, ParameterError, PeerstudyWarning
from peerstudy.survival._validate import (as_list, require_frame, time_event)
from peerstudy.survival.observational._coxfit import CoxModel, fit_cox_model, refit_beta
from peerstudy.survival.observational.gformula import (N_BOOT, AdjustedRisk, _arm_design, _check_options, _resolve_seed,
                                                       assemble)
from peerstudy.survival.observational.weighting import fit_propensity

__all__ = ["aipw_survival", "ESTIMATORS", "AIPW_ESTIMAND", "IPTW_ESTIMAND"]

#: censoring jump times taken once each (see the module docstring); ``False`` reproduces riskRegression 2022.11.28
_DISTINCT_CENSORING = True
#: people per block in the per-person terms (bounds the memory of the n x time-points matrices)
_BLOCK = 2048
#: the weighted estimators of :func:`aipw_survival`
ESTIMATORS = ("iptw", "aipw")
AIPW_ESTIMAND = ("ATE: the average over the cohort of each person's risk under each arm (doubly robust: "
                 "propensity and Cox outcome models, censoring weights)")
IPTW_ESTIMAND = ("ATE: the average over the cohort of each person's risk under each arm (inverse probability of "
                 "treatment and censoring weights)")


def _terms(T: np.ndarray, dead: np.ndarray, A: np.ndarray, ps: np.ndarray, out: CoxModel, cens: CoxModel | None,
           pts: np.ndarray, at: np.ndarray, widths: np.ndarray, t0: float) -> dict[str, dict[str, np.ndarray]]:
    """The IPTW and AIPW risks from per-person terms whose means they are.

    For each estimator: ``"mean"`` (``2 x T``, the risk at every point), ``"at"`` (``2 x n x H``, the terms at the
    horizons) and ``"rmst"`` (``2 x n``, each person's term of the RMST). People are taken in blocks of
    :data:`_BLOCK`, so memory grows with ``n`` times the number of horizons, not times the number of time points."""
    n = len(T)
    L = out.cumhaz_at(pts)
    r_obs = out.linear_predictor()
    W = np.stack([(A == 0) / (1 - ps), (A == 1) / ps])
    r_arm = []
    for value in (0.0, 1.0):
        Xa = out.X.copy()
        Xa[:, 0] = value - out.means[0]
        r_arm.append(out.linear_predictor(Xa))
    u = np.zeros(0)
    if cens is not None:
        rc = cens.linear_predictor()
        if _DISTINCT_CENSORING:
            u = cens.etimes[cens.etimes <= pts.max()]
            dlam = cens.dlam[:len(u)]
            L_prev = cens.cumhaz_before(u)
        else:  # riskRegression 2022.11.28: one jump per censored person, G at the previous person's time
            u = np.sort(T[~dead])
            u = u[u < pts.max()]
            dlam = cens.dlam[np.searchsorted(cens.etimes, u)]
            L_prev = cens.cumhaz_at(np.concatenate([[0.0], u[:-1]]))
        L_u_before, L_u = out.cumhaz_before(u), out.cumhaz_at(u)
        k = np.searchsorted(u, pts, side="right")          # jumps <= t
    res = {name: {"mean": np.zeros((2, len(pts))), "at": np.empty((2, n, len(at))), "rmst": np.empty((2, n))}
           for name in ESTIMATORS}
    for lo in range(0, n, _BLOCK):
        b = slice(lo, min(lo + _BLOCK, n))
        Tb, db, rb = T[b], dead[b], r_obs[b]
        F_obs = 1 - np.exp(-np.outer(rb, L))
        by_t = Tb[:, None] <= pts[None, :]
        obs = (by_t & db[:, None]).astype(float)
        aug = 0.0
        if cens is not None:
            rcb = rc[b]
            tmin = np.minimum(Tb[:, None], pts[None, :])
            G = np.exp(-cens.cumhaz_before(tmin.ravel()).reshape(tmin.shape) * rcb[:, None])
            obs /= G                                       # obs is 0 wherever C(t) = 0 (censored by t)
            if len(u):
                dM = ((Tb[:, None] == u[None, :]) & ~db[:, None]) - dlam[None, :] * rcb[:, None]
                denom = np.exp(-np.outer(rcb, L_prev) - np.outer(rb, L_u_before))      # G(u-) S(u-)
                integrand = np.where(u[None, :] <= Tb[:, None], dM / denom, 0.0)
                F_u = 1 - np.exp(-np.outer(rb, L_u))
                z = np.zeros((len(Tb), 1))
                I1 = np.hstack([z, np.cumsum(integrand, axis=1)])[:, k]
                I2 = np.hstack([z, np.cumsum(F_u * integrand, axis=1)])[:, k]
                aug = F_obs * I1 - I2
        for a in (0, 1):
            F_a = 1 - np.exp(-np.outer(r_arm[a][b], L))
            w = W[a][b][:, None]
            for name in ESTIMATORS:
                term = w * obs if name == "iptw" else F_a + w * (obs - F_a + aug)
                res[name]["mean"][a] += term.sum(axis=0)
                res[name]["at"][a, b] = term[:, at]
                res[name]["rmst"][a, b] = t0 + (1 - term) @ widths
    for name in ESTIMATORS:
        res[name]["mean"] /= n
    return res


def _grid(out: CoxModel, cens: CoxModel | None, horizons: Sequence[float], tau: float):
    """Evaluation points: outcome and censoring jump times before ``tau``, and the horizons; RMST step widths."""
    parts = [out.etimes[out.etimes < tau], np.asarray(horizons, dtype=float)]
    if cens is not None:
        parts.append(cens.etimes[cens.etimes < tau])
    pts = np.unique(np.concatenate(parts))
    nxt = np.minimum(np.append(pts[1:], np.inf), tau)
    widths = np.where(pts < tau, nxt - pts, 0.0)
    t0 = float(min(pts[0], tau))
    return pts, np.searchsorted(pts, np.asarray(horizons, dtype=float)), widths, t0


def _logistic(X: np.ndarray, a: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Fitted probabilities of a logistic regression (``X`` with intercept), Newton-Raphson from ``beta``."""
    for _ in range(50):
        p = 1 / (1 + np.exp(-np.clip(X @ beta, -35, 35)))
        info = (X * (p * (1 - p))[:, None]).T @ X
        try:
            step = np.linalg.solve(info, X.T @ (a - p))
        except np.linalg.LinAlgError:
            raise AnalysisError("the propensity model is singular in the resample") from None
        beta = beta + step
        if np.max(np.abs(step)) < 1e-10 * (1 + np.max(np.abs(beta))):
            return 1 / (1 + np.exp(-np.clip(X @ beta, -35, 35)))
    raise AnalysisError("the propensity model did not converge in the resample")


def aipw_survival(df: pd.DataFrame, *, covariates: Sequence[str], propensity: Sequence[str] | None = None,
                  censoring: Sequence[str] | None = None, treatment: str = "arm", time: str = "time",
                  event: str = "event", horizons: Iterable[float] = (30, 90, 180), tau: float | None = None,
                  ties: str = "efron", se: str = "influence", n_boot: int = N_BOOT, conf_level: float = 0.95,
                  rng: Any = None) -> dict[str, AdjustedRisk]:
    """Doubly robust (AIPW) and IPTW risks of dropout per arm, with censoring weights, contrasts and RMSTs.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per participant.
    covariates : sequence of str
        Confounders of the Cox outcome model (beside the arm).
    propensity : sequence of str, optional
        Columns of the logistic propensity model (default: ``covariates``).
    censoring : sequence of str, optional
        Columns of the Cox censoring model beside the arm (default: ``covariates``); ``[]`` for the arm only.
    treatment, time, event, horizons, tau, ties, se, n_boot, conf_level, rng
        As :func:`peerstudy.survival.observational.gformula.gformula_survival`.

    Returns
    -------
    dict
        ``{"iptw": AdjustedRisk, "aipw": AdjustedRisk}``.

    Raises
    ------
    SchemaError, AnalysisError, ParameterError
        As the g-formula and :func:`~peerstudy.survival.observational.weighting.fit_propensity`.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> x = rng.normal(size=300); arm = np.where(rng.random(300) < 1 / (1 + np.exp(-x)), "peer", "usual_care")
    >>> t = np.ceil(rng.exponential(60 * np.exp(-0.5 * x) * np.where(arm == "peer", 1.3, 1.0)))
    >>> c = rng.integers(30, 200, 300)
    >>> df = pd.DataFrame({"arm": arm, "x": x, "time": np.minimum(t, c), "event": (t <= c).astype(int)})
    >>> res = aipw_survival(df, covariates=["x"], horizons=[30, 90])
    >>> sorted(res)
    ['aipw', 'iptw']
    """
    require_frame(df)
    covariates = as_list(covariates)
    propensity = covariates if propensity is None else as_list(propensity)
    censoring = covariates if censoring is None else as_list(censoring)
    if not propensity:
        raise ParameterError("propensity is empty: name at least one propensity covariate")
    hz, tau, conf_level, n_boot = _check_options(df, se=se, horizons=horizons, tau=tau, conf_level=conf_level,
                                                 n_boot=n_boot, time=time, event=event)
    T, e = time_event(df, time, event)
    out, labels = _arm_design(df, treatment, covariates, time, event, ties)
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pm = fit_propensity(df, covariates=propensity, treatment=treatment, treated=labels[1])
    for w in caught:
        if issubclass(w.category, PeerstudyWarning):
            notes.append(str(w.message))
            warnings.warn(w.message, w.category, stacklevel=2)
    cens = None
    dead = e == 1
    if (~dead).any():
        cdf = pd.DataFrame({time: T, "_censored": (~dead).astype(int)}, index=df.index)
        cdf[treatment] = df[treatment]
        for c in censoring:
            cdf[c] = df[c]
        cens = fit_cox_model(cdf, time=time, event="_censored", covariates=[treatment, *censoring], ties=ties)
    A = pm.treated.astype(int)
    pts, at, widths, t0 = _grid(out, cens, hz, tau)
    terms = _terms(T, dead, A, pm.scores, out, cens, pts, at, widths, t0)
    n = len(T)
    boot = None
    seed = None
    failed = 0
    if se == "bootstrap":
        seed = _resolve_seed(rng)
        boot, failed = _bootstrap(df_arrays=(T, dead, A), pm=pm, out=out, cens=cens, horizons=hz, tau=tau,
                                  n_boot=int(n_boot), seed=seed)
    models = {"outcome": {"terms": list(out.terms), "coef": dict(zip(out.terms, map(float, out.beta))),
                          "ties": ties},
              "propensity": pm.to_dict(),
              "censoring": None if cens is None else {"terms": list(cens.terms),
                                                      "coef": dict(zip(cens.terms, map(float, cens.beta)))}}
    results = {}
    for name, estimand in (("iptw", IPTW_ESTIMAND), ("aipw", AIPW_ESTIMAND)):
        F = terms[name]["mean"]                       # 2 x T
        S = 1 - F
        rm = t0 + (S * widths).sum(axis=1)
        iid_risk = iid_rmst = b_risk = b_rmst = None
        if boot is None:
            iid_risk = (terms[name]["at"] - F[:, at][:, None, :]) / n     # 2 x n x H
            iid_rmst = (terms[name]["rmst"] - rm[:, None]) / n            # 2 x n
        else:
            b_risk, b_rmst = boot[name]
        keep = pts <= max(hz)
        curves = pd.DataFrame({"time": pts[keep], labels[0]: S[0, keep], labels[1]: S[1, keep]})
        results[name] = assemble(labels=labels, horizons=hz, tau=tau, risk=F[:, at], rmst=rm, iid_risk=iid_risk,
                                 iid_rmst=iid_rmst, boot_risk=b_risk, boot_rmst=b_rmst, curves=curves,
                                 se_method=se if se == "bootstrap" else "influence (nuisance models as known)",
                                 conf_level=conf_level, n=n, n_boot=int(n_boot) if boot is not None else 0,
                                 seed=seed, failed=failed, model=models, method=name, estimand=estimand,
                                 notes=notes)
    return results


def _bootstrap(*, df_arrays, pm, out: CoxModel, cens: CoxModel | None, horizons, tau: float, n_boot: int,
               seed: int) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], int]:
    """Resampled IPTW and AIPW risks (``B x 2 x H``) and RMSTs (``B x 2``), refitting all three models."""
    T, dead, A = df_arrays
    rng = np.random.default_rng(seed)
    n = len(T)
    Xp = np.column_stack([np.ones(n), pm._design["X"].to_numpy(dtype=float)])
    gamma = np.array(list(pm.coef.values()), dtype=float)
    raw_out = out.X + out.means
    raw_c = None if cens is None else cens.X + cens.means
    draws: dict[str, list] = {"iptw": [], "aipw": []}
    failed = 0
    for _ in range(n_boot):
        idx = rng.integers(0, n, n)
        try:
            if A[idx].min() == A[idx].max():
                raise AnalysisError("the resample holds one arm only")
            ps = _logistic(Xp[idx], A[idx], gamma)
            m = refit_beta(raw_out[idx], T[idx], dead[idx].astype(int), ties=out.ties, terms=out.terms,
                           beta0=out.beta)
            c = None
            if cens is not None and (~dead[idx]).any():
                c = refit_beta(raw_c[idx], T[idx], (~dead[idx]).astype(int), ties=cens.ties, terms=cens.terms,
                               beta0=cens.beta)
        except AnalysisError:
            failed += 1
            continue
        pts, at, widths, t0 = _grid(m, c, horizons, tau)
        terms = _terms(T[idx], dead[idx], A[idx], ps, m, c, pts, at, widths, t0)
        for name in draws:
            F = terms[name]["mean"]
            draws[name].append((F[:, at], t0 + ((1 - F) * widths).sum(axis=1)))
    if len(draws["aipw"]) < 20:
        raise AnalysisError(f"only {len(draws['aipw'])} of {n_boot} bootstrap resamples could be fitted")
    return ({k: (np.asarray([d[0] for d in v]), np.asarray([d[1] for d in v])) for k, v in draws.items()}, failed)
