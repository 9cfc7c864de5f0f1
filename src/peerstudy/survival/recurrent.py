"""Recurrent episodes (relapses, overdoses, re-admissions): mean cumulative functions and rate models.

Data: a cohort (one row per participant: id, follow-up ``time``, how observation ended) and an events
table (``participant_id``, ``day``, ``kind``). Follow-up of participant ``i`` is ``(0, T_i]`` with ``T_i``
the cohort's ``time``; death (``outcome == "died"``) is a terminal event that ends the process, every
other ending is censoring. An event is a participant-day: several events of one person on one day count
once (whole-day data cannot order them). Times may also be fractional (then no two events of a person
may share a time).

Estimators
----------
* :func:`mean_cumulative_function`: the Nelson-Aalen type MCF ``sum_{u <= t} dN(u) / Y(u)`` per group,
  which ignores death (it estimates the cumulative rate among people alive), with the robust
  (Lawless-Nadeau) variance, ``sum_i psi_i(t)^2``, ``psi_i(t) = sum_{u <= t} (dN_i(u) - Y_i(u) dN(u) / Y(u)) / Y(u)``
  (R: ``survfit(Surv(start, stop, event) ~ 1, id = id)$std.chaz``).
* :func:`ghosh_lin`: the mean number of events by day ``t`` with death as a competing terminal event,
  ``mu(t) = sum_{u <= t} S(u-) dN(u) / Y(u)`` with ``S`` the Kaplan-Meier curve of death (Ghosh & Lin 2000),
  with the i.i.d.-decomposition variance of R's ``mets::recurrentMarginal``. Events on the day of a death
  count (they came first).
* :func:`mcf_test`: the two-sample test of MCFs (Cook, Lawless & Nadeau 1996): the log-rank-type
  statistic ``U = sum_u (dN_1(u) - Y_1(u) dN(u) / Y(u))`` with its robust variance (the robust score test of
  an Andersen-Gill model at zero with Breslow ties, R's ``coxph(...)$rscore``).
* :func:`fit_andersen_gill`: counting-process Cox, intervals ``(t_{k-1}, t_k]`` between events, with the
  sandwich SE by participant. With the robust SE this is also the marginal rate (proportional rates)
  model of Lin, Wei, Yang & Ying (2000): the same estimating equation, so the same numbers
  (:func:`fit_marginal_rate`).
* :func:`fit_pwp`: Prentice-Williams-Peterson, stratified by event number, in total time
  (``Surv(start, stop, event) ~ ... + strata(enum)``) or gap time (``Surv(stop - start, event)``).
* :func:`fit_negative_binomial`: negative binomial (NB2) regression of the count in ``(0, min(T_i, window)]``
  with ``log(min(T_i, window))`` as offset (statsmodels' ``NegativeBinomial``, maximum likelihood,
  as R's ``MASS::glm.nb``): rate ratios, and the dispersion as ``alpha`` (variance ``mu + alpha mu^2``)
  and ``theta = 1 / alpha``.

All Cox-type fits use the project's engine (:mod:`peerstudy.survival.cox.engine`): R's ``coxph`` numbers.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from numba import njit
from scipy import stats

from peerstudy.exceptions import AnalysisError, ConvergenceWarning, ParameterError, SchemaError
from peerstudy.survival._display import frame_table, paragraph, terms_html
from peerstudy.survival._validate import (as_list, check_conf_level, check_horizons, complete_values, group_codes,
                                          horizon_key, numeric_values, require_columns, require_frame, show)
from peerstudy.survival.cox.engine import TIES, CoxResult, fit_cox

__all__ = ["RecurrentData", "recurrent_data", "counting_process", "MCFResult", "mean_cumulative_function",
           "ghosh_lin", "MCFTestResult", "mcf_test", "fit_andersen_gill", "fit_marginal_rate", "fit_pwp",
           "NegativeBinomialResult", "fit_negative_binomial", "RecurrentResults", "analyse_recurrent",
           "RECURRENT_HORIZONS"]

#: Default days at which the mean number of events is reported.
RECURRENT_HORIZONS: tuple[int, ...] = (90, 180, 365)
_ID = "participant_id"


# --------------------------------------------------------------------------------------------- data
@dataclass(frozen=True)
class RecurrentData:
    """Checked recurrent-event data: one entry per participant and one per event (participant-day).

    Attributes
    ----------
    cohort : pandas.DataFrame
        The cohort rows (for arms and covariates), in their original order; row ``i`` is participant ``i``.
    ids : numpy.ndarray
        Participant ids, aligned with ``cohort``.
    end : numpy.ndarray
        End of follow-up (days, > 0).
    died : numpy.ndarray
        True where follow-up ended in death (the terminal event).
    person, time : numpy.ndarray
        For each event, the row of its participant and its day, sorted by participant then day.
    merged : int
        Events dropped because the participant already had one on that day.
    """

    cohort: pd.DataFrame
    ids: np.ndarray
    end: np.ndarray
    died: np.ndarray
    person: np.ndarray
    time: np.ndarray
    merged: int = 0

    @property
    def n(self) -> int:
        return len(self.end)

    @property
    def events(self) -> int:
        return len(self.time)


def _ids_text(values: Iterable[Any]) -> str:
    vals = list(values)
    shown = ", ".join(show(v) for v in vals[:5])
    return shown + (f" and {len(vals) - 5} more" if len(vals) > 5 else "")


def recurrent_data(cohort: pd.DataFrame, events: pd.DataFrame, *, id: str = _ID, time: str = "time",
                   ending: str | None = "outcome", death: str = "died", day: str = "day",
                   kind: str | None = "kind", kinds: Sequence[str] | None = None) -> RecurrentData:
    """Join an events table to a cohort and check it.

    Parameters
    ----------
    cohort : pandas.DataFrame
        One row per participant: ``id``, ``time`` (end of follow-up, days > 0) and, unless ``ending`` is
        ``None``, how observation ended (``death`` = the terminal event; every other value is censoring).
    events : pandas.DataFrame
        One row per event: ``id`` and ``day`` (days > 0, at most the participant's ``time``); ``kind``
        optional.
    kinds : sequence of str, optional
        Keep only events of these kinds (column ``kind``); default all.

    Returns
    -------
    RecurrentData

    Raises
    ------
    SchemaError
        A missing column or value, a repeated participant id in the cohort, an event of an id the cohort
        does not have, an event day <= 0 or after the end of follow-up (each message names up to five ids).

    Examples
    --------
    >>> import pandas as pd
    >>> cohort = pd.DataFrame({"participant_id": [1, 2], "time": [100, 50], "outcome": ["retained", "died"],
    ...                        "arm": ["usual_care", "peer"]})
    >>> events = pd.DataFrame({"participant_id": [1, 1, 2], "day": [10, 40, 50]})
    >>> d = recurrent_data(cohort, events)
    >>> d.events, int(d.died.sum())
    (3, 1)
    """
    require_frame(cohort, name="cohort")
    if not isinstance(events, pd.DataFrame):
        raise SchemaError(f"events must be a pandas DataFrame; got {type(events).__name__}")
    require_columns(cohort, [id, time, ending], role="cohort")
    require_columns(events, [id, day], role="events")
    ids = complete_values(cohort, id, role="participant id").to_numpy()
    dup = pd.Series(ids).duplicated(keep=False).to_numpy()
    if dup.any():
        raise SchemaError(f"column {id!r} (participant id) repeats id(s) {_ids_text(pd.unique(ids[dup]))} in the "
                          f"cohort; each participant must have one row")
    end = numeric_values(cohort, time, role="follow-up time")
    if (end <= 0).any():
        bad = end <= 0
        raise SchemaError(f"column {time!r} (follow-up time) must be > 0; got {show(end[bad][0])} for id(s) "
                          f"{_ids_text(ids[bad])}")
    died = np.zeros(len(end), dtype=bool)
    if ending is not None:
        died = complete_values(cohort, ending, role="ending").astype(str).to_numpy() == str(death)
    ev = events
    if kinds is not None:
        if kind is None or kind not in ev.columns:
            raise SchemaError(f"kinds={list(kinds)!r} needs a {kind!r} column in the events table")
        ev = ev[ev[kind].astype(str).isin([str(k) for k in kinds])]
    if len(ev):
        eid = complete_values(ev, id, role="events participant id").to_numpy()
        eday = numeric_values(ev, day, role="event day")
    else:
        eid, eday = np.zeros(0, dtype=ids.dtype), np.zeros(0)
    index = pd.Index(ids)
    person = index.get_indexer(eid)
    if (person < 0).any():
        raise SchemaError(f"events table: participant id(s) {_ids_text(pd.unique(eid[person < 0]))} are not in the "
                          f"cohort ({int((person < 0).sum())} event(s))")
    if (eday <= 0).any():
        bad = eday <= 0
        raise SchemaError(f"events table: column {day!r} must be > 0 (days after enrolment); got {show(eday[bad][0])} "
                          f"for id(s) {_ids_text(pd.unique(eid[bad]))}")
    late = eday > end[person]
    if late.any():
        raise SchemaError(f"events table: {int(late.sum())} event(s) after the end of follow-up (column {time!r}) "
                          f"for id(s) {_ids_text(pd.unique(eid[late]))}")
    order = np.lexsort((eday, person))
    person, eday = person[order], eday[order]
    keep = np.ones(len(person), dtype=bool)
    keep[1:] = (person[1:] != person[:-1]) | (eday[1:] != eday[:-1])
    return RecurrentData(cohort=cohort, ids=ids, end=end, died=died, person=person[keep].astype(np.int64),
                         time=eday[keep], merged=int((~keep).sum()))


def counting_process(data: RecurrentData, *, columns: Sequence[str] = ()) -> pd.DataFrame:
    """The counting-process (start, stop] table: one row per interval between events.

    Participant ``i`` with event days ``t_1 < ... < t_k <= T_i`` has intervals ``(0, t_1], ..., (t_{k-1}, t_k]``
    (``status`` 1) and ``(t_k, T_i]`` (``status`` 0) when ``t_k < T_i``. ``enum`` is the interval's number
    (1 = before the first event: the PWP stratum), ``gap`` = ``stop - start``; ``columns`` of the cohort are
    copied to each interval.

    Returns
    -------
    pandas.DataFrame
        ``participant_id``, ``start``, ``stop``, ``status``, ``enum``, ``gap`` and ``columns``.
    """
    n = data.n
    rows = np.concatenate([data.person, np.arange(n)])
    stops = np.concatenate([data.time, data.end])
    status = np.concatenate([np.ones(data.events, dtype=np.int8), np.zeros(n, dtype=np.int8)])
    order = np.lexsort((-status, stops, rows))  # an event on the last day comes before the end of follow-up
    rows, stops, status = rows[order], stops[order], status[order]
    first = np.ones(len(rows), dtype=bool)
    first[1:] = rows[1:] != rows[:-1]
    starts = np.where(first, 0.0, np.concatenate([[0.0], stops[:-1]]))
    keep = stops > starts  # a closing interval of zero length (event on the last day) is dropped
    rows, starts, stops, status, first = rows[keep], starts[keep], stops[keep], status[keep], first[keep]
    group_start = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    enum = np.arange(len(rows)) - np.repeat(group_start, np.diff(np.r_[group_start, len(rows)])) + 1
    out = pd.DataFrame({_ID: data.ids[rows], "start": starts, "stop": stops, "status": status.astype(np.int64),
                        "enum": enum.astype(np.int64), "gap": stops - starts}, copy=False)
    for c in columns:
        if c in out.columns:
            raise ParameterError(f"column {c!r} of the cohort clashes with a counting-process column; rename it")
        out[c] = data.cohort[c].to_numpy()[rows]
        if isinstance(data.cohort[c].dtype, pd.CategoricalDtype):
            out[c] = pd.Categorical(out[c], categories=data.cohort[c].cat.categories)
    return out


# --------------------------------------------------------------------------------------------- MCF kernels
@njit(cache=True)
def _buckets(keys, size):
    """Counting sort of ``keys`` (ints in ``0..size-1``): (offsets of length size + 1, positions by key)."""
    offsets = np.zeros(size + 1, np.int64)
    for k in keys:
        offsets[k + 1] += 1
    for k in range(size):
        offsets[k + 1] += offsets[k]
    fill = offsets[:-1].copy()
    pos = np.empty(keys.shape[0], np.int64)
    for q in range(keys.shape[0]):
        pos[fill[keys[q]]] = q
        fill[keys[q]] += 1
    return offsets, pos


@njit(cache=True)
def _mcf_kernel(U, exit_k, death_k, ev_person, ev_k, terminal):
    """Nelson-Aalen MCF and, with ``terminal``, the Ghosh-Lin mean, with their robust variances, at ``U`` jump times.

    Person ``i`` is at risk at jumps ``0 .. exit_k[i] - 1`` and dies at jump ``death_k[i]`` (-1: does not); event
    ``q`` of person ``ev_person[q]`` is at jump ``ev_k[q]``. Each person carries three martingale integrals
    (P: events weighted by S(u-)/Y, Q: deaths / Y, R: deaths * mu(u) / Y) minus a common offset (the
    compensators, updated lazily); the running sums of their squares and cross-products give
    ``var(t) = w' M w`` with ``w = (1, -mu(t), 1)``. The unweighted P (the MCF's) is tracked alone.
    Everything is bucketed by jump (counting sorts): linear in people and events.
    """
    n = exit_k.shape[0]
    ex_off, ex_pos = _buckets(exit_k, U + 1)
    ev_off, ev_pos = _buckets(ev_k, U)
    dk = np.where(death_k >= 0, death_k, U)
    d_off, d_pos = _buckets(dk, U + 1)
    c = np.zeros((n, 3))
    off = np.zeros(3)
    S = np.zeros(3)
    M = np.zeros((3, 3))
    delta = np.zeros(3)
    cur = np.zeros(3)
    cn = np.zeros(n)
    offn = 0.0
    Sn = 0.0
    Mn = 0.0
    na = np.zeros(U)
    na_var = np.zeros(U)
    mu = np.zeros(U)
    mu_var = np.zeros(U)
    at_risk = np.zeros(U, np.int64)
    n_ev = np.zeros(U, np.int64)
    Y = n
    surv = 1.0
    na_c = 0.0
    mu_c = 0.0
    for k in range(U):
        for q in range(ex_off[k], ex_off[k + 1]):  # people whose follow-up ended before this jump
            i = ex_pos[q]
            for a in range(3):
                S[a] -= c[i, a] + off[a]
            Sn -= cn[i] + offn
            Y -= 1
        dN = ev_off[k + 1] - ev_off[k]
        dD = d_off[k + 1] - d_off[k] if terminal else 0
        at_risk[k] = Y
        n_ev[k] = dN
        if Y == 0:
            na[k], na_var[k], mu[k], mu_var[k] = na_c, Mn, mu_c, 0.0
            continue
        inv = 1.0 / Y
        na_c += dN * inv
        mu_c += surv * dN * inv
        # every person at risk: minus the compensator increments
        delta[0] = -surv * dN * inv * inv
        delta[1] = -dD * inv * inv
        delta[2] = -mu_c * dD * inv * inv
        deltan = -dN * inv * inv
        for a in range(3):
            for b in range(3):
                M[a, b] += S[a] * delta[b] + delta[a] * S[b] + Y * delta[a] * delta[b]
        Mn += 2.0 * Sn * deltan + Y * deltan * deltan
        for a in range(3):
            S[a] += Y * delta[a]
            off[a] += delta[a]
        Sn += Y * deltan
        offn += deltan
        jump = surv * inv
        for q in range(ev_off[k], ev_off[k + 1]):  # people with an event at this jump
            i = ev_person[ev_pos[q]]
            c0 = c[i, 0] + off[0]
            M[0, 0] += 2.0 * c0 * jump + jump * jump
            c1 = c[i, 1] + off[1]
            c2 = c[i, 2] + off[2]
            M[0, 1] += c1 * jump
            M[1, 0] += c1 * jump
            M[0, 2] += c2 * jump
            M[2, 0] += c2 * jump
            c[i, 0] += jump
            S[0] += jump
            Mn += 2.0 * (cn[i] + offn) * inv + inv * inv
            cn[i] += inv
            Sn += inv
        if dD > 0:
            j1 = inv
            j2 = mu_c * inv
            for q in range(d_off[k], d_off[k + 1]):  # deaths at this jump (after its events)
                i = d_pos[q]
                for a in range(3):
                    cur[a] = c[i, a] + off[a]
                # jump vector (0, j1, j2)
                M[1, 1] += 2.0 * cur[1] * j1 + j1 * j1
                M[2, 2] += 2.0 * cur[2] * j2 + j2 * j2
                M[1, 2] += cur[1] * j2 + j1 * cur[2] + j1 * j2
                M[2, 1] += cur[2] * j1 + j2 * cur[1] + j1 * j2
                M[0, 1] += cur[0] * j1
                M[1, 0] += cur[0] * j1
                M[0, 2] += cur[0] * j2
                M[2, 0] += cur[0] * j2
                c[i, 1] += j1
                c[i, 2] += j2
                S[1] += j1
                S[2] += j2
            surv *= 1.0 - dD * inv
        na[k] = na_c
        na_var[k] = Mn
        mu[k] = mu_c
        mu_var[k] = M[0, 0] + mu_c * mu_c * M[1, 1] + M[2, 2] - 2.0 * mu_c * M[0, 1] + 2.0 * M[0, 2] \
            - 2.0 * mu_c * M[1, 2]
    return na, na_var, mu, mu_var, at_risk, n_ev


def _counter(jumps: np.ndarray, end: np.ndarray):
    """``x -> number of jumps <= x`` (``searchsorted(jumps, x, "right")``), by table lookup for whole days."""
    whole = len(jumps) and len(end) and np.all(jumps == np.floor(jumps)) and np.all(end == np.floor(end))
    if whole and end.max() - jumps[0] < 1e6:
        lo = int(jumps[0])
        seen = np.zeros(int(max(end.max(), jumps[-1])) - lo + 2, np.int64)
        seen[jumps.astype(np.int64) - lo + 1] = 1
        table = np.cumsum(seen)                                # table[x - lo + 1] = jumps <= x

        def count(x: np.ndarray) -> np.ndarray:
            xi = x.astype(np.int64) - lo + 1
            return np.where(xi > 0, table[np.clip(xi, 0, None)], 0)
        return count
    return lambda x: np.searchsorted(jumps, x, side="right")


def _jump_times(t: np.ndarray) -> np.ndarray:
    """Sorted distinct values of ``t``: by counting for whole days (linear), else by sorting."""
    if len(t) == 0:
        return t
    lo, hi = float(t.min()), float(t.max())
    if hi - lo < 1e6 and np.all(t == np.floor(t)):
        seen = np.bincount((t - lo).astype(np.int64))
        return np.flatnonzero(seen).astype(float) + lo
    return np.unique(t)


# --------------------------------------------------------------------------------------------- MCF results
@dataclass(frozen=True)
class MCFCurve:
    """One group's curve at its event times: estimate, robust SE, CI, number at risk and events."""

    time: np.ndarray
    estimate: np.ndarray
    se: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    at_risk: np.ndarray
    events: np.ndarray

    def at(self, t: float) -> tuple[float, float, float, float]:
        """(estimate, se, lower, upper) at day ``t`` (the step function's value; 0 before the first event)."""
        k = int(np.searchsorted(self.time, t, side="right")) - 1
        if k < 0:
            return 0.0, 0.0, 0.0, 0.0
        return float(self.estimate[k]), float(self.se[k]), float(self.lower[k]), float(self.upper[k])


