"""Group-sequential designs for retention: boundaries, maximum and expected dropouts and participants, power.

A design (:func:`group_sequential_design`) has ``K`` analyses at information fractions ``t_k`` (shares of the
maximum number of dropouts, ``t_K = 1``) with efficacy boundaries ``c_k`` on the z scale
(:mod:`peerstudy.design.boundaries`) and, for one-sided designs, optional futility bounds ``f_k`` at the
interim looks. The survival layer follows rpact's ``getSampleSizeSurvival`` / ``getPowerSurvival``
(checked on a grid of designs by ``tests/reference/design_sequential.R``):

* The log-rank z-statistic with ``D`` dropouts has mean ``theta sqrt(D)``, ``theta`` the effect per
  square-root event of :mod:`peerstudy.design.power` (Schoenfeld or Freedman). The maximum number of
  dropouts is ``D_max = (drift / theta)^2``, ``drift`` the mean of the final z that gives the target power
  (rejections in the direction of the effect, as rpact); look ``k`` is at ``t_k D_max`` dropouts. The
  inflation factor is ``(drift / (z_{1 - alpha/sided} + z_{1 - beta}))^2``.
* Participants: ``D_max`` over the probability of an observed dropout by the end of the study (the fixed
  design's timing: uniform enrolment over ``accrual`` days, exponential retention, loss to follow-up at a
  constant hazard). The calendar day of look ``k`` is when the expected dropouts under the alternative reach
  ``t_k D_max``; the participants enrolled by then are ``N min(day / accrual, 1)``.
* Expected numbers: ``sum_k P(stop at look k) x (number at look k)`` under the alternative (``h1``), no effect
  (``h0``) and half the alternative's drift (``h01``); stopping counts rejection either way and (one-sided)
  futility, binding or not. As in rpact, a sample size's power, rejection probabilities per look and
  expected participants ignore rejections in the far tail of a two-sided test (they differ by below 1e-4);
  its expected dropouts count them.
* Boundaries on the hazard-ratio scale: ``exp(-/+ c_k (1 + r) / sqrt(r D_k))`` (Schoenfeld's relation,
  ``r`` = peer : usual care), on the side of 1 where the effect lies; two-sided designs also give the other side.
* With clustering, events and participants are inflated by the design effect as in :func:`sample_size`.

Examples
--------
>>> d = group_sequential_design(looks=3, design="OF", alpha=0.025, sided=1)
>>> [round(c, 4) for c in d.critical_values]
[3.4711, 2.4544, 2.004]
>>> s = sample_size_sequential(d, 0.8)
>>> s.max_events
642
"""

from __future__ import annotations

import html
import math
import numbers
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np

from peerstudy.design import boundaries as bd
from peerstudy.design.power import (DAYS_PER_YEAR, FollowUpType, Method, _arm_event_probabilities, _check_method,
                                    _check_open_unit, _check_positive, _effect, _loss, _opt_float, _timing,
                                    arm_counts, design_effect)
from peerstudy.exceptions import ParameterError

__all__ = ["GroupSequentialDesign", "SequentialDesign", "group_sequential_design", "sample_size_sequential",
           "power_sequential", "expected_events_by_day"]


