"""Outcomes programmes report beside retention: linkage, 6-month binary outcomes, follow-up rates, BARC-10.

* :func:`linkage_incidence`: cumulative incidence of linkage (e.g. a first MOUD dose) by day per arm,
  Aalen-Johansen with dropout, incarceration and death competing and retained / lost to follow-up censored
  (:func:`peerstudy.survival.competing.cumulative_incidence`).
* :func:`risk_contrast`: risk difference and risk ratio of a 0/1 outcome (housed, employed at 6 months),
  peer vs usual care, with Wald intervals (the risk ratio's on the log scale), as R's
  ``glm(y ~ arm, family = binomial(link = "identity"))`` and ``binomial(link = "log")`` give them.
* :func:`follow_up_rates`: the share of follow-up interviews done among those due (everyone enrolled except
  people who died before the window opened), against a target (GPRA: 80%), overall, by arm and by site,
  with Wilson intervals.
* :func:`analyse_outcomes`: all of these for one cohort and its interview table (``peerstudy analyse
  --outcomes``), with every count behind them in ``counts`` for a private presentation.
* :func:`barc_mixed_model`: a linear mixed model of BARC-10 totals over visits, random intercept per
  participant, fitted by REML (the exact profile likelihood; equal to R ``lme4::lmer(..., REML = TRUE)``),
  with the change from intake per 180 days by arm.

Counts are returned as they are: present them through :mod:`peerstudy.present.privacy` when the data are real.
Comparisons by arm are causal only when the arms were randomised.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from peerstudy.exceptions import AnalysisError, ParameterError, SchemaError
from peerstudy.survival._display import html_table, num
from peerstudy.survival._validate import (check_conf_level, complete_values, group_codes, require_columns,
                                          require_frame, show)
from peerstudy.survival.competing import CumulativeIncidenceResult, cumulative_incidence

__all__ = ["LINKAGE_HORIZONS", "GPRA_WINDOW", "GPRA_TARGET", "linkage_incidence", "RiskContrast", "risk_contrast",
           "FollowUpRates", "follow_up_rates", "MixedModelResult", "barc_mixed_model", "BINARY_OUTCOMES",
           "linkage_frame", "six_month_frame", "OutcomesResult", "outcome_tables", "analyse_outcomes",
           "impute_six_month"]

LINKAGE_HORIZONS: tuple[int, ...] = (7, 30, 90)
#: The 6-month GPRA follow-up window, days after intake (5 to 8 months).
GPRA_WINDOW: tuple[int, int] = (152, 243)
#: SAMHSA's follow-up target for GPRA interviews.
GPRA_TARGET = 0.80


def linkage_incidence(df: pd.DataFrame, *, time: str = "linkage_time", ending: str = "linkage_ending",
                      linked: str = "linked", group: str | None = "arm",
                      censored: Sequence[str] = ("retained", "lost_to_follow_up"),
                      horizons: Iterable[float] = LINKAGE_HORIZONS) -> CumulativeIncidenceResult:
    """Cumulative incidence of linkage by day, per arm, with the other endings competing.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per participant: ``time`` = day of linkage, or of the end of observation when not linked;
        ``ending`` = ``linked`` or how observation ended.
    linked : str
        The value of ``ending`` that marks linkage.
    censored : sequence of str
        Endings that censor (still in treatment at the end, lost to follow-up); every other non-linkage ending
        competes.

    Returns
    -------
    CumulativeIncidenceResult
        ``result.at()`` has the cumulative incidence of ``linked`` (and of each competing ending) by horizon.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"linkage_time": [3, 5, 8, 40], "linkage_ending": ["linked", "dropout", "linked", "retained"]})
    >>> linkage_incidence(df, group=None, horizons=(7,)).to_dict()["cif"]["linked"]["all"]
    {'7': 0.25}
    """
    return cumulative_incidence(df, time=time, ending=ending, group=group, censored=censored, causes=(linked,),
                                horizons=horizons)


def _z(conf_level: float) -> float:
    return float(stats.norm.ppf(0.5 + check_conf_level(conf_level) / 2))


@dataclass(frozen=True)
class RiskContrast:
    """Risks of a 0/1 outcome per arm and their difference and ratio (treated vs reference)."""

    outcome: str
    groups: tuple[str, str]
    n: tuple[int, int]
    events: tuple[int, int]
    risk: tuple[float, float]
    risk_difference: dict[str, float]
    risk_ratio: dict[str, float]
    conf_level: float
    n_missing: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        ref, trt = self.groups
        return {"outcome": self.outcome, "reference": ref, "treated": trt,
                "n": {ref: self.n[0], trt: self.n[1]}, "events": {ref: self.events[0], trt: self.events[1]},
                "risk": {ref: self.risk[0], trt: self.risk[1]}, "risk_difference": dict(self.risk_difference),
                "risk_ratio": dict(self.risk_ratio), "conf_level": self.conf_level, "n_missing": self.n_missing}

    def _repr_html_(self) -> str:
        rd, rr = self.risk_difference, self.risk_ratio
        rows = [(g, n, num(r)) for g, n, r in zip(self.groups, self.n, self.risk)]
        rows.append(("difference", "", f"{num(rd['estimate'])} ({num(rd['ci_lower'])} to {num(rd['ci_upper'])})"))
        rows.append(("ratio", "", f"{num(rr['estimate'])} ({num(rr['ci_lower'])} to {num(rr['ci_upper'])})"))
        return html_table(("group", "n", "risk"), rows, caption=f"{self.outcome}: risks by arm")


def risk_contrast(df: pd.DataFrame, *, outcome: str, group: str = "arm", reference: str = "usual_care",
                  treated: str = "peer", conf_level: float = 0.95) -> RiskContrast:
    """Risk difference and risk ratio of a 0/1 outcome, ``treated`` vs ``reference``, with Wald intervals.

    Rows whose outcome is missing (no interview) are left out and counted in ``n_missing``: the estimate is then
    a complete-case one, unbiased only if interviews are missing completely at random (see
    :mod:`peerstudy.survival.missing` for multiple imputation).

    SEs: ``sqrt(p1 (1 - p1) / n1 + p0 (1 - p0) / n0)`` for the difference; for the log ratio
    ``sqrt((1 - p1) / (n1 p1) + (1 - p0) / (n0 p0))``.

    Raises
    ------
    SchemaError
        A missing column, an outcome that is not 0/1.
    AnalysisError
        A group with no rows, or (for the ratio) no events in a group.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"arm": ["peer"] * 4 + ["usual_care"] * 4, "y": [1, 1, 1, 0, 1, 0, 0, 0]})
    >>> risk_contrast(df, outcome="y").risk_difference["estimate"]
    0.5
    """
    require_frame(df)
    require_columns(df, [outcome, group])
    keep = df[outcome].notna().to_numpy()
    y_all = pd.to_numeric(df[outcome], errors="coerce")
    bad = keep & ~y_all.isin([0, 1]).to_numpy()
    if bad.any():
        raise SchemaError(f"column {outcome!r} must be 0/1 (or missing); got {show(df[outcome][bad].iloc[0])}")
    g = df[group].astype(str).to_numpy()
    y = y_all.to_numpy(dtype=float, na_value=np.nan)
    n, ev, risk = [], [], []
    for lab in (reference, treated):
        m = keep & (g == lab)
        if not m.any():
            raise AnalysisError(f"group {lab!r} of column {group!r} has no rows with {outcome!r} recorded")
        n.append(int(m.sum()))
        ev.append(int(y[m].sum()))
        risk.append(ev[-1] / n[-1])
    z = _z(conf_level)
    (n0, n1), (p0, p1) = n, risk
    rd = p1 - p0
    se_rd = math.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
    if ev[0] == 0 or ev[1] == 0:
        raise AnalysisError(f"no {outcome!r} = 1 in group {(reference, treated)[ev.index(0)]!r}: the risk ratio is not "
                            f"estimable")
    log_rr = math.log(p1 / p0)
    se_lrr = math.sqrt((1 - p1) / (n1 * p1) + (1 - p0) / (n0 * p0))
    return RiskContrast(
        outcome=outcome, groups=(reference, treated), n=(n0, n1), events=(ev[0], ev[1]), risk=(p0, p1),
        risk_difference={"estimate": rd, "se": se_rd, "ci_lower": rd - z * se_rd, "ci_upper": rd + z * se_rd,
                         "p": float(2 * stats.norm.sf(abs(rd / se_rd))) if se_rd > 0 else float("nan")},
        risk_ratio={"estimate": math.exp(log_rr), "log": log_rr, "se_log": se_lrr,
                    "ci_lower": math.exp(log_rr - z * se_lrr), "ci_upper": math.exp(log_rr + z * se_lrr),
                    "p": float(2 * stats.norm.sf(abs(log_rr / se_lrr))) if se_lrr > 0 else float("nan")},
        conf_level=float(conf_level), n_missing=int((~keep).sum()))


@dataclass(frozen=True)
class FollowUpRates:
    """Interviews done among those due, overall and by group, against a target."""

    table: pd.DataFrame
    target: float
    window: tuple[int, int]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: one entry per row of :attr:`table`."""
        return {"target": self.target, "window": list(self.window),
                "rates": [{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
                          for row in self.table.to_dict("records")]}

    def _repr_html_(self) -> str:
        rows = [(r.by, r.level, r.due, r.done, num(r.rate), "yes" if r.meets_target else "no")
                for r in self.table.itertuples()]
        return html_table(("by", "level", "due", "done", "rate", f"meets {self.target:.0%}"), rows,
                          caption="Follow-up interviews done among those due")


def _wilson(k: np.ndarray, n: np.ndarray, z: float) -> tuple[np.ndarray, np.ndarray]:
    p = k / n
    den = 1 + z ** 2 / n
    centre = (p + z ** 2 / (2 * n)) / den
    half = z * np.sqrt(p * (1 - p) / n + z ** 2 / (4 * n ** 2)) / den
    return centre - half, centre + half


def follow_up_rates(cohort: pd.DataFrame, visits: pd.DataFrame, *, visit: str = "6m",
                    window: tuple[int, int] = GPRA_WINDOW, target: float = GPRA_TARGET,
                    by: Sequence[str] = ("arm", "site"), conf_level: float = 0.95) -> FollowUpRates:
    """The follow-up rate: interviews done in the window among participants due one.

    Due: everyone enrolled except those who died (``outcome == "died"``) before the window opened. Done: a row
    of ``visits`` for the participant with ``visit`` equal to ``visit`` and ``day`` inside ``window``.

    Returns
    -------
    FollowUpRates
        ``table`` with columns ``by`` (``all`` or the column), ``level``, ``due``, ``done``, ``rate``,
        ``ci_lower``, ``ci_upper`` (Wilson) and ``meets_target`` (rate >= target).

    Raises
    ------
    SchemaError
        Missing columns in either table.
    ParameterError
        A bad window or target.
    """
    require_frame(cohort, name="cohort")
    require_frame(visits, name="visits")
    require_columns(cohort, ["participant_id", "time", "outcome", *by])
    require_columns(visits, ["participant_id", "visit", "day"])
    lo, hi = window
    if not (isinstance(lo, (int, np.integer)) and isinstance(hi, (int, np.integer)) and 0 <= lo <= hi):
        raise ParameterError(f"window must be two whole days (first, last) with 0 <= first <= last; got {window!r}")
    if not 0 < float(target) <= 1:
        raise ParameterError(f"target must be in (0, 1]; got {show(target)}")
    z = _z(conf_level)
    v = visits[(visits["visit"].astype(str) == visit) & visits["day"].between(lo, hi)]
    done_ids = set(v["participant_id"].tolist())
    died_before = (cohort["outcome"].astype(str) == "died").to_numpy() & (cohort["time"].to_numpy() < lo)
    due = ~died_before
    done = cohort["participant_id"].isin(done_ids).to_numpy() & due
    parts = [("all", "all", np.ones(len(cohort), dtype=bool))]
    for col in by:
        codes, labels = group_codes(cohort, col, role="group", min_levels=1)
        parts += [(col, lab, codes == j) for j, lab in enumerate(labels)]
    rows = []
    for col, lab, m in parts:
        nd, nk = int((due & m).sum()), int((done & m).sum())
        rows.append({"by": col, "level": str(lab), "due": nd, "done": nk})
    table = pd.DataFrame(rows)
    with np.errstate(divide="ignore", invalid="ignore"):
        d, k = table["due"].to_numpy(float), table["done"].to_numpy(float)
        table["rate"] = np.where(d > 0, k / d, np.nan)
        lo_ci, hi_ci = _wilson(k, d, z)
    table["ci_lower"], table["ci_upper"] = np.where(d > 0, lo_ci, np.nan), np.where(d > 0, hi_ci, np.nan)
    table["meets_target"] = table["rate"] >= float(target)
    return FollowUpRates(table=table, target=float(target), window=(int(lo), int(hi)))


@dataclass(frozen=True)
class MixedModelResult:
    """A linear mixed model with a random intercept per participant, fitted by REML.

    ``coef`` / ``se`` per term (``Intercept``, ``peer``, ``time``, ``time:peer``; time in units of ``per``
    days), ``group_var`` (variance of the person effect), ``resid_var``, and ``change`` from intake per
    ``per`` days by arm with the difference (``time:peer``).
    """

    terms: tuple[str, ...]
    coef: np.ndarray
    se: np.ndarray
    group_var: float
    resid_var: float
    reml_loglik: float
    n_obs: int
    n_groups: int
    per: float
    change: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"terms": {t: {"coef": float(c), "se": float(s)} for t, c, s in zip(self.terms, self.coef, self.se)},
                "group_var": self.group_var, "resid_var": self.resid_var, "reml_loglik": self.reml_loglik,
                "n_obs": self.n_obs, "n_groups": self.n_groups, "per_days": self.per, "change": self.change}

    def _repr_html_(self) -> str:
        rows = [(t, num(c), num(s)) for t, c, s in zip(self.terms, self.coef, self.se)]
        return html_table(("term", "coef", "SE"), rows,
                          caption=f"Mixed model (REML), {self.n_obs} visits of {self.n_groups} participants")