@dataclass(frozen=True)
class MCFResult:
    """Mean cumulative function per group (Nelson-Aalen type, or Ghosh-Lin with death as terminal event).

    CIs are ``estimate * exp(+- z se / estimate)`` (log-transformed: never below 0), from the robust SE.
    """

    method: str
    curves: Mapping[str, MCFCurve]
    horizons: tuple[float, ...]
    conf_level: float = 0.95
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """``{GROUP: {DAY: {"estimate", "se", "ci_lower", "ci_upper"}}}`` at the horizons."""
        out: dict[str, Any] = {}
        for g, c in self.curves.items():
            out[g] = {}
            for h in self.horizons:
                est, se, lo, hi = c.at(h)
                out[g][horizon_key(h)] = {"estimate": est, "se": se, "ci_lower": lo, "ci_upper": hi}
        return out

    def table(self) -> pd.DataFrame:
        """Every step of every curve: group, time, estimate, se, ci_lower, ci_upper, at_risk, events."""
        parts = [pd.DataFrame({"group": g, "time": c.time, "estimate": c.estimate, "se": c.se, "ci_lower": c.lower,
                               "ci_upper": c.upper, "at_risk": c.at_risk, "events": c.events})
                 for g, c in self.curves.items()]
        return pd.concat(parts, ignore_index=True)

    def at(self) -> pd.DataFrame:
        """The estimates at the horizons, one row per group and day."""
        rows = [{"group": g, "day": h, **v} for g, d in self.to_dict().items() for h, v in d.items()]
        return pd.DataFrame(rows)

    def _repr_html_(self) -> str:
        return paragraph(self.method, bold=True) + frame_table(self.at())


