"""Competing endings: Aalen-Johansen cumulative incidence per ending and arm.

Treatment can end in several ways: dropout (the event of interest), incarceration or death
(competing endings: they end treatment for another reason, and remove the person from the risk of
dropping out), or observation ends while still in treatment / when research contact is lost
(censored). The cumulative incidence ``F_k(t)`` is the probability of having left by ending ``k``
by day ``t``. With ``S`` the Kaplan-Meier estimate of leaving by *any* ending, ``n_i`` at risk and
``d_ki`` endings ``k`` at distinct time ``t_i``::

    F_k(t) = sum_{t_i <= t} S(t_i-) d_ki / n_i

This is the Aalen-Johansen estimator, equal to R's ``survfit(Surv(time, status) ~ arm)`` with a factor
``status`` whose first level is censoring (multi-state ``pstate``), *including on tied times*.
lifelines' ``AalenJohansenFitter`` breaks ties by jittering and so differs on whole-day data;
statsmodels' ``CumIncidenceRight`` agrees. It is computed here on distinct times with numpy.

Standard errors are the delta-method (Greenwood-type) ones of Dinse & Larson (1986, Biometrika
73:379-386), as statsmodels' ``CumIncidenceRight`` computes them; on unweighted data they equal R's
``survfit(...)$std.err`` for the multi-state fit (checked in the tests on the reference data).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from peerstudy.exceptions import AnalysisError, ParameterError
from peerstudy.data.schema import CENSORING, OUTCOMES
from peerstudy.survival._display import html_table, num
from peerstudy.survival._validate import (as_list, check_horizons, complete_values, group_codes, horizon_key, require_frame,
                                          show, time_event)

__all__ = ["CumulativeIncidenceCurve", "CumulativeIncidenceResult", "cumulative_incidence", "ending_codes"]


def _ro(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


def ending_codes(df: pd.DataFrame, ending: str, *, censored: Sequence = CENSORING,
                 causes: Sequence | None = None) -> tuple[np.ndarray, tuple[str, ...]]:
    """Code an endings column: 0 = censored, 1..k = the endings (causes) in the returned order.

    Values are compared as strings, so ``censored=(0,)`` works on a numeric column. Without
    ``causes``, every value not in ``censored`` is an ending, ordered as the canonical outcomes
    (``dropout``, ``incarcerated``, ``died``) when they are canonical, else sorted. With
    ``causes``, the listed endings come first in that order, and any other non-censored value is
    still a competing ending (listed after them).

    Raises
    ------
    SchemaError
        The column is missing or has missing values.
    AnalysisError
        A requested cause that never occurs; no ending at all.
    ParameterError
        A requested cause that is also listed as censored.
    """
    s = complete_values(df, ending, role="ending")
    codes, uniques = pd.factorize(s.astype(str))
    censored = as_list(censored)
    cens = {str(c) for c in censored}
    present = [u for u in uniques if u not in cens]
    if causes is not None:
        wanted = [str(c) for c in causes]
        for c in wanted:
            if c in cens:
                raise ParameterError(f"cause {show(c)} is also listed in censored "
                                     f"({', '.join(map(show, censored))}); an ending is either a cause or censoring")
            if c not in present:
                raise AnalysisError(f"cause {c!r} does not occur in column {ending!r}; its non-censored values are: "
                                    f"{', '.join(map(repr, sorted(present))) or 'none'} (censored: "
                                    f"{', '.join(map(repr, sorted(cens)))})")
        rest = [u for u in present if u not in wanted]
    else:
        wanted, rest = [], present
    canon = [o for o in OUTCOMES if o in rest]
    order = wanted + canon + sorted(u for u in rest if u not in canon)
    if not order:
        raise AnalysisError(f"column {ending!r} has no endings other than the censored values "
                            f"{', '.join(map(repr, sorted(cens)))}")
    pos = {u: i + 1 for i, u in enumerate(order)}
    remap = np.array([pos.get(u, 0) for u in uniques], dtype=np.int64)
    return remap[codes], tuple(order)


def _aj_arrays(t: np.ndarray, status: np.ndarray, k: int) -> tuple[np.ndarray, ...]:
    """Distinct times, at risk, any-ending count, CIF (m x k) and delta-method SE (m x k)."""
    times, inv = np.unique(t, return_inverse=True)
    m = len(times)
    cell = inv * (k + 1) + status
    counts = np.bincount(cell, minlength=m * (k + 1)).reshape(m, k + 1).astype(np.float64)
    dk = counts[:, 1:]
    da = dk.sum(axis=1)
    tot = counts.sum(axis=1)
    n = len(t) - np.concatenate(([0.0], np.cumsum(tot)[:-1]))
    s = np.cumprod(1.0 - da / n)
    sp0 = np.concatenate(([1.0], s[:-1])) / n
    cif = np.cumsum(sp0[:, None] * dk, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ra = np.where(n > da, da / (n * (n - da)), 0.0)
    cra = np.cumsum(ra)
    var = (cif ** 2 * cra[:, None] - 2 * cif * np.cumsum(cif * ra[:, None], axis=0)
           + np.cumsum(cif ** 2 * ra[:, None], axis=0))
    var += np.cumsum((sp0 ** 2)[:, None] * (n[:, None] - dk) * dk / n[:, None], axis=0)
    rb = sp0[:, None] * dk / n[:, None]
    var += -2 * cif * np.cumsum(rb, axis=0) + 2 * np.cumsum(cif * rb, axis=0)
    se = np.sqrt(np.maximum(var, 0.0))
    return times, n, da, cif, se


@dataclass(frozen=True)
class CumulativeIncidenceCurve:
    """One group's cumulative incidence of each ending, on its distinct times (read-only arrays)."""

    label: str
    time: np.ndarray
    n_risk: np.ndarray
    n_ending: np.ndarray
    causes: tuple[str, ...]
    cif: np.ndarray  # (times, causes)
    se: np.ndarray  # (times, causes)

    def at(self, days: Iterable[float]) -> pd.DataFrame:
        """Cumulative incidence (and SE) of each ending at ``days``; 0 before the first time, ``NaN`` after the last."""
        d = np.asarray(list(days), dtype=float)
        idx = np.searchsorted(self.time, d, side="right") - 1
        rows = []
        for j, c in enumerate(self.causes):
            p = np.where(idx < 0, 0.0, self.cif[np.maximum(idx, 0), j])
            se = np.where(idx < 0, 0.0, self.se[np.maximum(idx, 0), j])
            beyond = d > self.time[-1]
            rows.append(pd.DataFrame({"group": self.label, "cause": c, "time": d,
                                      "cif": np.where(beyond, np.nan, p), "se": np.where(beyond, np.nan, se)}))
        return pd.concat(rows, ignore_index=True)

    def table(self) -> pd.DataFrame:
        out = pd.DataFrame({"group": self.label, "time": self.time, "n_risk": self.n_risk, "n_ending": self.n_ending})
        for j, c in enumerate(self.causes):
            out[f"cif_{c}"] = self.cif[:, j]
            out[f"se_{c}"] = self.se[:, j]
        return out