def barc_mixed_model(visits: pd.DataFrame, cohort: pd.DataFrame | None = None, *, outcome: str = "barc10",
                     time: str = "day", group: str = "arm", treated: str = "peer", per: float = 180.0,
                     id_col: str = "participant_id", conf_level: float = 0.95) -> MixedModelResult:
    """Linear mixed model of a repeated score (BARC-10) on time, arm and their interaction; random intercept.

    ``outcome ~ 1 + peer + time/per + peer:time/per + (1 | participant)``, REML, as R's
    ``lmer(y ~ peer * t + (1 | id), REML = TRUE)`` (equal to it to 1e-5 in the tests). With one random effect
    the REML likelihood, profiled over the fixed effects and the residual variance, is a function of the
    variance ratio alone and is computed exactly from per-participant sums, so the fit is a one-dimensional
    search: statsmodels' general ``MixedLM`` reaches the same estimates only to about 1e-3 in the variance
    components (its optimiser stops early on the flat REML surface) and took over a minute on 12,000 people. ``group`` is taken from ``visits`` or, if absent there,
    from ``cohort`` joined on ``id_col``.

    Raises
    ------
    SchemaError
        Missing columns, non-numeric or missing scores or times.
    AnalysisError
        Fewer than 2 participants with 2 or more visits; one arm only; an arm with scores on one day only.
    """
    require_frame(visits, name="visits")
    data = visits
    if group not in visits.columns:
        if cohort is None:
            raise SchemaError(f"column {group!r} is neither in the visits nor given in a cohort")
        require_columns(cohort, [id_col, group])
        data = visits.merge(cohort[[id_col, group]], on=id_col, how="left", validate="many_to_one")
    require_columns(data, [outcome, time, group, id_col])
    data = data[data[outcome].notna()]
    y = complete_values(data, outcome, role="outcome").to_numpy(dtype=float)
    t = complete_values(data, time, role="time").to_numpy(dtype=float) / float(per)
    g = complete_values(data, group, role="group").astype(str).to_numpy()
    peer = (g == treated).astype(float)
    if peer.min() == peer.max():
        raise AnalysisError(f"column {group!r} must hold both {treated!r} and another arm; got one level only")
    ids = data[id_col].to_numpy()
    counts = pd.Series(ids).value_counts()
    if int((counts >= 2).sum()) < 2:
        raise AnalysisError("a mixed model needs at least 2 participants with 2 or more visits")
    X = np.column_stack([np.ones_like(t), peer, t, peer * t])
    terms = ("Intercept", "peer", "time", "time:peer")
    if np.linalg.matrix_rank(X) < X.shape[1]:
        raise AnalysisError(f"the change of {outcome!r} by arm is not estimable: each arm needs scores on at least two "
                            f"different days")
    _, gid = np.unique(ids, return_inverse=True)
    coef, cov, group_var, resid_var, loglik = _random_intercept_reml(y, X, gid)
    se = np.sqrt(np.diag(cov))
    z = _z(conf_level)
    change = {}
    for name, L in (("usual_care", [0, 0, 1, 0]), (treated, [0, 0, 1, 1]), ("difference", [0, 0, 0, 1])):
        L = np.array(L, dtype=float)
        est, s = float(L @ coef), float(math.sqrt(L @ cov @ L))
        change[name] = {"estimate": est, "se": s, "ci_lower": est - z * s, "ci_upper": est + z * s}
    return MixedModelResult(terms=terms, coef=coef, se=se, group_var=group_var, resid_var=resid_var,
                            reml_loglik=loglik, n_obs=len(y), n_groups=int(len(counts)), per=float(per), change=change)