def _groups(data: RecurrentData, group: str | None) -> tuple[np.ndarray, tuple[str, ...]]:
    if group is None:
        return np.zeros(data.n, dtype=np.int64), ("all",)
    return group_codes(data.cohort, group, role="group", min_levels=1)


def _curves(data: RecurrentData, group: str | None, terminal: bool, conf_level: float) -> dict[str, MCFCurve]:
    codes, labels = _groups(data, group)
    z = stats.norm.ppf(0.5 + conf_level / 2)
    out = {}
    for g, label in enumerate(labels):
        rows = np.flatnonzero(codes == g)
        local = np.full(data.n, -1, dtype=np.int64)
        local[rows] = np.arange(len(rows))
        ev = codes[data.person] == g
        person, t = local[data.person[ev]], data.time[ev]
        end, died = data.end[rows], data.died[rows]
        jumps = _jump_times(t)
        if terminal and died.any():
            jumps = np.union1d(jumps, _jump_times(end[died]))
        count = _counter(jumps, end)
        exit_k = count(end)                                   # at risk at the jumps <= end
        death_k = np.where(died, exit_k - 1, -1) if terminal else np.full(len(end), -1)
        na, na_var, mu, mu_var, risk, nev = _mcf_kernel(len(jumps), exit_k, death_k, person, count(t) - 1,
                                                        terminal)
        keep = nev > 0
        est, var = (mu, mu_var) if terminal else (na, na_var)
        est, se = est[keep], np.sqrt(np.maximum(var[keep], 0.0))
        with np.errstate(divide="ignore", invalid="ignore"):
            f = np.exp(z * np.where(est > 0, se / est, 0.0))
        out[label] = MCFCurve(time=jumps[keep], estimate=est, se=se, lower=est / f, upper=est * f,
                              at_risk=risk[keep], events=nev[keep])
    return out


