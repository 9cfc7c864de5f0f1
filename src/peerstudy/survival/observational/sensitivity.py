"""Sensitivity to unmeasured confounding: E-values (VanderWeele and Ding 2017, Ann Intern Med 167:268-274).

The E-value of a risk ratio ``RR`` is the minimum strength of association, on the risk-ratio scale, that an
unmeasured confounder would need to have with both the arm and dropout, beyond the measured covariates, to
explain the observed association away:

    E = RR + sqrt(RR (RR - 1))      for RR >= 1 (and with 1 / RR for RR < 1).

The E-value of the confidence limit closer to 1 says how strong a confounder would have to be to move the
interval to include no association; it is 1 when the interval already includes 1.

Other measures are first converted to risk ratios (the paper's Table):

* **hazard ratio**: ``RR ~ HR`` when the outcome is rare (under 15% by the end of follow-up); otherwise
  ``RR ~ (1 - 0.5^sqrt(HR)) / (1 - 0.5^sqrt(1/HR))``. Dropout from treatment is seldom rare, so
  :func:`evalue_hazard_ratio` takes the share who dropped out and applies the rule, saying which it used;
* **odds ratio**: ``RR ~ OR`` if rare, else ``sqrt(OR)``;
* **risk difference at a day** (standardised risks ``p1`` and ``p0`` of the two arms): the E-value of the
  risk ratio ``p1 / p0`` of the same risks, with the confidence limits of that ratio.

The E-value is not a test and not a probability: it is a yardstick for how much unmeasured confounding the
conclusion can bear. A large E-value means only a strong confounder could explain the association away.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from peerstudy.exceptions import ParameterError
from peerstudy.survival._validate import show

__all__ = ["EValue", "evalue", "evalue_hazard_ratio", "evalue_odds_ratio", "evalue_risks", "RARE_OUTCOME"]

#: an outcome below this share by the end of follow-up is "rare" (hazard and odds ratios approximate risk ratios)
RARE_OUTCOME = 0.15


def _positive(value: Any, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{name} must be a positive number; got {show(value)}") from None
    if not (math.isfinite(v) and v > 0) or isinstance(value, bool):
        raise ParameterError(f"{name} must be a positive number; got {show(value)}")
    return v


def _e(rr: float) -> float:
    """E-value of a risk ratio (its reciprocal below 1)."""
    r = rr if rr >= 1 else 1 / rr
    return r + math.sqrt(r * (r - 1))


@dataclass(frozen=True)
class EValue:
    """An E-value for an estimate and for its confidence limit closer to the null.

    Attributes
    ----------
    measure : str
        ``"risk ratio"``, ``"hazard ratio"``, ``"odds ratio"`` or ``"risk difference"``.
    estimate, lower, upper : float
        The estimate and its confidence limits as given (``lower``/``upper`` may be ``None``).
    rr, rr_lower, rr_upper : float
        The same on the risk-ratio scale (after the conversion).
    evalue : float
        E-value of the estimate.
    evalue_ci : float or None
        E-value of the confidence limit closer to 1 (1 when the interval includes 1).
    conversion : str
        How the measure was put on the risk-ratio scale.
    """

    measure: str
    estimate: float
    lower: float | None
    upper: float | None
    rr: float
    rr_lower: float | None
    rr_upper: float | None
    evalue: float
    evalue_ci: float | None
    conversion: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with the plain-language reading under ``"text"``."""
        return {"measure": self.measure, "estimate": self.estimate, "lower": self.lower, "upper": self.upper,
                "rr": self.rr, "rr_lower": self.rr_lower, "rr_upper": self.rr_upper, "evalue": self.evalue,
                "evalue_ci": self.evalue_ci, "conversion": self.conversion, "text": self.text()}

    def text(self, *, exposure: str = "having a peer coach", outcome: str = "leaving treatment") -> str:
        """A short reading for people (observational wording: associations, not effects)."""
        head = (f"The observed association between {exposure} and {outcome} ({self.measure} {self.estimate:.2f}) "
                f"could be explained away by an unmeasured confounder that was associated with both {exposure} "
                f"and {outcome} by a risk ratio of {self.evalue:.2f} each, beyond the measured covariates; "
                f"weaker confounding could not.")
        if self.evalue_ci is None:
            return head
        if self.evalue_ci <= 1:
            return head + " The confidence interval already includes no association."
        return (head + f" To move the confidence interval to include no association, a confounder associated "
                f"with both by a risk ratio of {self.evalue_ci:.2f} each would suffice.")


def _build(measure: str, est: float, lo: float | None, hi: float | None, rr: float, rr_lo: float | None,
           rr_hi: float | None, conversion: str) -> EValue:
    if lo is not None and hi is not None and not lo <= est <= hi:
        raise ParameterError(f"the estimate {est:g} must lie inside its confidence interval ({lo:g}, {hi:g})")
    e_ci = None
    if rr >= 1 and rr_lo is not None:
        e_ci = 1.0 if rr_lo <= 1 else _e(rr_lo)
    elif rr < 1 and rr_hi is not None:
        e_ci = 1.0 if rr_hi >= 1 else _e(rr_hi)
    return EValue(measure=measure, estimate=est, lower=lo, upper=hi, rr=rr, rr_lower=rr_lo, rr_upper=rr_hi,
                  evalue=_e(rr), evalue_ci=e_ci, conversion=conversion)


