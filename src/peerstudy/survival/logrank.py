"""Log-rank tests of equal retention across arms (or any grouping): plain, stratified, weighted.

The test compares, at each distinct time, the dropouts observed in each group with those expected
if retention were the same in all groups, and sums over times (and over strata, when given):

* ``O_j - E_j = sum_t w(t) (d_jt - d_t n_jt / n_t)``;
* ``V_jk = sum_t w(t)^2 d_t (n_t - d_t) / (n_t - 1) (n_jt / n_t) (1[j = k] - n_kt / n_t)``;
* ``statistic = (O - E)' V^- (O - E)``, chi-squared with ``k - 1`` degrees of freedom.

Weights ``w(t) = S(t-)^rho (1 - S(t-))^gamma`` (Fleming & Harrington's G(rho, gamma) class;
Harrington & Fleming 1982, Biometrika 69:553-566; Fleming & Harrington 1991, *Counting Processes
and Survival Analysis*, ch. 7), with ``S(t-)`` the Kaplan-Meier estimate of the pooled sample
(within the stratum) just before ``t``. ``rho = gamma = 0`` is the log-rank test; ``rho = 1,
gamma = 0`` the Peto-Peto/Prentice modification of the Wilcoxon test (R's ``survdiff(rho = 1)``);
``gamma > 0`` puts weight on late differences (e.g. an effect that builds up over coaching).
With ``gamma = 0`` the results equal R's ``survdiff(..., rho = rho)``; with ``gamma > 0`` they
equal the G(rho, gamma) formula above, computed independently in ``tests/reference/survival_core.R``.

All sums are over distinct times with numpy (``unique`` + ``bincount`` + cumulative sums).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from peerstudy.exceptions import AnalysisError
from peerstudy.survival._display import html_table
from peerstudy.survival._validate import check_number, group_codes, require_frame, time_event

__all__ = ["LogrankResult", "logrank_test"]


@dataclass(frozen=True)
class LogrankResult:
    """A (stratified, weighted) log-rank test.

    Attributes
    ----------
    statistic : float
        Chi-squared statistic.
    df : int
        Degrees of freedom (groups - 1).
    p : float
        Upper-tail p-value.
    groups : tuple of str
        Group labels, reference first.
    n, observed, expected : tuple
        Per group: size, observed and expected dropouts (weighted when ``rho``/``gamma`` are not 0,
        as R's ``survdiff`` reports them).
    variance : tuple of tuple of float
        The ``V`` matrix.
    rho, gamma : float
        Fleming-Harrington weights.
    strata : str or None
        Stratifying column.
    group : str
        Grouping column.
    """

    statistic: float
    df: int
    p: float
    groups: tuple[str, ...]
    n: tuple[int, ...]
    observed: tuple[float, ...]
    expected: tuple[float, ...]
    variance: tuple[tuple[float, ...], ...]
    rho: float
    gamma: float
    strata: str | None
    group: str

    @property
    def method(self) -> str:
        name = "log-rank" if self.rho == 0 and self.gamma == 0 else f"Fleming-Harrington G({self.rho:g}, {self.gamma:g})"
        return f"stratified {name}" if self.strata else name

    def to_dict(self) -> dict:
        """``{"statistic", "df", "p", "method", "rho", "gamma", "strata", "groups": {G: {"n", "observed", "expected"}}}``."""
        return {"statistic": self.statistic, "df": self.df, "p": self.p, "method": self.method,
                "rho": self.rho, "gamma": self.gamma, "strata": self.strata, "group": self.group,
                "groups": {g: {"n": n, "observed": o, "expected": e}
                           for g, n, o, e in zip(self.groups, self.n, self.observed, self.expected)}}

    def _repr_html_(self) -> str:
        rows = [(g, n, f"{o:.1f}", f"{e:.1f}") for g, n, o, e in zip(self.groups, self.n, self.observed, self.expected)]
        return html_table(("group", "n", "observed", "expected"), rows,
                          caption=f"{self.method}: chi-squared {self.statistic:.3f} on {self.df} df, p = {self.p:.4g}")


def _one_stratum(t: np.ndarray, e: np.ndarray, g: np.ndarray, k: int, rho: float,
                 gamma: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """O, E (weighted) and V for one stratum, summed over its distinct times."""
    times, inv = np.unique(t, return_inverse=True)
    m = len(times)
    cell = inv * k + g
    d_tg = np.bincount(cell, weights=e, minlength=m * k).reshape(m, k)
    all_tg = np.bincount(cell, minlength=m * k).reshape(m, k).astype(np.float64)
    # at risk at t: everyone whose time is >= t (reverse cumulative sum over times)
    n_tg = np.cumsum(all_tg[::-1], axis=0)[::-1]
    n = n_tg.sum(axis=1)
    d = d_tg.sum(axis=1)
    ev = d > 0
    d_tg, n_tg, n, d = d_tg[ev], n_tg[ev], n[ev], d[ev]
    if rho == 0 and gamma == 0:
        w = np.ones_like(d)
    else:
        s_after = np.cumprod(1.0 - d / n)
        s_left = np.concatenate(([1.0], s_after[:-1]))
        w = s_left ** rho * (1.0 - s_left) ** gamma
    frac = n_tg / n[:, None]
    obs = (w[:, None] * d_tg).sum(axis=0)
    exp = (w[:, None] * d[:, None] * frac).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        f = np.where(n > 1, d * (n - d) / (n - 1), 0.0) * w ** 2
    fw = frac * f[:, None]
    var = np.diag(fw.sum(axis=0)) - fw.T @ frac
    return obs, exp, var, d_tg.sum(axis=0)


def logrank_test(df: pd.DataFrame, *, time: str = "time", event: str = "event", group: str = "arm",
                 strata: str | None = None, rho: float = 0.0, gamma: float = 0.0,
                 allow_zero_time: bool = False) -> LogrankResult:
    """Log-rank test (optionally stratified, optionally Fleming-Harrington weighted).

    Parameters
    ----------
    df : pandas.DataFrame
    time, event : str
        Days in treatment and dropout indicator (1 = dropout, 0 = censored).
    group : str, default "arm"
        Column whose groups are compared (at least two levels).
    strata : str, optional
        Column to stratify by (e.g. ``"site"``): the test sums O - E and V within strata, so
        groups are compared only within the same stratum. R: ``survdiff(... + strata(site))``.
    rho, gamma : float, default 0
        Fleming-Harrington G(rho, gamma) weights ``S(t-)^rho (1 - S(t-))^gamma`` (both >= 0).
    allow_zero_time : bool, default False
        Accept times of 0 days.

    Returns
    -------
    LogrankResult

    Raises
    ------
    SchemaError
        A column is missing; bad times, events or group values.
    AnalysisError
        A group column with one level; no events.
    ParameterError
        Negative or non-numeric ``rho``/``gamma``.
    """
    require_frame(df)
    rho = check_number(rho, name="rho", minimum=0)
    gamma = check_number(gamma, name="gamma", minimum=0)
    t, e = time_event(df, time, event, allow_zero_time=allow_zero_time)
    g, labels = group_codes(df, group, role="group")
    k = len(labels)
    if e.sum() == 0:
        raise AnalysisError(f"no events in column {event!r}: the log-rank test needs at least one dropout")
    obs = np.zeros(k)
    exp = np.zeros(k)
    var = np.zeros((k, k))
    if strata is None:
        parts = [np.arange(len(t))]
    else:
        s_codes, _ = group_codes(df, strata, role="strata", min_levels=1)
        order = np.argsort(s_codes, kind="stable")
        bounds = np.flatnonzero(np.diff(s_codes[order])) + 1
        parts = np.split(order, bounds)
    for idx in parts:
        o, ex, v, _ = _one_stratum(t[idx], e[idx], g[idx], k, float(rho), float(gamma))
        obs += o
        exp += ex
        var += v
    u = (obs - exp)[:-1]
    vv = var[:-1, :-1]
    try:
        statistic = float(u @ np.linalg.solve(vv, u))
    except np.linalg.LinAlgError:
        statistic = float(u @ np.linalg.pinv(vv) @ u)
    dof = int((exp > 0).sum()) - 1  # as R's survdiff
    p = float(stats.chi2.sf(statistic, dof))
    sizes = tuple(int(x) for x in np.bincount(g, minlength=k))
    return LogrankResult(statistic=statistic, df=dof, p=p, groups=labels, n=sizes,
                         observed=tuple(float(x) for x in obs), expected=tuple(float(x) for x in exp),
                         variance=tuple(tuple(float(x) for x in row) for row in var),
                         rho=float(rho), gamma=float(gamma), strata=strata, group=group)