def mean_cumulative_function(data: RecurrentData, *, group: str | None = "arm",
                             horizons: Iterable[float] = RECURRENT_HORIZONS, conf_level: float = 0.95) -> MCFResult:
    """Nelson-Aalen type mean cumulative function per group, ignoring death, with robust CIs.

    ``sum_{u <= t} dN(u) / Y(u)``: the cumulative rate of events among people under follow-up (and alive).
    With deaths it is not the mean number of events per person (see :func:`ghosh_lin`).

    Parameters
    ----------
    data : RecurrentData
        From :func:`recurrent_data`.
    group : str or None, default "arm"
        Cohort column of groups; ``None`` for one curve (``"all"``).
    horizons : iterable of float
        Days at which :meth:`MCFResult.to_dict` reports the curve.
    conf_level : float, default 0.95

    Returns
    -------
    MCFResult

    Examples
    --------
    >>> import pandas as pd
    >>> cohort = pd.DataFrame({"participant_id": [1, 2, 3], "time": [100, 50, 80],
    ...                        "outcome": ["retained", "died", "dropout"]})
    >>> events = pd.DataFrame({"participant_id": [1, 1, 2], "day": [10, 40, 20]})
    >>> r = mean_cumulative_function(recurrent_data(cohort, events), group=None, horizons=[90])
    >>> r.to_dict()["all"]["90"]["estimate"]  # three events, each with all three people at risk
    1.0
    """
    hz = check_horizons(horizons)
    cl = check_conf_level(conf_level)
    return MCFResult(method="Mean cumulative function (Nelson-Aalen type; death not accounted for)",
                     curves=_curves(data, group, False, cl), horizons=hz, conf_level=cl)


