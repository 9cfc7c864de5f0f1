"""Peer-contact dose without immortal-time bias: start-stop data, time-varying Cox, landmark analysis.

People who stay in treatment longer have more coach sessions, so "had a session" is partly a
*consequence* of staying: comparing those who ever had a session with those who never did credits
the sessions with the time people had to survive to receive them (immortal-time bias; Suissa 2008).
Two honest alternatives are offered here, and the biased one only to show the bias:

* :func:`contact_intervals` + :func:`timevarying_cox`: the contact log becomes counting-process
  ``(start, stop]`` rows with covariates that change over time, and a Cox model compares, at each
  day, people with and without recent contact. A session on (whole) day ``d`` counts as recent over
  ``(d, d + window_days]``: from the end of the session day, so a session on the day someone drops out
  never counts for that dropout (no information from the future). ``sessions_recent`` is the number of
  sessions in that window, ``any_recent`` is 1 if there is at least one, ``sessions_total`` the number
  since enrolment. The same intervals come out of R's ``survival::tmerge`` with ``cumtdc(day)`` minus
  ``cumtdc(day + window_days)``. **Estimand**: the conditional hazard ratio of dropout with vs without
  recent contact at the same time since enrolment (given the other terms). When the hazard is multiplied
  by ``hazard_ratio_recent`` during the ``window_days`` after each session (as peerstudy's simulator
  does), the ``any_recent`` coefficient estimates ``log(hazard_ratio_recent)``; adjust for arm, the
  hazard's covariates and stratify by site, or the estimate is that of a different (marginal) contrast.
* :func:`landmark_analysis`: fix exposure at a landmark day ``L`` ("any session on days 1..L", or the
  number of sessions), keep only people still at risk after ``L`` (``time > L``), and follow them from
  ``L`` (clock restarted). No immortal time: everyone compared had the same chance to be exposed.
  **Estimand**: the hazard ratio of dropout *after* ``L`` for "engaged by ``L``" vs "not engaged by
  ``L``" among those still in treatment at ``L``, averaged over what happens after ``L``. It is *not*
  ``hazard_ratio_recent``: the effect of a session lasts ``window_days``, so after ``L`` the exposed
  group is "recently exposed" only part of the time (early sessions' windows have lapsed, later ones
  continue because engaged people keep having sessions), and unexposed people may start sessions later.
  It answers the practical question "does being engaged with a coach by day ``L`` predict staying
  after ``L``?". With no effect of contact it is 1 (apart from confounding by who gets a coach: restrict
  to the peer arm or adjust); with an effect it lies between 1 and ``hazard_ratio_recent``.
* :func:`naive_ever_contact`: "ever had a session" vs "never", from enrolment. **Biased** (immortal
  time): it is labelled so in its result and warns; use it only to show the bias.

The contact log (one row per session: ``participant_id``, ``day`` (whole day >= 1 since enrolment),
optionally ``contact_type``) is checked by :func:`validate_contacts` against the cohort: every
participant must be in the cohort and every day must lie in ``1..time`` of that participant.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd

from peerstudy.exceptions import AnalysisError, PeerstudyWarning, SchemaError
from peerstudy.survival._display import paragraph
from peerstudy.survival._validate import check_choice, check_number, require_columns, require_frame
from peerstudy.survival.cox.engine import CoxResult, fit_cox

__all__ = [
    "validate_contacts",
    "contact_intervals",
    "timevarying_cox",
    "landmark_analysis",
    "naive_ever_contact",
    "ContactEffect",
    "WINDOW_DAYS",
]

#: default window of "recent" contact, in days.
WINDOW_DAYS = 14
_SHOW = 5


def _listing(values: Sequence[Any]) -> str:
    vals = list(values)
    shown = ", ".join(str(v) for v in vals[:_SHOW])
    return shown + (f" and {len(vals) - _SHOW} more" if len(vals) > _SHOW else "")


def validate_contacts(contacts: pd.DataFrame, cohort: pd.DataFrame, *, id: str = "participant_id",
                      day: str = "day", time: str = "time") -> pd.DataFrame:
    """Check a contact log against a cohort, reporting every problem at once.

    Parameters
    ----------
    contacts : pandas.DataFrame
        One row per session: ``id`` and ``day`` (whole days since enrolment, >= 1).
    cohort : pandas.DataFrame
        One row per participant with ``id`` and ``time`` (days in treatment).
    id, day, time : str
        Column names.

    Returns
    -------
    pandas.DataFrame
        ``contacts`` unchanged when valid.

    Raises
    ------
    SchemaError
        ``contacts`` or ``cohort`` is not a DataFrame (the cohort also when empty); missing columns;
        duplicate ids in the cohort; missing or non-whole days; participants not in the cohort; days
        outside ``1..time`` of their participant. Each problem names up to five ids; ``err.problems``
        lists them all.
    """
    if not isinstance(contacts, pd.DataFrame):
        raise SchemaError(f"contacts must be a pandas DataFrame; got {type(contacts).__name__}")
    require_frame(cohort, name="cohort")
    require_columns(contacts, (id, day), role="contact log")
    require_columns(cohort, (id, time), role="cohort")
    problems: list[str] = []
    if cohort[id].duplicated().any():
        dup = cohort.loc[cohort[id].duplicated(), id].unique()
        problems.append(f"cohort column {id!r} has duplicate ids: {_listing(dup)}")
    d = pd.to_numeric(contacts[day], errors="coerce")
    bad = d.isna() | (d != np.floor(d))
    if bad.any():
        problems.append(f"contact log column {day!r} must be whole days; {int(bad.sum())} row(s) are not, for "
                        f"participant(s) {_listing(pd.unique(contacts.loc[bad, id]))}")
    known = pd.Index(cohort[id])
    unknown = ~contacts[id].isin(known)
    if unknown.any():
        problems.append(f"the contact log names {int(pd.unique(contacts.loc[unknown, id]).size)} participant(s) not "
                        f"in the cohort: {id} {_listing(pd.unique(contacts.loc[unknown, id]))}")
    ok = ~unknown & ~bad
    if ok.any() and not cohort[id].duplicated().any():
        t = contacts.loc[ok, id].map(pd.Series(cohort[time].to_numpy(), index=cohort[id].to_numpy()))
        dd = d[ok]
        out = (dd < 1) | (dd > t)
        if out.any():
            ids = pd.unique(contacts.loc[ok, id][out])
            ex = contacts.loc[ok][out.to_numpy()].iloc[0]
            problems.append(f"{int(out.sum())} session day(s) lie outside 1..{time} (the participant's days in "
                            f"treatment), for {id} {_listing(ids)} (e.g. {id} {ex[id]}: day {ex[day]} with "
                            f"{time} = {t[out].iloc[0]:g})")
    if problems:
        raise SchemaError("contact log: " + "; ".join(problems), problems)
    return contacts


def contact_intervals(cohort: pd.DataFrame, contacts: pd.DataFrame, *, window_days: int = WINDOW_DAYS,
                      id: str = "participant_id", day: str = "day", time: str = "time",
                      event: str = "event") -> pd.DataFrame:
    """Split each participant's follow-up into ``(start, stop]`` intervals of constant contact exposure.

    Parameters
    ----------
    cohort : pandas.DataFrame
        One row per participant (``id``, ``time``, ``event`` and any covariates, which are carried along).
    contacts : pandas.DataFrame
        The contact log (see :func:`validate_contacts`, which is run first).
    window_days : int, default 14
        A session on day ``d`` counts as recent over ``(d, d + window_days]``.
    id, day, time, event : str
        Column names.

    Returns
    -------
    pandas.DataFrame
        Cohort columns plus ``start``, ``stop`` (days), ``sessions_recent``, ``any_recent`` (0/1) and
        ``sessions_total`` (sessions on days ``<= start``); ``event`` is 1 only on the last interval of a
        participant who dropped out. Rows are ordered by participant (cohort order) then ``start``.

    Examples
    --------
    >>> import pandas as pd
    >>> cohort = pd.DataFrame({"participant_id": [1, 2], "time": [30, 10], "event": [1, 0]})
    >>> log = pd.DataFrame({"participant_id": [1, 1], "day": [5, 10]})
    >>> iv = contact_intervals(cohort, log, window_days=14)
    >>> iv[["start", "stop", "sessions_recent", "event"]].values.tolist()
    [[0, 5, 0, 0], [5, 10, 1, 0], [10, 19, 2, 0], [19, 24, 1, 0], [24, 30, 0, 1], [0, 10, 0, 0]]
    """
    window_days = check_number(window_days, name="window_days", minimum=1, whole=True, unit="days")
    validate_contacts(contacts, cohort, id=id, day=day, time=time)
    require_columns(cohort, [event], role="cohort")
    n = len(cohort)
    t_end = cohort[time].to_numpy(dtype=float)
    codes = pd.Index(cohort[id]).get_indexer(contacts[id])
    d = contacts[day].to_numpy(dtype=float)
    w = float(window_days)
    # sorted keys (participant, day) of session starts and of window ends
    order = np.lexsort((d, codes))
    c_s, d_s = codes[order], d[order]
    e_s = d_s + w
    # breakpoints: 0 for everyone, and every session day and window end inside (0, time)
    bp_p = np.concatenate([np.arange(n), c_s, c_s])
    bp_t = np.concatenate([np.zeros(n), d_s, e_s])
    inside = (bp_t == 0) | (bp_t < t_end[bp_p])
    bp_p, bp_t = bp_p[inside], bp_t[inside]
    o = np.lexsort((bp_t, bp_p))
    bp_p, bp_t = bp_p[o], bp_t[o]
    keep = np.ones(len(bp_t), dtype=bool)
    keep[1:] = (bp_p[1:] != bp_p[:-1]) | (bp_t[1:] != bp_t[:-1])
    p, start = bp_p[keep], bp_t[keep]
    last = np.ones(len(p), dtype=bool)
    last[:-1] = p[1:] != p[:-1]
    stop = np.where(last, t_end[p], np.roll(start, -1))
    # counts at an interval start a: sessions with day <= a, minus windows ended by a (d + w <= a)
    scale = float(max(t_end.max(), (e_s.max() if len(e_s) else 0.0)) + 1.0)
    key_s = c_s * scale + d_s
    key_e = np.sort(c_s * scale + e_s)
    q = p * scale + start
    base = np.searchsorted(key_s, p * scale, side="left")
    started = np.searchsorted(key_s, q, side="right") - base
    ended = np.searchsorted(key_e, q, side="right") - np.searchsorted(key_e, p * scale, side="left")
    ev = cohort[event].to_numpy()
    out = cohort.iloc[p].reset_index(drop=True)
    out["start"] = start
    out["stop"] = stop
    out[event] = np.where(last, ev[p], 0).astype(np.int64)
    out["sessions_recent"] = (started - ended).astype(np.int64)
    out["any_recent"] = (out["sessions_recent"] > 0).astype(np.int64)
    out["sessions_total"] = started.astype(np.int64)
    if np.all(t_end == np.floor(t_end)):
        out["start"] = out["start"].astype(np.int64)
        out["stop"] = out["stop"].astype(np.int64)
    return out


@dataclass(frozen=True)
class ContactEffect:
    """A Cox estimate of the association of peer contact with dropout, with what it estimates.

    Attributes
    ----------
    method : str
        ``"time-varying"``, ``"landmark"`` or ``"naive ever-contact"``.
    term : str
        The model term of the contact exposure.
    cox : CoxResult
        The full model.
    estimand : str
        What the hazard ratio estimates (see the module docstring).
    biased : bool
        ``True`` for the naive comparison (immortal-time bias): for demonstration only.
    n, n_exposed : int
        People analysed and people exposed (ever, or by the landmark).
    landmark_day, window_days : int or None
    """

    method: str
    term: str
    cox: CoxResult
    estimand: str
    biased: bool
    n: int
    n_exposed: int
    landmark_day: int | None = None
    window_days: int | None = None

    @property
    def hazard_ratio(self) -> float:
        return float(np.exp(self.log_hr))

    @property
    def log_hr(self) -> float:
        return float(self.cox.coef[self.cox.terms.index(self.term)])

    @property
    def se(self) -> float:
        i = self.cox.terms.index(self.term)
        return float(self.cox.robust_se[i] if self.cox.robust_se is not None else self.cox.se[i])

    @property
    def label(self) -> str:
        return f"{self.method} (BIASED: immortal time; for demonstration only)" if self.biased else self.method

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: method, label, term, estimand, biased flag, HR with CI, n, n_exposed and the full model."""
        t = self.cox.to_dict()["terms"][self.term]
        return {"method": self.method, "label": self.label, "term": self.term, "estimand": self.estimand,
                "biased": self.biased, "hazard_ratio": t["hr"], "log_hr": t["coef"], "se": self.se,
                "ci_lower": t["ci_lower"], "ci_upper": t["ci_upper"], "p": t["p"], "n": self.n,
                "n_exposed": self.n_exposed, "landmark_day": self.landmark_day, "window_days": self.window_days,
                "model": self.cox.to_dict()}

    def _repr_html_(self) -> str:
        d = self.to_dict()
        warn = paragraph("Biased by immortal time: do not use for inference.", bold=True) if self.biased else ""
        head = (f"{self.label}: HR for {self.term} = {d['hazard_ratio']:.3f} (95% CI {d['ci_lower']:.3f} – "
                f"{d['ci_upper']:.3f}), n = {self.n}, exposed = {self.n_exposed}")
        return paragraph(head) + warn + paragraph(self.estimand) + self.cox._repr_html_()