def _profile(r: float, y: np.ndarray, X: np.ndarray, gid: np.ndarray, counts: np.ndarray
             ) -> tuple[float, np.ndarray, np.ndarray, float]:
    """REML log-likelihood profiled over the fixed effects and the residual variance, at variance ratio ``r``.

    With ``V_i = s2 (I + r J)`` per participant, ``V_i^-1 = (I - c_i J) / s2`` with ``c_i = r / (1 + n_i r)``
    and ``log|V_i| = n_i log s2 + log(1 + n_i r)``; sums over a participant's rows give every cross-product.
    """
    n, p = X.shape
    c = r / (1.0 + counts * r)
    sx = np.zeros((len(counts), p))
    np.add.at(sx, gid, X)
    sy = np.bincount(gid, weights=y, minlength=len(counts))
    xwx = X.T @ X - sx.T @ (c[:, None] * sx)
    xwy = X.T @ y - sx.T @ (c * sy)
    ywy = float(y @ y - np.sum(c * sy ** 2))
    chol = np.linalg.cholesky(xwx)
    beta = np.linalg.solve(xwx, xwy)
    q = ywy - float(xwy @ beta)
    s2 = q / (n - p)
    loglik = -0.5 * ((n - p) * (math.log(2 * math.pi * s2) + 1.0) + float(np.sum(np.log1p(counts * r)))
                     + 2.0 * float(np.sum(np.log(np.diag(chol)))))
    return loglik, beta, s2 * np.linalg.inv(xwx), s2


