"""Confounding-adjusted comparisons of the arms in observational cohorts (IPTW).

* :func:`weighted_kaplan_meier`: Kaplan-Meier with case weights, as R's ``survfit(..., weights = w)``:
  ``S(t) = prod_{t_i <= t} (1 - d_w(t_i) / n_w(t_i))`` with weighted events ``d_w`` and weighted numbers
  at risk ``n_w`` (:func:`peerstudy.survival.km.kaplan_meier` with ``weights=``, which also gives R's
  standard errors and limits). With IPT weights each arm's curve estimates the retention the *whole*
  cohort would have had under that arm (the marginal, or "net" when competing endings are censored, survival).
* :func:`iptw_cox`: Cox model of the arm with the weights, via :func:`peerstudy.survival.cox.fit_cox`;
  the SE is the robust (sandwich) one, per person or grouped by ``cluster`` (R's
  ``coxph(..., weights = w, cluster = site)``). It treats the weights as known, which is conservative
  for the estimated-propensity IPTW estimator (Austin 2016). **Estimand**: the *marginal* hazard ratio,
  which differs from the conditional (covariate-adjusted) one whenever covariates affect dropout
  (non-collapsibility), so compare it with a marginal truth, not with the scenario's conditional
  ``hazard_ratio``.
* :func:`weighted_rmst_difference`: difference ``peer - usual_care`` of the areas under the weighted
  KM curves up to ``tau`` days, with a nonparametric bootstrap CI (people resampled with replacement,
  the propensity model refitted in every resample, so its uncertainty is included; percentile
  interval). The number of resamples and the integer seed of the resampling are recorded in the result.
* :func:`iptw_standard_errors`: the SEs of the weighted Cox log HR and of the weighted KM survival at the
  horizons (and its difference between the arms) three ways: treating the weights as known (the robust sandwich
  above), by stacked estimating equations that count the estimated propensity model
  (:mod:`peerstudy.survival.observational.stacked`), and, inside :func:`iptw_analysis`, by the bootstrap that
  refits the propensity model in every resample.
* :func:`iptw_analysis`: all of the above plus the naive (unweighted) Cox and KM, for one cohort;
  the ``peerstudy analyse --adjust iptw`` path (its ``uncertainty`` block holds the three SEs).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from peerstudy.exceptions import AnalysisError, ParameterError, PeerstudyWarning
from peerstudy.survival._display import bullet_list, frame_table, paragraph
from peerstudy.survival._validate import (case_weights, check_conf_level, check_horizons, check_number, group_codes,
                                          horizon_key, require_frame, time_event)
from peerstudy.survival.cox.engine import CoxResult, fit_cox
from peerstudy.survival.km import KaplanMeierResult, km_arrays, km_groups
from peerstudy.survival.rmst import step_areas
from peerstudy.survival.observational._coxfit import arm_log_hr
from peerstudy.survival.observational.stacked import (cluster_se, cox_weight_derivatives, km_weight_derivatives,
                                                       stacked_influence, theta_influence, weight_derivatives)
from peerstudy.survival.observational.weighting import IPTWeights, effective_sample_size, iptw_weights, refit_weights

__all__ = [
    "WeightedKaplanMeier",
    "RMSTDifference",
    "IPTWAnalysis",
    "weighted_kaplan_meier",
    "iptw_cox",
    "weighted_rmst_difference",
    "iptw_analysis",
    "N_BOOT",
]

#: default number of bootstrap resamples.
N_BOOT = 200


def _weights(df: pd.DataFrame, weights: Any, *, allow_zero: bool = True) -> np.ndarray:
    """Case weights from IPTWeights, a column name, an array or ``None`` (checked as every estimator does)."""
    if isinstance(weights, IPTWeights):
        weights = np.asarray(weights.weights, dtype=float)
    return case_weights(df, weights, allow_zero=allow_zero)


def _step(times: np.ndarray, surv: np.ndarray, days: Iterable[float]) -> np.ndarray:
    idx = np.searchsorted(times, np.asarray(list(days), dtype=float), side="right") - 1
    return np.where(idx >= 0, surv[np.maximum(idx, 0)], 1.0)


def _area(times: np.ndarray, surv: np.ndarray, tau: float) -> float:
    return float(step_areas(times, surv, tau).sum())


@dataclass(frozen=True)
class WeightedKaplanMeier:
    """Weighted Kaplan-Meier curves per group (R's ``survfit(..., weights = )``).

    Attributes
    ----------
    groups : tuple of str
        Group labels (canonical arms: ``usual_care`` then ``peer``).
    curves : dict
        ``label -> DataFrame`` with ``time``, ``n_risk`` (weighted), ``n_event`` (weighted), ``survival``,
        ``std_err`` (of ``-log S``, as :mod:`peerstudy.survival.km` computes it), ``lower``, ``upper``
        (log-log 95% limits).
    ess : dict
        Kish effective sample size per group.
    km : KaplanMeierResult
        The same curves as a Kaplan-Meier result (for the retention plots and tables).
    """

    groups: tuple[str, ...]
    curves: dict[str, pd.DataFrame]
    ess: dict[str, float]
    km: KaplanMeierResult | None = None

    def survival_at(self, days: Iterable[float]) -> pd.DataFrame:
        """Survival of each group at ``days`` (rows: days; columns: groups)."""
        days = list(days)
        return pd.DataFrame({g: _step(c["time"].to_numpy(), c["survival"].to_numpy(), days)
                             for g, c in self.curves.items()}, index=pd.Index(days, name="day"))

    def rmst(self, tau: float) -> dict[str, float]:
        """Area under each curve from 0 to ``tau`` days."""
        return {g: _area(c["time"].to_numpy(), c["survival"].to_numpy(), float(tau)) for g, c in self.curves.items()}

    def to_dict(self, horizons: Iterable[float] = (30, 90, 180)) -> dict[str, Any]:
        """``{"survival": {GROUP: {"30": s, ...}}, "ess": {GROUP: ess}}``."""
        hz = check_horizons(horizons)
        tab = self.survival_at(hz)
        return {"survival": {g: {horizon_key(h): float(tab.loc[h, g]) for h in hz} for g in self.groups},
                "ess": dict(self.ess)}

    def _repr_html_(self) -> str:
        return frame_table(self.survival_at((30, 90, 180)), caption="Weighted Kaplan-Meier retention", index=True)


def weighted_kaplan_meier(df: pd.DataFrame, *, weights: Any = None, time: str = "time", event: str = "event",
                          group: str | None = "arm") -> WeightedKaplanMeier:
    """Kaplan-Meier retention with case weights, per group.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per participant.
    weights : IPTWeights, str, array or None
        Case weights (>= 0): an :class:`~peerstudy.survival.weighting.IPTWeights`, a column name or an
        array; ``None`` gives the ordinary KM.
    time, event : str
        Days in treatment and dropout (1) / censored (0).
    group : str or None, default "arm"
        Grouping column (``None``: one curve, labelled ``"all"``).

    Returns
    -------
    WeightedKaplanMeier

    Raises
    ------
    SchemaError
        A missing column, bad times or events, negative or non-finite weights.
    ParameterError
        A weights array without one value per row.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"time": [2, 3, 3, 5], "event": [1, 0, 1, 1], "w": [1.0, 2.0, 1.0, 1.0]})
    >>> km = weighted_kaplan_meier(df, weights="w", group=None)
    >>> km.survival_at([2, 3]).round(4)["all"].tolist()
    [0.8, 0.6]
    """
    require_frame(df)
    t, e = time_event(df, time, event)
    w = _weights(df, weights)
    codes, labels = (None, ("all",)) if group is None else group_codes(df, group, role="group", min_levels=1)
    fit = km_groups(t, e, None if weights is None else w, codes, labels, group=group)
    curves, ess = {}, {}
    for k, (lab, c) in enumerate(fit.curves.items()):
        curves[lab] = pd.DataFrame({"time": c.time, "n_risk": c.n_risk, "n_event": c.n_event, "survival": c.survival,
                                    "std_err": c.std_err, "lower": c.lower, "upper": c.upper})
        ess[lab] = effective_sample_size(w if codes is None else w[codes == k])
    return WeightedKaplanMeier(groups=tuple(fit.curves), curves=curves, ess=ess, km=fit)


def iptw_cox(df: pd.DataFrame, *, weights: Any, treatment: str = "arm", covariates: Sequence[str] = (),
             time: str = "time", event: str = "event", cluster: str | None = None, ties: str = "efron") -> CoxResult:
    """IPTW-weighted Cox model of the arm with a robust SE (R's ``coxph(..., weights = w, cluster = )``).

    Parameters
    ----------
    df : pandas.DataFrame
    weights : IPTWeights, str or array
        The weights (> 0).
    treatment : str, default "arm"
        Arm column (first model term).
    covariates : sequence of str
        Extra terms (a "doubly robust" flavour); none for the marginal HR.
    time, event, cluster, ties
        As in :func:`peerstudy.survival.cox.fit_cox`. Without ``cluster`` the per-person sandwich is used
        (non-integer weights switch it on, as in R).

    Returns
    -------
    CoxResult
        With ``robust_se``; estimand: the marginal hazard ratio (module docstring).
    """
    w = _weights(df, weights, allow_zero=False)
    return fit_cox(df, time=time, event=event, covariates=[treatment, *covariates], weights=w, cluster=cluster,
                   ties=ties)


def iptw_standard_errors(df: pd.DataFrame, weights: IPTWeights, *, horizons: Iterable[float] = (30, 90, 180),
                         time: str = "time", event: str = "event", cluster: str | None = None,
                         ties: str = "efron", cox: CoxResult | None = None) -> dict[str, Any]:
    """Naive (known-weights) and stacked (M-estimation) SEs of the IPTW Cox log HR and weighted KM survival.

    The stacked SE counts the estimation of the propensity model (and of the treated share of stabilised
    weights), :mod:`peerstudy.survival.observational.stacked`; the naive one is the robust sandwich that treats
    the weights as known (R's ``coxph(..., robust = TRUE)`` and ``survfit(..., robust = TRUE)``).

    Parameters
    ----------
    df : pandas.DataFrame
        The rows the weights were fitted on, in the same order.
    weights : IPTWeights
        From :func:`~peerstudy.survival.observational.weighting.iptw_weights` (truncated weights are taken as
        fixed).
    horizons : iterable of float
        Days for the survival of each arm and their difference (second arm minus first).
    time, event, ties
        As :func:`iptw_cox`.
    cluster : str, optional
        Sum the influence functions within this column's groups (a cluster-robust SE).
    cox : CoxResult, optional
        The weighted Cox fit of the arm alone, if already made (:func:`iptw_cox` without covariates).

    Raises
    ------
    ParameterError
        ``weights`` not from :func:`~peerstudy.survival.observational.weighting.iptw_weights`, or fitted on
        other rows.
    SchemaError
        A missing time or event column, bad times or events.

    Returns
    -------
    dict
        ``{"log_hr": {"estimate", "se_naive", "se_stacked"}, "survival": {ARM: {DAY: {...}}},
        "difference": {DAY: {...}}, "se_method": ...}``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> x = rng.normal(size=400); arm = np.where(rng.random(400) < 1 / (1 + np.exp(-x)), "peer", "usual_care")
    >>> t = np.ceil(rng.exponential(60 * np.exp(-0.5 * x)))
    >>> df = pd.DataFrame({"arm": arm, "x": x, "time": np.minimum(t, 120), "event": (t <= 120).astype(int)})
    >>> se = iptw_standard_errors(df, iptw_weights(df, covariates=["x"]), horizons=[90])
    >>> se["log_hr"]["se_stacked"] < se["log_hr"]["se_naive"]
    True
    """
    if not isinstance(weights, IPTWeights):
        raise ParameterError(f"weights must be the IPTWeights of iptw_weights (the stacked SE needs the propensity "
                             f"model); got {type(weights).__name__}")
    require_frame(df)
    if len(df) != weights.n:
        raise ParameterError(f"weights were fitted on {weights.n} rows; df has {len(df)}")
    hz = check_horizons(horizons)
    t, e = time_event(df, time, event)
    pm = weights.model
    a = pm.treated
    w = np.asarray(weights.weights, dtype=float)
    X1 = np.column_stack([np.ones(len(a)), pm._design["X"].to_numpy(dtype=float)])
    fixed = None
    if weights.trim_bounds is not None:
        lo, hi = weights.trim_bounds
        fixed = (w <= lo) | (w >= hi)
    scheme = "ate_stabilised" if weights.stabilised else "ate"
    dw = weight_derivatives(X1, a, pm.scores, scheme, fixed)
    if_theta = theta_influence(X1, a, pm.scores, stabilised=weights.stabilised)
    groups = None if cluster is None else df[cluster].astype("object").astype(str).to_numpy()
    if cox is None:
        cox = iptw_cox(df, weights=weights, treatment=pm.treatment, time=time, event=event, ties=ties)
    d_beta = cox_weight_derivatives(cox)[:, :1]
    labels = _labels(df, pm.treatment, pm.treated_level)
    d_surv = np.zeros((len(a), 2 * len(hz)))
    surv = np.zeros(2 * len(hz))
    for k in (0, 1):
        m = a == k
        d_surv[m, k * len(hz):(k + 1) * len(hz)] = km_weight_derivatives(t[m], e[m], w[m], hz)
        times, _, _, _, s, _ = km_arrays(t[m], e[m], w[m], std_err=False)
        surv[k * len(hz):(k + 1) * len(hz)] = _step(times, s, hz)
    H = len(hz)
    d_all = np.column_stack([d_beta, d_surv, d_surv[:, H:] - d_surv[:, :H]])
    known, stacked = stacked_influence(d_all, w, dw, if_theta)
    se_known, se_stacked = cluster_se(known, groups), cluster_se(stacked, groups)
    est = np.concatenate([[float(cox.coef[0])], surv, surv[H:] - surv[:H]])

    def entry(j: int) -> dict[str, float]:
        return {"estimate": float(est[j]), "se_naive": float(se_known[j]), "se_stacked": float(se_stacked[j])}

    return {"log_hr": entry(0),
            "survival": {lab: {horizon_key(h): entry(1 + k * H + j) for j, h in enumerate(hz)}
                         for k, lab in enumerate(labels)},
            "difference": {horizon_key(h): entry(1 + 2 * H + j) for j, h in enumerate(hz)},
            "contrast": f"{labels[1]} - {labels[0]}",
            "cluster": cluster,
            "se_method": "naive: robust sandwich treating the weights as known; stacked: M-estimation counting the "
                         "estimated propensity model" + (f"; both summed within {cluster}" if cluster else
                                                         "; both by participant")}


@dataclass(frozen=True)
class RMSTDifference:
    """Difference of weighted RMSTs (second group minus reference) with a bootstrap percentile CI.

    Attributes
    ----------
    tau : float
        Horizon, days.
    rmst : dict
        Weighted RMST per group (days).
    difference : float
        ``rmst[groups[1]] - rmst[groups[0]]`` (canonical arms: ``peer - usual_care``; > 0 = longer in treatment).
    se : float
        Bootstrap standard deviation of the difference.
    ci_lower, ci_upper : float
        Percentile bootstrap interval at ``conf_level``.
    n_boot, seed : int
        Resamples and the integer seed they were drawn from (rerun with ``rng=seed`` to reproduce).
    n_failed : int
        Resamples in which the propensity model could not be fitted (skipped).
    """

    tau: float
    groups: tuple[str, ...]
    rmst: dict[str, float]
    difference: float
    se: float
    ci_lower: float
    ci_upper: float
    conf_level: float
    n_boot: int
    seed: int
    n_failed: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; ``"tau"`` also as the string key ``"horizon"`` (``"90"``)."""
        return {"tau": self.tau, "horizon": horizon_key(self.tau), "groups": list(self.groups),
                "rmst": dict(self.rmst), "difference": self.difference, "se": self.se, "ci_lower": self.ci_lower,
                "ci_upper": self.ci_upper, "conf_level": self.conf_level, "ci_method": "percentile bootstrap",
                "n_boot": self.n_boot, "seed": self.seed, "n_failed": self.n_failed}

    def _repr_html_(self) -> str:
        g0, g1 = self.groups
        return paragraph(f"Weighted RMST to day {self.tau:g}: {g1} {self.rmst[g1]:.1f}, {g0} "
                         f"{self.rmst[g0]:.1f}; difference {self.difference:.2f} days ({self.conf_level:.0%} CI "
                         f"{self.ci_lower:.2f} to {self.ci_upper:.2f}; {self.n_boot} bootstrap resamples, "
                         f"seed {self.seed})")


def _labels(df: pd.DataFrame, treatment: str, treated: Any) -> tuple[str, str]:
    """(untreated level, treated level) in the order the data show them."""
    levels = [str(v) for v in pd.unique(df[treatment].astype("object"))]
    other = [v for v in levels if v != str(treated)]
    return other[0] if other else "control", str(treated)


def _resolve_seed(rng: Any) -> int:
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        if rng < 0:
            raise ParameterError(f"rng seed must be >= 0; got {rng}")
        return int(rng)
    if rng is None:
        return int(np.random.SeedSequence().entropy % (2 ** 63))
    return int(np.random.default_rng(rng).integers(2 ** 63))


def weighted_rmst_difference(df: pd.DataFrame, *, tau: float, covariates: Sequence[str] | None = None,
                             formula: str | None = None, treatment: str = "arm", treated: Any = "peer",
                             time: str = "time", event: str = "event", stabilised: bool = True,
                             trim: Any = None, n_boot: int = N_BOOT, conf_level: float = 0.95,
                             rng: Any = None) -> RMSTDifference:
    """IPTW-weighted RMST difference with a bootstrap CI that refits the propensity model per resample.

    Parameters
    ----------
    df : pandas.DataFrame
    tau : float
        Horizon in days.
    covariates, formula, treatment, treated, stabilised, trim
        The weights, as :func:`peerstudy.survival.weighting.iptw_weights`.
    time, event : str
    n_boot : int, default 200
        Bootstrap resamples (>= 20).
    conf_level : float, default 0.95
    rng : int, Generator or None
        Source of the resampling. An int is recorded as the seed; otherwise an integer seed is drawn
        from ``rng`` (or fresh entropy) and recorded, so the result can be reproduced.

    Returns
    -------
    RMSTDifference
    """
    (tau,) = check_horizons([tau], name="tau")
    n_boot = check_number(n_boot, name="n_boot", minimum=20, whole=True)
    conf_level = check_conf_level(conf_level)
    seed = _resolve_seed(rng)
    opts = dict(covariates=covariates, formula=formula, treatment=treatment, treated=treated,
                stabilised=stabilised, trim=trim)
    w = iptw_weights(df, **opts)
    t, e = time_event(df, time, event)
    labels = _labels(df, treatment, treated)

    boot = _bootstrap(w, t, e, tau=tau, n_boot=int(n_boot), seed=seed, stabilised=stabilised, trim=trim)
    return _rmst_difference(w, t, e, tau, labels, boot, conf_level, int(n_boot), seed)


def _arm_rmsts(a: np.ndarray, t: np.ndarray, e: np.ndarray, weights: np.ndarray, tau: float) -> np.ndarray:
    out = []
    for k in (0, 1):
        m = a == k
        times, _, _, _, surv, _ = km_arrays(t[m], e[m], weights[m], std_err=False)
        out.append(_area(times, surv, tau))
    return np.asarray(out)


def _bootstrap(w: IPTWeights, t: np.ndarray, e: np.ndarray, *, tau: float, n_boot: int, seed: int,
               stabilised: bool, trim: Any, horizons: Sequence[float] = (), log_hr: float | None = None,
               ties: str = "efron") -> dict[str, Any]:
    """Resamples of people refitting the propensity model: RMSTs (``B x 2``), and if asked weighted KM survival at
    ``horizons`` (``B x 2 x H``) and the weighted Cox log HR (``B``, from ``log_hr``); ``failed`` resamples."""
    a = w.model.treated
    n = len(a)
    boot_rng = np.random.default_rng(seed)
    out: dict[str, Any] = {"rmst": [], "survival": [], "log_hr": [], "failed": 0}
    for _ in range(n_boot):
        idx = boot_rng.integers(0, n, n)
        try:
            wb = refit_weights(w.model, idx, stabilised=stabilised, trim=trim)
            ab, tb, eb = a[idx], t[idx], e[idx]
            if log_hr is not None:
                out["log_hr"].append(arm_log_hr(ab, tb, eb, wb, ties=ties, beta0=log_hr))
        except AnalysisError:
            out["failed"] += 1
            continue
        out["rmst"].append(_arm_rmsts(ab, tb, eb, wb, tau))
        if len(horizons):
            surv = []
            for k in (0, 1):
                m = ab == k
                times, _, _, _, s, _ = km_arrays(tb[m], eb[m], wb[m], std_err=False)
                surv.append(_step(times, s, horizons))
            out["survival"].append(surv)
    if len(out["rmst"]) < 20:
        raise AnalysisError(f"only {len(out['rmst'])} of {n_boot} bootstrap resamples could be fitted")
    return {k: (np.asarray(v) if k != "failed" else v) for k, v in out.items()}


def _rmst_difference(w: IPTWeights, t: np.ndarray, e: np.ndarray, tau: float, labels: tuple[str, str],
                     boot: dict[str, Any], conf_level: float, n_boot: int, seed: int) -> RMSTDifference:
    r0, r1 = map(float, _arm_rmsts(w.model.treated, t, e, w.weights, tau))
    draws = boot["rmst"][:, 1] - boot["rmst"][:, 0]
    failed = boot["failed"]
    alpha = (1 - conf_level) / 2
    lo, hi = np.quantile(draws, [alpha, 1 - alpha])
    return RMSTDifference(tau=tau, groups=labels, rmst={labels[0]: r0, labels[1]: r1}, difference=r1 - r0,
                          se=float(draws.std(ddof=1)), ci_lower=float(lo), ci_upper=float(hi),
                          conf_level=float(conf_level), n_boot=int(n_boot), seed=seed, n_failed=failed)


@dataclass(frozen=True)
class IPTWAnalysis:
    """Naive vs IPTW comparison of the arms for one cohort.

    Attributes
    ----------
    weights : IPTWeights
    naive_cox, iptw_cox : CoxResult
        Unweighted and weighted Cox models of the arm (robust SE for the weighted one).
    naive_km, iptw_km : WeightedKaplanMeier
    rmst : RMSTDifference or None
        Weighted RMST difference at ``tau`` (None when ``n_boot == 0``).
    horizons : tuple of float
    notes : tuple of str
        Warnings raised along the way (separation, extreme weights).
    uncertainty : dict
        :func:`iptw_standard_errors` of the weighted Cox log HR and KM survival (naive, stacked and, with
        ``n_boot``, bootstrap SEs).
    """

    weights: IPTWeights
    naive_cox: CoxResult
    iptw_cox: CoxResult
    naive_km: WeightedKaplanMeier
    iptw_km: WeightedKaplanMeier
    rmst: RMSTDifference | None
    horizons: tuple[float, ...]
    notes: tuple[str, ...] = field(default=())
    uncertainty: dict = field(default_factory=dict)

    def summary(self, *, day: int = 90) -> str:
        """One plain-language sentence for programme staff: naive and weighted retention difference at ``day``."""
        naive = self.naive_km.survival_at([day])
        iptw = self.iptw_km.survival_at([day])
        d_naive = 100 * (naive.loc[day, "peer"] - naive.loc[day, "usual_care"])
        d_iptw = 100 * (iptw.loc[day, "peer"] - iptw.loc[day, "usual_care"])
        text = (f"At {day} days, {100 * naive.loc[day, 'peer']:.0f}% of people who took up a peer coach were still in "
                f"treatment against {100 * naive.loc[day, 'usual_care']:.0f}% of those who did not (difference "
                f"{d_naive:.0f} points), but they differed before they started; weighting for who takes up a coach, "
                f"the difference is {d_iptw:.0f} points")
        if self.rmst is not None:
            # an observational comparison: associated, not caused; rounded so the interval's sign shows
            d, lo, hi = self.rmst.difference, self.rmst.ci_lower, self.rmst.ci_upper
            k = next((k for k in range(4) if all(round(x, k) != 0 or x == 0 for x in (lo, hi))), 3)
            text += (f"; after weighting, taking up a peer coach was associated with {abs(d):.0f} "
                     f"{'more' if d >= 0 else 'fewer'} days in treatment over the first {self.rmst.tau:g} days "
                     f"(95% CI {lo:.{k}f} to {hi:.{k}f}; weighted for the baseline characteristics in the "
                     f"propensity model, so unmeasured differences between the groups remain)")
        return text + "."

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"method": "iptw", "weights": ..., "naive": {"cox", "km"}, "iptw": {"cox", "km"},
        "rmst_difference": ..., "notes": [...]}``."""
        return {"method": "iptw", "estimand": "marginal (population-average) effect of the arm",
                "weights": self.weights.to_dict(),
                "naive": {"cox": self.naive_cox.to_dict(), "km": self.naive_km.to_dict(self.horizons)},
                "iptw": {"cox": self.iptw_cox.to_dict(), "km": self.iptw_km.to_dict(self.horizons)},
                "rmst_difference": None if self.rmst is None else self.rmst.to_dict(),
                "uncertainty": self.uncertainty, "notes": list(self.notes)}

    def tables(self) -> dict[str, pd.DataFrame]:
        """CSV-ready tables: ``iptw_balance``, ``iptw_km`` (naive and weighted survival at the horizons), ``iptw_cox``."""
        rows = []
        for label, km in (("naive", self.naive_km), ("iptw", self.iptw_km)):
            tab = km.survival_at(self.horizons)
            for g in km.groups:
                for h in self.horizons:
                    rows.append({"method": label, "group": g, "day": h, "survival": float(tab.loc[h, g])})
        cox = []
        for label, fit in (("naive", self.naive_cox), ("iptw", self.iptw_cox)):
            for term, d in fit.to_dict()["terms"].items():
                cox.append({"method": label, "term": term, **d})
        return {"iptw_balance": self.weights.balance, "iptw_km": pd.DataFrame(rows), "iptw_cox": pd.DataFrame(cox),
                "iptw_se": self.se_table()}

    def se_table(self) -> pd.DataFrame:
        """One row per estimate (log HR; survival per arm and day; difference per day): ``quantity``, ``group``,
        ``day``, ``estimate``, ``se_naive``, ``se_stacked`` and, with a bootstrap, ``se_bootstrap``."""
        u = self.uncertainty
        rows = [{"quantity": "log hazard ratio", "group": u["contrast"], "day": np.nan, **u["log_hr"]}]
        for g, by_day in u["survival"].items():
            rows += [{"quantity": "survival", "group": g, "day": float(d), **v} for d, v in by_day.items()]
        rows += [{"quantity": "survival difference", "group": u["contrast"], "day": float(d), **v}
                 for d, v in u["difference"].items()]
        return pd.DataFrame(rows)

    def _repr_html_(self) -> str:
        nc, ic = self.naive_cox.to_dict()["terms"], self.iptw_cox.to_dict()["terms"]
        term = self.iptw_cox.terms[0]
        head = (f"Naive HR {nc[term]['hr']:.3f} ({nc[term]['ci_lower']:.3f} – {nc[term]['ci_upper']:.3f}); "
                f"IPTW HR {ic[term]['hr']:.3f} ({ic[term]['ci_lower']:.3f} – {ic[term]['ci_upper']:.3f}, robust SE)")
        if self.uncertainty:
            u = self.uncertainty["log_hr"]
            head += (f"; SE of the IPTW log HR {u['se_naive']:.4f} treating the weights as known, "
                     f"{u['se_stacked']:.4f} counting the propensity model"
                     + (f", {u['se_bootstrap']:.4f} by the bootstrap" if "se_bootstrap" in u else ""))
        return (paragraph(head) + self.weights._repr_html_()
                + (self.rmst._repr_html_() if self.rmst is not None else "") + bullet_list(self.notes))


def iptw_analysis(df: pd.DataFrame, *, covariates: Sequence[str] | None = None, formula: str | None = None,
                  treatment: str = "arm", treated: Any = "peer", time: str = "time", event: str = "event",
                  horizons: Iterable[float] = (30, 90, 180), tau: float | None = None, cluster: str | None = None,
                  stabilised: bool = True, trim: Any = None, n_boot: int = N_BOOT, ties: str = "efron",
                  rng: Any = None) -> IPTWAnalysis:
    """Naive and IPTW-adjusted Cox and Kaplan-Meier comparisons of the arms, and the weighted RMST difference.

    Parameters
    ----------
    df : pandas.DataFrame
    covariates, formula, treatment, treated, stabilised, trim
        The propensity model and weights (:func:`peerstudy.survival.weighting.iptw_weights`).
    time, event : str
    horizons : iterable of float
        Days for the KM survival table.
    tau : float, optional
        RMST horizon (default: the largest horizon).
    cluster : str, optional
        Cluster column for the robust SE of the weighted Cox (e.g. ``site``).
    n_boot : int, default 200
        Bootstrap resamples for the RMST difference; 0 skips it.
    ties : {"efron", "breslow"}
    rng : int, Generator or None
        For the bootstrap (its seed is recorded).

    Returns
    -------
    IPTWAnalysis
        Warnings raised (separation, extreme weights) are re-emitted and kept in ``notes``.
    """
    hz = check_horizons(horizons)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        w = iptw_weights(df, covariates=covariates, formula=formula, treatment=treatment, treated=treated,
                         stabilised=stabilised, trim=trim)
        naive = fit_cox(df, time=time, event=event, covariates=[treatment], cluster=cluster, ties=ties)
        adj = iptw_cox(df, weights=w, treatment=treatment, time=time, event=event, cluster=cluster, ties=ties)
    notes = []
    for c in caught:
        if issubclass(c.category, PeerstudyWarning):
            notes.append(str(c.message))
            warnings.warn(c.message, c.category, stacklevel=2)
    km0 = weighted_kaplan_meier(df, time=time, event=event, group=treatment)
    km1 = weighted_kaplan_meier(df, weights=w, time=time, event=event, group=treatment)
    unc = iptw_standard_errors(df, w, horizons=hz, time=time, event=event, cluster=cluster, ties=ties, cox=adj)
    rm = None
    if n_boot:
        n_boot = check_number(n_boot, name="n_boot", minimum=20, whole=True)
        (tau,) = check_horizons([max(hz) if tau is None else tau], name="tau")
        seed = _resolve_seed(rng)
        t, e = time_event(df, time, event)
        boot = _bootstrap(w, t, e, tau=tau, n_boot=int(n_boot), seed=seed, stabilised=stabilised, trim=trim,
                          horizons=hz, log_hr=float(adj.coef[0]), ties=ties)
        rm = _rmst_difference(w, t, e, tau, unc_labels(unc), boot, 0.95, int(n_boot), seed)
        _add_bootstrap(unc, boot, hz)
    return IPTWAnalysis(weights=w, naive_cox=naive, iptw_cox=adj, naive_km=km0, iptw_km=km1, rmst=rm, horizons=hz,
                        notes=tuple(notes), uncertainty=unc)


def unc_labels(unc: dict[str, Any]) -> tuple[str, str]:
    """The arms of an :func:`iptw_standard_errors` result, reference first."""
    first, second = list(unc["survival"])
    return first, second


def _add_bootstrap(unc: dict[str, Any], boot: dict[str, Any], horizons: Sequence[float]) -> None:
    """Put the bootstrap SDs (``se_bootstrap``) beside the naive and stacked SEs."""
    unc["log_hr"]["se_bootstrap"] = float(np.std(boot["log_hr"], ddof=1))
    surv = boot["survival"]                                  # B x 2 x H
    for k, lab in enumerate(unc_labels(unc)):
        for j, h in enumerate(horizons):
            unc["survival"][lab][horizon_key(h)]["se_bootstrap"] = float(np.std(surv[:, k, j], ddof=1))
    for j, h in enumerate(horizons):
        unc["difference"][horizon_key(h)]["se_bootstrap"] = float(np.std(surv[:, 1, j] - surv[:, 0, j], ddof=1))
    unc["n_boot"] = int(len(boot["rmst"]) + boot["failed"])
    unc["n_failed"] = int(boot["failed"])
    unc["se_method"] += "; bootstrap: people resampled, the propensity model refitted in each resample"
