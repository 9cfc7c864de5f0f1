"""The whole retention analysis of one cohort, as ``peerstudy analyse`` runs it.

:func:`analyse_cohort` runs, on a canonical cohort (or any table with a time and an event column):

* Kaplan-Meier retention per arm (or overall) at the horizons, median days in treatment
  (:mod:`~peerstudy.survival.km`, log-log intervals);
* the log-rank test between arms, and the stratified log-rank test when ``strata`` is given
  (:mod:`~peerstudy.survival.logrank`);
* a Cox model of the arm and the covariates, with strata and cluster-robust SEs when given
  (:mod:`peerstudy.survival.cox`);
* with ``design``: the primary analysis valid for the design, and why (:mod:`peerstudy.survival.primary`),
  beside the Cox model asked for (which may not be valid for the design);
* RMST per arm at each horizon, and the difference ``peer - usual_care`` with its CI
  (:mod:`~peerstudy.survival.rmst`);
* with ``ending``: Aalen-Johansen cumulative incidence of each ending per arm, Fine-Gray and
  cause-specific Cox models of ``cause`` (:mod:`~peerstudy.survival.competing`,
  :mod:`peerstudy.survival.finegray`).

The result's :meth:`AnalysisResults.to_dict` is the ``results.json`` contract of the CLI.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from peerstudy.exceptions import AnalysisError, NotRecordedWarning, ParameterError, PeerstudyWarning
from peerstudy.data.schema import CENSORING
from peerstudy.survival._display import bullet_list, paragraph
from peerstudy.survival._validate import (as_list, recorded_covariates, check_choice, check_horizons, group_codes, horizon_key,
                                          require_columns, require_frame, show, time_event)
from peerstudy.survival.competing import CumulativeIncidenceResult, cumulative_incidence, ending_codes
from peerstudy.survival.cox.engine import TIES, fit_cause_specific_cox, fit_cox
from peerstudy.survival.cox.finegray import fit_fine_gray
from peerstudy.survival.cox.modification import own_clusters
from peerstudy.survival.km import KaplanMeierResult, kaplan_meier
from peerstudy.survival.logrank import LogrankResult, logrank_test
from peerstudy.survival.primary import PrimaryAnalysis, StudyDesign, design_of, primary_analysis
from peerstudy.survival.rmst import RMSTResult, rmst_from_km

__all__ = ["AnalysisResults", "analyse_cohort", "TIES"]


def _as_dict(obj: Any) -> Any:
    return obj.to_dict() if hasattr(obj, "to_dict") else obj


@dataclass(frozen=True)
class AnalysisResults:
    """Everything :func:`analyse_cohort` estimated, immutable.

    Attributes
    ----------
    n, events : int
        Participants and dropouts.
    settings : Mapping
        The options used (columns, covariates, horizons...).
    km : KaplanMeierResult
    logrank : LogrankResult or None
        Between arms (``None`` without an arm).
    logrank_stratified : LogrankResult or None
        Between arms within ``strata``.
    cox : object or None
        The Cox fit (``to_dict()`` as :mod:`peerstudy.survival.cox`), ``None`` if not fitted.
    rmst : Mapping[str, RMSTResult]
        By horizon key (``"90"``).
    cif : CumulativeIncidenceResult or None
    fine_gray, cause_specific : object or None
    primary : PrimaryAnalysis or None
        The analysis chosen for the design (with ``design``).
    notes : tuple of str
        What was skipped and why.
    """

    n: int
    events: int
    settings: Mapping[str, Any]
    km: KaplanMeierResult
    logrank: LogrankResult | None = None
    logrank_stratified: LogrankResult | None = None
    cox: Any = None
    rmst: Mapping[str, RMSTResult] = field(default_factory=dict)
    cif: CumulativeIncidenceResult | None = None
    fine_gray: Any = None
    cause_specific: Any = None
    primary: PrimaryAnalysis | None = None
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        """The ``results.json`` contract, JSON-ready; horizons are string keys."""
        out: dict = {"n": self.n, "events": self.events, "settings": dict(self.settings),
                     "km": self.km.to_dict(), "km_method": self.km.meta()}
        if self.logrank is not None:
            out["logrank"] = self.logrank.to_dict()
        if self.logrank_stratified is not None:
            out["logrank_stratified"] = self.logrank_stratified.to_dict()
        if self.cox is not None:
            out["cox"] = _as_dict(self.cox)
        if self.primary is not None:
            out["primary"] = self.primary.to_dict()
        out["rmst"] = {h: r.to_dict() for h, r in self.rmst.items()}
        if self.cif is not None:
            comp = self.cif.to_dict()
            block: dict = {"cause": self.settings.get("cause"), "causes": list(self.cif.causes),
                           "censored": comp["censored"], "cif": comp["cif"], "cif_se": comp["se"]}
            if self.fine_gray is not None:
                block["fine_gray"] = _as_dict(self.fine_gray)
            if self.cause_specific is not None:
                block["cause_specific"] = _as_dict(self.cause_specific)
            out["competing"] = block
        out["notes"] = list(self.notes)
        return out

    def tables(self) -> dict[str, pd.DataFrame]:
        """Tables for spreadsheets, by file stem: km_curves, km_horizons, km_medians, logrank, cox, rmst, cif..."""
        out = {"km_curves": self.km.table(), "km_horizons": self.km.survival_at(), "km_medians": self.km.medians()}
        tests = [(name, r) for name, r in (("logrank", self.logrank), ("logrank_stratified", self.logrank_stratified))
                 if r is not None]
        if tests:
            out["logrank"] = pd.DataFrame([{"test": name, "method": r.method, "statistic": r.statistic, "df": r.df,
                                            "p": r.p} for name, r in tests])
        for name, fit in (("cox", self.cox), ("fine_gray", self.fine_gray), ("cause_specific", self.cause_specific)):
            if fit is not None:
                terms = _as_dict(fit).get("terms", {})
                out[name] = pd.DataFrame([{"term": t, **v} for t, v in terms.items()])
        if self.rmst:
            out["rmst"] = pd.concat([r.table() for r in self.rmst.values()], ignore_index=True)
        if self.cif is not None:
            out["cif"] = self.cif.at()
        return out

    def _repr_html_(self) -> str:
        parts = [paragraph(f"{self.n} participants, {self.events} dropouts", bold=True), self.km._repr_html_()]
        for r in (self.logrank, self.logrank_stratified, *self.rmst.values(), self.cif):
            if r is not None:
                parts.append(r._repr_html_())
        for fit in (self.cox, self.fine_gray, self.cause_specific):
            if fit is not None and hasattr(fit, "_repr_html_"):
                parts.append(fit._repr_html_())
        parts.append(bullet_list(self.notes))
        return "\n".join(parts)


def analyse_cohort(df: pd.DataFrame, *, time: str = "time", event: str = "event", arm: str | None = "arm",
                   covariates: Sequence[str] = (), strata: str | None = None, cluster: str | None = None,
                   ties: str = "efron", horizons: Iterable[float] = (30, 90, 180), ending: str | None = None,
                   cause: str | None = None, censored: Sequence[str] = CENSORING,
                   design: StudyDesign | str | None = None, n_permutations: int = 10_000,
                   rng: Any = 0) -> AnalysisResults:
    """Run the retention analysis of one cohort.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per participant.
    time : str, default "time"
        Days in treatment (> 0).
    event : str, default "event"
        1 = dropout, 0 = censored or another ending. If the column is absent and ``ending`` is given,
        the event is ``ending == cause``.
    arm : str or None, default "arm"
        Arm column (at least two levels); ``None`` for a single-group analysis (no log-rank, KM
        group ``"all"``).
    covariates : sequence of str
        Extra Cox terms (numeric as they are, categorical dummy-coded ``COL[LEVEL]``). A covariate the data
        do not record (missing for everyone) is left out, with a :class:`~peerstudy.exceptions.NotRecordedWarning`
        and a note.
    strata : str, optional
        Stratify the Cox model and the log-rank test (e.g. ``"site"``).
    cluster : str, optional
        Cluster-robust (sandwich) SEs in the Cox model (e.g. ``"site"``, ``"coach"``). A cluster column missing
        exactly in usual care (``coach``: usual care has no coach) makes each of those participants a cluster of
        one (:func:`~peerstudy.survival.cox.modification.own_clusters`).
    ties : {"efron", "breslow"}, default "efron"
    horizons : iterable of float, default (30, 90, 180)
        Days for retention, RMST and cumulative incidence. RMST is skipped (with a note) at a
        horizon beyond an arm's follow-up.
    ending : str, optional
        Column of endings; enables the competing-endings analysis.
    cause : str, optional
        The ending of interest (default ``"dropout"`` when ``ending`` is given).
    censored : sequence of str, default ("retained", "lost_to_follow_up")
        Values of ``ending`` that mean censoring; every other value is a competing ending.
    design : StudyDesign or {"individual", "cluster", "observational"}, optional
        How the arms were formed (:func:`~peerstudy.survival.primary.design_of`; a string is completed with the
        ``site`` column). Adds the primary analysis valid for it (``primary``).
    n_permutations : int, default 10000
        Re-randomisations of the randomisation test of a cluster design.
    rng : int or numpy.random.Generator, default 0
        Seed of those re-randomisations.

    Returns
    -------
    AnalysisResults

    Raises
    ------
    SchemaError
        A named column is missing; bad times, events not 0/1, missing values in a grouping column.
    AnalysisError
        No events, an arm with one level, a cause that never occurs, or an error from a model fit.
    ParameterError
        Unknown ``ties``, ``cause`` without ``ending``, a cause also listed as censored, bad horizons.
    """
    require_frame(df)
    check_choice(ties, TIES, name="ties")
    df = own_clusters(df, cluster, arm=arm)
    covariates = tuple(c for c in covariates.split(",") if c) if isinstance(covariates, str) else tuple(covariates)
    censored = as_list(censored)
    hz = check_horizons(horizons)
    notes: list[str] = []
    not_recorded_notes: list[str] = []
    df, cause, n, events = _checked(df, time=time, event=event, arm=arm, covariates=covariates, strata=strata,
                                    cluster=cluster, ending=ending, cause=cause, censored=censored, notes=notes)
    covariates = recorded_covariates(df, covariates, warn=False, notes=not_recorded_notes)

    km = kaplan_meier(df, time=time, event=event, group=arm, horizons=hz, conf_type="log-log")
    lr = lr_s = None
    if arm is not None:
        lr = logrank_test(df, time=time, event=event, group=arm)
        if strata is not None:
            lr_s = logrank_test(df, time=time, event=event, group=arm, strata=strata)
    rm = _rmst_by_horizon(km, hz, notes)

    primary = None
    if design is not None:
        if arm is None:
            raise ParameterError("design needs an arm column: the primary analysis compares the arms")
        design = design if isinstance(design, StudyDesign) else design_of(df, design)
        primary = primary_analysis(df, design, time=time, event=event, arm=arm, covariates=covariates, ties=ties,
                                   n_permutations=n_permutations, rng=rng)
    cox = None
    cox_terms = ((arm,) if arm is not None else ()) + covariates
    if not cox_terms:
        notes.append("Cox model not fitted: no arm and no covariates")
    else:
        cox = fit_cox(df, time=time, event=event, covariates=cox_terms, strata=strata, cluster=cluster, ties=ties)

    cif = fg = cs = None
    if ending is not None:
        cif = cumulative_incidence(df, time=time, ending=ending, group=arm, censored=censored, causes=(cause,),
                                   horizons=hz)
        if cox_terms:
            fg = fit_fine_gray(df, time=time, ending=ending, cause=cause, censored=censored,
                               covariates=cox_terms, cluster=cluster)
            cs = fit_cause_specific_cox(df, time=time, ending=ending, cause=cause, censored=censored,
                                        covariates=cox_terms, ties=ties, cluster=cluster)
    for note in not_recorded_notes:
        warnings.warn(note, NotRecordedWarning, stacklevel=2)
    notes = not_recorded_notes + notes
    for note in notes[len(not_recorded_notes):]:
        warnings.warn(note, PeerstudyWarning, stacklevel=2)
    settings = {"time": time, "event": event, "arm": arm, "covariates": list(covariates), "strata": strata,
                "cluster": cluster, "ties": ties, "horizons": [horizon_key(h) for h in hz], "ending": ending,
                "cause": cause, "censored": [str(c) for c in censored] if ending is not None else None,
                "design": primary.design.to_dict() if primary is not None else None}
    return AnalysisResults(n=n, events=events, settings=settings, km=km, logrank=lr,
                           logrank_stratified=lr_s, cox=cox, rmst=rm, cif=cif, fine_gray=fg, cause_specific=cs,
                           primary=primary, notes=tuple(notes))


def _checked(df: pd.DataFrame, *, time: str, event: str, arm: str | None, covariates: Sequence[str],
             strata: str | None, cluster: str | None, ending: str | None, cause: str | None,
             censored: Sequence, notes: list[str]) -> tuple[pd.DataFrame, str | None, int, int]:
    """Check every column up front (so no model is fitted on bad input); derive the event from the endings.

    Returns the data (with the derived event column), the cause, and the numbers of rows and events.
    """
    if cause is not None and ending is None:
        raise ParameterError(f"cause {show(cause)} needs an ending column (ending=...)")
    require_columns(df, [time, arm, strata, cluster, ending, *covariates])
    if ending is not None:
        cause = "dropout" if cause is None else str(cause)
        status, _ = ending_codes(df, ending, censored=censored, causes=(cause,))
        if event not in df.columns:
            df = df.assign(**{event: (status == 1).astype(np.int8)})
            notes.append(f"event column {event!r} absent: derived as {ending} == {cause!r}")
    require_columns(df, [event])
    _, e = time_event(df, time, event)
    if arm is not None:
        group_codes(df, arm, role="arm")
    if strata is not None:
        group_codes(df, strata, role="strata", min_levels=1)
    if cluster is not None:
        group_codes(df, cluster, role="cluster", min_levels=1)
    if e.sum() == 0:
        raise AnalysisError(f"no events: column {event!r} has no 1s (dropouts); nothing to analyse")
    return df, cause, len(e), int(e.sum())


def _rmst_by_horizon(km: KaplanMeierResult, horizons: Sequence[float], notes: list[str]) -> dict[str, RMSTResult]:
    """RMST per arm at each horizon within every arm's follow-up (a note for each horizon skipped)."""
    out: dict[str, RMSTResult] = {}
    reach = min(float(c.time[-1]) if c.survival[-1] > 0 else np.inf for c in km.curves.values())
    for h in horizons:
        if h > reach:
            notes.append(f"RMST at {horizon_key(h)} days skipped: beyond the follow-up of an arm (last time {reach:g})")
            continue
        out[horizon_key(h)] = rmst_from_km(km, h)
    return out