def _random_intercept_reml(y: np.ndarray, X: np.ndarray, gid: np.ndarray
                           ) -> tuple[np.ndarray, np.ndarray, float, float, float]:
    """REML fit of ``y = X b + u_g + e`` (random intercept): the exact profile likelihood, maximised over the
    variance ratio by a bounded scalar search (the ratio is the one parameter left)."""
    from scipy.optimize import minimize_scalar

    counts = np.bincount(gid).astype(float)
    res = minimize_scalar(lambda lr: -_profile(math.exp(lr), y, X, gid, counts)[0], bounds=(-25.0, 12.0),
                          method="bounded", options={"xatol": 1e-11, "maxiter": 500})
    r = math.exp(res.x)
    loglik, beta, cov, s2 = _profile(r, y, X, gid, counts)
    at_zero = _profile(0.0, y, X, gid, counts)
    if at_zero[0] >= loglik:  # the person variance on its boundary
        r, (loglik, beta, cov, s2) = 0.0, at_zero
    return beta, cov, r * s2, s2, loglik


# ----- the secondary-outcome analysis of one cohort and its interview table ---------------------------------------
#: 0/1 outcomes of the 6-month interview that :func:`analyse_outcomes` compares by arm.
BINARY_OUTCOMES: tuple[str, ...] = ("housed", "employed")
#: Cohort columns of linkage: the day of linkage or of the end of observation, and how it ended.
LINKAGE_COLUMNS: tuple[str, str] = ("linkage_time", "linkage_ending")