@dataclass(frozen=True)
class CumulativeIncidenceResult:
    """Aalen-Johansen cumulative incidence per ending and group.

    Attributes
    ----------
    curves : Mapping[str, CumulativeIncidenceCurve]
        By group (reference first; ``"all"`` without grouping).
    causes : tuple of str
        The endings, in order (requested causes first).
    censored : tuple of str
        Values of the ending column treated as censoring.
    horizons : tuple of float
    ending, group : str or None
        Columns used.
    """

    curves: Mapping[str, CumulativeIncidenceCurve]
    causes: tuple[str, ...]
    censored: tuple[str, ...]
    horizons: tuple[float, ...]
    ending: str
    group: str | None

    def __getitem__(self, label: str) -> CumulativeIncidenceCurve:
        return self.curves[label]

    def at(self, days: Iterable[float] | None = None) -> pd.DataFrame:
        """Long table of CIF and SE at ``days`` (default: the horizons) for every group and ending."""
        days = self.horizons if days is None else check_horizons(days, name="days")
        return pd.concat([c.at(days) for c in self.curves.values()], ignore_index=True)

    def table(self) -> pd.DataFrame:
        return pd.concat([c.table() for c in self.curves.values()], ignore_index=True)

    def to_dict(self) -> dict:
        """``{"cif": {CAUSE: {GROUP: {"30": p}}}, "se": {same shape}, "censored": [...]}``."""
        at = self.at()
        cif: dict = {}
        se: dict = {}
        for c in self.causes:
            cif[c], se[c] = {}, {}
            for g in self.curves:
                sub = at[(at["cause"] == c) & (at["group"] == g)]
                keys = [horizon_key(h) for h in sub["time"]]
                cif[c][g] = dict(zip(keys, sub["cif"].tolist()))
                se[c][g] = dict(zip(keys, sub["se"].tolist()))
        return {"cif": cif, "se": se, "censored": list(self.censored)}

    def _repr_html_(self) -> str:
        at = self.at()
        header = ("group", "ending", *(f"{horizon_key(h)} d" for h in self.horizons))
        rows = [(g, c, *(num(v) for v in sub["cif"])) for (g, c), sub in at.groupby(["group", "cause"], sort=False)]
        return html_table(header, rows, caption="Cumulative incidence of each ending (Aalen-Johansen)")