@dataclass(frozen=True)
class GroupSequentialDesign:
    """Boundaries of a group-sequential test (z scale), as rpact's ``getDesignGroupSequential``.

    ``alpha_spent`` is cumulative (rejections under no effect, with binding futility bounds if any);
    ``stage_levels`` are the one-sided nominal levels ``1 - Phi(c_k)``.
    """

    design: str
    looks: int
    alpha: float
    beta: float
    sided: int
    information_rates: tuple[float, ...]
    critical_values: tuple[float, ...]
    futility_bounds: tuple[float, ...] | None
    binding: bool
    alpha_spent: tuple[float, ...]
    stage_levels: tuple[float, ...]
    inflation_factor: float
    drift: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)

    def _probabilities(self, drift: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return bd.rejection(np.asarray(self.critical_values), np.asarray(self.information_rates), drift,
                            sided=self.sided, futility=self.futility_bounds)


def _rates(information_rates, looks) -> tuple[float, ...]:
    if information_rates is None:
        return tuple((k + 1) / looks for k in range(looks))
    try:
        t = tuple(float(x) for x in information_rates)
    except (TypeError, ValueError):
        raise ParameterError(f"information_rates must be a list of numbers; got {information_rates!r}") from None
    if len(t) != looks:
        raise ParameterError(f"information_rates must give {looks} fractions (one per look); got {list(t)!r}")
    if not all(math.isfinite(x) for x in t) or t[-1] != 1 or t[0] <= 0 or any(b <= a for a, b in zip(t, t[1:])):
        raise ParameterError(f"information_rates must increase from above 0 to 1; got {list(t)!r}")
    return t


def group_sequential_design(
    *,
    looks: int,
    design: str = "asOF",
    alpha: float = 0.05,
    sided: int = 2,
    beta: float = 0.2,
    information_rates: Sequence[float] | None = None,
    futility: Sequence[float] | None = None,
    binding: bool = False,
) -> GroupSequentialDesign:
    """A group-sequential design of ``looks`` analyses (see :mod:`peerstudy.design.boundaries`).

    Parameters
    ----------
    looks : int
        Analyses including the final one (1 to 10).
    design : {"OF", "P", "asOF", "asP"}
        O'Brien-Fleming, Pocock, or Lan-DeMets alpha spending of O'Brien-Fleming or Pocock type.
    alpha : float
        Significance level, ``sided``-sided.
    sided : {1, 2}
        One-sided (in the direction of the effect) or two-sided symmetric boundaries.
    beta : float
        Type II error (1 - power) the design is sized for.
    information_rates : sequence of float, optional
        Information fractions of the analyses, increasing to 1 (default equally spaced).
    futility : sequence of float, optional
        Futility bounds on the z scale at the ``looks - 1`` interim analyses (one-sided designs only).
    binding : bool
        Whether the futility bounds are binding.

    Raises
    ------
    ParameterError
        An argument out of range (the message names it).
    """
    if isinstance(looks, bool) or not isinstance(looks, numbers.Integral) or not 1 <= looks <= 10:
        raise ParameterError(f"looks must be a whole number from 1 to 10; got {looks!r}")
    looks = int(looks)
    if design not in bd.DESIGNS:
        raise ParameterError(f"design must be one of {', '.join(bd.DESIGNS)}; got {design!r}")
    if sided not in (1, 2) or isinstance(sided, bool):
        raise ParameterError(f"sided must be 1 or 2; got {sided!r}")
    a = _check_open_unit("alpha", alpha)
    if a >= 0.5:
        raise ParameterError(f"alpha must be below 0.5; got {alpha!r}")
    b = _check_open_unit("beta", beta)
    if b >= 1 - a / sided:
        raise ParameterError(f"power must exceed alpha; got power {1 - b:g} with alpha {a:g}")
    t = _rates(information_rates, looks)
    fut = None
    if futility is not None:
        try:
            fut = tuple(float(x) for x in futility)
        except (TypeError, ValueError):
            raise ParameterError(f"futility must be a list of z values; got {futility!r}") from None
        if sided == 2:
            raise ParameterError("futility bounds need a one-sided design (sided=1)")
        if len(fut) != looks - 1:
            raise ParameterError(f"futility must give {looks - 1} bounds (one per interim look); got {list(fut)!r}")
        if not all(math.isfinite(x) and -bd.ZMAX < x < bd.ZMAX for x in fut):
            raise ParameterError(f"futility bounds must be finite z values within +/-{bd.ZMAX:g}; got {list(fut)!r}")
    elif binding:
        raise ParameterError("binding needs futility bounds")
    c = bd.boundaries(design, a, t, sided=sided, futility=fut, binding=bool(binding))
    if fut is not None and any(f > ck for f, ck in zip(fut, c)):
        raise ParameterError(f"futility bounds must lie below the efficacy boundaries {[round(x, 3) for x in c]}; "
                             f"got {list(fut)!r}")
    tt = np.asarray(t)
    up, lo = bd.crossing_probabilities(c, -c if sided == 2 else (
        np.r_[fut, -np.inf] if (fut is not None and binding) else np.full(looks, -np.inf)), tt, 0.0)
    spent = np.cumsum(up + (lo if sided == 2 else 0.0))
    from scipy.stats import norm

    drift = bd.drift_for_power(c, tt, 1 - b, sided=sided, futility=fut)
    infl = (drift / (norm.isf(a / sided) + norm.isf(b))) ** 2
    return GroupSequentialDesign(
        design=design, looks=looks, alpha=a, beta=b, sided=int(sided), information_rates=t,
        critical_values=tuple(float(x) for x in c), futility_bounds=fut, binding=bool(binding) and fut is not None,
        alpha_spent=tuple(float(x) for x in spent), stage_levels=tuple(float(x) for x in norm.sf(c)),
        inflation_factor=float(infl), drift=float(drift),
    )


# ----- calendar time -------------------------------------------------------------------------------------
def _exposure_integral(mu: float, day: float, accrual: float, cap: float) -> float:
    """``int_0^min(day, accrual) (1 - exp(-mu e(s))) ds`` with ``e(s) = min(day - s, cap)``."""
    m = min(day, accrual)
    if m <= 0:
        return 0.0
    b = min(max(day - cap, 0.0), m)  # entries followed for the whole cap by ``day``
    full = b * -math.expm1(-mu * cap) if b > 0 else 0.0
    part = (m - b) - (math.exp(-mu * (day - m)) - math.exp(-mu * (day - b))) / mu
    return full + part


def expected_events_by_day(day: float, *, subjects: float, hazard_ratio: float, allocation: float,
                           control_median: float, accrual: float, follow_up: float, loss_hazard: float = 0.0,
                           follow_up_type: FollowUpType = "study_end") -> float:
    """Expected observed dropouts by calendar ``day`` (day 0 = first enrolment), exponential retention.

    ``subjects`` enrol uniformly over ``accrual`` days, a share ``allocation`` to peer support; follow-up ends
    at ``accrual + follow_up`` (``"study_end"``) or ``follow_up`` days after each enrolment (``"fixed"``).

    Examples
    --------
    >>> from peerstudy.design.power import sample_size
    >>> s = sample_size(0.8, control_median=90, accrual=365, follow_up=180)
    >>> e = expected_events_by_day(545, subjects=s.subjects_exact, hazard_ratio=0.8, allocation=0.5,
    ...                            control_median=90, accrual=365, follow_up=180)
    >>> round(e / s.events_exact, 9)
    1.0
    """
    lam0 = math.log(2) / control_median
    cap = math.inf if follow_up_type == "study_end" else follow_up
    total = 0.0
    for share, lam in ((allocation, hazard_ratio * lam0), (1 - allocation, lam0)):
        mu = lam + loss_hazard
        total += share * lam / mu * _exposure_integral(mu, day, accrual, cap)
    return subjects / accrual * total


def _day_of(events: float, **kw) -> float:
    from scipy.optimize import brentq

    end = kw["accrual"] + kw["follow_up"]
    if events >= expected_events_by_day(end, **kw) * (1 - 1e-12):
        return end
    return float(brentq(lambda d: expected_events_by_day(d, **kw) - events, 1e-9, end, xtol=1e-10, rtol=1e-14))


# ----- result --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SequentialDesign:
    """A group-sequential retention study: boundaries, dropouts and participants by look, power.

    Whole-number ``max_events`` / ``max_subjects`` are the unrounded ``*_exact`` figures rounded up; per-look
    lists have one entry per analysis. Hazard-ratio boundaries lie on the side of 1 where the effect lies
    (``critical_values_hr``); two-sided designs add the other side (``critical_values_hr_other``). Days count
    from the first enrolment. Fields needing the timing are ``None`` without it.
    """

    design: str
    looks: int
    sided: int
    alpha: float
    hazard_ratio: float
    method: str
    allocation: float
    information_rates: tuple[float, ...]
    critical_values: tuple[float, ...]
    futility_bounds: tuple[float, ...] | None
    binding_futility: bool
    alpha_spent: tuple[float, ...]
    inflation_factor: float
    max_events: int
    max_events_exact: float
    events_per_look: tuple[float, ...]
    critical_values_hr: tuple[float, ...]
    critical_values_hr_other: tuple[float, ...] | None
    futility_hr: tuple[float, ...] | None
    power: float
    reject_per_look: tuple[float, ...]
    futility_per_look: tuple[float, ...]
    expected_events_h0: float
    expected_events_h01: float
    expected_events_h1: float
    max_subjects: int | None
    max_subjects_exact: float | None
    subjects_peer: int | None
    subjects_usual_care: int | None
    analysis_days: tuple[float, ...] | None
    subjects_per_look: tuple[float, ...] | None
    expected_subjects_h1: float | None
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

    def table(self):
        """One row per look: information, dropouts, participants, day, boundaries, stopping probabilities."""
        import pandas as pd

        K = self.looks
        fut = list(self.futility_bounds or ()) + [None] * (K - len(self.futility_bounds or ()))
        fut_hr = list(self.futility_hr or ()) + [None] * (K - len(self.futility_hr or ()))
        return pd.DataFrame({
            "look": range(1, K + 1), "information": self.information_rates, "dropouts": self.events_per_look,
            "participants": self.subjects_per_look or [None] * K, "day": self.analysis_days or [None] * K,
            "z_boundary": self.critical_values, "hr_boundary": self.critical_values_hr,
            "z_futility": fut, "hr_futility": fut_hr, "alpha_spent": self.alpha_spent,
            "p_reject": self.reject_per_look, "p_futility": list(self.futility_per_look) + [0.0],
        })

    def summary(self) -> str:
        """A few readable lines."""
        side = "one-sided" if self.sided == 1 else "two-sided"
        fut = "" if self.futility_bounds is None else (
            f", {'binding' if self.binding_futility else 'non-binding'} futility bounds")
        lines = [f"Group-sequential design {self.design}, {self.looks} looks, {side} alpha {self.alpha:g}{fut}; "
                 f"hazard ratio {self.hazard_ratio:g} ({self.method.capitalize()}):",
                 f"  maximum dropouts (events): {self.max_events}  (inflation factor {self.inflation_factor:.4f})"]
        if self.max_subjects is not None:
            lines.append(f"  maximum participants: {self.max_subjects} ({self.subjects_peer} peer, "
                         f"{self.subjects_usual_care} usual care); expected {self.expected_subjects_h1:.1f} "
                         "if the effect is as assumed")
        lines.append(f"  expected dropouts: {self.expected_events_h1:.1f} with the effect, "
                     f"{self.expected_events_h0:.1f} without")
        lines.append(f"  power: {self.power:.3f}")
        for k in range(self.looks):
            day = "" if self.analysis_days is None else f", day {self.analysis_days[k]:.0f}"
            lines.append(f"  look {k + 1}: {self.events_per_look[k]:.1f} dropouts{day}; reject if z >= "
                         f"{self.critical_values[k]:.4f} (HR {'<=' if self.hazard_ratio < 1 else '>='} "
                         f"{self.critical_values_hr[k]:.4f})")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return (f"<p>{html.escape(self.summary().splitlines()[0])}</p>"
                + self.table().to_html(index=False, float_format=lambda x: f"{x:.4g}", na_rep=""))


def _hr_scale(z: Sequence[float], events: Sequence[float], allocation: float, sign: float) -> tuple[float, ...]:
    r = allocation / (1 - allocation)
    return tuple(float(math.exp(sign * zk * (1 + r) / math.sqrt(r * dk))) for zk, dk in zip(z, events))


def _expected(design: GroupSequentialDesign, drift: float, numbers_: Sequence[float], far: bool = True) -> float:
    up, other, fut = design._probabilities(drift)
    stop = (up + (other if far else 0.0) + fut)[:-1]
    return float(np.dot(stop, numbers_[:-1]) + (1 - stop.sum()) * numbers_[-1])


def _build(design: GroupSequentialDesign, hr: float, d_max: float, deff: float, share: float, method: str,
           timing: dict | None, subjects: float | None, counts, p_event, loss_info, target_power, rounded_events):
    far = target_power is None  # a sample size ignores the far tail of a two-sided test, as rpact
    t = np.asarray(design.information_rates)
    theta = _effect(hr, share, method)
    drift = theta * math.sqrt(d_max / deff)
    up, other, fut = design._probabilities(drift)
    if not far:
        other = np.zeros_like(other)
    events = tuple(float(x) for x in t * d_max)
    eff = [e / deff for e in events]
    sign = -1.0 if hr < 1 else 1.0
    crit_hr = _hr_scale(design.critical_values, eff, share, sign)
    other_hr = _hr_scale(design.critical_values, eff, share, -sign) if design.sided == 2 else None
    fut_hr = None if design.futility_bounds is None else _hr_scale(design.futility_bounds, eff, share, sign)
    days = per_look = exp_n = None
    if timing is not None:
        kw = dict(subjects=subjects, hazard_ratio=hr, allocation=share, **timing)
        days = tuple(_day_of(e, **kw) for e in events)
        per_look = tuple(float(subjects * min(d / timing["accrual"], 1.0)) for d in days)
        exp_n = _expected(design, drift, per_look, far)
    lost, lost_by, rate = loss_info
    return SequentialDesign(
        design=design.design, looks=design.looks, sided=design.sided, alpha=design.alpha, hazard_ratio=hr,
        method=method, allocation=share, information_rates=design.information_rates,
        critical_values=design.critical_values, futility_bounds=design.futility_bounds,
        binding_futility=design.binding, alpha_spent=design.alpha_spent, inflation_factor=design.inflation_factor,
        max_events=rounded_events, max_events_exact=float(d_max), events_per_look=events,
        critical_values_hr=crit_hr, critical_values_hr_other=other_hr, futility_hr=fut_hr,
        power=float((up + other).sum()), reject_per_look=tuple(float(x) for x in up + other),
        futility_per_look=tuple(float(x) for x in fut[:-1]),
        expected_events_h0=_expected(design, 0.0, events), expected_events_h01=_expected(design, drift / 2, events),
        expected_events_h1=_expected(design, drift, events),
        max_subjects=None if subjects is None else math.ceil(subjects - 1e-9),
        max_subjects_exact=None if subjects is None else float(subjects),
        subjects_peer=counts[0], subjects_usual_care=counts[1], analysis_days=days, subjects_per_look=per_look,
        expected_subjects_h1=exp_n, event_probability=p_event,
        control_median=None if timing is None else _opt_float(timing["control_median"]),
        accrual=None if timing is None else _opt_float(timing["accrual"]),
        follow_up=None if timing is None else _opt_float(timing["follow_up"]),
        follow_up_type="study_end" if timing is None else timing["follow_up_type"],
        lost=lost, lost_by=lost_by, loss_rate=rate, design_effect=deff, target_power=target_power,
    )


def _common(hazard_ratio, allocation, method, control_median, accrual, follow_up, lost, lost_by, loss_rate,
            follow_up_type, cluster_size, icc):
    hr = _check_positive("hazard_ratio", hazard_ratio)
    if hr == 1:
        raise ParameterError("hazard_ratio must differ from 1 to size a study; got 1.0")
    alloc = _check_open_unit("allocation", allocation)
    m = _check_method(method)
    if follow_up_type not in ("study_end", "fixed"):
        raise ParameterError(f"follow_up_type must be 'study_end' or 'fixed'; got {follow_up_type!r}")
    deff = design_effect(cluster_size, icc)
    loss, lost_p, by, rate = _loss(lost, lost_by, loss_rate, None)
    timing = None
    if _timing(control_median, accrual, follow_up):
        timing = dict(control_median=float(control_median), accrual=float(accrual), follow_up=float(follow_up),
                      loss_hazard=loss, follow_up_type=follow_up_type)
    return hr, alloc, m, deff, timing, (lost_p, by, rate)


def _check_design(design: Any) -> GroupSequentialDesign:
    if not isinstance(design, GroupSequentialDesign):
        raise ParameterError(f"design must be a GroupSequentialDesign (from group_sequential_design); got "
                             f"{type(design).__name__}")
    return design


def sample_size_sequential(
    design: GroupSequentialDesign,
    hazard_ratio: float,
    *,
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
) -> SequentialDesign:
    """Maximum and expected dropouts and participants of ``design`` for ``hazard_ratio``, as rpact.

    The power is the design's ``1 - beta``. Other parameters as :func:`peerstudy.design.power.sample_size`.

    Examples
    --------
    >>> d = group_sequential_design(looks=2, design="asP", alpha=0.05, sided=2)
    >>> s = sample_size_sequential(d, 0.75, control_median=90, accrual=365, follow_up=180, lost=0.2, lost_by=365)
    >>> s.max_events, s.max_subjects, s.subjects_peer
    (426, 515, 258)
    """
    design = _check_design(design)
    hr, alloc, m, deff, timing, loss_info = _common(hazard_ratio, allocation, method, control_median, accrual,
                                                    follow_up, lost, lost_by, loss_rate, follow_up_type,
                                                    cluster_size, icc)
    d_max = (design.drift / _effect(hr, alloc, m)) ** 2 * deff
    subjects = p_event = None
    counts: tuple[int | None, int | None] = (None, None)
    if timing is not None:
        p_peer, p_uc = _arm_event_probabilities(hr, timing["control_median"], timing["accrual"],
                                                timing["follow_up"], timing["loss_hazard"], follow_up_type)
        p_event = alloc * p_peer + (1 - alloc) * p_uc
        subjects = d_max / p_event
        counts = arm_counts(math.ceil(subjects - 1e-9), alloc)
    return _build(design, hr, d_max, deff, alloc, m, timing, subjects, counts, p_event, loss_info,
                  1 - design.beta, math.ceil(d_max - 1e-9))


def power_sequential(
    design: GroupSequentialDesign,
    hazard_ratio: float,
    *,
    events: float | None = None,
    subjects: int | None = None,
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
) -> SequentialDesign:
    """Power of ``design`` with at most ``events`` dropouts, or with ``subjects`` participants and the timing.

    With ``subjects`` (a whole number, split ``round(subjects * allocation)`` to peer support), the maximum
    dropouts are those expected by the end of the study with these exact counts. Power counts rejections in
    either direction of a two-sided design (as rpact's ``overallReject``).

    Examples
    --------
    >>> d = group_sequential_design(looks=3, design="asOF", alpha=0.05, sided=2)
    >>> round(power_sequential(d, 0.8, events=400).power, 4)
    0.6009
    """
    design = _check_design(design)
    if (events is None) == (subjects is None):
        raise ParameterError("give exactly one of events and subjects")
    hr, alloc, m, deff, timing, loss_info = _common(hazard_ratio, allocation, method, control_median, accrual,
                                                    follow_up, lost, lost_by, loss_rate, follow_up_type,
                                                    cluster_size, icc)
    share = alloc
    p_event = None
    counts: tuple[int | None, int | None] = (None, None)
    n_exact = None
    if subjects is not None:
        from peerstudy.design.power import _whole_subjects

        n = _whole_subjects(subjects)
        if timing is None:
            raise ParameterError("power for a number of subjects needs control_median, accrual and follow_up")
        counts = arm_counts(n, alloc)
        if 0 in counts:
            raise ParameterError(f"subjects={n} with allocation={alloc:g} leaves an arm empty")
        share = counts[0] / n
        p_peer, p_uc = _arm_event_probabilities(hr, timing["control_median"], timing["accrual"],
                                                timing["follow_up"], timing["loss_hazard"], follow_up_type)
        d_max = counts[0] * p_peer + counts[1] * p_uc
        p_event = d_max / n
        n_exact = float(n)
    else:
        d_max = _check_positive("events", events)
        if timing is not None:
            p_peer, p_uc = _arm_event_probabilities(hr, timing["control_median"], timing["accrual"],
                                                    timing["follow_up"], timing["loss_hazard"], follow_up_type)
            p_event = alloc * p_peer + (1 - alloc) * p_uc
            n_exact = d_max / p_event
    return _build(design, hr, d_max, deff, share, m, timing, n_exact, counts, p_event, loss_info, None,
                  int(round(d_max)))