def linkage_frame(cohort: pd.DataFrame, *, time: str = "time", outcome: str = "outcome") -> pd.DataFrame | None:
    """The cohort with ``linkage_time`` and ``linkage_ending`` (see :func:`linkage_incidence`), or None.

    Taken as they are when the cohort has both (a simulated cohort does); else made from a ``linkage_day``
    column (the day of linkage, missing when the participant was never linked): linked on that day when it is
    no later than the end of observation ``time``, otherwise the ending is the cohort's ``outcome`` at ``time``.

    Raises
    ------
    SchemaError
        A ``linkage_day`` that is not a whole number of days >= 1.

    Examples
    --------
    >>> import pandas as pd
    >>> c = pd.DataFrame({"time": [30, 10, 90], "outcome": ["dropout", "retained", "died"],
    ...                   "linkage_day": [4, None, 95]})
    >>> linkage_frame(c)[["linkage_time", "linkage_ending"]].values.tolist()
    [[4, 'linked'], [10, 'retained'], [90, 'died']]
    """
    if all(c in cohort.columns for c in LINKAGE_COLUMNS):
        return cohort
    if "linkage_day" not in cohort.columns:
        return None
    require_columns(cohort, [time, outcome], role="linkage")
    day = pd.to_numeric(cohort["linkage_day"], errors="coerce")
    bad = (day.isna() & cohort["linkage_day"].notna()) | (day < 1) | (day.fillna(1) % 1 != 0)
    if bad.any():
        raise SchemaError(f"column 'linkage_day' must hold whole days >= 1 (or be empty when never linked); got "
                          f"{show(cohort['linkage_day'][bad].iloc[0])}")
    end = cohort[time].to_numpy(dtype=float)
    linked = day.notna().to_numpy() & (day.fillna(np.inf).to_numpy() <= end)
    out = cohort.copy()
    out["linkage_time"] = np.where(linked, day.fillna(0).to_numpy(), end).astype(np.int64)
    out["linkage_ending"] = np.where(linked, "linked", cohort[outcome].astype(str).to_numpy())
    return out


def six_month_frame(cohort: pd.DataFrame, visits: pd.DataFrame, *, visit: str = "6m",
                    window: tuple[int, int] = GPRA_WINDOW, outcomes: Sequence[str] = BINARY_OUTCOMES,
                    id_col: str = "participant_id") -> pd.DataFrame:
    """One row per participant due a 6-month interview, with its 0/1 outcomes (missing when not interviewed).

    Due as in :func:`follow_up_rates` (everyone but those who died before the window opened); the outcomes are
    those of the ``visit`` interview held inside ``window``. The frame is what a complete-case analysis drops
    rows of and what multiple imputation fills in (:func:`peerstudy.survival.missing.impute`).
    """
    require_columns(cohort, [id_col, "time", "outcome"])
    cols = [c for c in outcomes if c in visits.columns]
    v = visits[(visits["visit"].astype(str) == visit) & visits["day"].between(*window)]
    v = v.drop_duplicates(subset=[id_col])[[id_col, *cols]]
    died_before = (cohort["outcome"].astype(str) == "died").to_numpy() & (cohort["time"].to_numpy() < window[0])
    due = cohort[~died_before]
    out = due.merge(v, on=id_col, how="left", validate="one_to_one", suffixes=("_intake", ""))
    for c in cols:
        out[c] = pd.array(pd.to_numeric(out[c], errors="coerce").round(), dtype="Int64")
    return out.reset_index(drop=True)