def cumulative_incidence(df: pd.DataFrame, *, time: str = "time", ending: str = "outcome", group: str | None = None,
                         censored: Sequence = CENSORING, causes: Sequence | None = None,
                         horizons: Iterable[float] = (30, 90, 180),
                         allow_zero_time: bool = False) -> CumulativeIncidenceResult:
    """Aalen-Johansen cumulative incidence of each ending, overall or per group.

    Parameters
    ----------
    df : pandas.DataFrame
    time : str, default "time"
        Days to the end of observation.
    ending : str, default "outcome"
        Column of endings; values in ``censored`` are censoring, every other value is an ending.
    group : str, optional
        E.g. ``"arm"``; ``None`` for one curve labelled ``"all"``.
    censored : sequence, default ("retained", "lost_to_follow_up")
    causes : sequence, optional
        Endings to list first (each must occur); the others remain competing endings.
    horizons : iterable of float, default (30, 90, 180)
    allow_zero_time : bool, default False

    Returns
    -------
    CumulativeIncidenceResult

    Raises
    ------
    SchemaError
        Missing columns, bad times, missing endings.
    AnalysisError
        A cause that never occurs, no ending other than censoring.
    ParameterError
        Bad horizons, a cause also listed as censored.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"time": [2, 2, 3, 5], "outcome": ["dropout", "died", "retained", "dropout"]})
    >>> fit = cumulative_incidence(df, horizons=(2, 5))
    >>> fit.to_dict()["cif"]["dropout"]["all"]
    {'2': 0.25, '5': 0.75}
    """
    require_frame(df)
    hz = check_horizons(horizons)
    censored = as_list(censored)
    t, _ = time_event(df, time, None, allow_zero_time=allow_zero_time)
    status, order = ending_codes(df, ending, censored=censored, causes=causes)
    k = len(order)
    if group is None:
        codes, labels = np.zeros(len(t), dtype=np.int64), ("all",)
    else:
        codes, labels = group_codes(df, group, role="group", min_levels=1)
    curves = {}
    for j, lab in enumerate(labels):
        m = codes == j
        times, n, da, cif, se = _aj_arrays(t[m], status[m], k)
        curves[lab] = CumulativeIncidenceCurve(lab, _ro(times), _ro(n), _ro(da), order, _ro(cif), _ro(se))
    return CumulativeIncidenceResult(curves=curves, causes=order, censored=tuple(str(c) for c in censored),
                                     horizons=hz, ending=ending, group=group)
