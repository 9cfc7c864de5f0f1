"""Kaplan-Meier estimates of retention, by arm or any grouping, with or without case weights.

Retention ``S(t)`` is the probability of still being in treatment (not having dropped out) after
``t`` days. The estimator is computed on the distinct times (one pass of ``numpy.unique`` and
cumulative sums), so a million rows take well under a second.

Case weights (``weights=``) follow R's ``survfit(..., weights = w)``: the number at risk and the events
at each time are sums of weights, ``S(t) = prod_{t_i <= t} (1 - d_w(t_i) / n_w(t_i))``.

Confidence intervals are pointwise, from the standard error of ``log S(t)`` (``std_err``), on one of
the scales of R's ``survfit(conf.type=)``:

* ``"log-log"`` (default here): ``exp(-exp(log(-log S) -/+ z se / log S))``; undefined where
  ``S`` is 0 or 1 (``NaN``, as R gives ``NA``);
* ``"log"`` (R's default): ``S exp(-/+ z se)``, the upper limit capped at 1;
* ``"plain"``: ``S -/+ z se S``, clipped to [0, 1].

``std_err`` is, as R computes it:

* without weights, or with whole-number weights (frequency weights, the same as repeating rows):
  Greenwood's ``sqrt(sum d / (n (n - d)))`` on the (weighted) counts, R's ``survfit()$std.err``;
* with weights that are not all whole numbers: the infinitesimal-jackknife (robust) standard error
  R's ``survfit`` switches to by itself, ``sqrt(sum_i (w_i U_i(t))^2)`` with ``U_i(t)`` the derivative
  of ``log S(t)`` with respect to the weight of row ``i``. R then reports it on the survival scale
  (``logse = FALSE``: its ``std.err`` is ``std_err * survival``); the limits agree.

The median time in treatment and its confidence limits follow R's ``print.survfit``: the first
time the curve (or the lower/upper limit curve) is at or below 0.5; where the curve is exactly
0.5 over an interval, the midpoint between that time and the next time it drops.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping

import numpy as np
import pandas as pd
from scipy import stats

from peerstudy.survival._display import html_table, num
from peerstudy.survival._validate import (case_weights, check_choice, check_conf_level, check_horizons, group_codes,
                                          horizon_key, require_frame, time_event)

__all__ = ["KaplanMeierCurve", "KaplanMeierResult", "kaplan_meier", "km_arrays", "km_groups", "CONF_TYPES"]

CONF_TYPES = ("log-log", "log", "plain")
_TOL = np.finfo(float).eps ** 0.5  # R's tolerance in survmean's median


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


def _greenwood(n: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Greenwood's SE of ``log S`` (infinite from a time at which everyone at risk has the event)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        inc = np.where(d > 0, d / (n * (n - d)), 0.0)
    inc = np.where((d > 0) & (n <= d), np.inf, inc)
    return np.sqrt(np.cumsum(inc))


def _jackknife(inv: np.ndarray, e: np.ndarray, w: np.ndarray, n: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Infinitesimal-jackknife SE of ``log S`` at each distinct time (R's robust ``survfit`` variance).

    With ``a_j = d_j / (n_j (n_j - d_j))``, ``A(t) = sum_{t_j <= t} a_j`` and ``b_j = 1 / (n_j - d_j)``,
    the derivative of ``log S(t)`` with respect to the weight of row ``i`` (time ``T_i``, event ``e_i``) is
    ``A(min(t, T_i)) - e_i b(T_i) 1[T_i <= t]``; the variance sums its square times ``w_i^2`` over rows,
    split into rows still at risk after ``t`` and rows whose time has passed.
    """
    m = len(n)
    ok = (d > 0) & (n > d)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(ok, d / (n * (n - d)), 0.0)
        b = np.where(n > d, 1.0 / (n - d), 0.0)
    A = np.cumsum(a)
    w2 = w * w
    u_done = A[inv] - e * b[inv]
    done = np.cumsum(np.bincount(inv, weights=w2 * u_done * u_done, minlength=m))
    later = w2.sum() - np.cumsum(np.bincount(inv, weights=w2, minlength=m))
    var = A * A * later + done
    se = np.sqrt(np.maximum(var, 0.0))
    return np.where(np.cumsum((d > 0) & (n <= d)) > 0, np.inf, se)


