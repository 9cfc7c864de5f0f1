"""Restricted mean time in treatment (RMST): the mean number of days in treatment up to a horizon.

``RMST(tau) = integral_0^tau S(t) dt``, the area under the Kaplan-Meier curve up to ``tau`` days.
Read it as "over the first ``tau`` days, participants stayed in treatment on average RMST days";
unlike a hazard ratio it needs no proportional hazards.

Standard error, as R's ``summary(survfit(...), rmean = tau)$table[, "se(rmean)"]``
(``survival:::survmean``)::

    var = sum_{t_i <= tau} A_i^2 d_i / (n_i (n_i - d_i)),     A_i = integral_{t_i}^tau S(t) dt

(terms with ``n_i = d_i`` count 0). This is the estimator's standard error, not the standard
deviation of ``min(T, tau)`` that lifelines reports. The difference between two arms is
``RMST(second level) - RMST(reference)`` (for the canonical arms: ``peer - usual_care``, positive
= more days in treatment with peer support), with ``se = sqrt(se_1^2 + se_0^2)`` because the arms
are independent samples, and a normal (Wald) interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pandas as pd
from scipy import stats

from peerstudy.exceptions import AnalysisError
from peerstudy.survival._display import html_table
from peerstudy.survival._validate import check_conf_level, check_horizons, group_codes, require_frame, time_event
from peerstudy.survival.km import KaplanMeierCurve, KaplanMeierResult, km_arrays

__all__ = ["RMSTResult", "rmst", "rmst_from_curve", "rmst_from_km", "rmst_table", "step_areas"]


def step_areas(times: np.ndarray, surv: np.ndarray, tau: float) -> np.ndarray:
    """Areas of the rectangles under a survival step curve from 0 to ``tau`` (their sum is the RMST).

    The first rectangle is ``S = 1`` up to the first time; then one per time ``<= tau``.
    """
    keep = times <= tau
    grid = np.concatenate(([0.0], times[keep], [tau]))
    heights = np.concatenate(([1.0], surv[keep]))
    return np.diff(grid) * heights


def _rmst_arrays(times: np.ndarray, n: np.ndarray, d: np.ndarray, surv: np.ndarray,
                 tau: float) -> tuple[float, float]:
    keep = times <= tau
    with np.errstate(divide="ignore", invalid="ignore"):
        hh = np.where((n - d) == 0, 0.0, d / (n * (n - d)))[keep]
    rect = step_areas(times, surv, tau)
    estimate = float(rect.sum())
    # area after each time t_i up to tau: sum of the rectangles to its right
    after = np.cumsum(rect[::-1])[::-1][1:]
    var = float(np.sum(after ** 2 * hh))
    return estimate, float(np.sqrt(var))


def rmst_from_curve(curve: KaplanMeierCurve, tau: float) -> tuple[float, float]:
    """RMST and its standard error at ``tau`` from an existing Kaplan-Meier curve.

    On a weighted curve the standard error uses the weighted counts, as R's ``se(rmean)`` does.
    """
    return _rmst_arrays(curve.time, curve.n_risk, curve.n_event, curve.survival, float(tau))


@dataclass(frozen=True)
class RMSTResult:
    """RMST per group at one horizon, and the difference between the two groups (if two).

    Attributes
    ----------
    tau : float
        Horizon in days.
    groups : tuple of str
        Reference first.
    estimate, se : tuple of float
        Per group, days.
    difference, difference_se, ci_lower, ci_upper, p : float or None
        Second group minus reference (days), its SE, Wald interval and two-sided p (``None``
        unless there are exactly two groups).
    conf_level : float
    max_time : tuple of float
        Each group's last observed time; ``tau`` beyond it extends the last value of the curve
        (as R does) and :func:`rmst` refuses it unless ``extend=True``.
    """

    tau: float
    groups: tuple[str, ...]
    estimate: tuple[float, ...]
    se: tuple[float, ...]
    difference: float | None
    difference_se: float | None
    ci_lower: float | None
    ci_upper: float | None
    p: float | None
    conf_level: float
    max_time: tuple[float, ...]

    def to_dict(self) -> dict:
        """``{GROUP: {"estimate", "se"}, "difference": {"estimate", "se", "ci_lower", "ci_upper", "p"}}``."""
        out: dict = {g: {"estimate": e, "se": s} for g, e, s in zip(self.groups, self.estimate, self.se)}
        if self.difference is not None:
            out["difference"] = {"estimate": self.difference, "se": self.difference_se, "ci_lower": self.ci_lower,
                                 "ci_upper": self.ci_upper, "p": self.p,
                                 "contrast": f"{self.groups[1]} - {self.groups[0]}"}
        return out

    def table(self) -> pd.DataFrame:
        rows = [{"tau": self.tau, "group": g, "estimate": e, "se": s}
                for g, e, s in zip(self.groups, self.estimate, self.se)]
        if self.difference is not None:
            rows.append({"tau": self.tau, "group": f"{self.groups[1]} - {self.groups[0]}",
                         "estimate": self.difference, "se": self.difference_se,
                         "ci_lower": self.ci_lower, "ci_upper": self.ci_upper, "p": self.p})
        return pd.DataFrame(rows)

    def _repr_html_(self) -> str:
        rows = [(g, f"{e:.2f}", f"{s:.2f}") for g, e, s in zip(self.groups, self.estimate, self.se)]
        cap = f"Restricted mean days in treatment up to day {self.tau:g}"
        if self.difference is not None:
            cap += (f"; difference {self.difference:.2f} ({self.conf_level:.0%} CI {self.ci_lower:.2f} to "
                    f"{self.ci_upper:.2f})")
        return html_table(("group", "RMST", "SE"), rows, caption=cap)


def _result(tau: float, labels: tuple[str, ...], est: list[float], se: list[float], max_time: list[float],
            conf_level: float) -> RMSTResult:
    diff = dse = lo = hi = p = None
    if len(labels) == 2:
        diff = est[1] - est[0]
        dse = float(np.hypot(se[0], se[1]))
        z = float(stats.norm.ppf(1 - (1 - conf_level) / 2))
        lo, hi = diff - z * dse, diff + z * dse
        p = float(2 * stats.norm.sf(abs(diff) / dse)) if dse > 0 else float("nan")
    return RMSTResult(tau=tau, groups=labels, estimate=tuple(est), se=tuple(se), difference=diff,
                      difference_se=dse, ci_lower=lo, ci_upper=hi, p=p, conf_level=conf_level,
                      max_time=tuple(max_time))


def rmst(df: pd.DataFrame, *, tau: float, time: str = "time", event: str = "event", group: str | None = "arm",
         conf_level: float = 0.95, extend: bool = False, allow_zero_time: bool = False) -> RMSTResult:
    """Restricted mean time in treatment up to ``tau`` days, per group, and the difference.

    Parameters
    ----------
    df : pandas.DataFrame
    tau : float
        Horizon in days (> 0).
    time, event : str
        Days in treatment and dropout indicator.
    group : str or None, default "arm"
        Grouping column; ``None`` for one group labelled ``"all"``.
    conf_level : float, default 0.95
        For the difference's interval.
    extend : bool, default False
        Allow ``tau`` beyond a group's last observed time (the curve is then extended flat, as R's
        ``rmean`` does, which assumes nobody drops out after follow-up ends).
    allow_zero_time : bool, default False

    Returns
    -------
    RMSTResult

    Raises
    ------
    SchemaError
        A missing column, bad times or events.
    AnalysisError
        ``tau`` beyond a group's follow-up without ``extend=True``.
    ParameterError
        ``tau`` not a positive number, ``conf_level`` not in (0, 1).
    """
    require_frame(df)
    (tau,) = check_horizons((tau,), name="tau")
    conf_level = check_conf_level(conf_level)
    t, e = time_event(df, time, event, allow_zero_time=allow_zero_time)
    if group is None:
        codes, labels = np.zeros(len(t), dtype=np.int64), ("all",)
    else:
        codes, labels = group_codes(df, group, role="group", min_levels=1)
    est, se, mx = [], [], []
    for k, lab in enumerate(labels):
        m = codes == k
        times, n, d, _, surv, _ = km_arrays(t[m], e[m], std_err=False)
        if tau > times[-1] and surv[-1] > 0 and not extend:
            raise AnalysisError(f"tau = {tau:g} days is beyond the last observed time ({times[-1]:g}) in group "
                                f"{lab!r} of column {group!r}; choose tau <= {times[-1]:g} or pass extend=True")
        a, b = _rmst_arrays(times, n, d, surv, tau)
        est.append(a)
        se.append(b)
        mx.append(float(times[-1]))
    return _result(tau, labels, est, se, mx, float(conf_level))


def rmst_from_km(km: KaplanMeierResult, tau: float, *, conf_level: float = 0.95) -> RMSTResult:
    """RMST at ``tau`` from an existing :class:`~peerstudy.survival.km.KaplanMeierResult` (no refitting).

    ``tau`` beyond a group's last time extends the curve flat (as R); check ``max_time``.
    """
    (tau,) = check_horizons((tau,), name="tau")
    conf_level = check_conf_level(conf_level)
    labels = tuple(km.curves)
    pairs = [rmst_from_curve(c, tau) for c in km.curves.values()]
    return _result(tau, labels, [p[0] for p in pairs], [p[1] for p in pairs],
                   [float(c.time[-1]) for c in km.curves.values()], float(conf_level))


def rmst_table(results: Mapping[str, RMSTResult]) -> pd.DataFrame:
    """Stack several :class:`RMSTResult` (e.g. one per horizon) into one table."""
    return pd.concat([r.table() for r in results.values()], ignore_index=True)