def ghosh_lin(data: RecurrentData, *, group: str | None = "arm", horizons: Iterable[float] = RECURRENT_HORIZONS,
              conf_level: float = 0.95) -> MCFResult:
    """Ghosh-Lin mean number of events per person by day ``t``, death a competing terminal event.

    ``mu(t) = sum_{u <= t} S(u-) dN(u) / Y(u)``, ``S`` the Kaplan-Meier curve of death (other endings
    censored); SE from the i.i.d. decomposition as in R's ``mets::recurrentMarginal``. Arguments as
    :func:`mean_cumulative_function`.

    Returns
    -------
    MCFResult
    """
    hz = check_horizons(horizons)
    cl = check_conf_level(conf_level)
    notes = () if data.died.any() else ("no deaths: the Ghosh-Lin mean equals the Nelson-Aalen type MCF",)
    return MCFResult(method="Mean number of events per person (Ghosh-Lin; death as terminal event)",
                     curves=_curves(data, group, True, cl), horizons=hz, conf_level=cl, notes=notes)


# --------------------------------------------------------------------------------------------- two-sample test
@dataclass(frozen=True)
class MCFTestResult:
    """Two-sample test of mean cumulative functions: robust log-rank-type statistic (chi-square, 1 df)."""

    statistic: float
    p: float
    score: float
    variance: float
    groups: tuple[str, str]
    method: str = "robust two-sample test of mean cumulative functions (Cook-Lawless-Nadeau, unit weights)"

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "groups": list(self.groups), "statistic": self.statistic, "df": 1,
                "p": self.p, "score": self.score, "variance": self.variance}

    def _repr_html_(self) -> str:
        return paragraph(f"{self.method}: chi-square {self.statistic:.3f} on 1 df, p = {self.p:.3g}")