def _cif_ci(p: float, se: float, z: float) -> tuple[float, float]:
    """A confidence interval of a cumulative incidence on the log(-log) scale (inside (0, 1), as cmprsk's)."""
    if not (np.isfinite(p) and np.isfinite(se)) or p <= 0 or p >= 1 or se <= 0:
        return (float(p), float(p))
    s = z * se / abs(p * math.log(p))
    return float(p ** math.exp(s)), float(p ** math.exp(-s))


@dataclass(frozen=True)
class OutcomesResult:
    """The secondary outcomes of one cohort: linkage, 6-month risks by arm, follow-up rates, BARC-10.

    Each part is None when the data lack its columns (``errors`` says why a part could not be fitted). ``counts``
    holds every count behind the numbers (group sizes, people due and interviewed, linked, outcome cells), so a
    private presentation (:mod:`peerstudy.present.outcomes`) can suppress them together.
    """

    linkage: CumulativeIncidenceResult | None
    risks: dict[str, RiskContrast]
    follow_up: FollowUpRates | None
    barc10: MixedModelResult | None
    horizons: tuple[int, ...]
    conf_level: float
    counts: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)
    imputed: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``linkage`` (per arm: ``n``, ``linked`` and the cumulative incidence by day with its CI),
        ``six_month`` (per outcome: :meth:`RiskContrast.to_dict`), ``follow_up`` (:meth:`FollowUpRates.to_dict`),
        ``barc10`` (:meth:`MixedModelResult.to_dict`), ``counts``, ``errors`` and, with imputation, ``imputed``."""
        z = _z(self.conf_level)
        out: dict[str, Any] = {"conf_level": self.conf_level}
        if self.linkage is not None:
            at = self.linkage.at([float(h) for h in self.horizons])
            at = at[at["cause"] == "linked"]
            arms: dict[str, Any] = {}
            for g, sub in at.groupby("group", sort=False):
                size, linked = self.counts["linkage"][str(g)]["n"], self.counts["linkage"][str(g)]["linked"]
                cif = {}
                for r in sub.itertuples():
                    lo, hi = _cif_ci(float(r.cif), float(r.se), z)
                    cif[str(int(r.time))] = {"estimate": float(r.cif), "ci_lower": lo, "ci_upper": hi,
                                             "linked": int(self.counts["linkage"][str(g)]["by_day"][str(int(r.time))])}
                arms[str(g)] = {"n": size, "linked": linked, "cif": cif}
            out["linkage"] = {"cause": "linked", "competing": "dropout, incarceration and death before linkage",
                              "censored": list(self.linkage.censored), "by_arm": arms}
        if self.risks:
            out["six_month"] = {k: v.to_dict() for k, v in self.risks.items()}
        if self.follow_up is not None:
            out["follow_up"] = self.follow_up.to_dict()
        if self.barc10 is not None:
            out["barc10"] = self.barc10.to_dict()
        if self.imputed is not None:
            out["imputed"] = self.imputed
        out["counts"] = self.counts
        if self.errors:
            out["errors"] = dict(self.errors)
        return out

    def tables(self) -> dict[str, pd.DataFrame]:
        """CSV tables: ``outcomes_linkage``, ``outcomes_six_month``, ``outcomes_follow_up``, ``outcomes_barc10``."""
        return outcome_tables(self.to_dict())


def outcome_tables(doc: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
    """Long tables of an outcomes document (:meth:`OutcomesResult.to_dict`, or its private form)."""
    out: dict[str, pd.DataFrame] = {}
    link = doc.get("linkage")
    if link:
        out["outcomes_linkage"] = pd.DataFrame([
            {"arm": arm, "day": int(day), "cif": v["estimate"], "ci_lower": v["ci_lower"], "ci_upper": v["ci_upper"]}
            for arm, a in link["by_arm"].items() for day, v in a["cif"].items()])
    six = doc.get("six_month")
    if six:
        rows = []
        for name, r in six.items():
            ref, trt = r["reference"], r["treated"]
            for what, key in (("risk difference", "risk_difference"), ("risk ratio", "risk_ratio")):
                rows.append({"outcome": name, "contrast": f"{what} ({trt} vs {ref})",
                             "estimate": r[key].get("estimate"), "ci_lower": r[key].get("ci_lower"),
                             "ci_upper": r[key].get("ci_upper"), f"risk_{ref}": r["risk"][ref],
                             f"risk_{trt}": r["risk"][trt]})
        out["outcomes_six_month"] = pd.DataFrame(rows)
    fu = doc.get("follow_up")
    if fu:
        out["outcomes_follow_up"] = pd.DataFrame(fu["rates"])
    barc = doc.get("barc10")
    if barc:
        out["outcomes_barc10"] = pd.DataFrame([{"arm": k, **v} for k, v in barc["change"].items()])
    return out


def _light(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` without its ``attrs`` (a shallow copy): pandas deep-copies attrs, such as a simulated cohort's truth, at
    every operation."""
    if not df.attrs:
        return df
    out = df.copy(deep=False)
    out.attrs = {}
    return out