def timevarying_cox(cohort: pd.DataFrame, contacts: pd.DataFrame, *, exposure: str = "any_recent",
                    window_days: int = WINDOW_DAYS, covariates: Sequence[str] = ("arm",),
                    strata: str | Sequence[str] | None = None, cluster: str | None = None,
                    ties: str = "efron", id: str = "participant_id", time: str = "time",
                    event: str = "event") -> ContactEffect:
    """Cox model with recent contact as a time-varying covariate, on :func:`contact_intervals` data.

    Parameters
    ----------
    cohort, contacts
        As in :func:`contact_intervals`.
    exposure : {"any_recent", "sessions_recent", "sessions_total"}
        The time-varying exposure term.
    window_days : int, default 14
        Window of "recent".
    covariates : sequence of str
        Other (baseline) terms, e.g. ``("arm", "age", "homeless")``.
    strata, cluster, ties
        As in :func:`peerstudy.survival.cox.fit_cox` (``cluster=id`` gives a per-participant robust SE).

    Returns
    -------
    ContactEffect
        ``term`` is ``exposure``; estimand: the conditional HR of recent contact (module docstring).
    """
    check_choice(exposure, ("any_recent", "sessions_recent", "sessions_total"), name="exposure")
    iv = contact_intervals(cohort, contacts, window_days=window_days, id=id, time=time, event=event)
    covs = [exposure, *[c for c in covariates if c != exposure]]
    fit = fit_cox(iv, time="stop", start="start", event=event, covariates=covs, strata=strata, cluster=cluster,
                  ties=ties)
    estimand = (f"conditional hazard ratio of dropout with vs without a session in the last {window_days} days, "
                f"at the same time since enrolment, given {', '.join(covs[1:]) or 'nothing else'}"
                + (f" (stratified by {strata})" if strata else ""))
    n_exp = int(pd.unique(iv.loc[iv["any_recent"] == 1, id]).size)
    return ContactEffect(method="time-varying", term=exposure, cox=fit, estimand=estimand, biased=False,
                         n=len(cohort), n_exposed=n_exp, window_days=int(window_days))