def evalue(rr: float, lower: float | None = None, upper: float | None = None) -> EValue:
    """E-value of a risk ratio and of its confidence limit closer to 1.

    Examples
    --------
    >>> round(evalue(3.9, 1.8, 8.7).evalue_ci, 2)  # VanderWeele and Ding (2017), first example
    3.0
    """
    rr = _positive(rr, "risk ratio")
    lo = None if lower is None else _positive(lower, "lower limit")
    hi = None if upper is None else _positive(upper, "upper limit")
    return _build("risk ratio", rr, lo, hi, rr, lo, hi, "none (a risk ratio)")


def _hr_to_rr(hr: float) -> float:
    return (1 - 0.5 ** math.sqrt(hr)) / (1 - 0.5 ** math.sqrt(1 / hr))


def evalue_hazard_ratio(hr: float, lower: float | None = None, upper: float | None = None, *,
                        outcome_share: float | None = None, rare: bool | None = None) -> EValue:
    """E-value of a hazard ratio, converted to a risk ratio by the rare-outcome rule.

    Parameters
    ----------
    hr, lower, upper : float
        Hazard ratio and its confidence limits.
    outcome_share : float, optional
        Share of people with the outcome (dropout) by the end of follow-up: rare if below 15%.
    rare : bool, optional
        Say directly whether the outcome is rare (instead of ``outcome_share``).

    Raises
    ------
    ParameterError
        Neither or both of ``outcome_share`` and ``rare``; a share outside [0, 1]; a non-positive ratio.
    """
    if (outcome_share is None) == (rare is None):
        raise ParameterError("give exactly one of outcome_share (the share with the outcome by the end of "
                             "follow-up) or rare=True/False")
    if outcome_share is not None:
        share = float(outcome_share)
        if not 0 <= share <= 1:
            raise ParameterError(f"outcome_share must be between 0 and 1; got {show(outcome_share)}")
        rare = share < RARE_OUTCOME
        why = f"{share:.0%} had the outcome by the end of follow-up"
    else:
        why = "stated"
    hr = _positive(hr, "hazard ratio")
    lo = None if lower is None else _positive(lower, "lower limit")
    hi = None if upper is None else _positive(upper, "upper limit")
    if rare:
        conv = f"rare outcome ({why}; under {RARE_OUTCOME:.0%}): RR ~ HR"
        return _build("hazard ratio", hr, lo, hi, hr, lo, hi, conv)
    conv = f"common outcome ({why}; {RARE_OUTCOME:.0%} or more): RR ~ (1 - 0.5^sqrt(HR)) / (1 - 0.5^sqrt(1/HR))"
    return _build("hazard ratio", hr, lo, hi, _hr_to_rr(hr), None if lo is None else _hr_to_rr(lo),
                  None if hi is None else _hr_to_rr(hi), conv)


def evalue_odds_ratio(odds_ratio: float, lower: float | None = None, upper: float | None = None, *,
                      rare: bool) -> EValue:
    """E-value of an odds ratio: ``RR ~ OR`` for a rare outcome, ``sqrt(OR)`` otherwise."""
    o = _positive(odds_ratio, "odds ratio")
    lo = None if lower is None else _positive(lower, "lower limit")
    hi = None if upper is None else _positive(upper, "upper limit")
    if rare:
        return _build("odds ratio", o, lo, hi, o, lo, hi, "rare outcome: RR ~ OR")
    f = math.sqrt
    return _build("odds ratio", o, lo, hi, f(o), None if lo is None else f(lo), None if hi is None else f(hi),
                  "common outcome: RR ~ sqrt(OR)")


def evalue_risks(risk_treated: float, risk_control: float, ratio_lower: float | None = None,
                 ratio_upper: float | None = None) -> EValue:
    """E-value of a risk difference at a day, through the ratio of the same standardised risks.

    Parameters
    ----------
    risk_treated, risk_control : float
        Risks (e.g. of dropout by day 90) under each arm, in (0, 1].
    ratio_lower, ratio_upper : float, optional
        Confidence limits of the risk ratio ``risk_treated / risk_control``.

    Examples
    --------
    >>> e = evalue_risks(0.30, 0.40)
    >>> round(e.rr, 2), round(e.evalue, 2)
    (0.75, 2.0)
    """
    p1 = _positive(risk_treated, "risk_treated")
    p0 = _positive(risk_control, "risk_control")
    if p1 > 1 or p0 > 1:
        raise ParameterError(f"risks must be at most 1; got {p1:g} and {p0:g}")
    lo = None if ratio_lower is None else _positive(ratio_lower, "ratio_lower")
    hi = None if ratio_upper is None else _positive(ratio_upper, "ratio_upper")
    rr = p1 / p0
    if lo is not None and hi is not None and not lo <= rr <= hi:
        raise ParameterError(f"the risk ratio {rr:g} must lie inside its confidence interval ({lo:g}, {hi:g})")
    e = _build("risk ratio", rr, lo, hi, rr, lo, hi,
               f"risk difference {p1 - p0:+.3f} taken as the ratio of the same risks ({p1:.3f} / {p0:.3f})")
    return EValue(**{**e.__dict__, "measure": "risk difference", "estimate": p1 - p0, "lower": None, "upper": None})