def analyse_outcomes(cohort: pd.DataFrame, visits: pd.DataFrame, *, arm: str = "arm", treated: str = "peer",
                     reference: str = "usual_care", horizons: Iterable[int] = LINKAGE_HORIZONS,
                     by: Sequence[str] = ("arm", "site"), conf_level: float = 0.95,
                     id_col: str = "participant_id") -> OutcomesResult:
    """Every secondary outcome the data allow: linkage, 6-month risks, follow-up rates and BARC-10.

    Parameters
    ----------
    cohort : pandas.DataFrame
        One row per participant (``participant_id``, ``arm``, ``time``, ``outcome``; ``site`` for follow-up rates
        by site; linkage columns as :func:`linkage_frame` reads them).
    visits : pandas.DataFrame
        The follow-up interviews, already linked to the cohort
        (:func:`peerstudy.data.programme.readers.link_visits`): ``participant_id``, ``visit``, ``day`` and the
        measures (``barc10``; at 6 months ``housed``, ``employed``).
    horizons : iterable of int
        Days for the cumulative incidence of linkage (default 7, 30, 90).

    Returns
    -------
    OutcomesResult
        Parts whose columns are absent are None; a part that cannot be fitted (e.g. no one housed in an arm) is
        None with the reason in ``errors``.

    Raises
    ------
    SchemaError
        Missing cohort or visits columns.
    """
    require_frame(cohort, name="cohort")
    require_frame(visits, name="visits")
    require_columns(cohort, [id_col, arm, "time", "outcome"])
    require_columns(visits, [id_col, "visit", "day"])
    horizons = tuple(int(h) for h in horizons)
    errors: dict[str, str] = {}
    cohort, visits = _light(cohort), _light(visits)
    counts: dict[str, Any] = {"arms": {str(k): int(v) for k, v in cohort[arm].astype(str).value_counts().items()}}
    data = cohort if arm == "arm" else cohort.rename(columns={arm: "arm"})
    linkage = None
    link = linkage_frame(data)
    if link is not None:
        linkage = linkage_incidence(link, group="arm", horizons=horizons)
        ending = link["linkage_ending"].astype(str).to_numpy()
        lt = link["linkage_time"].to_numpy(dtype=float)
        g = link["arm"].astype(str).to_numpy()
        counts["linkage"] = {lab: {"n": int((g == lab).sum()), "linked": int(((g == lab) & (ending == "linked")).sum()),
                                   "by_day": {str(h): int(((g == lab) & (ending == "linked") & (lt <= h)).sum())
                                              for h in horizons}}
                             for lab in linkage.curves}
    follow = None
    groups = [c for c in by if c in data.columns]
    follow = follow_up_rates(data, visits, by=groups, conf_level=conf_level)
    six = six_month_frame(data, visits, id_col=id_col)
    interviewed = set(visits.loc[(visits["visit"].astype(str) == "6m") & visits["day"].between(*GPRA_WINDOW),
                                 id_col].tolist())
    risks: dict[str, RiskContrast] = {}
    counts["six_month"] = {}
    for name in BINARY_OUTCOMES:
        if name not in visits.columns:
            continue
        y = six[name]
        done = six[id_col].isin(interviewed).to_numpy()
        cells = {}
        for lab in (reference, treated):
            m = (six["arm"].astype(str) == lab).to_numpy()
            rec = m & y.notna().to_numpy()
            cells[lab] = {"due": int(m.sum()), "interviewed": int((m & done).sum()), "recorded": int(rec.sum()),
                          "yes": int((y[rec] == 1).sum()), "no": int((y[rec] == 0).sum())}
        counts["six_month"][name] = cells
        try:
            risks[name] = risk_contrast(six, outcome=name, group="arm", reference=reference, treated=treated,
                                        conf_level=conf_level)
        except AnalysisError as exc:
            errors[f"six_month.{name}"] = str(exc)
    barc = None
    if "barc10" in visits.columns:
        try:
            barc = barc_mixed_model(visits, data, group="arm", treated=treated, id_col=id_col, conf_level=conf_level)
        except AnalysisError as exc:
            errors["barc10"] = str(exc)
        scored = visits[visits["barc10"].notna()]
        counts["barc10"] = {"participants": int(scored[id_col].nunique()), "n": int(len(cohort)),
                            "by_visit": {str(k): int(v) for k, v in scored["visit"].astype(str).value_counts().items()}}
    return OutcomesResult(linkage=linkage, risks=risks, follow_up=follow, barc10=barc, horizons=horizons,
                          conf_level=check_conf_level(conf_level), counts=counts, errors=errors)


