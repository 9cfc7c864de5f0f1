"""The design of a study decides its primary analysis.

Peer programmes run at a handful of sites, and sometimes whole sites are allocated. An analysis valid for
one design is not valid for another (measured on this project with 2,000 simulated trials each): with 8
sites and individual allocation the Cox model with a site cluster-robust SE rejected a true null 11% of the
time; with 16 sites randomised whole, the log-rank test and the Cox model that ignore the sites rejected it
31% of the time. :func:`primary_analysis` chooses, for the design at hand, an analysis that holds its level:

* **individual allocation** (participants randomised, within sites): the Cox model of the arm (and the
  covariates) **stratified by site**, each site with its own baseline hazard, with the model-based SE. The
  within-site comparison needs no between-site variance, so it does not lean on a sandwich from few sites.
  Its estimand is the hazard ratio conditional on site (and on the covariates in the model).
* **cluster allocation** (whole sites randomised): the marginal Cox model of the arm alone (covariates
  stay in the secondary, adjusted model) with the **Mancl-DeRouen small-sample cluster sandwich and a t reference on G - 1 degrees of
  freedom** for the hazard ratio's CI (:mod:`peerstudy.survival.cox.small_sample`), and the p-value of the
  **randomisation test that re-randomises sites** as the design did (:mod:`peerstudy.survival.permutation`),
  exact by construction. Its estimand is the population-averaged (marginal) hazard ratio. With fewer than
  two clusters in an arm nothing about the arm effect can be told apart from site differences: refused.
* **observational** (not randomised; also the assumption when the design is not stated): as for individual
  allocation, adjusted for the covariates given, reported as an association, never an effect; when each site
  had one arm, the small-sample sandwich as for cluster allocation (no randomisation to re-run).

* **clients clustered by coach** (a ``coach`` column; peer arm only, individual allocation): the Cox model
  with SEs robust to clustering by coach, each usual-care participant a cluster of one (measured: type I
  error 0.057 on 2,000 null trials of ``coach_clustered``, where the site-stratified model rejected 0.126).

Methods that are not valid for the design stay available in :func:`~peerstudy.survival.analyse.analyse_cohort`
(``cluster=``, ``strata=``); :attr:`PrimaryAnalysis.not_valid` names the usual ones and why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from peerstudy.exceptions import AnalysisError, ParameterError
from peerstudy.survival._validate import check_choice, group_codes, require_columns, show
from peerstudy.survival.cox.engine import CoxResult, fit_cox
from peerstudy.survival.cox.modification import own_clusters
from peerstudy.survival.cox.small_sample import FEW_CLUSTERS
from peerstudy.survival.permutation import PermutationResult, permutation_test

__all__ = ["ALLOCATIONS", "StudyDesign", "design_of", "PrimaryAnalysis", "primary_analysis"]

#: how participants came to be in an arm
ALLOCATIONS = ("individual", "cluster", "observational")

_STATED = ("scenario", "user", "default")


@dataclass(frozen=True)
class StudyDesign:
    """How participants were allocated to the arms, and the column of the sites.

    Attributes
    ----------
    allocation : {"individual", "cluster", "observational"}
        ``individual``: participants randomised (within sites); ``cluster``: whole sites randomised;
        ``observational``: not randomised (people or programmes chose).
    cluster : str or None
        The site column: the unit of allocation for ``cluster``, the randomisation block otherwise.
    stated_by : {"scenario", "user", "default"}
        Where the design came from (``default``: not stated, so taken as observational).
    """

    allocation: str
    cluster: str | None = "site"
    stated_by: str = "user"

    def __post_init__(self) -> None:
        check_choice(self.allocation, ALLOCATIONS, name="design")
        check_choice(self.stated_by, _STATED, name="stated_by")
        if self.allocation == "cluster" and not self.cluster:
            raise ParameterError("design 'cluster' needs the column of the allocated clusters (--cluster COL)")

    @property
    def randomised(self) -> bool:
        return self.allocation in ("individual", "cluster")

    def to_dict(self) -> dict[str, Any]:
        return {"allocation": self.allocation, "cluster": self.cluster, "stated_by": self.stated_by,
                "randomised": self.randomised}

    def describe(self) -> str:
        """One sentence for a report: how the arms were formed."""
        if self.allocation == "cluster":
            return f"Whole {self.cluster}s were randomised to peer support or usual care (cluster randomisation)."
        if self.allocation == "individual":
            return "Participants were randomised individually to peer support or usual care."
        if self.stated_by == "default":
            return ("The design was not stated, so the arms are taken as not randomised (an observational "
                    "comparison); state the design if participants were randomised.")
        return "The arms were not randomised (an observational comparison)."


def design_of(df: pd.DataFrame, allocation: str | None = None, cluster: str | None = None) -> StudyDesign:
    """The design of a cohort: as stated (``allocation``, ``cluster``), else as its scenario made it, else observational.

    A simulated cohort carries its scenario's design in ``df.attrs["design"]``.

    Examples
    --------
    >>> import pandas as pd
    >>> design_of(pd.DataFrame({"site": ["A", "B"]}), "cluster").describe()
    'Whole sites were randomised to peer support or usual care (cluster randomisation).'
    """
    if allocation is not None:
        site = cluster if cluster else ("site" if "site" in df.columns else None)
        return StudyDesign(allocation=allocation, cluster=site, stated_by="user")
    attrs = df.attrs.get("design")
    if isinstance(attrs, Mapping) and attrs.get("allocation") in ALLOCATIONS:
        return StudyDesign(allocation=attrs["allocation"], cluster=cluster or attrs.get("cluster"),
                           stated_by="scenario")
    return StudyDesign(allocation="observational", cluster=cluster or ("site" if "site" in df.columns else None),
                       stated_by="default")


@dataclass(frozen=True)
class PrimaryAnalysis:
    """The analysis chosen for the design, its result for the arm, and why.

    Attributes
    ----------
    design : StudyDesign
    method : str
        ``"cox_stratified"``, ``"cox"``, ``"cox_small_sample_permutation"`` (cluster randomised),
        ``"cox_small_sample"`` (not randomised, one arm per site) or ``"cox_coach_robust"`` (clients clustered
        by coach).
    label : str
        The method for people (one line).
    reason : str
        Why this analysis is valid for the design.
    estimand : str
        What its hazard ratio estimates.
    estimand_key : str or None
        The matching key of a simulated cohort's ``truth["estimands"]["log_hazard_ratio"]``:
        ``"conditional"`` (stratified by site, with covariates: the truth only if they are all the covariates
        that affect dropout), ``"within_site"`` (stratified, arm alone), ``"marginal"`` (arm alone, not
        stratified); ``None`` when no computed truth matches.
    term : dict
        The arm's ``coef``, ``se``, ``hr``, ``ci_lower``, ``ci_upper``, ``p`` (the p-value of the primary
        test), ``p_wald`` and, with a t reference, ``df``.
    fit : CoxResult
        The Cox fit behind ``term``.
    permutation : PermutationResult or None
        The randomisation test (cluster allocation).
    n_clusters : int or None
        Sites in the analysis.
    not_valid : tuple of (str, str)
        Analyses the toolkit offers that are not valid here, each with the reason.
    """

    design: StudyDesign
    method: str
    label: str
    reason: str
    estimand: str
    estimand_key: str | None
    term: Mapping[str, float]
    fit: CoxResult = field(repr=False)
    permutation: PermutationResult | None = None
    n_clusters: int | None = None
    not_valid: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out = {"design": self.design.to_dict(), "method": self.method, "label": self.label, "reason": self.reason,
               "estimand": self.estimand, "estimand_key": self.estimand_key, "term": dict(self.term), "n_clusters": self.n_clusters,
               "not_valid": [{"method": m, "why": w} for m, w in self.not_valid]}
        if self.permutation is not None:
            out["permutation"] = self.permutation.to_dict()
        return out


def _n_levels(df: pd.DataFrame, col: str | None) -> int:
    return 0 if col is None or col not in df.columns else int(df[col].nunique())


def primary_analysis(df: pd.DataFrame, design: StudyDesign, *, time: str = "time", event: str = "event",
                     arm: str = "arm", covariates: Sequence[str] = (), ties: str = "efron",
                     n_permutations: int = 10_000, rng: Any = 0) -> PrimaryAnalysis:
    """Fit the primary analysis of the arm effect that is valid for ``design`` (see the module docstring).

    Parameters
    ----------
    df : pandas.DataFrame
        One row per participant.
    design : StudyDesign
    time, event, arm : str
        Columns of days in treatment, dropout (1/0) and arm.
    covariates : sequence of str
        Individual-level covariates of the Cox model.
    ties : {"efron", "breslow"}
    n_permutations : int, default 10000
        Re-randomisations of the test for cluster allocation (all of them when there are at most 20,000).
    rng : int or numpy.random.Generator, default 0
        Seed of the re-randomisations (recorded: the same seed gives the same p-value).

    Raises
    ------
    SchemaError, AnalysisError, ParameterError
        As :func:`~peerstudy.survival.cox.engine.fit_cox`; for cluster allocation also fewer than two
        clusters in an arm, or an arm that varies within a cluster.
    """
    if not isinstance(design, StudyDesign):
        raise ParameterError(f"design must be a StudyDesign (see design_of); got {show(design)}")
    site = design.cluster if design.cluster and design.cluster in df.columns else None
    require_columns(df, [time, event, arm, design.cluster if design.allocation == "cluster" else None, *covariates])
    terms = [arm, *covariates]
    G = _n_levels(df, site)
    adjusted = f", adjusted for {', '.join(covariates)}" if covariates else ""
    if design.allocation == "cluster":
        return _cluster(df, design, time=time, event=event, arm=arm, terms=[arm], ties=ties,
                        n_permutations=n_permutations, rng=rng, adjusted="")
    if G >= 2 and _site_level(df, arm, site):
        if design.allocation == "individual":
            raise AnalysisError(f"arm is constant within every {site}: whole {site}s were allocated, not "
                                f"participants; state the design as cluster (--design cluster)")
        return _cluster(df, design, time=time, event=event, arm=arm, terms=terms, ties=ties,
                        n_permutations=n_permutations, rng=rng, adjusted=adjusted)
    coach = "coach" if "coach" in df.columns and df["coach"].notna().any() else None
    if coach is not None:
        return _by_coach(df, design, time=time, event=event, arm=arm, covariates=covariates, ties=ties,
                         adjusted=adjusted, G=G)
    not_valid = []
    if G >= 2:
        fit = fit_cox(df, time=time, event=event, covariates=terms, strata=site, ties=ties)
        method, label = "cox_stratified", f"Cox model stratified by {site}{adjusted} (model-based SE)"
        why = (f"participants at the same {site} are compared with each other (each {site} has its own "
               f"baseline), so the {G} {site}s need no between-{site} variance estimate")
        estimand = f"hazard ratio of dropout within {site}" + (" and given the covariates" if covariates else "")
        if G < FEW_CLUSTERS:
            not_valid.append((f"Cox model with a {site} cluster-robust SE",
                              f"a sandwich SE from {G} {site}s is too small (fewer than about {FEW_CLUSTERS})"))
    else:
        fit = fit_cox(df, time=time, event=event, covariates=terms, ties=ties)
        method, label = "cox", f"Cox model{adjusted} (model-based SE)"
        why = "one site: no between-site differences to account for"
        estimand = "hazard ratio of dropout" + (" given the covariates" if covariates else "")
    if design.allocation == "individual":
        reason = f"Participants were randomised individually; {why}."
    else:
        reason = (f"The arms were not randomised, so the hazard ratio describes an association{adjusted} and may "
                  f"still be confounded; {why}.")
    term = _arm_term(fit)
    if G >= 2:
        key = "conditional" if covariates else "within_site"
    else:
        key = None if covariates else "marginal"
    return PrimaryAnalysis(design=design, method=method, label=label, reason=reason, estimand=estimand,
                           estimand_key=key, term=term, fit=fit, n_clusters=G or None, not_valid=tuple(not_valid))


#: below this many coaches the coach sandwich gets the Mancl-DeRouen correction and a t on (coaches - 1) df
FEW_COACHES = 10


def _by_coach(df: pd.DataFrame, design: StudyDesign, *, time: str, event: str, arm: str, covariates: Sequence[str],
              ties: str, adjusted: str, G: int) -> PrimaryAnalysis:
    """Clients clustered by coach (peer arm only): Cox with a coach sandwich, usual care as clusters of one.

    Measured on 2,000 null trials of the ``coach_clustered`` preset (4 sites, 12 coaches): this held its level
    (type I error 0.057), where the model SE ignoring coaches rejected 0.136 and the site-stratified model 0.126.
    With fewer than :data:`FEW_COACHES` coaches the sandwich itself is uncertain: the Mancl-DeRouen correction
    and a t reference on (coaches - 1) df widen the interval (a conservative choice, not measured).
    """
    work = own_clusters(df, "coach", arm=arm)
    n_coaches = int(df["coach"].nunique())
    few = n_coaches < FEW_COACHES
    fit = fit_cox(work, time=time, event=event, covariates=[arm, *covariates], cluster="coach", ties=ties,
                  small_sample="md" if few else None)
    term = _arm_term(fit)
    label = f"Cox model{adjusted} with SEs robust to clustering by coach"
    if few:   # the coach sandwich rests on the few coaches: Mancl-DeRouen, t on (coaches - 1) df
        dfree = max(n_coaches - 1, 1)
        crit = float(stats.t.ppf(0.975, dfree))
        se = float(fit.robust_se[0])
        term.update(ci_lower=float(np.exp(term["coef"] - crit * se)), ci_upper=float(np.exp(term["coef"] + crit * se)),
                    p=float(2 * stats.t.sf(abs(term["coef"] / se), dfree)), df=dfree)
        term["p_wald"] = term["p"]
        label += f" (small-sample correction, t on {dfree} df: only {n_coaches} coaches)"
    who = "participants were randomised individually" if design.allocation == "individual" else \
        "the arms were not randomised, so the hazard ratio describes an association that may still be confounded"
    reason = (f"Here {who}; clients of the same coach share that coach ({n_coaches} coaches), so the standard "
              f"errors allow for it, each usual-care participant (no coach) counting as a cluster of one.")
    not_valid = (("Cox model with the model-based SE, stratified by site or not",
                  "ignores that clients of one coach are alike: too many false positives"),)
    return PrimaryAnalysis(design=design, method="cox_coach_robust", label=label, reason=reason[0].upper() + reason[1:],
                           estimand="population-averaged hazard ratio of dropout" +
                           (" given the covariates" if covariates else ""),
                           estimand_key=None if covariates else "marginal", term=term, fit=fit,
                           n_clusters=G or None, not_valid=not_valid)


def _site_level(df: pd.DataFrame, arm: str, site: str) -> bool:
    """Whether every site has one arm (the arm was given to whole sites)."""
    return bool((df.groupby(site, observed=True)[arm].nunique(dropna=True) <= 1).all())


def _arm_term(fit: CoxResult) -> dict[str, float]:
    d = fit.to_dict()["terms"][fit.terms[0]]
    d["p_wald"] = d["p"]
    return d


def _cluster(df: pd.DataFrame, design: StudyDesign, *, time: str, event: str, arm: str, terms: list[str],
             ties: str, n_permutations: int, rng: Any, adjusted: str) -> PrimaryAnalysis:
    site = design.cluster
    codes, levels = group_codes(df, arm, role="arm")
    per_arm = df.groupby(np.asarray(codes), observed=True)[site].nunique()
    if len(levels) == 2 and per_arm.min() < 2:
        few = levels[int(per_arm.idxmin())]
        raise AnalysisError(f"a cluster-randomised comparison needs at least 2 {site}s in each arm; arm {few!r} has "
                            f"{int(per_arm.min())}: the arm effect cannot be told apart from {site} differences")
    fit = fit_cox(df, time=time, event=event, covariates=terms, cluster=site, small_sample="md", ties=ties)
    G = fit.n_clusters
    term = _arm_term(fit)
    perm = None
    label = f"Cox model{adjusted} with the small-sample (Mancl-DeRouen) {site} sandwich, t on {G - 1} df"
    why = (f"people at a {site} share its arm and its differences: the comparison rests on {G} {site}s, not "
           f"on {fit.n} people. The confidence interval uses a cluster sandwich corrected for few {site}s")
    if design.allocation == "cluster":
        perm = permutation_test(df, design="cluster", arm=arm, cluster=site, time=time, event=event,
                                n_permutations=n_permutations, rng=np.random.default_rng(rng))
        term["p"] = float(perm.p_value)
        label += f", and the randomisation test of {G} {site}s"
        reason = f"Whole {site}s were randomised, so {why}; the p-value re-randomises the {site}s as the design did."
        method = "cox_small_sample_permutation"
    else:
        reason = (f"The arms were not randomised and each {site} had one arm, so the hazard ratio describes an "
                  f"association{adjusted} that may still be confounded (by {site} differences too); {why}.")
        method = "cox_small_sample"
    not_valid = (("log-rank test or Cox model ignoring the sites", "treats people as independent when whole "
                  f"{site}s had one arm: far too many false positives"),)
    if G < FEW_CLUSTERS:
        not_valid += ((f"Cox model with a plain {site} cluster-robust SE",
                       f"a sandwich SE from {G} {site}s is too small (fewer than about {FEW_CLUSTERS})"),)
    return PrimaryAnalysis(design=design, method=method, label=label, reason=reason,
                           estimand="population-averaged (marginal) hazard ratio of dropout" +
                           (" given the covariates" if len(terms) > 1 else ""),
                           estimand_key="marginal" if len(terms) == 1 else None,
                           term=term, fit=fit, permutation=perm, n_clusters=G, not_valid=not_valid)
