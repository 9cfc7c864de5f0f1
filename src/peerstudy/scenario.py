"""Scenarios: frozen, validated parameter objects for simulating peer-support cohorts.

A :class:`Scenario` is validated once, at construction, and round-trips through plain dicts
and YAML (:meth:`Scenario.to_dict`, :meth:`Scenario.from_dict`, :func:`load_scenario`), so the
CLI, papermill notebooks and simulation studies pass the same object.

Parameterisation (all times in days):

* Dropout hazard for a participant with covariates ``x`` at site ``j`` and arm ``a``::

      h(t | x, j, a) = Z_j * exp(beta' (x - centre)) * r_a(t) * h0(t)
      h0(t) = (shape / scale) * (t / scale) ** (shape - 1)        (Weibull, scale in days)

  ``r_a(t) = hazard_ratio`` for the peer arm while ``t <= effect_stops_day`` (always, if that is
  ``None``), else 1. ``Z_j`` is a site frailty, gamma with mean 1 and variance
  ``frailty_variance`` (0 = no site heterogeneity). Covariate hazard ratios are per unit stated
  in each covariate (e.g. age per 10 years).
* ``scale`` is not set directly: it is solved so that the *marginal* usual-care retention
  (net of competing endings, averaged over covariates and site frailty) at ``target_day``
  equals ``target_retention`` (see :mod:`peerstudy.simulation.truth`).
* Competing endings and loss to follow-up have constant hazards, independent of covariates:
  ``incarceration_rate`` and ``death_rate`` are events per person-year;
  ``loss_to_follow_up_per_year`` is the proportion lost in a year (hazard ``-log(1 - p) / 365.25``).
"""

from __future__ import annotations

import dataclasses
import datetime
import difflib
import math
import re
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Mapping

import yaml

from peerstudy._yaml import elide, parse_yaml, read_yaml_file

from peerstudy.exceptions import ScenarioError

__all__ = [
    "BinaryCovariate",
    "NumericCovariate",
    "CountCovariate",
    "Covariates",
    "Assignment",
    "Contacts",
    "MissingCovariates",
    "Outcomes",
    "Coaches",
    "MATCH_BASES",
    "Recurrent",
    "Scenario",
    "PRESETS",
    "list_presets",
    "preset",
    "load_scenario",
    "apply_overrides",
    "as_observational",
]

DAYS_PER_YEAR = 365.25


#: Upper bounds of the size fields: beyond them a study is not a peer-support evaluation, and the work
#: (memory grows with participants and with days of follow-up) would exceed an ordinary machine.
LIMITS: dict[str, int] = {"n": 20_000_000, "n_sites": 10_000, "enrolment_days": 3_653, "follow_up_days": 3_653,
                          "target_day": 3_653, "effect_stops_day": 3_653}
#: First enrolment dates must fall in these years (pandas' datetime range ends in 2262).
START_YEARS = (1900, 2100)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _fail(name: str, rule: str, value: Any) -> None:
    raise ScenarioError(f"{name} must be {rule}; got {elide(value)}")


def _bounded(name: str, value: Any, low: int) -> int:
    v = _integer(name, value)
    high = LIMITS[name]
    if not low <= v <= high:
        _fail(name, f"a whole number from {low:,} to {high:,}", value)
    return v


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        _fail(name, "a finite number", value)
    return float(value)