def mcf_test(data: RecurrentData, *, group: str = "arm") -> MCFTestResult:
    """Test equal rate functions in two groups (Cook, Lawless & Nadeau 1996; Lawless & Nadeau 1995).

    ``U = sum_u (dN_1(u) - Y_1(u) dN(u) / Y(u))`` over event days ``u`` (group 1 = the second level, e.g.
    ``peer``), with the robust variance ``sum_i psi_i^2``,
    ``psi_i = sum_{u <= T_i} (z_i - Y_1(u) / Y(u)) (dN_i(u) - dN(u) / Y(u))``: valid whatever the
    dependence between a person's events. ``U^2 / V`` is chi-square on 1 df under the null.

    Raises
    ------
    AnalysisError
        A group column without exactly two levels, or no events.
    """
    codes, labels = group_codes(data.cohort, group, role="group")
    if len(labels) != 2:
        raise AnalysisError(f"column {group!r} (group) must have exactly 2 levels for the two-sample test; "
                            f"it has {len(labels)}: {', '.join(labels)}")
    if data.events == 0:
        raise AnalysisError("no events: nothing to test")
    z = codes.astype(float)
    times = np.unique(data.time)
    # at risk at u: end >= u
    end_sorted = np.sort(data.end)
    Y = len(end_sorted) - np.searchsorted(end_sorted, times, side="left")
    end1 = np.sort(data.end[z == 1])
    Y1 = len(end1) - np.searchsorted(end1, times, side="left")
    k = np.searchsorted(times, data.time)
    dN = np.bincount(k, minlength=len(times)).astype(float)
    dN1 = np.bincount(k, weights=z[data.person], minlength=len(times))
    p = Y1 / Y
    U = float(np.sum(dN1 - p * dN))
    # psi_i = sum_{own events} (z_i - p(u)) - z_i C1(T_i) + C2(T_i)
    c1 = np.cumsum(dN / Y)
    c2 = np.cumsum(p * dN / Y)
    own = np.bincount(data.person, weights=z[data.person] - p[k], minlength=data.n)
    m = np.searchsorted(times, data.end, side="right") - 1
    C1 = np.where(m >= 0, c1[np.maximum(m, 0)], 0.0)
    C2 = np.where(m >= 0, c2[np.maximum(m, 0)], 0.0)
    psi = own - z * C1 + C2
    V = float(psi @ psi)
    stat = U * U / V if V > 0 else float("nan")
    return MCFTestResult(statistic=stat, p=float(stats.chi2.sf(stat, 1)), score=U, variance=V,
                         groups=(labels[0], labels[1]))


# --------------------------------------------------------------------------------------------- regression
def _cox_columns(data: RecurrentData, covariates: Sequence[str]) -> list[str]:
    covariates = as_list(covariates)
    if not covariates:
        raise ParameterError("covariates is empty: a rate model needs at least one covariate (e.g. arm)")
    require_columns(data.cohort, covariates, role="covariate")
    return covariates


def fit_andersen_gill(data: RecurrentData, *, covariates: Sequence[str] = ("arm",), ties: str = "efron",
                      robust: bool = True) -> CoxResult:
    """Andersen-Gill model: counting-process Cox on the intervals between events, SE robust by participant.

    R: ``coxph(Surv(start, stop, status) ~ covariates + cluster(id), ties = ties)``. ``robust=False`` gives
    the model-based SE only (which assumes events independent given the covariates: too small when people
    differ in their rates). Coefficients are log rate ratios.

    Returns
    -------
    CoxResult
    """
    covariates = _cox_columns(data, covariates)
    cp = counting_process(data, columns=covariates)
    return fit_cox(cp, time="stop", start="start", event="status", covariates=covariates,
                   cluster=_ID if robust else None, ties=ties)


def fit_marginal_rate(data: RecurrentData, *, covariates: Sequence[str] = ("arm",), ties: str = "efron") -> CoxResult:
    """Marginal rate model of Lin, Wei, Yang & Ying (2000): ``E[dN(t) | Z] = exp(beta' Z) dmu0(t)``.

    Its estimating equation is the Andersen-Gill partial score, and its variance the sandwich by participant,
    so the numbers are those of :func:`fit_andersen_gill` with ``robust=True``; here the coefficients are
    read as log ratios of mean (marginal) rates, without assuming a Poisson process.
    """
    return fit_andersen_gill(data, covariates=covariates, ties=ties, robust=True)


def fit_pwp(data: RecurrentData, *, covariates: Sequence[str] = ("arm",), timescale: str = "total",
            ties: str = "efron", max_stratum: int | None = None) -> CoxResult:
    """Prentice-Williams-Peterson model: a baseline hazard per event number (stratum ``enum``).

    ``timescale="total"``: ``coxph(Surv(start, stop, status) ~ covariates + strata(enum) + cluster(id))``;
    ``"gap"``: ``coxph(Surv(stop - start, status) ~ covariates + strata(enum) + cluster(id))``.
    ``max_stratum`` pools strata beyond it (``pmin(enum, max_stratum)``), as is usual when few people have
    many events.

    Returns
    -------
    CoxResult
    """
    if timescale not in ("total", "gap"):
        raise ParameterError(f"timescale must be 'total' or 'gap'; got {show(timescale)}")
    if max_stratum is not None and (isinstance(max_stratum, bool) or not isinstance(max_stratum, (int, np.integer))
                                    or max_stratum < 1):
        raise ParameterError(f"max_stratum must be a whole number >= 1 or None; got {show(max_stratum)}")
    covariates = _cox_columns(data, covariates)
    cp = counting_process(data, columns=covariates)
    if max_stratum is not None:
        cp["enum"] = np.minimum(cp["enum"].to_numpy(), int(max_stratum))
    if timescale == "total":
        return fit_cox(cp, time="stop", start="start", event="status", covariates=covariates, strata="enum",
                       cluster=_ID, ties=ties)
    return fit_cox(cp, time="gap", event="status", covariates=covariates, strata="enum", cluster=_ID, ties=ties)