def km_arrays(t: np.ndarray, e: np.ndarray, weights: np.ndarray | None = None, *,
              std_err: bool = True) -> tuple[np.ndarray, ...]:
    """The Kaplan-Meier curve of one group on its distinct times.

    Parameters
    ----------
    t, e : numpy.ndarray
        Times and 0/1 events (checked by the caller).
    weights : numpy.ndarray, optional
        Case weights (>= 0); ``None`` for 1 each.
    std_err : bool, default True
        Compute the standard error (``False`` returns ``None`` in its place, for resampling loops).

    Returns
    -------
    tuple of numpy.ndarray
        ``times, n_risk, n_event, n_censor, survival, std_err`` with the (weighted) counts and the SE of
        ``log S`` (Greenwood, or the robust one for weights that are not whole numbers; module docstring).
    """
    times, inv = np.unique(t, return_inverse=True)
    m = len(times)
    if weights is None:
        d = np.bincount(inv, weights=e, minlength=m).astype(np.float64)
        tot = np.bincount(inv, minlength=m).astype(np.float64)
    else:
        d = np.bincount(inv, weights=weights * e, minlength=m)
        tot = np.bincount(inv, weights=weights, minlength=m)
    n = np.cumsum(tot[::-1])[::-1]
    c = tot - d
    with np.errstate(divide="ignore", invalid="ignore"):
        surv = np.cumprod(np.where(n > 0, 1.0 - d / n, 1.0))
    if not std_err:
        return times, n, d, c, surv, None
    if weights is None or np.all(weights == np.floor(weights)):
        se = _greenwood(n, d)
    else:
        se = _jackknife(inv, e, weights, n, d)
    return times, n, d, c, surv, se


def _confint(surv: np.ndarray, se: np.ndarray, z: float, conf_type: str) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise limits exactly as R's ``survival:::survfit_confint`` (logse=TRUE)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if conf_type == "plain":
            half = se * surv * z
            return np.maximum(surv - half, 0.0), np.minimum(surv + half, 1.0)
        if conf_type == "log":
            xx = np.where(surv == 0, np.nan, surv)
            return np.exp(np.log(xx) - z * se), np.minimum(np.exp(np.log(xx) + z * se), 1.0)
        xx = np.where((surv == 0) | (surv == 1), np.nan, surv)
        se2 = z * se / np.log(xx)
        lll = np.log(-np.log(xx))
        return np.exp(-np.exp(lll - se2)), np.exp(-np.exp(lll + se2))


def _first_below_half(y: np.ndarray, x: np.ndarray) -> float:
    """R's ``minmin`` in ``survival:::survmean``: the median of a step curve ``y`` over times ``x``."""
    keep = ~np.isnan(y) & (y < 0.5 + _TOL)
    if not keep.any():
        return float("nan")
    xk, yk = x[keep], y[keep]
    if abs(yk[0] - 0.5) < _TOL:
        lower = np.flatnonzero(yk < yk[0])
        if len(lower):
            return float((xk[0] + xk[lower[0]]) / 2)
    return float(xk[0])


@dataclass(frozen=True)
class KaplanMeierCurve:
    """One group's Kaplan-Meier curve on its distinct times (read-only arrays).

    Attributes
    ----------
    label : str
        The group (arm value as a string, or ``"all"``).
    time, n_risk, n_event, n_censor, survival, std_err, lower, upper : numpy.ndarray
        At each distinct time: number at risk, events (dropouts), censored (sums of weights when
        weighted), ``S(t)``, standard error of ``-log S(t)`` (module docstring), pointwise limits.
    n, events : int
        Participants (rows) in the group and those with an event, not weighted.
    weighted : bool
        Whether case weights were used.
    """

    label: str
    time: np.ndarray
    n_risk: np.ndarray
    n_event: np.ndarray
    n_censor: np.ndarray
    survival: np.ndarray
    std_err: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    n: int
    events: int
    weighted: bool = False

    def _index(self, days: Iterable[float]) -> tuple[np.ndarray, np.ndarray]:
        d = np.asarray(list(days), dtype=float)
        idx = np.searchsorted(self.time, d, side="right") - 1
        beyond = (d > self.time[-1]) & (self.survival[-1] > 0)
        return idx, beyond

    def at(self, days: Iterable[float]) -> pd.DataFrame:
        """Survival and pointwise limits at ``days`` (R's ``summary(fit, times=)``).

        Before the first time, ``S = 1`` (limits as R: 1 on the log and plain scales, ``NaN`` on
        log-log). After the last observed time the curve is unknown (``NaN``) unless it already
        reached 0.
        """
        idx, beyond = self._index(days)
        d = np.asarray(list(days), dtype=float)
        before = idx < 0
        j = np.maximum(idx, 0)
        s = np.where(before, 1.0, self.survival[j])
        lo = np.where(before, np.nan, self.lower[j])
        hi = np.where(before, np.nan, self.upper[j])
        if before.any():
            lo0 = self._before_lower
            lo = np.where(before, lo0, lo)
            hi = np.where(before, lo0, hi)
        s, lo, hi = (np.where(beyond, np.nan, a) for a in (s, lo, hi))
        return pd.DataFrame({"time": d, "survival": s, "lower": lo, "upper": hi})

    # limits at S = 1 before any time: R gives 1 for log/plain and NA for log-log
    _before_lower: float = field(default=1.0, repr=False)

    def median(self) -> dict[str, float]:
        """Median time in treatment with its confidence limits (``NaN`` if not reached)."""
        return {"median": _first_below_half(self.survival, self.time),
                "lower": _first_below_half(self.lower, self.time),
                "upper": _first_below_half(self.upper, self.time)}

    def table(self) -> pd.DataFrame:
        """The curve as a data frame, one row per distinct time."""
        return pd.DataFrame({"group": self.label, "time": self.time, "n_risk": self.n_risk,
                             "n_event": self.n_event, "n_censor": self.n_censor, "survival": self.survival,
                             "std_err": self.std_err, "lower": self.lower, "upper": self.upper})