def landmark_analysis(cohort: pd.DataFrame, contacts: pd.DataFrame, *, landmark_day: int = 30,
                      exposure: str = "any", covariates: Sequence[str] = (), strata: str | None = None,
                      cluster: str | None = None, ties: str = "efron", id: str = "participant_id",
                      day: str = "day", time: str = "time", event: str = "event") -> ContactEffect:
    """Landmark analysis: exposure by day ``L``, dropout after ``L`` among those still at risk at ``L``.

    Parameters
    ----------
    cohort, contacts
        As in :func:`contact_intervals`.
    landmark_day : int, default 30
        ``L``: people with ``time > L`` are kept; their clock restarts at ``L`` (``time - L``).
    exposure : {"any", "sessions"}
        ``"any"``: 1 if any session on days ``1..L`` (term ``contact_by_L``); ``"sessions"``: the number
        of such sessions (term ``sessions_by_L``).
    covariates, strata, cluster, ties
        Other terms and options of :func:`peerstudy.survival.cox.fit_cox`.

    Returns
    -------
    ContactEffect
        Estimand: HR of dropout after ``L``, engaged by ``L`` vs not, among those at risk at ``L``
        (module docstring: *not* ``hazard_ratio_recent``).

    Raises
    ------
    AnalysisError
        Nobody is at risk after ``L``, or everybody (or nobody) at risk is exposed.
    """
    L = check_number(landmark_day, name="landmark_day", minimum=1, whole=True, unit="days")
    check_choice(exposure, ("any", "sessions"), name="exposure")
    validate_contacts(contacts, cohort, id=id, day=day, time=time)
    at_risk = cohort[cohort[time] > L]
    if len(at_risk) == 0:
        raise AnalysisError(f"nobody is still in treatment after landmark day {L} (column {time!r})")
    by_l = contacts[contacts[day] <= L].groupby(id).size()
    count = at_risk[id].map(by_l).fillna(0).astype(np.int64).to_numpy()
    term = "contact_by_L" if exposure == "any" else "sessions_by_L"
    x = (count > 0).astype(np.int64) if exposure == "any" else count
    n_exp = int((count > 0).sum())
    if n_exp in (0, len(at_risk)):
        raise AnalysisError(f"landmark day {L}: {n_exp} of {len(at_risk)} people at risk had a session by then; "
                            f"both exposed and unexposed people are needed")
    work = at_risk.assign(**{term: x, "__time_after_L__": at_risk[time].to_numpy() - L})
    fit = fit_cox(work, time="__time_after_L__", event=event, covariates=[term, *covariates], strata=strata,
                  cluster=cluster, ties=ties)
    what = "having had any session" if exposure == "any" else "each session"
    estimand = (f"hazard ratio of dropout after day {L} for {what} on days 1..{L}, among the {len(at_risk)} people "
                f"still in treatment at day {L} (clock restarted at {L}); an 'engaged by day {L}' contrast, not "
                f"the hazard ratio of recent contact")
    return ContactEffect(method="landmark", term=term, cox=fit, estimand=estimand, biased=False, n=len(at_risk),
                         n_exposed=n_exp, landmark_day=L)


