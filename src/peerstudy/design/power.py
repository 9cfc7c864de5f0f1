"""Analytic power and sample size for a two-arm comparison of retention (time to dropout).

Conventions (the same as rpact's ``getSampleSizeSurvival`` / ``getPowerSurvival`` for a fixed design,
``kMax = 1``, ``sided = 2``; ``tests/reference/design_rpact.R`` checks them):

* **Events.** Schoenfeld (default): ``D = (z_{1-alpha/2} + z_{1-beta})^2 (1 + r)^2 / (r log(HR)^2)``;
  Freedman: ``D = (z_{1-alpha/2} + z_{1-beta})^2 (1 + r HR)^2 / (r (1 - HR)^2)``, with ``r`` the
  allocation ratio peer : usual care (``allocation / (1 - allocation)``). The sample size ignores the
  far tail of the two-sided test; **power** for given events counts both tails,
  ``Phi(theta - z) + Phi(-theta - z)``, as rpact does.
* **Loss to follow-up** (independent censoring, not the event) has a constant hazard, given either as a
  proportion ``lost`` lost by day ``lost_by`` (hazard ``-log(1 - lost) / lost_by`` per day; rpact's
  ``dropoutRate1 = dropoutRate2 = lost`` with ``dropoutTime = lost_by``) or as ``loss_rate`` losses per
  person-year (hazard ``loss_rate / 365.25`` per day). Units cancel, so days are used throughout.
* **Participants.** Exponential retention in usual care with median ``control_median`` days
  (hazard ``log 2 / median``), the peer hazard ``HR`` times that. Enrolment is uniform over ``accrual`` days. With ``follow_up_type="study_end"`` (rpact's
  convention) everyone is followed until ``accrual + follow_up`` days after the first enrolment, so
  follow-up runs from ``follow_up`` to ``accrual + follow_up`` days; with ``"fixed"`` each participant is
  followed exactly ``follow_up`` days (as :mod:`peerstudy.simulation.cohort` does). The probability of an
  observed dropout in an arm with hazard ``l`` and loss hazard ``g`` is ``l / (l + g)`` times the
  probability of leaving observation by the end of follow-up. Participants ``N = D / P(event)``.
* **Clustering.** Outcomes clustered in sites or coaches of mean size ``m`` with intra-cluster
  correlation ``icc`` inflate events and participants by the design effect ``1 + (m - 1) icc``
  (Donner & Klar); power for given events uses ``D / deff`` effective events.

Unrounded figures (``events_exact``, ``subjects_exact``) equal rpact's; ``events`` and ``subjects`` are
rounded up to whole numbers; the participants are split between arms as randomisation does,
``round(N * allocation)`` to peer support and the rest to usual care. **Power for** ``N`` **participants**
uses those exact counts: expected dropouts ``n_peer P_peer + n_uc P_uc`` and the realised share
``n_peer / N`` in the effect, so the power is that of the study that will actually be run.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass
from typing import Any, Literal

from peerstudy.exceptions import ParameterError

__all__ = [
    "SampleSize",
    "events_required",
    "power_for_events",
    "event_probability",
    "design_effect",
    "loss_hazard",
    "arm_counts",
    "sample_size",
    "power_survival",
]

DAYS_PER_YEAR = 365.25
Method = Literal["schoenfeld", "freedman"]
FollowUpType = Literal["study_end", "fixed"]


def _z(p: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(p))


def _phi(x: float) -> float:
    from scipy.special import ndtr

    return float(ndtr(x))


def _check_open_unit(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < 1:
        raise ParameterError(f"{name} must be in (0, 1); got {value!r}")
    return float(value)


def _check_positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
        raise ParameterError(f"{name} must be a finite number > 0; got {value!r}")
    return float(value)


def _check_hr(hazard_ratio: float) -> float:
    hr = _check_positive("hazard_ratio", hazard_ratio)
    if hr == 1:
        raise ParameterError("hazard_ratio must differ from 1 to size a study; got 1.0")
    return hr


def _check_method(method: str) -> str:
    m = str(method).lower()
    if m not in ("schoenfeld", "freedman"):
        raise ParameterError(f"method must be 'schoenfeld' or 'freedman'; got {method!r}")
    return m


def _effect(hazard_ratio: float, allocation: float, method: str) -> float:
    """Standardised effect per sqrt(event): theta = effect * sqrt(D)."""
    r = allocation / (1 - allocation)
    if method == "schoenfeld":
        return math.sqrt(r) / (1 + r) * abs(math.log(hazard_ratio))
    return math.sqrt(r) * abs(1 - hazard_ratio) / (1 + r * hazard_ratio)


def events_required(
    hazard_ratio: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    allocation: float = 0.5,
    method: Method = "schoenfeld",
) -> float:
    """Dropouts needed (unrounded) to detect ``hazard_ratio`` with a two-sided test.

    Parameters
    ----------
    hazard_ratio : float
        Hazard ratio of dropout, peer vs usual care (> 0, != 1).
    alpha : float
        Two-sided significance level.
    power : float
        Target power (the far tail is ignored, as in rpact).
    allocation : float
        Share of participants allocated to peer support, in (0, 1).
    method : {"schoenfeld", "freedman"}
        Approximation for the variance of the log-rank statistic.

    Returns
    -------
    float
        Events; round up for a design.

    Raises
    ------
    ParameterError
        If an argument is out of range (the message names it).

    Examples
    --------
    >>> round(events_required(0.8), 2)
    630.52
    """
    hr = _check_hr(hazard_ratio)
    a = _check_open_unit("alpha", alpha)
    pw = _check_open_unit("power", power)
    alloc = _check_open_unit("allocation", allocation)
    m = _check_method(method)
    return ((_z(1 - a / 2) + _z(pw)) / _effect(hr, alloc, m)) ** 2


def power_for_events(
    hazard_ratio: float,
    events: float,
    *,
    alpha: float = 0.05,
    allocation: float = 0.5,
    method: Method = "schoenfeld",
) -> float:
    """Power of the two-sided log-rank test with ``events`` dropouts (both tails counted).

    Examples
    --------
    >>> round(power_for_events(0.8, 631), 3)
    0.8
    """
    hr = _check_positive("hazard_ratio", hazard_ratio)
    d = _check_positive("events", events)
    a = _check_open_unit("alpha", alpha)
    alloc = _check_open_unit("allocation", allocation)
    m = _check_method(method)
    theta = _effect(hr, alloc, m) * math.sqrt(d)
    z = _z(1 - a / 2)
    return _phi(theta - z) + _phi(-theta - z)


def design_effect(cluster_size: float = 1.0, icc: float = 0.0) -> float:
    """Variance inflation ``1 + (m - 1) * icc`` for clusters of mean size ``m`` (Donner & Klar).

    Examples
    --------
    >>> design_effect(50, 0.02)
    1.98
    """
    m = _check_positive("cluster_size", cluster_size)
    if m < 1:
        raise ParameterError(f"cluster_size must be >= 1; got {cluster_size!r}")
    if isinstance(icc, bool) or not isinstance(icc, numbers.Real) or not 0 <= icc <= 1:
        raise ParameterError(f"icc must be in [0, 1]; got {icc!r}")
    return 1.0 + (m - 1.0) * float(icc)


def event_probability(
    hazard: float,
    *,
    accrual: float,
    follow_up: float,
    loss_hazard: float = 0.0,
    follow_up_type: FollowUpType = "study_end",
) -> float:
    """Probability that a participant's dropout is observed, under exponential times.

    Parameters
    ----------
    hazard : float
        Dropout hazard per day.
    accrual : float
        Days of uniform enrolment.
    follow_up : float
        Days of follow-up after the end of enrolment (``"study_end"``) or per participant (``"fixed"``).
    loss_hazard : float
        Hazard of loss to follow-up per day.
    follow_up_type : {"study_end", "fixed"}
        See the module notes.
    """
    total = hazard + loss_hazard
    if follow_up_type == "fixed":
        leave = -math.expm1(-total * follow_up)
    elif follow_up_type == "study_end":
        # average over entry times uniform on [0, accrual] of 1 - exp(-total * (accrual + follow_up - entry))
        leave = 1.0 - (math.exp(-total * follow_up) * -math.expm1(-total * accrual)) / (total * accrual)
    else:
        raise ParameterError(f"follow_up_type must be 'study_end' or 'fixed'; got {follow_up_type!r}")
    return hazard / total * leave


def loss_hazard(*, lost: float = 0.0, lost_by: float = DAYS_PER_YEAR, loss_rate: float | None = None) -> float:
    """Hazard of loss to follow-up per day, from a proportion lost by a day or from a rate per person-year.

    Parameters
    ----------
    lost : float
        Proportion lost to follow-up by day ``lost_by``, in [0, 1).
    lost_by : float
        The day ``lost`` refers to (default a year, 365.25 days).
    loss_rate : float, optional
        Losses per person-year (>= 0); given instead of ``lost``.

    Examples
    --------
    >>> round(loss_hazard(lost=0.2, lost_by=365) * 365, 6)
    0.223144
    >>> loss_hazard(loss_rate=0.25) * 365.25
    0.25
    """
    if loss_rate is not None:
        if lost:
            raise ParameterError(f"give lost or loss_rate, not both; got lost={lost!r}, loss_rate={loss_rate!r}")
        if (isinstance(loss_rate, bool) or not isinstance(loss_rate, numbers.Real) or not math.isfinite(loss_rate)
                or loss_rate < 0):
            raise ParameterError(f"loss_rate must be a finite number >= 0; got {loss_rate!r}")
        return float(loss_rate) / DAYS_PER_YEAR
    if isinstance(lost, bool) or not isinstance(lost, numbers.Real) or not 0 <= lost < 1:
        raise ParameterError(f"lost must be in [0, 1); got {lost!r}")
    by = _check_positive("lost_by", lost_by)
    return -math.log1p(-float(lost)) / by


def arm_counts(subjects: int, allocation: float) -> tuple[int, int]:
    """Participants per arm, ``(peer, usual care)``: ``round(N * allocation)`` to peer support, the rest to usual care.

    Examples
    --------
    >>> arm_counts(800, 2 / 3)
    (533, 267)
    """
    n = int(subjects)
    peer = int(round(n * _check_open_unit("allocation", allocation)))
    return peer, n - peer


def _loss(lost, lost_by, loss_rate, dropout_per_year) -> tuple[float, float, float, float]:
    """(hazard per day, proportion lost, by day, rate per person-year); ``dropout_per_year`` is the old name of
    ``lost`` by a year."""
    if dropout_per_year is not None:
        if lost or loss_rate is not None:
            raise ParameterError("give lost (or loss_rate) only; dropout_per_year is its former name")
        lost, lost_by = dropout_per_year, DAYS_PER_YEAR
    h = loss_hazard(lost=lost, lost_by=lost_by, loss_rate=loss_rate)
    if loss_rate is not None:
        lost_by = DAYS_PER_YEAR
        lost = -math.expm1(-h * lost_by)
    return h, float(lost), float(lost_by), h * DAYS_PER_YEAR


@dataclass(frozen=True)
class SampleSize:
    """A two-arm retention design: events, participants and power.

    ``subjects`` and the per-arm fields are ``None`` when the timing (control median, accrual,
    follow-up) was not given. Times are in days. Loss to follow-up: ``lost`` is the proportion lost by day
    ``lost_by``, ``loss_rate`` the same as losses per person-year.
    """

    method: str
    hazard_ratio: float
    alpha: float
    power: float
    allocation: float
    events: int
    events_exact: float
    subjects: int | None
    subjects_exact: float | None
    subjects_peer: int | None
    subjects_usual_care: int | None
    event_probability: float | None
    control_median: float | None
    accrual: float | None
    follow_up: float | None
    follow_up_type: str
    lost: float
    lost_by: float
    loss_rate: float
    design_effect: float
    target_power: float | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)

    def summary(self) -> str:
        """A few readable lines."""
        arms = f"{self.allocation:.0%} to peer support"
        lines = [
            f"Hazard ratio {self.hazard_ratio:g}, two-sided alpha {self.alpha:g}, {arms} ({self.method.capitalize()}):",
            (f"  dropouts (events) needed: {self.events}" if self.target_power is not None
             else f"  dropouts (events): {self.events_exact:.1f}" + (" expected" if self.subjects_peer is not None else "")) + (f"  (design effect {self.design_effect:.3g})" if self.design_effect != 1 else ""),
            f"  power: {self.power:.3f}",
        ]
        if self.subjects is not None:
            lines.insert(2, (
                f"  participants{' needed' if self.target_power is not None else ''}: {self.subjects} "
                + (f"({self.subjects_peer} peer, {self.subjects_usual_care} usual care), "
                   if self.subjects_peer is not None else "(to see these dropouts), ")
                + f"P(observed dropout) = {self.event_probability:.3f}"
            ))
            lines.append(
                f"  timing: control median {self.control_median:g} days, enrolment {self.accrual:g} days, "
                f"follow-up {self.follow_up:g} days ({self.follow_up_type}), "
                f"{self.lost:.1%} lost to follow-up by day {self.lost_by:g}"
            )
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        import html

        rows = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
            for k, v in self.to_dict().items() if v is not None
        )
        return f"<table><caption>Sample size ({html.escape(self.method)})</caption>{rows}</table>"


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _timing(control_median, accrual, follow_up) -> bool:
    given = {"control_median": control_median, "accrual": accrual, "follow_up": follow_up}
    missing = [k for k, v in given.items() if v is None]
    if len(missing) == 3:
        return False
    if missing:
        raise ParameterError(f"give control_median, accrual and follow_up together; missing: {', '.join(missing)}")
    _check_positive("control_median", control_median)
    _check_positive("accrual", accrual)
    _check_positive("follow_up", follow_up)
    return True


def _arm_event_probabilities(hr, control_median, accrual, follow_up, loss, follow_up_type) -> tuple[float, float]:
    """P(observed dropout) in (peer, usual care)."""
    lam0 = math.log(2) / control_median
    kw = dict(accrual=accrual, follow_up=follow_up, loss_hazard=loss, follow_up_type=follow_up_type)
    return event_probability(hr * lam0, **kw), event_probability(lam0, **kw)


def _mean_event_probability(hr, allocation, control_median, accrual, follow_up, loss, follow_up_type):
    p_peer, p_uc = _arm_event_probabilities(hr, control_median, accrual, follow_up, loss, follow_up_type)
    return allocation * p_peer + (1 - allocation) * p_uc


def sample_size(
    hazard_ratio: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    allocation: float = 0.5,
    method: Method = "schoenfeld",
    control_median: float | None = None,
    accrual: float | None = None,
    follow_up: float | None = None,
    lost: float = 0.0,
    lost_by: float = DAYS_PER_YEAR,
    loss_rate: float | None = None,
    follow_up_type: FollowUpType = "study_end",
    cluster_size: float = 1.0,
    icc: float = 0.0,
    dropout_per_year: float | None = None,
) -> SampleSize:
    """Events and (with the timing) participants needed, as rpact's ``getSampleSizeSurvival``.

    Parameters
    ----------
    hazard_ratio : float
        Hazard ratio of dropout, peer vs usual care (> 0, != 1).
    alpha, power : float
        Two-sided significance level and target power.
    allocation : float
        Share allocated to peer support, in (0, 1) (rpact's ``allocationRatioPlanned = a / (1 - a)``).
    method : {"schoenfeld", "freedman"}
        Events formula.
    control_median : float, optional
        Median retention in usual care, days (exponential).
    accrual, follow_up : float, optional
        Enrolment period and follow-up, days (see ``follow_up_type``).
    lost : float
        Proportion lost to follow-up by day ``lost_by``, in [0, 1) (rpact's ``dropoutRate`` with
        ``dropoutTime = lost_by``).
    lost_by : float
        Day that ``lost`` refers to (default 365.25, a year).
    loss_rate : float, optional
        Losses to follow-up per person-year, instead of ``lost``.
    follow_up_type : {"study_end", "fixed"}
        ``"study_end"`` (rpact) or a fixed follow-up per participant.
    cluster_size, icc : float
        Mean cluster size and intra-cluster correlation for the design effect (default: none).
    dropout_per_year : float, optional
        Former name of ``lost`` by a year (deprecated: dropout is the event, not loss to follow-up).

    Returns
    -------
    SampleSize

    Raises
    ------
    ParameterError
        An argument out of range, or only part of the timing given.

    Examples
    --------
    >>> s = sample_size(0.8, control_median=91.3125, accrual=547.875, follow_up=182.625, lost=0.1)
    >>> s.events, s.subjects, s.subjects_peer, s.subjects_usual_care
    (631, 708, 354, 354)
    """
    d_exact = events_required(hazard_ratio, alpha=alpha, power=power, allocation=allocation, method=method)
    deff = design_effect(cluster_size, icc)
    loss, lost, lost_by, rate = _loss(lost, lost_by, loss_rate, dropout_per_year)
    d_exact *= deff
    events = math.ceil(d_exact - 1e-9)
    subjects = subjects_exact = n_peer = n_uc = p_event = None
    if _timing(control_median, accrual, follow_up):
        p_event = _mean_event_probability(hazard_ratio, allocation, control_median, accrual, follow_up,
                                          loss, follow_up_type)
        subjects_exact = d_exact / p_event
        subjects = math.ceil(subjects_exact - 1e-9)
        n_peer, n_uc = arm_counts(subjects, allocation)
    achieved = power_for_events(hazard_ratio, events / deff, alpha=alpha, allocation=allocation, method=method)
    return SampleSize(
        method=_check_method(method), hazard_ratio=float(hazard_ratio), alpha=float(alpha), power=achieved,
        allocation=float(allocation), events=events, events_exact=d_exact, subjects=subjects,
        subjects_exact=subjects_exact, subjects_peer=n_peer, subjects_usual_care=n_uc, event_probability=p_event,
        control_median=_opt_float(control_median), accrual=_opt_float(accrual), follow_up=_opt_float(follow_up),
        follow_up_type=follow_up_type, lost=lost, lost_by=lost_by, loss_rate=rate,
        design_effect=deff, target_power=float(power),
    )


def _whole_subjects(subjects: Any) -> int:
    if (isinstance(subjects, bool) or not isinstance(subjects, numbers.Real) or not math.isfinite(subjects)
            or subjects != int(subjects) or subjects < 2):
        raise ParameterError(f"subjects must be a whole number >= 2; got {subjects!r}")
    return int(subjects)


def power_survival(
    hazard_ratio: float,
    *,
    events: float | None = None,
    subjects: int | None = None,
    alpha: float = 0.05,
    allocation: float = 0.5,
    method: Method = "schoenfeld",
    control_median: float | None = None,
    accrual: float | None = None,
    follow_up: float | None = None,
    lost: float = 0.0,
    lost_by: float = DAYS_PER_YEAR,
    loss_rate: float | None = None,
    follow_up_type: FollowUpType = "study_end",
    cluster_size: float = 1.0,
    icc: float = 0.0,
    dropout_per_year: float | None = None,
) -> SampleSize:
    """Power for a given number of events, or of participants with the timing (expected events).

    Exactly one of ``events`` and ``subjects`` is given; other parameters as :func:`sample_size`.
    ``subjects`` (a whole number) are split ``round(subjects * allocation)`` to peer support and the rest to
    usual care; the power uses these exact counts (expected dropouts per arm and the realised share
    ``n_peer / subjects``). The result's ``target_power`` is ``None``.

    Examples
    --------
    >>> round(power_survival(0.8, events=200).power, 4)
    0.3514
    >>> p = power_survival(0.8, subjects=801, control_median=90, accrual=548, follow_up=180, lost=0.2, lost_by=365)
    >>> p.subjects_peer, p.subjects_usual_care
    (400, 401)
    """
    if (events is None) == (subjects is None):
        raise ParameterError("give exactly one of events and subjects")
    hr = _check_positive("hazard_ratio", hazard_ratio)
    alloc = _check_open_unit("allocation", allocation)
    deff = design_effect(cluster_size, icc)
    loss, lost, lost_by, rate = _loss(lost, lost_by, loss_rate, dropout_per_year)
    timed = _timing(control_median, accrual, follow_up)
    p_event = n_peer = n_uc = None
    share = alloc
    if subjects is not None:
        n = _whole_subjects(subjects)
        if not timed:
            raise ParameterError("power for a number of subjects needs control_median, accrual and follow_up")
        n_peer, n_uc = arm_counts(n, alloc)
        if n_peer == 0 or n_uc == 0:
            raise ParameterError(f"subjects={n} with allocation={alloc:g} leaves an arm empty ({n_peer} peer, "
                                 f"{n_uc} usual care)")
        share = n_peer / n
        p_peer, p_uc = _arm_event_probabilities(hr, control_median, accrual, follow_up, loss, follow_up_type)
        d = n_peer * p_peer + n_uc * p_uc
        p_event = d / n
        n_exact: float | None = float(n)
    else:
        d = _check_positive("events", events)
        n_exact = None
        if timed:
            p_event = _mean_event_probability(hr, alloc, control_median, accrual, follow_up, loss, follow_up_type)
            n_exact = d / p_event
    pw = power_for_events(hr, d / deff, alpha=alpha, allocation=share, method=method)
    return SampleSize(
        method=_check_method(method), hazard_ratio=hr, alpha=float(alpha), power=pw, allocation=alloc,
        events=int(round(d)), events_exact=float(d), subjects=None if n_exact is None else math.ceil(n_exact - 1e-9),
        subjects_exact=n_exact, subjects_peer=n_peer, subjects_usual_care=n_uc, event_probability=p_event,
        control_median=_opt_float(control_median), accrual=_opt_float(accrual), follow_up=_opt_float(follow_up),
        follow_up_type=follow_up_type, lost=lost, lost_by=lost_by, loss_rate=rate,
        design_effect=deff, target_power=None,
    )
