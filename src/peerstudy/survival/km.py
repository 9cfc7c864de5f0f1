"""Kaplan-Meier estimates of retention, by arm or any grouping.

Retention ``S(t)`` is the probability of still being in treatment (not having dropped out) after
``t`` days. The estimator is computed on the distinct times (one pass of ``numpy.unique`` and
cumulative sums), so a million rows take well under a second.

Confidence intervals are pointwise, from Greenwood's variance of ``log S(t)``
(``std_err = sqrt(sum d / (n (n - d)))``, R's ``survfit()$std.err``), on one of the scales of R's
``survfit(conf.type=)``:

* ``"log-log"`` (default here): ``exp(-exp(log(-log S) -/+ z se / log S))``; undefined where
  ``S`` is 0 or 1 (``NaN``, as R gives ``NA``);
* ``"log"`` (R's default): ``S exp(-/+ z se)``, the upper limit capped at 1;
* ``"plain"``: ``S -/+ z se S``, clipped to [0, 1].

The median time in treatment and its confidence limits follow R's ``print.survfit``: the first
time the curve (or the lower/upper limit curve) is at or below 0.5; where the curve is exactly
0.5 over an interval, the midpoint between that time and the next time it drops.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Iterable, Mapping

import numpy as np
import pandas as pd
from scipy import stats

from peerstudy.exceptions import AnalysisError
from peerstudy.survival._validate import check_horizons, group_codes, horizon_key, require_frame, time_event

__all__ = ["KaplanMeierCurve", "KaplanMeierResult", "kaplan_meier", "CONF_TYPES"]

CONF_TYPES = ("log-log", "log", "plain")
_TOL = np.finfo(float).eps ** 0.5  # R's tolerance in survmean's median


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


def _km_arrays(t: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, ...]:
    """Distinct times, at risk, events, censored, survival and Greenwood std.err (of the cumulative hazard)."""
    times, inv = np.unique(t, return_inverse=True)
    m = len(times)
    d = np.bincount(inv, weights=e, minlength=m)
    tot = np.bincount(inv, minlength=m).astype(np.float64)
    c = tot - d
    n = len(t) - np.concatenate(([0.0], np.cumsum(tot)[:-1]))
    surv = np.cumprod(1.0 - d / n)
    with np.errstate(divide="ignore", invalid="ignore"):
        inc = np.where(d > 0, d / (n * (n - d)), 0.0)
    inc = np.where((d > 0) & (n == d), np.inf, inc)
    se = np.sqrt(np.cumsum(inc))
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
        At each distinct time: number at risk, events (dropouts), censored, ``S(t)``, Greenwood
        standard error of ``-log S(t)`` (R's ``std.err``), pointwise limits.
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

    @property
    def n(self) -> int:
        """Number of participants in the group."""
        return int(self.n_risk[0]) if len(self.n_risk) else 0

    @property
    def events(self) -> int:
        """Number of events (dropouts) in the group."""
        return int(self.n_event.sum())

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
    """

    curves: Mapping[str, KaplanMeierCurve]
    group: str | None
    conf_type: str
    conf_level: float
    horizons: tuple[float, ...]

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
        """How the intervals were made: ``{"conf_type", "conf_level", "group"}``."""
        return {"conf_type": self.conf_type, "conf_level": self.conf_level, "group": self.group}

    def _repr_html_(self) -> str:
        rows = []
        for g, d in self.to_dict().items():
            surv = ", ".join(f"{k} d: {v:.3f}" if v == v and v is not None else f"{k} d: -"
                             for k, v in d["survival"].items())
            med = d["median"]
            rows.append(f"<tr><td>{html.escape(g)}</td><td>{d['n']}</td><td>{d['events']}</td>"
                        f"<td>{surv}</td><td>{'not reached' if med != med else f'{med:g}'}</td></tr>")
        return (f"<table><caption>Kaplan-Meier retention ({html.escape(self.conf_type)} "
                f"{self.conf_level:.0%} CI)</caption><tr><th>group</th><th>n</th><th>dropouts</th>"
                f"<th>retention</th><th>median days</th></tr>{''.join(rows)}</table>")


def _curve(label: str, t: np.ndarray, e: np.ndarray, z: float, conf_type: str) -> KaplanMeierCurve:
    times, n, d, c, surv, se = _km_arrays(t, e)
    lo, hi = _confint(surv, se, z, conf_type)
    before = float("nan") if conf_type == "log-log" else 1.0
    return KaplanMeierCurve(label, _frozen(times), _frozen(n), _frozen(d), _frozen(c), _frozen(surv),
                            _frozen(se), _frozen(lo), _frozen(hi), _before_lower=before)


def kaplan_meier(df: pd.DataFrame, *, time: str = "time", event: str = "event", group: str | None = None,
                 horizons: Iterable[float] = (30, 90, 180), conf_type: str = "log-log",
                 conf_level: float = 0.95, allow_zero_time: bool = False) -> KaplanMeierResult:
    """Kaplan-Meier retention curves, overall or per group.

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
        A column is missing.
    AnalysisError
        Bad times or events, a group column with one level, bad ``conf_type``/``conf_level``.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"time": [5, 8, 8, 12, 20], "event": [1, 1, 0, 1, 0]})
    >>> fit = kaplan_meier(df, horizons=(10,))
    >>> round(float(fit["all"].at([10])["survival"][0]), 4)
    0.6
    """
    require_frame(df)
    if conf_type not in CONF_TYPES:
        raise AnalysisError(f"conf_type must be one of {', '.join(CONF_TYPES)}; got {conf_type!r}")
    if not (isinstance(conf_level, (int, float)) and 0 < conf_level < 1):
        raise AnalysisError(f"conf_level must be between 0 and 1; got {conf_level!r}")
    hz = check_horizons(horizons)
    t, e = time_event(df, time, event, allow_zero_time=allow_zero_time)
    z = float(stats.norm.ppf(1 - (1 - conf_level) / 2))
    curves: dict[str, KaplanMeierCurve] = {}
    if group is None:
        curves["all"] = _curve("all", t, e, z, conf_type)
    else:
        codes, labels = group_codes(df, group, role="group", min_levels=1)
        for k, lab in enumerate(labels):
            m = codes == k
            curves[lab] = _curve(lab, t[m], e[m], z, conf_type)
    return KaplanMeierResult(curves=curves, group=group, conf_type=conf_type, conf_level=float(conf_level),
                             horizons=hz)