@dataclass(frozen=True)
class KaplanMeierResult:
    """Kaplan-Meier curves per group.

    Attributes
    ----------
    curves : Mapping[str, KaplanMeierCurve]
        By group label, in level order (reference arm first).
    group : str or None
        The grouping column, or ``None`` for one curve labelled ``"all"``.
    conf_type : str
        ``"log-log"``, ``"log"`` or ``"plain"`` (see the module docstring).
    conf_level : float
    horizons : tuple of float
        Days at which :meth:`to_dict` reports retention.
    weighted : bool
        Whether case weights were used (``n_risk``/``n_event`` are then sums of weights).
    """

    curves: Mapping[str, KaplanMeierCurve]
    group: str | None
    conf_type: str
    conf_level: float
    horizons: tuple[float, ...]
    weighted: bool = False

    @property
    def groups(self) -> tuple[str, ...]:
        return tuple(self.curves)

    def __getitem__(self, label: str) -> KaplanMeierCurve:
        return self.curves[label]

    def survival_at(self, days: Iterable[float] | None = None) -> pd.DataFrame:
        """Retention at ``days`` (default: the horizons) for every group, long format."""
        days = self.horizons if days is None else check_horizons(days, name="days")
        frames = [c.at(days).assign(group=g) for g, c in self.curves.items()]
        return pd.concat(frames, ignore_index=True)[["group", "time", "survival", "lower", "upper"]]

    def medians(self) -> pd.DataFrame:
        """Median time in treatment and its limits per group."""
        return pd.DataFrame([{"group": g, **c.median()} for g, c in self.curves.items()])

    def table(self) -> pd.DataFrame:
        """All curves stacked, one row per group and distinct time."""
        return pd.concat([c.table() for c in self.curves.values()], ignore_index=True)

    def to_dict(self) -> dict:
        """``{GROUP: {"n", "events", "survival": {"30": s}, "lower": {...}, "upper": {...}, "median", "median_ci"}}``.

        Only groups are top-level keys; how the intervals were made is in :meth:`meta`.
        """
        out: dict = {}
        for g, c in self.curves.items():
            at = c.at(self.horizons)
            keys = [horizon_key(h) for h in self.horizons]
            med = c.median()
            out[g] = {"n": c.n, "events": c.events,
                      "survival": dict(zip(keys, at["survival"].tolist())),
                      "lower": dict(zip(keys, at["lower"].tolist())),
                      "upper": dict(zip(keys, at["upper"].tolist())),
                      "median": med["median"], "median_ci": [med["lower"], med["upper"]]}
        return out

    def meta(self) -> dict:
        """How the intervals were made: ``{"conf_type", "conf_level", "group"}`` (and ``"weighted": True``)."""
        out = {"conf_type": self.conf_type, "conf_level": self.conf_level, "group": self.group}
        if self.weighted:
            out["weighted"] = True
        return out

    def _repr_html_(self) -> str:
        rows = []
        for g, d in self.to_dict().items():
            surv = ", ".join(f"{k} d: {num(v)}" for k, v in d["survival"].items())
            med = d["median"]
            rows.append((g, d["n"], d["events"], surv, "not reached" if med != med else f"{med:g}"))
        weighted = "weighted " if self.weighted else ""
        return html_table(("group", "n", "dropouts", "retention", "median days"), rows,
                          caption=f"Kaplan-Meier retention ({weighted}{self.conf_type} {self.conf_level:.0%} CI)")