@dataclass(frozen=True)
class NegativeBinomialResult:
    """Negative binomial (NB2) regression of event counts with log follow-up as offset.

    ``terms`` hold ``coef`` (log rate ratio), ``se`` (from the expected information at the estimated
    dispersion, as R's ``glm.nb`` reports it), ``rr`` with its CI and ``p``; ``alpha`` is the dispersion
    (variance ``mu + alpha mu^2``) with its SE from the joint observed information, ``theta = 1 / alpha``
    as ``glm.nb`` reports it.
    """

    terms: Mapping[str, Mapping[str, float]]
    alpha: float
    alpha_se: float
    theta: float
    loglik: float
    n: int
    events: int
    window: float | None
    converged: bool

    def to_dict(self) -> dict[str, Any]:
        return {"terms": {k: dict(v) for k, v in self.terms.items()}, "alpha": self.alpha, "alpha_se": self.alpha_se,
                "theta": self.theta, "loglik": self.loglik, "n": self.n, "events": self.events,
                "window": self.window, "converged": self.converged}

    def _repr_html_(self) -> str:
        return terms_html("Negative binomial regression of counts (rate ratios)", self.terms, "rr",
                          f"n = {self.n}, events = {self.events}, alpha = {self.alpha:.4g} (theta = {self.theta:.4g})")


def fit_negative_binomial(data: RecurrentData, *, covariates: Sequence[str] = ("arm",),
                          window: float | None = None) -> NegativeBinomialResult:
    """Negative binomial regression of each person's count in ``(0, min(T_i, window)]``, offset ``log`` of that.

    Maximum likelihood of statsmodels' ``NegativeBinomial`` (NB2) by Newton steps from the Poisson fit
    (BFGS first if that fails), to a gradient below 1e-6, so it matches R's
    ``glm.nb(count ~ covariates + offset(log(exposure)))``.

    Parameters
    ----------
    window : float, optional
        Days counted from enrolment (e.g. 365); default the whole follow-up.

    Returns
    -------
    NegativeBinomialResult

    Raises
    ------
    AnalysisError
        No events, or a fit that fails.
    """
    import statsmodels.api as sm

    from peerstudy.survival.cox.engine import design_matrix

    covariates = _cox_columns(data, covariates)
    if window is not None and not (isinstance(window, (int, float, np.number)) and window > 0):
        raise ParameterError(f"window must be a number of days > 0 or None; got {show(window)}")
    exposure = data.end if window is None else np.minimum(data.end, float(window))
    inside = data.time <= exposure[data.person]
    y = np.bincount(data.person[inside], minlength=data.n).astype(float)
    if y.sum() == 0:
        raise AnalysisError("no events inside the window: the negative binomial model cannot be fitted")
    X, names, _ = design_matrix(data.cohort, covariates)
    X = np.column_stack([np.ones(data.n), X])
    names = ["(Intercept)", *names]
    offset = np.log(exposure)
    model = sm.NegativeBinomial(y, X, loglike_method="nb2", offset=offset)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = model.fit(disp=0, maxiter=100, method="newton", tol=1e-12)
        if not np.all(np.isfinite(fit.params)) or np.max(np.abs(model.score(fit.params))) > 1e-6:
            fit = model.fit(disp=0, maxiter=200, method="bfgs", gtol=1e-10)   # Newton from the Poisson start failed
            fit = model.fit(start_params=fit.params, disp=0, maxiter=100, method="newton", tol=1e-12)
    params = np.asarray(fit.params)
    grad = model.score(params)
    converged = bool(np.all(np.isfinite(params)) and np.max(np.abs(grad)) < 1e-6)
    if not converged:
        warnings.warn("negative binomial fit did not converge (gradient not ~0): estimates unreliable",
                      ConvergenceWarning, stacklevel=2)
    # SEs of the coefficients as glm.nb reports them: expected information at the estimated dispersion,
    # X' W X with W = mu / (1 + alpha mu) (NB2 with a log link is not canonical: the observed one differs)
    beta, alpha = params[:-1], float(params[-1])
    mu = np.exp(X @ beta + offset)
    info = X.T @ (X * (mu / (1.0 + alpha * mu))[:, None])
    se = np.sqrt(np.append(np.diag(np.linalg.inv(info)), np.asarray(fit.cov_params())[-1, -1]))
    z = stats.norm.ppf(0.975)
    terms = {}
    for i, nm in enumerate(names):
        c, s = float(params[i]), float(se[i])
        terms[nm] = {"coef": c, "se": s, "rr": math.exp(c), "ci_lower": math.exp(c - z * s),
                     "ci_upper": math.exp(c + z * s), "p": float(2 * stats.norm.sf(abs(c / s)))}
    alpha_se = float(se[-1])
    return NegativeBinomialResult(terms=terms, alpha=alpha, alpha_se=alpha_se, theta=1.0 / alpha,
                                  loglik=float(model.loglike(params)), n=data.n, events=int(y.sum()),
                                  window=None if window is None else float(window), converged=converged)


