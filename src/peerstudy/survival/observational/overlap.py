"""Weighted comparisons for a named estimand (ATE, ATT or overlap population), Crump trimming, and standard
errors that count the estimation of the propensity model.

With ``pi(x) = P(treated | x)`` from a logistic propensity model (:func:`.weighting.fit_propensity`):

=============  ==============================  ==========================  =====================================
``estimand``   treated weight                  control weight              population the comparison describes
=============  ==============================  ==========================  =====================================
``"ate"``      ``1 / pi``                      ``1 / (1 - pi)``            the whole cohort (average effect, ATE)
``"att"``      ``1``                           ``pi / (1 - pi)``           those who had a coach (ATT)
``"overlap"``  ``1 - pi``                      ``pi``                      the overlap population (ATO): people
                                                                           who could well have been in either arm
=============  ==============================  ==========================  =====================================

Overlap weights (Li, Morgan and Zaslavsky 2018, JASA 113:390) are bounded, so nobody dominates, and give exact
mean balance of every propensity-model term; the price is a population defined by the data, weighted towards
``pi`` near one half. **Crump trimming** (Crump, Hotz, Imbens and Mitnik 2009, Biometrika 96:187) drops people
with ``pi`` outside ``[alpha, 1 - alpha]`` (``alpha = 0.1``, their rule of thumb) and refits the propensity model
on the rest; the estimand is then that of the weights in the trimmed population, and the result says so.

:func:`weighted_comparison` gives, per arm, the weighted Kaplan-Meier risk of dropout (``1 - S``) at the
horizons, its difference, the weighted RMST difference and the weighted Cox hazard ratio, each with two SEs:

* ``se_naive``: the robust (sandwich) SE that treats the weights as known (R's ``survfit``/``coxph`` with
  ``weights``); for the ATE it is conservative, for other estimands it can be too small;
* ``se``: a bootstrap that resamples people, **refits the propensity model** (and redoes any trimming) in every
  resample and recomputes the weights, so the uncertainty of the weights is counted;
* ``se_stacked`` (risks, their differences and the log hazard ratio): the same uncertainty from stacked estimating
  equations (:mod:`.stacked`), without resampling; the people kept by trimming are taken as fixed.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from peerstudy.exceptions import AnalysisError, ParameterError, PeerstudyWarning
from peerstudy.survival._display import frame_table, paragraph
from peerstudy.survival._validate import (as_list, check_choice, check_conf_level, check_horizons, check_number,
                                          group_codes, horizon_key, require_frame, time_event)
from peerstudy.survival.cox.engine import fit_cox
from peerstudy.survival.km import km_arrays
from peerstudy.survival.observational._coxfit import arm_log_hr
from peerstudy.survival.observational.aipw import _logistic
from peerstudy.survival.observational.gformula import N_BOOT, _resolve_seed
from peerstudy.survival.observational.stacked import (cluster_se, cox_weight_derivatives, km_weight_derivatives,
                                                       stacked_influence, theta_influence, weight_derivatives)
from peerstudy.survival.observational.weighting import effective_sample_size, fit_propensity

__all__ = ["ESTIMANDS", "estimand_weights", "crump_keep", "weighted_comparison", "WeightedComparison",
           "CRUMP_ALPHA"]

#: weighting schemes and the population each describes
ESTIMANDS = {"ate": "ATE: the whole cohort (inverse probability of treatment weights)",
             "att": "ATT: the people who had a peer coach (treated weight 1, control weight pi / (1 - pi))",
             "overlap": "ATO: the overlap population, people who could well have been in either arm (overlap "
                        "weights 1 - pi and pi)"}
#: Crump et al.'s rule of thumb: keep 0.1 <= pi <= 0.9
CRUMP_ALPHA = 0.1


def estimand_weights(ps: np.ndarray, treated: np.ndarray, estimand: str) -> np.ndarray:
    """Weights for ``estimand`` from propensity scores and the 0/1 treatment.

    Examples
    --------
    >>> estimand_weights(np.array([0.2, 0.5]), np.array([1, 0]), "overlap").tolist()
    [0.8, 0.5]
    """
    check_choice(estimand, tuple(ESTIMANDS), name="estimand")
    ps = np.asarray(ps, dtype=float)
    t = np.asarray(treated) == 1
    if estimand == "ate":
        return np.where(t, 1 / ps, 1 / (1 - ps))
    if estimand == "att":
        return np.where(t, 1.0, ps / (1 - ps))
    return np.where(t, 1 - ps, ps)


def crump_keep(ps: np.ndarray, alpha: float = CRUMP_ALPHA) -> np.ndarray:
    """Boolean mask of people with ``alpha <= pi <= 1 - alpha`` (Crump et al. 2009)."""
    alpha = check_number(alpha, name="trim alpha", minimum=0)
    if not alpha < 0.5:
        raise ParameterError(f"trim alpha must be below 0.5; got {alpha:g}")
    ps = np.asarray(ps, dtype=float)
    return (ps >= alpha) & (ps <= 1 - alpha)


@dataclass(frozen=True)
class WeightedComparison:
    """Weighted KM risks, RMST difference and Cox hazard ratio for a named estimand, with both SEs.

    ``blocks`` holds ``risk`` (``{ARM: {DAY: {"estimate", "se", "se_naive", "ci_lower", "ci_upper"}}}``),
    ``difference``, ``rmst_difference`` and ``hazard_ratio``; CIs use the bootstrap SE (normal) when there is one.
    """

    estimand: str
    labels: tuple[str, str]
    horizons: tuple[float, ...]
    tau: float
    blocks: dict
    weights: dict
    n: int
    n_trimmed: int
    trim_alpha: float | None
    n_boot: int
    seed: int | None
    n_failed: int
    conf_level: float
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """``{"method": "weighted", "estimand", "estimand_description", "risk", "difference", "rmst_difference",
        "hazard_ratio", "weights", "trim", ...}``."""
        return {"method": "weighted", "estimand": self.estimand, "estimand_description": ESTIMANDS[self.estimand]
                + (f"; among the {self.n - self.n_trimmed} with propensity in [{self.trim_alpha:g}, "
                   f"{1 - self.trim_alpha:g}] (Crump trimming)" if self.trim_alpha is not None else ""),
                "arms": list(self.labels), "contrast": f"{self.labels[1]} - {self.labels[0]}", **self.blocks,
                "weights": self.weights, "n": self.n,
                "trim": {"alpha": self.trim_alpha, "n_dropped": self.n_trimmed},
                "se_method": "bootstrap refitting the propensity model" if self.n_boot else "naive robust only",
                "n_boot": self.n_boot, "seed": self.seed, "n_failed": self.n_failed, "conf_level": self.conf_level,
                "notes": list(self.notes)}

    def table(self) -> pd.DataFrame:
        rows = []
        for lab in self.labels:
            for h in self.horizons:
                rows.append({"quantity": "risk", "group": lab, "day": h, **self.blocks["risk"][lab][horizon_key(h)]})
        for h in self.horizons:
            rows.append({"quantity": "difference", "group": f"{self.labels[1]} vs {self.labels[0]}", "day": h,
                         **self.blocks["difference"][horizon_key(h)]})
        return pd.DataFrame(rows)

    def _repr_html_(self) -> str:
        hr = self.blocks["hazard_ratio"]
        return (frame_table(self.table(), caption=f"Weighted risk of dropout ({ESTIMANDS[self.estimand]})")
                + paragraph(f"Weighted hazard ratio {hr['estimate']:.3f}: SE of log HR {hr['se_naive']:.4f} "
                            f"treating the weights as known, {hr['se']:.4f} refitting the propensity model"))


def _weighted_km(t, e, w, a, horizons, tau):
    """Risk at the horizons, its naive SE, and the RMST to ``tau`` per arm (``2 x H``, ``2 x H``, ``2``)."""
    risk = np.empty((2, len(horizons)))
    se = np.empty((2, len(horizons)))
    rm = np.empty(2)
    for k in (0, 1):
        m = a == k
        times, _, _, _, surv, se_log = km_arrays(t[m], e[m], w[m], std_err=True)
        idx = np.searchsorted(times, np.asarray(horizons), side="right") - 1
        s = np.where(idx >= 0, surv[np.maximum(idx, 0)], 1.0)
        sl = np.where(idx >= 0, se_log[np.maximum(idx, 0)], 0.0)
        risk[k], se[k] = 1 - s, s * sl
        grid = np.concatenate([[0.0], times[times < tau]])
        vals = np.concatenate([[1.0], surv[times < tau]])
        rm[k] = float((vals * np.diff(np.append(grid, tau))).sum())
    return risk, se, rm


def _stacked_ses(pm, a, t, e, w, horizons, cox, estimand) -> tuple[np.ndarray, np.ndarray, float]:
    """Stacked (M-estimation) SEs counting the propensity model: risks ``2 x H``, differences ``H``, log HR
    (:mod:`peerstudy.survival.observational.stacked`; the people kept by trimming are taken as fixed)."""
    X1 = np.column_stack([np.ones(len(a)), pm._design["X"].to_numpy(dtype=float)])
    H = len(horizons)
    d_surv = np.zeros((len(a), 2 * H))
    for k in (0, 1):
        m = a == k
        d_surv[m, k * H:(k + 1) * H] = km_weight_derivatives(t[m], e[m], w[m], horizons)
    d_all = np.column_stack([-d_surv, d_surv[:, :H] - d_surv[:, H:], cox_weight_derivatives(cox)[:, :1]])
    _, full = stacked_influence(d_all, w, weight_derivatives(X1, a, pm.scores, estimand),
                                theta_influence(X1, a, pm.scores))
    se = cluster_se(full)
    return se[:2 * H].reshape(2, H), se[2 * H:3 * H], float(se[-1])


def weighted_comparison(df: pd.DataFrame, *, propensity: Sequence[str], estimand: str = "overlap",
                        trim: float | None = None, treatment: str = "arm", time: str = "time",
                        event: str = "event", horizons: Iterable[float] = (30, 90, 180), tau: float | None = None,
                        ties: str = "efron", n_boot: int = N_BOOT, conf_level: float = 0.95,
                        rng: Any = None) -> WeightedComparison:
    """Weighted KM risks, RMST difference and hazard ratio for a named estimand, with naive and bootstrap SEs.

    Parameters
    ----------
    df : pandas.DataFrame
    propensity : sequence of str
        Columns of the logistic propensity model.
    estimand : {"overlap", "ate", "att"}, default "overlap"
        The population compared (module docstring).
    trim : float, optional
        Crump trimming: keep ``trim <= pi <= 1 - trim`` (e.g. 0.1) and refit the propensity model on them.
    treatment, time, event, horizons, tau, ties
        As :func:`peerstudy.survival.observational.gformula.gformula_survival`.
    n_boot : int, default 200
        Bootstrap resamples refitting the propensity model (>= 20); 0 gives the naive SEs only.
    conf_level : float, default 0.95
    rng : int, Generator or None
        For the bootstrap (its integer seed is recorded).

    Returns
    -------
    WeightedComparison

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> x = rng.normal(size=300); arm = np.where(rng.random(300) < 1 / (1 + np.exp(-x)), "peer", "usual_care")
    >>> t = np.ceil(rng.exponential(60 * np.exp(-0.5 * x)))
    >>> df = pd.DataFrame({"arm": arm, "x": x, "time": np.minimum(t, 120), "event": (t <= 120).astype(int)})
    >>> wc = weighted_comparison(df, propensity=["x"], horizons=[30, 90], n_boot=0)
    >>> wc.estimand
    'overlap'
    """
    require_frame(df)
    propensity = as_list(propensity)
    if not propensity:
        raise ParameterError("propensity is empty: name at least one propensity covariate")
    check_choice(estimand, tuple(ESTIMANDS), name="estimand")
    hz = check_horizons(horizons)
    (tau,) = check_horizons([max(hz) if tau is None else tau], name="tau")
    conf_level = check_conf_level(conf_level)
    n_boot = check_number(n_boot, name="n_boot", minimum=0, whole=True)
    if 0 < n_boot < 20:
        raise ParameterError(f"n_boot must be 0 (naive SEs only) or >= 20; got {n_boot}")
    t_all, e_all = time_event(df, time, event)
    if tau > float(t_all.max()):
        raise ParameterError(f"tau must be within the follow-up (last time {float(t_all.max()):g} days); "
                             f"got {tau:g}")
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, labels = group_codes(df, treatment, role="treatment")
        if len(labels) != 2:
            raise AnalysisError(f"treatment column {treatment!r} must have exactly two levels; got {list(labels)}")
        labels = (labels[0], labels[1])
        pm = fit_propensity(df, covariates=propensity, treatment=treatment, treated=labels[1])
        keep = np.ones(len(df), dtype=bool)
        alpha = None
        if trim is not None:
            alpha = float(trim)
            keep = crump_keep(pm.scores, alpha)
            if keep.sum() < 10 or pm.treated[keep].min() == pm.treated[keep].max():
                raise AnalysisError(f"Crump trimming at {alpha:g} leaves {int(keep.sum())} people or one arm only; "
                                    f"use a smaller trim")
            pm = fit_propensity(df.loc[keep], covariates=propensity, treatment=treatment, treated=pm.treated_level)
    for w_ in caught:
        if issubclass(w_.category, PeerstudyWarning):
            notes.append(str(w_.message))
            warnings.warn(w_.message, w_.category, stacklevel=2)
    t, e, a = t_all[keep], e_all[keep].astype(int), pm.treated.astype(int)
    w = estimand_weights(pm.scores, a, estimand)
    risk, se_naive, rm = _weighted_km(t, e, w, a, hz, tau)
    sub = df.loc[keep]
    cox = fit_cox(sub.assign(_w=w), time=time, event=event, covariates=[treatment], weights="_w", ties=ties)
    log_hr = float(cox.coef[0])
    se_hr_naive = float(cox.robust_se[0]) if cox.robust_se is not None else float(cox.se[0])
    st_risk, st_diff, st_hr = _stacked_ses(pm, a, t, e, w, hz, cox, estimand)
    seed, failed, boot = None, 0, None
    if n_boot:
        seed = _resolve_seed(rng)
        boot, failed = _bootstrap(df, propensity, treatment, t_all, e_all, pm.treated_level, estimand, alpha,
                                  hz, tau, ties, log_hr, int(n_boot), seed, pm)
    z = float(stats.norm.ppf(0.5 + conf_level / 2))

    def entry(est, naive, draws, stacked=None):
        se = float(np.std(draws, ddof=1)) if draws is not None else float(naive)
        out = {"estimate": float(est), "se": se, "se_naive": float(naive), "ci_lower": float(est - z * se),
               "ci_upper": float(est + z * se)}
        if stacked is not None:
            out["se_stacked"] = float(stacked)
        return out

    blocks: dict[str, Any] = {"risk": {}, "difference": {}}
    for k, lab in enumerate(labels):
        blocks["risk"][lab] = {horizon_key(h): entry(risk[k, j], se_naive[k, j],
                                                     None if boot is None else boot["risk"][:, k, j], st_risk[k, j])
                               for j, h in enumerate(hz)}
    for j, h in enumerate(hz):
        blocks["difference"][horizon_key(h)] = entry(
            risk[1, j] - risk[0, j], np.hypot(se_naive[0, j], se_naive[1, j]),
            None if boot is None else boot["risk"][:, 1, j] - boot["risk"][:, 0, j], st_diff[j])
    rd = entry(rm[1] - rm[0], np.nan, None if boot is None else boot["rmst"][:, 1] - boot["rmst"][:, 0])
    blocks["rmst_difference"] = {"tau": tau, "horizon": horizon_key(tau), **rd}
    hr = entry(log_hr, se_hr_naive, None if boot is None else boot["log_hr"])
    blocks["hazard_ratio"] = {"log_hr": log_hr, "estimate": float(np.exp(log_hr)), "se": hr["se"],
                              "se_naive": se_hr_naive, "se_stacked": st_hr,
                              "ci_lower": float(np.exp(log_hr - z * hr["se"])),
                              "ci_upper": float(np.exp(log_hr + z * hr["se"])),
                              "estimand": "marginal hazard ratio in the weighted population"}
    wsum = {"ess": effective_sample_size(w), "ess_treated": effective_sample_size(w[a == 1]),
            "ess_control": effective_sample_size(w[a == 0]), "weight_max": float(w.max()),
            "propensity": pm.to_dict()}
    return WeightedComparison(estimand=estimand, labels=labels, horizons=hz, tau=tau, blocks=blocks, weights=wsum,
                              n=len(df), n_trimmed=int((~keep).sum()), trim_alpha=alpha, n_boot=int(n_boot),
                              seed=seed, n_failed=failed, conf_level=conf_level, notes=tuple(notes))


def _bootstrap(df, propensity, treatment, t_all, e_all, treated_level, estimand, alpha, hz, tau, ties, log_hr,
               n_boot, seed, pm_fit):
    """Resamples refitting the propensity model (and the trimming): risks ``B x 2 x H``, RMSTs, log HRs."""
    full = fit_propensity(df, covariates=propensity, treatment=treatment, treated=treated_level) \
        if alpha is not None else pm_fit
    Xp = np.column_stack([np.ones(len(df)), full._design["X"].to_numpy(dtype=float)])
    A = full.treated.astype(int)
    gamma = np.array(list(full.coef.values()), dtype=float)
    rng = np.random.default_rng(seed)
    n = len(df)
    out = {"risk": [], "rmst": [], "log_hr": []}
    failed = 0
    for _ in range(n_boot):
        idx = rng.integers(0, n, n)
        try:
            if A[idx].min() == A[idx].max():
                raise AnalysisError("one arm only")
            ps = _logistic(Xp[idx], A[idx], gamma)
            sel = idx
            if alpha is not None:
                k = crump_keep(ps, alpha)
                sel = idx[k]
                if A[sel].min() == A[sel].max():
                    raise AnalysisError("one arm only after trimming")
                ps = _logistic(Xp[sel], A[sel], np.array(list(pm_fit.coef.values()), dtype=float))
            w = estimand_weights(ps, A[sel], estimand)
            t, e, a = t_all[sel], e_all[sel].astype(int), A[sel]
            risk, _, rm = _weighted_km(t, e, w, a, hz, tau)
            b = arm_log_hr(a, t, e, w, ties=ties, beta0=log_hr)
        except AnalysisError:
            failed += 1
            continue
        out["risk"].append(risk)
        out["rmst"].append(rm)
        out["log_hr"].append(b)
    if len(out["risk"]) < 20:
        raise AnalysisError(f"only {len(out['risk'])} of {n_boot} bootstrap resamples could be fitted")
    return {k: np.asarray(v) for k, v in out.items()}, failed