def _integer(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        _fail(name, "a whole number", value)
    return int(value)


def _prob(name: str, value: Any, *, open_low: bool = False, open_high: bool = False) -> float:
    v = _number(name, value)
    low_ok = v > 0 if open_low else v >= 0
    high_ok = v < 1 if open_high else v <= 1
    if not (low_ok and high_ok):
        lo = "(0" if open_low else "[0"
        hi = "1)" if open_high else "1]"
        _fail(name, f"in {lo}, {hi}", value)
    return v


def _positive(name: str, value: Any) -> float:
    v = _number(name, value)
    if v <= 0:
        _fail(name, "> 0", value)
    return v


@dataclass(frozen=True)
class BinaryCovariate:
    """A 0/1 covariate: ``prevalence`` = P(x = 1); ``hazard_ratio`` for x = 1 vs 0."""

    prevalence: float
    hazard_ratio: float = 1.0

    def _validate(self, name: str) -> None:
        _prob(f"{name}.prevalence", self.prevalence)
        _positive(f"{name}.hazard_ratio", self.hazard_ratio)


@dataclass(frozen=True)
class NumericCovariate:
    """A whole-number covariate drawn as ``round(Normal(mean, sd))`` clipped to ``[lower, upper]``.

    ``hazard_ratio`` is per ``per`` units (e.g. per 10 years of age), centred at ``mean``.
    """

    mean: float
    sd: float
    lower: float
    upper: float
    hazard_ratio: float = 1.0
    per: float = 1.0

    def _validate(self, name: str) -> None:
        _number(f"{name}.mean", self.mean)
        _positive(f"{name}.sd", self.sd)
        lo, hi = _number(f"{name}.lower", self.lower), _number(f"{name}.upper", self.upper)
        if lo != round(lo) or hi != round(hi):
            _fail(f"{name}.lower/upper", "whole numbers", (self.lower, self.upper))
        if not lo < hi:
            _fail(f"{name}.upper", f"> lower ({self.lower!r})", self.upper)
        if lo < 0:
            _fail(f"{name}.lower", ">= 0", self.lower)
        if not lo <= self.mean <= hi:
            _fail(f"{name}.mean", f"within [lower, upper] = [{self.lower!r}, {self.upper!r}]", self.mean)
        _positive(f"{name}.hazard_ratio", self.hazard_ratio)
        _positive(f"{name}.per", self.per)


@dataclass(frozen=True)
class CountCovariate:
    """A count drawn as ``Poisson(mean)`` capped at ``upper``; ``hazard_ratio`` per extra count, centred at ``mean``."""

    mean: float
    upper: int = 30
    hazard_ratio: float = 1.0

    def _validate(self, name: str) -> None:
        m = _number(f"{name}.mean", self.mean)
        if m < 0:
            _fail(f"{name}.mean", ">= 0", self.mean)
        u = _integer(f"{name}.upper", self.upper)
        if u < 1:
            _fail(f"{name}.upper", ">= 1", self.upper)
        _positive(f"{name}.hazard_ratio", self.hazard_ratio)


_COVARIATE_KINDS = {
    "age": NumericCovariate,
    "female": BinaryCovariate,
    "homeless": BinaryCovariate,
    "stimulant_use": BinaryCovariate,
    "injects": BinaryCovariate,
    "unemployed": BinaryCovariate,
    "depression": NumericCovariate,
    "prior_treatments": CountCovariate,
}


@dataclass(frozen=True)
class Covariates:
    """Participant covariates: distributions and hazard ratios on dropout (independent of each other)."""

    age: NumericCovariate = NumericCovariate(mean=35, sd=10, lower=18, upper=75, hazard_ratio=0.80, per=10)
    female: BinaryCovariate = BinaryCovariate(prevalence=0.35, hazard_ratio=1.0)
    homeless: BinaryCovariate = BinaryCovariate(prevalence=0.25, hazard_ratio=1.30)
    stimulant_use: BinaryCovariate = BinaryCovariate(prevalence=0.20, hazard_ratio=1.50)
    injects: BinaryCovariate = BinaryCovariate(prevalence=0.35, hazard_ratio=1.25)
    unemployed: BinaryCovariate = BinaryCovariate(prevalence=0.60, hazard_ratio=1.30)
    depression: NumericCovariate = NumericCovariate(mean=17, sd=9, lower=0, upper=63, hazard_ratio=1.09, per=10)
    prior_treatments: CountCovariate = CountCovariate(mean=1.5, upper=30, hazard_ratio=1.0)

    def _validate(self, name: str = "covariates") -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            kind = _COVARIATE_KINDS[f.name]
            if not isinstance(value, kind):
                _fail(f"{name}.{f.name}", f"a {kind.__name__}", value)
            value._validate(f"{name}.{f.name}")


@dataclass(frozen=True)
class Assignment:
    """Non-randomised (observational) assignment to peer support.

    ``logit P(peer | x) = intercept + sum_k log_odds_k * (x_k - centre_k)``, with each covariate's
    log-odds per unit of the covariate (per year of age, per depression point, per prior treatment),
    centred like the hazard model (binary covariates at 0, others at their mean). Used when
    ``allocation == "observational"``; all zero = a fair coin.
    """

    intercept: float = 0.0
    age: float = 0.0
    female: float = 0.0
    homeless: float = 0.0
    stimulant_use: float = 0.0
    injects: float = 0.0
    unemployed: float = 0.0
    depression: float = 0.0
    prior_treatments: float = 0.0

    def _validate(self, name: str = "assignment") -> None:
        for f in fields(self):
            v = _number(f"{name}.{f.name}", getattr(self, f.name))
            if abs(v) > 20:
                _fail(f"{name}.{f.name}", "a log-odds in [-20, 20]", getattr(self, f.name))


@dataclass(frozen=True)
class Contacts:
    """Peer-coach sessions for participants in the peer arm (a contact log).

    Sessions follow a Poisson process with rate ``rate_per_week / 7`` per day at enrolment, halving
    every ``halving_days`` days (``None``: constant), with no sessions after ``cap_day`` (``None``: no
    cap). A session happens at the end of a whole day ``d`` (recorded as ``day = d``; at most one a
    day) and only while the participant is still observed. Each is by phone with probability
    ``phone_fraction``, else face to face. The dropout hazard is multiplied by
    ``hazard_ratio_recent`` during the ``window_days`` days after each session (``(d, d + window]``),
    on top of the arm's ``hazard_ratio``.
    """

    enabled: bool = False
    rate_per_week: float = 1.0
    halving_days: float | None = 60.0
    cap_day: int | None = 90
    phone_fraction: float = 0.4
    window_days: int = 14
    hazard_ratio_recent: float = 1.0

    def _validate(self, name: str = "contacts") -> None:
        if not isinstance(self.enabled, bool):
            _fail(f"{name}.enabled", "true or false", self.enabled)
        r = _number(f"{name}.rate_per_week", self.rate_per_week)
        if not 0 <= r <= 50:
            _fail(f"{name}.rate_per_week", "in [0, 50]", self.rate_per_week)
        if self.halving_days is not None:
            _positive(f"{name}.halving_days", self.halving_days)
        if self.cap_day is not None and _integer(f"{name}.cap_day", self.cap_day) < 1:
            _fail(f"{name}.cap_day", ">= 1 or null", self.cap_day)
        _prob(f"{name}.phone_fraction", self.phone_fraction)
        if _integer(f"{name}.window_days", self.window_days) < 1:
            _fail(f"{name}.window_days", ">= 1", self.window_days)
        _positive(f"{name}.hazard_ratio_recent", self.hazard_ratio_recent)


_MECHANISMS = ("mcar", "mar")


@dataclass(frozen=True)
class MissingCovariates:
    """Share of each covariate left missing (0 = always recorded), and how the missing values arise.

    ``mechanism = "mcar"``: each value is missing with probability equal to its rate, independently of
    everything. ``"mar"``: missing at random given what was recorded,
    ``logit P(missing) = c + log(odds_ratio_event) * event + log(odds_ratio_peer) * peer``, with the
    intercept ``c`` solved on each cohort so that the share missing equals the rate; missingness then
    depends on the recorded outcome (dropout) and arm, never on the value itself.
    """

    age: float = 0.0
    female: float = 0.0
    homeless: float = 0.0
    stimulant_use: float = 0.0
    injects: float = 0.0
    unemployed: float = 0.0
    depression: float = 0.0
    prior_treatments: float = 0.0
    mechanism: str = "mcar"
    odds_ratio_event: float = 3.0
    odds_ratio_peer: float = 1.0

    def _validate(self, name: str = "outcomes.missing") -> None:
        for cov in _COVARIATE_KINDS:
            v = _number(f"{name}.{cov}", getattr(self, cov))
            if not 0 <= v <= 0.9:
                _fail(f"{name}.{cov}", "a share missing in [0, 0.9]", getattr(self, cov))
        if self.mechanism not in _MECHANISMS:
            _fail(f"{name}.mechanism", "'mcar' or 'mar'", self.mechanism)
        for nm in ("odds_ratio_event", "odds_ratio_peer"):
            v = _positive(f"{name}.{nm}", getattr(self, nm))
            if not 1e-3 <= v <= 1e3:
                _fail(f"{name}.{nm}", "in [0.001, 1000]", getattr(self, nm))

    @property
    def rates(self) -> dict[str, float]:
        """Covariate -> share missing, for the covariates with a share above 0."""
        return {cov: float(getattr(self, cov)) for cov in _COVARIATE_KINDS if getattr(self, cov) > 0}


@dataclass(frozen=True)
class Outcomes:
    """Secondary outcomes of the same participants, follow-up interviews and missing covariates.

    Off unless ``enabled``; the retention cohort is the same with or without them (their draws come from
    their own random stream). All values are illustrative assumptions unless a preset cites a source.

    * Linkage (e.g. a first MOUD dose): constant hazard ``linkage_rate_per_week / 7`` per day in usual
      care, times ``linkage_hazard_ratio`` in the peer arm (a cause-specific hazard ratio), while the
      participant is still observed; dropout, incarceration and death before linkage are competing events.
    * Housed and employed at the 6-month interview: logistic in arm and the matching intake covariate,
      ``logit P(housed) = logit(housed_usual_care) + log(housed_odds_ratio_peer) * peer
      + log(housed_odds_ratio_homeless) * homeless`` (``housed_usual_care`` is for people housed at intake);
      the same for employed with ``unemployed``.
    * BARC-10 totals (10-60) at intake (day 0), 3 and 6 months:
      ``barc_intake + b_i + (barc_change_6m + barc_peer_change_6m * peer) * day / 180 + e``, with a person
      effect ``b_i ~ N(0, barc_person_sd^2)`` and ``e ~ N(0, barc_residual_sd^2)``, rounded and kept in 10-60.
    * Interviews at about 3 and 6 months (6 months: a day in the 5-8 month GPRA window) are completed with
      ``logit P = logit(interview_rate) + log(interview_odds_ratio_left) * left + log(interview_odds_ratio_homeless)
      * homeless`` (``left`` = no longer in treatment by the interview day; missing at random given these);
      nobody is interviewed after death.
    * ``missing``: covariates left missing at stated rates (:class:`MissingCovariates`).
    """

    enabled: bool = False
    linkage_rate_per_week: float = 0.10
    linkage_hazard_ratio: float = 1.4
    housed_usual_care: float = 0.75
    housed_odds_ratio_peer: float = 1.5
    housed_odds_ratio_homeless: float = 0.25
    employed_usual_care: float = 0.55
    employed_odds_ratio_peer: float = 1.3
    employed_odds_ratio_unemployed: float = 0.30
    barc_intake: float = 35.0
    barc_change_6m: float = 2.0
    barc_peer_change_6m: float = 2.5
    barc_person_sd: float = 6.0
    barc_residual_sd: float = 4.0
    interview_rate: float = 0.9
    interview_odds_ratio_left: float = 0.3
    interview_odds_ratio_homeless: float = 0.6
    missing: MissingCovariates = field(default_factory=MissingCovariates)

    def __post_init__(self) -> None:
        if isinstance(self.missing, Mapping):
            _reject_unknown(self.missing, [f.name for f in fields(MissingCovariates)], "outcomes.missing.")
            object.__setattr__(self, "missing", MissingCovariates(**self.missing))

    def _validate(self, name: str = "outcomes") -> None:
        if not isinstance(self.enabled, bool):
            _fail(f"{name}.enabled", "true or false", self.enabled)
        r = _number(f"{name}.linkage_rate_per_week", self.linkage_rate_per_week)
        if not 0 <= r <= 50:
            _fail(f"{name}.linkage_rate_per_week", "in [0, 50]", self.linkage_rate_per_week)
        for nm in ("housed_usual_care", "employed_usual_care", "interview_rate"):
            _prob(f"{name}.{nm}", getattr(self, nm), open_low=True, open_high=True)
        for nm in ("linkage_hazard_ratio", "housed_odds_ratio_peer", "housed_odds_ratio_homeless",
                   "employed_odds_ratio_peer", "employed_odds_ratio_unemployed", "interview_odds_ratio_left",
                   "interview_odds_ratio_homeless"):
            v = _positive(f"{name}.{nm}", getattr(self, nm))
            if not 1e-3 <= v <= 1e3:
                _fail(f"{name}.{nm}", "in [0.001, 1000]", getattr(self, nm))
        b = _number(f"{name}.barc_intake", self.barc_intake)
        if not 10 <= b <= 60:
            _fail(f"{name}.barc_intake", "a BARC-10 total in [10, 60]", self.barc_intake)
        for nm in ("barc_change_6m", "barc_peer_change_6m"):
            if abs(_number(f"{name}.{nm}", getattr(self, nm))) > 50:
                _fail(f"{name}.{nm}", "in [-50, 50] BARC-10 points", getattr(self, nm))
        for nm in ("barc_person_sd", "barc_residual_sd"):
            v = _number(f"{name}.{nm}", getattr(self, nm))
            if not 0 <= v <= 50:
                _fail(f"{name}.{nm}", "in [0, 50] BARC-10 points", getattr(self, nm))
        if not isinstance(self.missing, MissingCovariates):
            _fail(f"{name}.missing", "a mapping of covariate shares missing and the mechanism", self.missing)
        self.missing._validate(f"{name}.missing")
#: What a coach and a client can be matched on.
MATCH_BASES: tuple[str, ...] = ("primary_substance", "lived_experience")


@dataclass(frozen=True)
class Coaches:
    """Peer coaches within sites: caseloads, a coach frailty and coach-client matching (peer arm only).

    Each site has ``per_site`` coaches. A participant in the peer arm is assigned to one of their site's
    coaches, each equally likely, so a coach's caseload is about ``n_peer / (n_sites * per_site)``;
    usual-care participants have no coach. Coach ``c`` has a frailty ``W_c``, gamma with mean 1 and
    variance ``frailty_variance`` (0 = coaches do not differ), multiplying the dropout hazard of each of
    their clients on top of the site frailty. A client shares the coach's ``match_on`` (primary substance
    or lived experience) with probability ``match_probability``; a matched client's dropout hazard is
    multiplied by ``match_hazard_ratio``. Coach frailty and match are constant over follow-up (they do
    not stop at ``effect_stops_day``), so a peer-arm client's hazard ratio against usual care, given
    covariates and frailties, is ``hazard_ratio`` unmatched and ``hazard_ratio * match_hazard_ratio``
    matched (while the arm effect lasts).
    """

    enabled: bool = False
    per_site: int = 3
    frailty_variance: float = 0.0
    match_on: str = "primary_substance"
    match_probability: float = 0.5
    match_hazard_ratio: float = 1.0

    def _validate(self, name: str = "coaches") -> None:
        if not isinstance(self.enabled, bool):
            _fail(f"{name}.enabled", "true or false", self.enabled)
        k = _integer(f"{name}.per_site", self.per_site)
        if not 1 <= k <= 1_000:
            _fail(f"{name}.per_site", "a whole number from 1 to 1,000", self.per_site)
        fv = _number(f"{name}.frailty_variance", self.frailty_variance)
        if not 0 <= fv <= 10:
            _fail(f"{name}.frailty_variance", "in [0, 10]", self.frailty_variance)
        if self.match_on not in MATCH_BASES:
            _fail(f"{name}.match_on", " or ".join(repr(b) for b in MATCH_BASES), self.match_on)
        _prob(f"{name}.match_probability", self.match_probability)
        hr = _positive(f"{name}.match_hazard_ratio", self.match_hazard_ratio)
        if hr > 100:
            _fail(f"{name}.match_hazard_ratio", "in (0, 100]", self.match_hazard_ratio)
        object.__setattr__(self, "per_site", k)
#: Kinds of simulated recurrent events (see :class:`Recurrent`).
RECURRENT_KINDS: tuple[str, ...] = ("relapse", "overdose")
#: Kind of a simulated re-entry to treatment after a dropout (see :class:`Recurrent`).
REENTRY_KIND = "reentry"


@dataclass(frozen=True)
class Recurrent:
    """Recurrent episodes after enrolment (relapses, overdoses): a counting process with a subject frailty.

    Person ``i`` has a frailty ``W_i``, gamma with mean 1 and variance ``frailty_variance`` (0 = none), drawn
    independently of everything else in the cohort. Episodes form a Poisson process given ``W_i`` with rate
    ``W_i * rate_per_year / 365.25 * rr(t)`` per day, where ``rr(t) = rate_ratio`` in the peer arm while
    ``t <= effect_stops_day`` (always if ``None``; set it to ``contacts.cap_day`` for an effect that stops at
    the coaching cap) and 1 otherwise. Each episode is an overdose with probability ``overdose_fraction``,
    else a relapse; it is recorded on day ``ceil(t)``, at most one a day (the first of the day).

    Death is the terminal event: the cohort's death hazard becomes ``death_rate * W_i ** death_frailty``
    (``death_frailty = 0``: death independent of the episode rate; 1: proportional to it), and no episode
    happens after death. Episodes are observed up to the end of the participant's observation in the
    cohort (its ``time``), so dropout, loss to follow-up, incarceration and the end of follow-up censor them.
    Nothing else in the cohort changes; with ``enabled: false`` (the default) nothing is drawn.

    With ``effect_while_coached`` the rate ratio applies only on the days a peer-arm person is coached: in
    treatment (on day ``d`` when the dropout did not come before day ``d - 1`` ended) and on or before the
    coaching cap ``contacts.cap_day`` (``null``: no cap), besides ``effect_stops_day``. Without re-entries
    dropout then censors episodes informatively (the rate changes at dropout): simulate re-entries, which
    keep episodes observed after a dropout, to estimate this effect.

    With ``reentry_rate_per_year > 0`` a person who drops out re-enters treatment (kind ``reentry``) as a
    Poisson process from the day after the dropout, with rate ``W_i * reentry_rate_per_year / 365.25``, times
    ``reentry_rate_ratio`` in the peer arm, at most one a day, stopped at death. Dropout then no longer
    ends the observation of episodes: every kind is observed up to the end of research follow-up, death,
    loss to follow-up or incarceration (the cohort gains ``events_time`` and ``events_ending``). At 0 (the
    default) nothing more is drawn and episodes are what they were.
    """

    enabled: bool = False
    rate_per_year: float = 2.0
    rate_ratio: float = 0.80
    effect_stops_day: int | None = None
    frailty_variance: float = 0.5
    death_frailty: float = 1.0
    overdose_fraction: float = 0.3
    effect_while_coached: bool = False
    reentry_rate_per_year: float = 0.0
    reentry_rate_ratio: float = 1.0

    def _validate(self, name: str = "recurrent") -> None:
        if not isinstance(self.enabled, bool):
            _fail(f"{name}.enabled", "true or false", self.enabled)
        r = _number(f"{name}.rate_per_year", self.rate_per_year)
        if not 0 < r <= 100:
            _fail(f"{name}.rate_per_year", "in (0, 100] episodes per person-year", self.rate_per_year)
        rr = _positive(f"{name}.rate_ratio", self.rate_ratio)
        if rr > 100:
            _fail(f"{name}.rate_ratio", "in (0, 100]", self.rate_ratio)
        if self.effect_stops_day is not None:
            v = _integer(f"{name}.effect_stops_day", self.effect_stops_day)
            if not 1 <= v <= LIMITS["effect_stops_day"]:
                _fail(f"{name}.effect_stops_day", f"a whole number from 1 to {LIMITS['effect_stops_day']:,} or null",
                      self.effect_stops_day)
            object.__setattr__(self, "effect_stops_day", v)
        fv = _number(f"{name}.frailty_variance", self.frailty_variance)
        if not 0 <= fv <= 10:
            _fail(f"{name}.frailty_variance", "in [0, 10]", self.frailty_variance)
        dp = _number(f"{name}.death_frailty", self.death_frailty)
        if not 0 <= dp <= 3:
            _fail(f"{name}.death_frailty", "in [0, 3] (the power of the frailty in the death hazard)", self.death_frailty)
        _prob(f"{name}.overdose_fraction", self.overdose_fraction)
        if not isinstance(self.effect_while_coached, bool):
            _fail(f"{name}.effect_while_coached", "true or false", self.effect_while_coached)
        rr = _number(f"{name}.reentry_rate_per_year", self.reentry_rate_per_year)
        if not 0 <= rr <= 100:
            _fail(f"{name}.reentry_rate_per_year", "in [0, 100] re-entries per person-year (0: none)",
                  self.reentry_rate_per_year)
        ratio = _positive(f"{name}.reentry_rate_ratio", self.reentry_rate_ratio)
        if ratio > 100:
            _fail(f"{name}.reentry_rate_ratio", "in (0, 100]", self.reentry_rate_ratio)

    @property
    def reentries(self) -> bool:
        """True when re-entries to treatment are drawn (``reentry_rate_per_year > 0``)."""
        return self.enabled and self.reentry_rate_per_year > 0


@dataclass(frozen=True)
class Scenario:
    """A peer-support cohort study, frozen and validated at construction.

    Parameters
    ----------
    name, description : str
        Identifier and one-line description.
    n : int
        Participants (>= 2).
    n_sites : int
        Sites (>= 1; >= 2 when ``allocation == "cluster"``).
    allocation : {"individual", "cluster", "observational"}
        Individual randomisation (exactly ``round(n * peer_fraction)`` people to peer support),
        cluster randomisation (``round(n_sites * peer_fraction)`` sites to peer support), or
        observational assignment by the logistic model in ``assignment`` (confounded by covariates).
    peer_fraction : float
        Share allocated to peer support, in (0, 1); 0.5 = 1:1.
    enrolment_days : int
        Enrolment is uniform over this many days from ``start_date``.
    follow_up_days : int
        Each participant is followed this many days; still in treatment then = ``retained``.
    start_date : str
        First enrolment date, ``YYYY-MM-DD``.
    weibull_shape : float
        Weibull shape of the baseline dropout hazard (< 1: falling hazard).
    target_day, target_retention : int, float
        Calibrate the Weibull scale so usual-care retention at ``target_day`` is ``target_retention``.
    hazard_ratio : float
        Conditional hazard ratio of dropout, peer vs usual care (> 0; < 1 = peer support helps).
    effect_stops_day : int or None
        Day after which the peer effect stops (a coaching cap); ``None`` = never.
    covariates : Covariates
        Participant covariates.
    frailty_variance : float
        Variance of the gamma site frailty on dropout (>= 0).
    loss_to_follow_up_per_year : float
        Proportion losing research contact in a year, in [0, 1).
    incarceration_rate, death_rate : float
        Competing-event hazards, events per person-year (>= 0).
    assignment : Assignment
        Logistic model for peer support when ``allocation == "observational"``.
    contacts : Contacts
        Peer-coach session log and the effect of recent contact (off unless ``contacts.enabled``).
    outcomes : Outcomes
        Secondary outcomes, follow-up interviews and missing covariates (off unless ``outcomes.enabled``).
    coaches : Coaches
        Coaches within sites (caseloads, coach frailty, coach-client matching); off unless
        ``coaches.enabled``.
    recurrent : Recurrent
        Recurrent episodes with a subject frailty and death as terminal event (off unless ``recurrent.enabled``).
    """

    name: str = "custom"
    description: str = ""
    n: int = 800
    n_sites: int = 8
    allocation: Literal["individual", "cluster", "observational"] = "individual"
    peer_fraction: float = 0.5
    enrolment_days: int = 548
    follow_up_days: int = 180
    start_date: str = "2025-01-06"
    weibull_shape: float = 0.8
    target_day: int = 90
    target_retention: float = 0.55
    hazard_ratio: float = 0.80
    effect_stops_day: int | None = None
    covariates: Covariates = field(default_factory=Covariates)
    frailty_variance: float = 0.10
    loss_to_follow_up_per_year: float = 0.10
    incarceration_rate: float = 0.0609
    death_rate: float = 0.0201
    assignment: Assignment = field(default_factory=Assignment)
    contacts: Contacts = field(default_factory=Contacts)
    outcomes: Outcomes = field(default_factory=Outcomes)
    coaches: Coaches = field(default_factory=Coaches)
    recurrent: Recurrent = field(default_factory=Recurrent)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            _fail("name", "a non-empty string", self.name)
        if not isinstance(self.description, str):
            _fail("description", "a string", self.description)
        _bounded("n", self.n, 2)
        sites = _bounded("n_sites", self.n_sites, 1)
        if self.allocation not in ("individual", "cluster", "observational"):
            _fail("allocation", "'individual', 'cluster' or 'observational'", self.allocation)
        if not isinstance(self.assignment, Assignment):
            _fail("assignment", "an Assignment object", self.assignment)
        self.assignment._validate()
        if not isinstance(self.contacts, Contacts):
            _fail("contacts", "a Contacts object", self.contacts)
        self.contacts._validate()
        if not isinstance(self.outcomes, Outcomes):
            _fail("outcomes", "an Outcomes object", self.outcomes)
        self.outcomes._validate()
        if not isinstance(self.coaches, Coaches):
            _fail("coaches", "a Coaches object", self.coaches)
        self.coaches._validate()
        if not isinstance(self.recurrent, Recurrent):
            _fail("recurrent", "a Recurrent object", self.recurrent)
        self.recurrent._validate()
        _prob("peer_fraction", self.peer_fraction, open_low=True, open_high=True)
        if self.allocation == "cluster":
            if sites < 2:
                _fail("n_sites", ">= 2 for cluster allocation", self.n_sites)
            k = round(sites * self.peer_fraction)
            if not 0 < k < sites:
                _fail("peer_fraction", f"such that some but not all of the {sites} sites get peer support", self.peer_fraction)
        _bounded("enrolment_days", self.enrolment_days, 1)
        _bounded("follow_up_days", self.follow_up_days, 1)
        start = str(self.start_date)  # YAML reads an unquoted 2025-01-06 as a date
        try:
            year = datetime.date.fromisoformat(start).year if _ISO_DATE.fullmatch(start) else None
        except ValueError:
            year = None
        if year is None:
            _fail("start_date", "a real date written YYYY-MM-DD", self.start_date)
        if not START_YEARS[0] <= year <= START_YEARS[1]:
            _fail("start_date", f"a date in the years {START_YEARS[0]}-{START_YEARS[1]}", self.start_date)
        object.__setattr__(self, "start_date", start)
        shape = _number("weibull_shape", self.weibull_shape)
        if not 0.05 <= shape <= 20:
            _fail("weibull_shape", "in [0.05, 20]", self.weibull_shape)
        _bounded("target_day", self.target_day, 1)
        _prob("target_retention", self.target_retention, open_low=True, open_high=True)
        hr = _positive("hazard_ratio", self.hazard_ratio)
        if hr > 100:
            _fail("hazard_ratio", "in (0, 100]", self.hazard_ratio)
        if self.effect_stops_day is not None:
            _bounded("effect_stops_day", self.effect_stops_day, 1)
        if not isinstance(self.covariates, Covariates):
            _fail("covariates", "a Covariates object", self.covariates)
        self.covariates._validate()
        fv = _number("frailty_variance", self.frailty_variance)
        if not 0 <= fv <= 10:
            _fail("frailty_variance", "in [0, 10]", self.frailty_variance)
        _prob("loss_to_follow_up_per_year", self.loss_to_follow_up_per_year, open_high=True)
        for nm in ("incarceration_rate", "death_rate"):
            v = _number(nm, getattr(self, nm))
            if not 0 <= v <= 50:
                _fail(nm, "in [0, 50] events per person-year", getattr(self, nm))
        # normalise integer-valued floats from YAML/CLI to int
        for nm in ("n", "n_sites", "enrolment_days", "follow_up_days", "target_day"):
            object.__setattr__(self, nm, int(getattr(self, nm)))
        if self.effect_stops_day is not None:
            object.__setattr__(self, "effect_stops_day", int(self.effect_stops_day))

    # ----- derived rates --------------------------------------------------------------------
    @property
    def loss_hazard(self) -> float:
        """Loss-to-follow-up hazard per day."""
        return -math.log1p(-self.loss_to_follow_up_per_year) / DAYS_PER_YEAR

    @property
    def incarceration_hazard(self) -> float:
        """Incarceration hazard per day."""
        return self.incarceration_rate / DAYS_PER_YEAR

    @property
    def death_hazard(self) -> float:
        """Death hazard per day."""
        return self.death_rate / DAYS_PER_YEAR

    # ----- round trip -----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (YAML/JSON-ready).

        The ``outcomes``, ``coaches`` and ``recurrent`` blocks are left out while they are at their defaults (off),
        so scenarios without them read and write as they always have; :meth:`from_dict` fills them in again.
        """
        out = dataclasses.asdict(self)
        if self.outcomes == Outcomes():
            del out["outcomes"]
        if self.coaches == Coaches():
            del out["coaches"]
        if self.recurrent == Recurrent():
            del out["recurrent"]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Scenario":
        """Build from a (possibly partial) nested dict; unknown keys are errors naming the key."""
        if not isinstance(data, Mapping):
            raise ScenarioError(f"a scenario must be a mapping of field names to values; got {type(data).__name__}")
        data = dict(data)
        _reject_unknown(data, [f.name for f in fields(cls)], "")
        for key in ("covariates", "assignment", "contacts", "outcomes", "coaches", "recurrent"):
            if key in data and data[key] is None:
                raise ScenarioError(f"{key} must be a mapping of its fields (leave it out to keep the defaults); got null")
        cov = data.pop("covariates", None)
        if cov is not None:
            data["covariates"] = _covariates_from_dict(cov)
        for key, kind in (("assignment", Assignment), ("contacts", Contacts), ("outcomes", Outcomes),
                          ("coaches", Coaches), ("recurrent", Recurrent)):
            block = data.pop(key, None)
            if block is None or isinstance(block, kind):
                if block is not None:
                    data[key] = block
                continue
            if not isinstance(block, Mapping):
                raise ScenarioError(f"{key} must be a mapping of {', '.join(f.name for f in fields(kind))}; got {block!r}")
            _reject_unknown(block, [f.name for f in fields(kind)], f"{key}.")
            data[key] = kind(**block)
        return cls(**data)

    def to_yaml(self) -> str:
        """YAML text that :func:`load_scenario` reads back to an equal scenario."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=False)

    def replace(self, **changes: Any) -> "Scenario":
        """A copy with some top-level fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


def _reject_unknown(data: Mapping[str, Any], known: list[str], prefix: str) -> None:
    for key in data:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f" (did you mean {prefix}{close[0]!r}?)" if close else ""
            raise ScenarioError(f"unknown scenario field {prefix}{key!r}{hint}; known fields: {', '.join(known)}")


def _covariates_from_dict(data: Any) -> Covariates:
    if isinstance(data, Covariates):
        return data
    if not isinstance(data, Mapping):
        raise ScenarioError(f"covariates must be a mapping; got {data!r}")
    _reject_unknown(data, list(_COVARIATE_KINDS), "covariates.")
    base = Covariates()
    out = {}
    for name, kind in _COVARIATE_KINDS.items():
        if name not in data:
            continue
        spec = data[name]
        if isinstance(spec, kind):
            out[name] = spec
            continue
        if not isinstance(spec, Mapping):
            raise ScenarioError(f"covariates.{name} must be a mapping of {', '.join(f.name for f in fields(kind))}; got {spec!r}")
        _reject_unknown(spec, [f.name for f in fields(kind)], f"covariates.{name}.")
        merged = {**dataclasses.asdict(getattr(base, name)), **spec}
        out[name] = kind(**merged)
    return dataclasses.replace(base, **out)


# ----- presets ------------------------------------------------------------------------------
PRESETS: tuple[str, ...] = ("outpatient_default", "ed_bridge", "moud_clinic", "cluster_randomised", "null_effect",
                            "observational", "coach_clustered", "navigator_trial", "hospital_coach_pilot")


def _preset_text(name: str) -> str:
    return resources.files("peerstudy").joinpath("presets", f"{name}.yaml").read_text(encoding="utf-8")


def preset(name: str) -> Scenario:
    """A preset scenario by name (see :data:`PRESETS`; each YAML file cites its sources)."""
    if name not in PRESETS:
        close = difflib.get_close_matches(str(name), PRESETS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ScenarioError(f"unknown preset {name!r}{hint}; presets: {', '.join(PRESETS)}")
    return Scenario.from_dict(yaml.safe_load(_preset_text(name)))


def list_presets() -> dict[str, str]:
    """Preset name -> one-line description."""
    return {name: preset(name).description for name in PRESETS}


def load_scenario(spec: "str | Path | Scenario | Mapping[str, Any]") -> Scenario:
    """A scenario from a preset name, a YAML file path, a dict, or a Scenario.

    A YAML file may name a ``base`` preset and override some of its fields.
    """
    if isinstance(spec, Scenario):
        return spec
    if isinstance(spec, Mapping):
        return _from_mapping(spec)
    text = str(spec)
    if text in PRESETS:
        return preset(text)
    path = Path(text)
    if path.suffix.lower() in (".yaml", ".yml", ".json") or path.exists():
        if not path.is_file():
            raise ScenarioError(f"scenario file not found: {text!r}")
        data = read_yaml_file(path, what="scenario file", error=ScenarioError)
        try:
            return _from_mapping({} if data is None else data)
        except ScenarioError as exc:  # name the file the problem is in
            raise ScenarioError(f"scenario file {text!r}: {exc}") from None
    return preset(text)  # raises "unknown preset" with a suggestion


def _from_mapping(data: Mapping[str, Any]) -> Scenario:
    if not isinstance(data, Mapping):
        raise ScenarioError(f"a scenario must be a mapping of field names to values; got {type(data).__name__}")
    data = dict(data)
    base = data.pop("base", None)
    if base is None:
        return Scenario.from_dict(data)
    merged = _deep_merge(preset(str(base)).to_dict(), data)
    return Scenario.from_dict(merged)


def _deep_merge(base: dict[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in changes.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def apply_overrides(scenario: Scenario, overrides: "Mapping[str, Any] | list[str]") -> Scenario:
    """Override fields by (dotted) name, e.g. ``{"hazard_ratio": 0.7, "covariates.homeless.prevalence": 0.3}``.

    ``overrides`` may also be a list of ``"KEY=VALUE"`` strings (values parsed as YAML scalars).
    """
    if not isinstance(overrides, Mapping):
        parsed: dict[str, Any] = {}
        for item in overrides:
            if "=" not in item:
                raise ScenarioError(f"--set expects KEY=VALUE; got {item!r}")
            key, _, raw = item.partition("=")
            key = key.strip()
            if key in parsed:
                raise ScenarioError(f"--set gives {key!r} twice; give each field once")
            try:
                parsed[key] = parse_yaml(raw, where=f"--set {key}", error=ScenarioError) if raw.strip() else raw
            except ScenarioError:
                parsed[key] = raw  # not YAML: keep the text, the field's own check names what it must be
        overrides = parsed
    data = dataclasses.asdict(scenario)  # every block, including default ones (outcomes, coaches, recurrent)
    for key, value in overrides.items():
        parts = key.split(".")
        node = data
        for depth, part in enumerate(parts[:-1]):
            prefix = ".".join(parts[:depth])
            if not isinstance(node, dict) or part not in node or not isinstance(node[part], dict):
                known = [k for k, v in node.items() if isinstance(v, dict)] if isinstance(node, dict) else []
                close = difflib.get_close_matches(part, known, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                where = f"{prefix}." if prefix else ""
                raise ScenarioError(f"unknown scenario field {where}{part!r}{hint} in override {key!r}")
            node = node[part]
        leaf = parts[-1]
        if leaf not in node:
            known = list(node)
            close = difflib.get_close_matches(leaf, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ScenarioError(f"unknown scenario field {key!r}{hint}")
        if isinstance(node[leaf], dict):
            raise ScenarioError(f"scenario field {key!r} is a group; set one of its fields, e.g. {key}.{next(iter(node[leaf]))}")
        node[leaf] = value
    return Scenario.from_dict(data)


def as_observational(scenario: "Scenario | str") -> Scenario:
    """The scenario made observational with a coach-contact log, if it is not one already.

    A scenario that already has ``allocation: observational`` and ``contacts.enabled`` is returned as it is;
    otherwise it takes the assignment model and contact process of the ``observational`` preset (which cites
    its assumptions), keeping its own outcome model. Lets observational reports run on any scenario.
    """
    scenario = load_scenario(scenario)
    if scenario.allocation == "observational" and scenario.contacts.enabled:
        return scenario
    obs = preset("observational")
    return scenario.replace(allocation="observational", assignment=obs.assignment, contacts=obs.contacts)