def impute_six_month(cohort: pd.DataFrame, visits: pd.DataFrame, *, m: int, covariates: Sequence[str] = (),
                     arm: str = "arm", treated: str = "peer", reference: str = "usual_care", time: str = "time",
                     event: str = "event", conf_level: float = 0.95, rng: Any = None,
                     id_col: str = "participant_id") -> dict[str, Any]:
    """Missed 6-month interviews filled by multiple imputation; risk differences and ratios pooled by Rubin's rules.

    Everyone due an interview (:func:`six_month_frame`) is kept; the 0/1 outcomes of those not interviewed are
    imputed by chained equations (:func:`peerstudy.survival.missing.impute`) from the arm, ``covariates`` (imputed
    too where missing), the BARC-10 total at intake when recorded, the dropout indicator and the Nelson-Aalen
    cumulative hazard, so people who left treatment (who are interviewed less often) are represented. Valid when
    interviews are missing at random given these.

    Returns
    -------
    dict
        ``{"m", "seed", "method", "predictors", "n_missing": {outcome: count}, "pooled": {outcome:
        {"risk_difference": {...}, "risk_ratio": {...}}}}``, each pooled term as a row of
        :class:`peerstudy.survival.missing.PooledResult` (the ratio and its interval exponentiated).

    Raises
    ------
    AnalysisError
        No 6-month outcome column, or nothing missing to impute.
    """
    from peerstudy.survival.missing import impute, pool

    names = [c for c in BINARY_OUTCOMES if c in visits.columns]
    if not names:
        raise AnalysisError(f"the interview table has no 6-month outcome to impute ({', '.join(BINARY_OUTCOMES)})")
    cohort, visits = _light(cohort), _light(visits)
    data = cohort if arm == "arm" else cohort.rename(columns={arm: "arm"})
    six = six_month_frame(data, visits, outcomes=names, id_col=id_col)
    extra: list[str] = []
    if "barc10" in visits.columns:
        intake = visits[visits["visit"].astype(str) == "intake"].drop_duplicates(subset=[id_col])
        six = six.merge(intake[[id_col, "barc10"]].rename(columns={"barc10": "barc10_intake"}), on=id_col,
                        how="left")
        if six["barc10_intake"].notna().any():
            extra.append("barc10_intake")
    columns = [*names, *[c for c in covariates if c in six.columns and c not in names], *extra]
    six = six[list(dict.fromkeys([id_col, "arm", time, event, *columns]))]  # each completed copy holds only these
    imp = impute(six, columns=columns, m=m, time=time, event=event, predictors=("arm",), rng=rng)
    pooled: dict[str, Any] = {}
    for name in names:
        # one fit per completed data set gives both contrasts (as pool_risk_difference and pool_risk_ratio pool them)
        fits = [risk_contrast(d, outcome=name, group="arm", reference=reference, treated=treated)
                for d in imp.datasets]
        rd = pool(np.array([[f.risk_difference["estimate"]] for f in fits]),
                  np.array([[f.risk_difference["se"] ** 2] for f in fits]), terms=["risk_difference"],
                  conf_level=conf_level, analysis=f"risk difference of {name}")
        rr = pool(np.array([[f.risk_ratio["log"]] for f in fits]), np.array([[f.risk_ratio["se_log"] ** 2] for f in fits]),
                  terms=["log_risk_ratio"], conf_level=conf_level, analysis=f"log risk ratio of {name}",
                  exponentiate=True)
        ratio = {k: float(v) for k, v in rr.table.iloc[0].items()}
        for k in ("estimate", "ci_lower", "ci_upper"):
            ratio[k] = math.exp(ratio[k])
        ratio["se_log"] = ratio.pop("se")
        pooled[name] = {"risk_difference": {k: float(v) for k, v in rd.table.iloc[0].items()}, "risk_ratio": ratio}
    desc = imp.to_dict()
    return {"m": desc["m"], "seed": desc["seed"], "method": desc["method"],
            "predictors": [*desc["predictors"], *[c for c in columns if c not in names]],
            "n_missing": {k: desc["n_missing"][k] for k in names}, "pooled": pooled}