def _curve(label: str, t: np.ndarray, e: np.ndarray, w: np.ndarray | None, z: float,
           conf_type: str) -> KaplanMeierCurve:
    times, n, d, c, surv, se = km_arrays(t, e, w)
    lo, hi = _confint(surv, se, z, conf_type)
    before = float("nan") if conf_type == "log-log" else 1.0
    return KaplanMeierCurve(label, _frozen(times), _frozen(n), _frozen(d), _frozen(c), _frozen(surv),
                            _frozen(se), _frozen(lo), _frozen(hi), n=len(t), events=int(e.sum()),
                            weighted=w is not None, _before_lower=before)


def kaplan_meier(df: pd.DataFrame, *, time: str = "time", event: str = "event", group: str | None = None,
                 weights: str | np.ndarray | None = None, horizons: Iterable[float] = (30, 90, 180),
                 conf_type: str = "log-log", conf_level: float = 0.95,
                 allow_zero_time: bool = False) -> KaplanMeierResult:
    """Kaplan-Meier retention curves, overall or per group, optionally with case weights.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per participant.
    time : str, default "time"
        Days in treatment (end of observation), > 0.
    event : str, default "event"
        1 = dropout (the event), 0 = censored.
    group : str, optional
        Column to stratify by (e.g. ``"arm"``, ``"site"``); ``None`` for one curve labelled ``"all"``.
    weights : str or array, optional
        Case weights (>= 0), a column name or one value per row: R's ``survfit(..., weights = )``
        (weighted counts; the standard error as R computes it, see the module docstring).
    horizons : iterable of float, default (30, 90, 180)
        Days at which :meth:`KaplanMeierResult.to_dict` reports retention.
    conf_type : {"log-log", "log", "plain"}, default "log-log"
        Scale of the pointwise intervals, as R's ``survfit(conf.type=)`` (whose default is ``"log"``).
    conf_level : float, default 0.95
    allow_zero_time : bool, default False
        Accept times of 0 days (some real datasets record events on day 0).

    Returns
    -------
    KaplanMeierResult

    Raises
    ------
    SchemaError
        A column is missing; bad times, events or weights; missing group values.
    AnalysisError
        Never for a single curve; a grouping needs at least one level.
    ParameterError
        Bad ``conf_type``, ``conf_level`` or horizons; a weights array of the wrong length.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"time": [5, 8, 8, 12, 20], "event": [1, 1, 0, 1, 0], "w": [1, 2, 1, 1, 1]})
    >>> fit = kaplan_meier(df, horizons=(10,))
    >>> round(float(fit["all"].at([10])["survival"][0]), 4)
    0.6
    >>> round(float(kaplan_meier(df, weights="w", horizons=(10,))["all"].at([10])["survival"][0]), 4)
    0.5
    """
    require_frame(df)
    check_choice(conf_type, CONF_TYPES, name="conf_type")
    conf_level = check_conf_level(conf_level)
    hz = check_horizons(horizons)
    t, e = time_event(df, time, event, allow_zero_time=allow_zero_time)
    w = None if weights is None else case_weights(df, weights)
    codes, labels = (None, ("all",)) if group is None else group_codes(df, group, role="group", min_levels=1)
    return km_groups(t, e, w, codes, labels, group=group, horizons=hz, conf_type=conf_type, conf_level=conf_level)


def km_groups(t: np.ndarray, e: np.ndarray, weights: np.ndarray | None, codes: np.ndarray | None,
              labels: tuple[str, ...], *, group: str | None, horizons: tuple[float, ...] = (30.0, 90.0, 180.0),
              conf_type: str = "log-log", conf_level: float = 0.95) -> KaplanMeierResult:
    """Kaplan-Meier curves from checked arrays, one per group.

    Parameters
    ----------
    t, e, weights : numpy.ndarray
        Times, 0/1 events and case weights (``None``: unweighted), as :func:`kaplan_meier` checks them.
    codes : numpy.ndarray or None
        Group codes ``0..k-1`` into ``labels`` (``None``: one curve, ``labels == ("all",)``).
    labels : tuple of str
    group, horizons, conf_type, conf_level
        As :func:`kaplan_meier` (already checked).

    Returns
    -------
    KaplanMeierResult
    """
    z = float(stats.norm.ppf(1 - (1 - conf_level) / 2))
    curves: dict[str, KaplanMeierCurve] = {}
    for k, lab in enumerate(labels):
        m = slice(None) if codes is None else codes == k
        curves[lab] = _curve(lab, t[m], e[m], None if weights is None else weights[m], z, conf_type)
    return KaplanMeierResult(curves=curves, group=group, conf_type=conf_type, conf_level=float(conf_level),
                             horizons=tuple(horizons), weighted=weights is not None)