# --------------------------------------------------------------------------------------------- orchestrator
@dataclass(frozen=True)
class RecurrentResults:
    """Everything :func:`analyse_recurrent` estimated; ``to_dict()`` is ``results.json``'s ``recurrent``."""

    n: int
    events: int
    deaths: int
    settings: Mapping[str, Any]
    mcf: MCFResult
    ghosh_lin: MCFResult
    test: MCFTestResult | None
    andersen_gill: CoxResult | None
    pwp_total: CoxResult | None
    pwp_gap: CoxResult | None
    negative_binomial: NegativeBinomialResult | None
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"n": self.n, "events": self.events, "deaths": self.deaths,
                               "settings": dict(self.settings), "mcf": self.mcf.to_dict(),
                               "ghosh_lin": self.ghosh_lin.to_dict()}
        if self.test is not None:
            out["mcf_test"] = self.test.to_dict()
        for name in ("andersen_gill", "pwp_total", "pwp_gap", "negative_binomial"):
            fit = getattr(self, name)
            if fit is not None:
                out[name] = fit.to_dict()
        out["notes"] = list(self.notes)
        return out

    def tables(self) -> dict[str, pd.DataFrame]:
        """CSV tables by file stem: ``recurrent_mcf``, ``recurrent_ghosh_lin`` (curves) and the model terms."""
        out = {"recurrent_mcf": self.mcf.table(), "recurrent_ghosh_lin": self.ghosh_lin.table()}
        rows = []
        for name in ("andersen_gill", "pwp_total", "pwp_gap", "negative_binomial"):
            fit = getattr(self, name)
            if fit is not None:
                for term, v in fit.to_dict()["terms"].items():
                    rows.append({"model": name, "term": term, **v})
        if rows:
            out["recurrent_models"] = pd.DataFrame(rows)
        return out

    def _repr_html_(self) -> str:
        parts = [paragraph(f"{self.n} participants, {self.events} events, {self.deaths} deaths", bold=True),
                 self.mcf._repr_html_(), self.ghosh_lin._repr_html_()]
        if self.test is not None:
            parts.append(self.test._repr_html_())
        for name in ("andersen_gill", "pwp_total", "pwp_gap", "negative_binomial"):
            fit = getattr(self, name)
            if fit is not None:
                parts.append(paragraph(name.replace("_", " ")) + fit._repr_html_())
        return "\n".join(parts)


def analyse_recurrent(cohort: pd.DataFrame, events: pd.DataFrame, *, arm: str | None = "arm",
                      covariates: Sequence[str] = (), time: str = "time", ending: str | None = "outcome",
                      death: str = "died", horizons: Iterable[float] = RECURRENT_HORIZONS, ties: str = "efron",
                      window: float | None = None, id: str = _ID,
                      kinds: Sequence[str] | None = None, kind: str = "kind") -> RecurrentResults:
    """The recurrent-event analysis of one cohort and its events table, as ``peerstudy analyse --events`` runs it.

    MCF and Ghosh-Lin curves per arm at ``horizons``, the two-sample MCF test, Andersen-Gill, PWP total-
    and gap-time models and the negative binomial count model of the arm and ``covariates``. ``kinds``
    (values of the events column ``kind``) analyses only events of those kinds, e.g. ``["reentry"]`` or
    ``["relapse", "overdose"]``; several kinds on one participant-day count once.

    Returns
    -------
    RecurrentResults

    Raises
    ------
    SchemaError, AnalysisError, ParameterError
        Bad data (see :func:`recurrent_data`), no events, bad options.
    """
    if ties not in TIES:
        raise ParameterError(f"ties must be one of {', '.join(TIES)}; got {show(ties)}")
    hz = check_horizons(horizons)
    covariates = tuple(covariates)
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else list(kinds)
        if not kinds:
            raise ParameterError("kinds must name at least one kind of event, or be None for all; got []")
    data = recurrent_data(cohort, events, id=id, time=time, ending=ending, death=death, kind=kind, kinds=kinds)
    if data.events == 0:
        which = "" if kinds is None else f" of kind(s) {', '.join(show(k) for k in kinds)}"
        raise AnalysisError(f"the events table has no events{which} for the cohort's participants: nothing to analyse")
    notes = []
    if data.merged:
        notes.append(f"{data.merged} event(s) on a day the participant already had one were counted once")
    mcf = mean_cumulative_function(data, group=arm, horizons=hz)
    gl = ghosh_lin(data, group=arm, horizons=hz)
    notes.extend(gl.notes)
    terms = ((arm,) if arm is not None else ()) + covariates
    test = ag = pt = pg = nb = None
    if arm is not None:
        test = mcf_test(data, group=arm)
    if terms:
        ag = fit_andersen_gill(data, covariates=terms, ties=ties)
        pt = fit_pwp(data, covariates=terms, timescale="total", ties=ties)
        pg = fit_pwp(data, covariates=terms, timescale="gap", ties=ties)
        nb = fit_negative_binomial(data, covariates=terms, window=window)
    else:
        notes.append("rate models not fitted: no arm and no covariates")
    settings = {"arm": arm, "covariates": list(covariates), "time": time, "ending": ending, "death": death,
                "horizons": [horizon_key(h) for h in hz], "ties": ties, "window": window,
                "kinds": None if kinds is None else [str(k) for k in kinds]}
    return RecurrentResults(n=data.n, events=data.events, deaths=int(data.died.sum()), settings=settings, mcf=mcf,
                            ghosh_lin=gl, test=test, andersen_gill=ag, pwp_total=pt, pwp_gap=pg,
                            negative_binomial=nb, notes=tuple(notes))