def naive_ever_contact(cohort: pd.DataFrame, contacts: pd.DataFrame, *, covariates: Sequence[str] = (),
                       ties: str = "efron", id: str = "participant_id", day: str = "day", time: str = "time",
                       event: str = "event") -> ContactEffect:
    """The naive "ever had a session" vs "never" Cox comparison from enrolment: BIASED, for demonstration.

    Exposure is defined by the whole follow-up, so the exposed are credited with the time they had to
    stay in treatment to receive a session (immortal time): the hazard ratio is pushed below 1 even when
    contact does nothing. Use :func:`timevarying_cox` or :func:`landmark_analysis` instead.

    Warns
    -----
    PeerstudyWarning
        Always: the estimate is biased by immortal time.
    """
    validate_contacts(contacts, cohort, id=id, day=day, time=time)
    ever = cohort[id].isin(pd.unique(contacts[id])).astype(np.int64).to_numpy()
    warnings.warn("naive 'ever had a session' comparison: biased by immortal time (exposure is defined by the "
                  "whole follow-up); shown only to demonstrate the bias", PeerstudyWarning, stacklevel=2)
    fit = fit_cox(cohort.assign(ever_contact=ever), time=time, event=event, covariates=["ever_contact", *covariates],
                  ties=ties)
    return ContactEffect(method="naive ever-contact", term="ever_contact", cox=fit,
                         estimand="none: 'ever had a session' is defined by the whole follow-up, so it is "
                                  "immortal-time biased (towards protection)", biased=True, n=len(cohort),
                         n_exposed=int(ever.sum()))
