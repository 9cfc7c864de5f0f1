"""TEDS-D, the public-use Treatment Episode Data Set - Discharges: layout, codebook, reader, synthetic file.

TEDS-D has one row per discharge from a state-reported substance-use treatment episode. It has no
dates: the length of stay ``LOS`` is coded 1-30 (days) and, beyond 30 days, in bands
(:data:`LOS_BANDS`). A stay known only to a band is *interval-censored*; :func:`teds_intervals`
turns ``LOS`` and ``REASON`` into the ``(time_lower, time_upper]`` retention interval used by
:mod:`peerstudy.survival.interval`:

* dropout (REASON 2 or 3 by default) on day ``d`` (LOS 1-30): ``(d - 1, d]``; in a band
  ``[a, b]``: ``(a - 1, b]``; in the open band (more than 365 days): right-censored at 365.
* any other ending on day ``d``: right-censored at ``d``; in a band ``[a, b]``: right-censored at
  the band's middle ``(a - 1 + b) / 2`` by default (``censor_at="middle"``), the life-table
  (actuarial) convention that withdrawals within a grouping interval happen on average halfway
  through it. ``censor_at="lower"`` (at ``a``, the least the stay is known to have lasted) and
  ``"upper"`` (at ``b``) bracket it.

Why it matters: when competing endings are themselves known only to a band, the dropout curve is
not identified within the band. Turnbull's NPMLE then puts each band's dropouts after its
withdrawals wherever it may, so at the band ends it equals the life table with withdrawals at the
band's start whatever ``censor_at`` inside the band (a conservative, lower curve); with
``censor_at="upper"`` it is the upper bound. The Weibull regression uses the censoring time as
given, and with the middle it recovers simulated truth (``tests/test_teds.py``). The NPMLE of
the time to leaving treatment for any reason (:func:`discharge_intervals`) has no such problem.

The codebook values (:data:`CODEBOOK`) follow the SAMHSA TEDS-D public-use file; ``-9`` is missing.
This machine cannot download TEDS-D, so :func:`simulate_teds` writes a synthetic file in the same
layout and codes from Weibull draws with known truth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "CODEBOOK",
    "LOS_BANDS",
    "AGE_BANDS",
    "TEDS_COLUMNS",
    "STIMULANT_SUB1",
    "los_range",
    "teds_intervals",
    "discharge_intervals",
    "TedsTruth",
    "simulate_teds",
]

MISSING = -9

#: LOS code -> (first day, last day) of the band; codes 1-30 are single days. ``inf`` = open band.
LOS_BANDS: dict[int, tuple[int, float]] = {31: (31, 45), 32: (46, 60), 33: (61, 90), 34: (91, 120),
                                           35: (121, 180), 36: (181, 365), 37: (366, math.inf)}

#: AGE code -> (lower, upper) years of the band and the midpoint used as the ``age`` covariate.
AGE_BANDS: dict[int, tuple[int, int | None, float]] = {
    1: (12, 14, 13.0), 2: (15, 17, 16.0), 3: (18, 20, 19.0), 4: (21, 24, 22.5), 5: (25, 29, 27.0),
    6: (30, 34, 32.0), 7: (35, 39, 37.0), 8: (40, 44, 42.0), 9: (45, 49, 47.0), 10: (50, 54, 52.0),
    11: (55, 64, 59.5), 12: (65, None, 70.0),
}

#: SUB1 codes counted as stimulant use.
STIMULANT_SUB1: tuple[int, ...] = (3, 10, 11, 12)

_STATES = {1: "Alabama", 2: "Alaska", 4: "Arizona", 5: "Arkansas", 6: "California", 8: "Colorado", 9: "Connecticut",
           10: "Delaware", 11: "District of Columbia", 12: "Florida", 13: "Georgia", 15: "Hawaii", 16: "Idaho",
           17: "Illinois", 18: "Indiana", 19: "Iowa", 20: "Kansas", 21: "Kentucky", 22: "Louisiana", 23: "Maine",
           24: "Maryland", 25: "Massachusetts", 26: "Michigan", 27: "Minnesota", 28: "Mississippi", 29: "Missouri",
           30: "Montana", 31: "Nebraska", 32: "Nevada", 33: "New Hampshire", 34: "New Jersey", 35: "New Mexico",
           36: "New York", 37: "North Carolina", 38: "North Dakota", 39: "Ohio", 40: "Oklahoma", 41: "Oregon",
           42: "Pennsylvania", 44: "Rhode Island", 45: "South Carolina", 46: "South Dakota", 47: "Tennessee",
           48: "Texas", 49: "Utah", 50: "Vermont", 51: "Virginia", 53: "Washington", 54: "West Virginia",
           55: "Wisconsin", 56: "Wyoming", 72: "Puerto Rico"}

#: column -> {code: label}: the value labels of the TEDS-D public-use codebook used here (-9 = missing).
CODEBOOK: dict[str, dict[int, str]] = {
    "REASON": {1: "Treatment completed", 2: "Dropped out of treatment", 3: "Terminated by facility",
               4: "Transferred to another treatment program or facility", 5: "Incarcerated", 6: "Death",
               7: "Other"},
    "LOS": {**{d: f"{d} day{'s' if d > 1 else ''}" for d in range(1, 31)},
            31: "31 to 45 days", 32: "46 to 60 days", 33: "61 to 90 days", 34: "91 to 120 days",
            35: "121 to 180 days", 36: "181 to 365 days", 37: "More than a year"},
    "SERVICES_D": {1: "Detox, 24-hour, hospital inpatient", 2: "Detox, 24-hour, free-standing residential",
                   3: "Rehab/residential, hospital (non-detox)", 4: "Rehab/residential, short term (30 days or fewer)",
                   5: "Rehab/residential, long term (more than 30 days)", 6: "Ambulatory, intensive outpatient",
                   7: "Ambulatory, non-intensive outpatient", 8: "Ambulatory, detoxification"},
    "SUB1": {1: "None", 2: "Alcohol", 3: "Cocaine/crack", 4: "Marijuana/hashish", 5: "Heroin",
             6: "Non-prescription methadone", 7: "Other opiates and synthetics", 8: "PCP", 9: "Hallucinogens",
             10: "Methamphetamine/speed", 11: "Other amphetamines", 12: "Other stimulants", 13: "Benzodiazepines",
             14: "Other tranquilizers", 15: "Barbiturates", 16: "Other sedatives or hypnotics", 17: "Inhalants",
             18: "Over-the-counter medications", 19: "Other drugs"},
    "AGE": {k: (f"{lo}-{hi} years" if hi is not None else f"{lo} years and older") for k, (lo, hi, _) in AGE_BANDS.items()},
    "GENDER": {1: "Male", 2: "Female"},
    "LIVARAG": {1: "Homeless", 2: "Dependent living", 3: "Independent living"},
    "EMPLOY": {1: "Full-time", 2: "Part-time", 3: "Unemployed", 4: "Not in labor force"},
    "PSOURCE": {1: "Individual (includes self-referral)", 2: "Alcohol/drug use care provider",
                3: "Other health care provider", 4: "School (educational)", 5: "Employer/EAP",
                6: "Other community referral", 7: "Court/criminal justice referral/DUI/DWI"},
    "IDU": {0: "IDU not reported", 1: "IDU reported"},
    "NOPRIOR": {0: "No prior treatment episodes", 1: "One or more prior treatment episodes"},
    "STFIPS": _STATES,
}

#: Columns of the synthetic file, in the public-use file's naming.
TEDS_COLUMNS: tuple[str, ...] = ("CASEID", "DISYR", "STFIPS", "AGE", "GENDER", "LIVARAG", "EMPLOY", "PSOURCE",
                                 "SUB1", "IDU", "NOPRIOR", "SERVICES_D", "REASON", "LOS")
#: Columns the reader needs; the others are optional (their covariate is then unavailable).
REQUIRED: tuple[str, ...] = ("LOS", "REASON", "STFIPS", "AGE")


def los_range(los: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and last day a LOS code allows (days 1-30 exact; bands; ``inf`` for the open band).

    Codes outside 1-37 give NaN.
    """
    los = np.asarray(los, dtype=float)
    first = np.full(los.shape, np.nan)
    last = np.full(los.shape, np.nan)
    day = (los >= 1) & (los <= 30) & (los == np.floor(los))
    first[day] = last[day] = los[day]
    for code, (a, b) in LOS_BANDS.items():
        m = los == code
        first[m], last[m] = a, b
    return first, last


def teds_intervals(los: np.ndarray, dropout: np.ndarray, *, censor_at: str = "middle") -> tuple[np.ndarray, np.ndarray]:
    """Dropout intervals ``(lower, upper]`` in days from LOS codes (see the module docstring).

    Parameters
    ----------
    los : array of int
        TEDS-D LOS codes (1-37).
    dropout : array of bool
        Whether the discharge ended in dropout (the event).
    censor_at : {"middle", "lower", "upper"}
        Where in its band a stay that ended otherwise than by dropout is right-censored.
    """
    if censor_at not in ("middle", "lower", "upper"):
        from .exceptions import ParameterError

        raise ParameterError(f"censor_at must be 'middle', 'lower' or 'upper'; got {censor_at!r}")
    first, last = los_range(los)
    dropout = np.asarray(dropout, dtype=bool)
    band = (first != last) & np.isfinite(last)
    cens = {"lower": first, "upper": np.where(band, last, first),
            "middle": np.where(band, (first - 1 + last) / 2, first)}[censor_at]
    lower = np.where(dropout, first - 1, cens)
    upper = np.where(dropout, last, np.inf)
    return lower, upper


def discharge_intervals(los: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Intervals ``(lower, upper]`` of the time to leaving treatment for any reason (open band: > 365)."""
    first, last = los_range(los)
    return first - 1, last


# ----------------------------------------------------------------------------------------------
# Synthetic TEDS-D with known truth
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TedsTruth:
    """The generating model of :func:`simulate_teds` (times in days).

    Dropout: ``h(t | x) = exp(beta' x) * (shape / scale) * (t / scale) ** (shape - 1)`` (Weibull
    proportional hazards) with ``x`` the cohort covariates as :mod:`peerstudy.programme` derives them
    from the codes (``age`` = band midpoint minus ``age_centre``, per 10 years). Other endings are
    exponential with constant daily hazards. The recorded stay is ``ceil`` of the first ending
    (at least 1 day), coded as LOS.
    """

    shape: float
    scale: float
    hazard_ratios: dict[str, float]
    age_centre: float
    completion_rate: float
    transfer_rate: float
    other_rate: float
    incarceration_rate: float
    death_rate: float
    prevalence: dict[str, float]

    def aft(self) -> dict[str, float]:
        """The same model in R ``survreg``'s AFT parameters (intercept at x = 0, sigma, and beta per covariate)."""
        sigma = 1.0 / self.shape
        out = {"(Intercept)": math.log(self.scale), "log_scale": math.log(sigma)}
        for k, hr in self.hazard_ratios.items():
            out[k] = -math.log(hr) * sigma
        return out

    def net_survival(self, days: list[int], age_probs: dict[int, float]) -> dict[str, float]:
        """Marginal ``P(T_dropout > t)`` over the covariate distribution (exact sum over the discrete design)."""
        import itertools

        bins = ["homeless", "stimulant_use", "injects", "unemployed", "female"]
        out = {}
        for t in days:
            base = (t / self.scale) ** self.shape
            total = 0.0
            for code, pa in age_probs.items():
                x_age = (AGE_BANDS[code][2] - self.age_centre) / 10.0
                for combo in itertools.product([0, 1], repeat=len(bins)):
                    p = pa
                    lp = math.log(self.hazard_ratios["age"]) * x_age
                    for name, v in zip(bins, combo):
                        prev = self.prevalence[name]
                        p *= prev if v else 1 - prev
                        lp += math.log(self.hazard_ratios.get(name, 1.0)) * v
                    total += p * math.exp(-base * math.exp(lp))
            out[str(t)] = total
        return out

    def discharge_survival(self, days: list[int], age_probs: dict[int, float]) -> dict[str, float]:
        """Marginal ``P(stay > t)``, leaving treatment for any reason (other endings are independent exponentials)."""
        other = (self.completion_rate + self.transfer_rate + self.other_rate + self.incarceration_rate
                 + self.death_rate)
        net = self.net_survival(days, age_probs)
        return {str(t): net[str(t)] * math.exp(-other * t) for t in days}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready parameters, the AFT form, and the marginal net survival at 30/90/180 days."""
        return {
            "shape": self.shape, "scale": self.scale, "hazard_ratios": dict(self.hazard_ratios),
            "age_centre": self.age_centre, "age_per": 10,
            "daily_rates": {"completion": self.completion_rate, "transfer": self.transfer_rate,
                            "other": self.other_rate, "incarceration": self.incarceration_rate,
                            "death": self.death_rate},
            "prevalence": dict(self.prevalence),
            "aft": self.aft(),
            "net_survival": self.net_survival([30, 90, 180], _age_probs()),
            "discharge_survival": self.discharge_survival([30, 90, 180], _age_probs()),
        }


def _age_probs() -> dict[int, float]:
    """AGE band probabilities of the synthetic file: a normal(32, 6.2)-like adult spread over bands 3-11."""
    w = {3: 0.06, 4: 0.12, 5: 0.18, 6: 0.2, 7: 0.17, 8: 0.12, 9: 0.08, 10: 0.05, 11: 0.02}
    return w


def _default_truth(scenario: Any = None) -> TedsTruth:
    """Truth for the synthetic file, taking the dropout shape and covariate hazard ratios from a scenario."""
    from .scenario import load_scenario

    sc = load_scenario(scenario or "outpatient_default")
    cov = sc.covariates
    hrs = {"age": cov.age.hazard_ratio ** (10.0 / cov.age.per),
           "homeless": cov.homeless.hazard_ratio, "stimulant_use": cov.stimulant_use.hazard_ratio,
           "injects": cov.injects.hazard_ratio, "unemployed": cov.unemployed.hazard_ratio}
    prev = {"homeless": cov.homeless.prevalence, "stimulant_use": cov.stimulant_use.prevalence,
            "injects": cov.injects.prevalence, "unemployed": cov.unemployed.prevalence,
            "female": cov.female.prevalence}
    # scale: reference-covariate retention at the scenario's target day equals its target retention
    scale = sc.target_day / (-math.log(sc.target_retention)) ** (1.0 / sc.weibull_shape)
    return TedsTruth(shape=sc.weibull_shape, scale=scale, hazard_ratios=hrs, age_centre=32.0,
                     completion_rate=1 / 250, transfer_rate=1 / 1500, other_rate=1 / 3000,
                     incarceration_rate=sc.incarceration_hazard, death_rate=sc.death_hazard, prevalence=prev)


def simulate_teds(n: int = 5000, *, rng: Any = None, scenario: Any = None, year: int = 2021) -> tuple[pd.DataFrame, TedsTruth]:
    """A synthetic TEDS-D discharge file in the public-use layout and codes, with its truth.

    Parameters
    ----------
    n : int
        Discharges.
    rng : int, numpy.random.Generator or None
        Randomness, normalised with :func:`numpy.random.default_rng`.
    scenario : Scenario, preset name, path or dict, optional
        Source of the Weibull shape, target retention and covariate hazard ratios and prevalences
        (default ``outpatient_default``). No arm, no site frailty: TEDS-D has neither.
    year : int
        ``DISYR`` written in the file.

    Returns
    -------
    (pandas.DataFrame, TedsTruth)
        Columns :data:`TEDS_COLUMNS`, integer codes; the generating model.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        from .exceptions import ParameterError

        raise ParameterError(f"n must be a whole number >= 1; got {n!r}")
    rng = np.random.default_rng(rng)
    truth = _default_truth(scenario)
    probs = _age_probs()
    codes = np.array(list(probs))
    age = rng.choice(codes, size=n, p=np.array(list(probs.values())) / sum(probs.values()))
    x = {name: (rng.random(n) < p).astype(int) for name, p in truth.prevalence.items()}
    x_age = (np.array([AGE_BANDS[int(c)][2] for c in age]) - truth.age_centre) / 10.0
    lp = math.log(truth.hazard_ratios["age"]) * x_age
    for name in ("homeless", "stimulant_use", "injects", "unemployed"):
        lp = lp + math.log(truth.hazard_ratios[name]) * x[name]
    t_drop = truth.scale * (rng.standard_exponential(n) / np.exp(lp)) ** (1.0 / truth.shape)
    rates = [truth.completion_rate, truth.transfer_rate, truth.other_rate, truth.incarceration_rate, truth.death_rate]
    others = np.column_stack([rng.standard_exponential(n) / r for r in rates])
    all_t = np.column_stack([t_drop, others])
    first = np.argmin(all_t, axis=1)
    stay = np.maximum(np.ceil(all_t[np.arange(n), first]), 1).astype(int)
    # REASON: dropout splits into 2 dropped out (75%) and 3 terminated by facility (25%)
    reason = np.array([2, 1, 4, 7, 5, 6])[first]
    reason = np.where((first == 0) & (rng.random(n) < 0.25), 3, reason)
    los = stay.copy()
    for code, (a, b) in LOS_BANDS.items():
        los = np.where((stay >= a) & (stay <= b), code, los)
    states = np.array([6, 12, 17, 26, 36, 39, 42, 48])
    stfips = rng.choice(states, size=n)
    livarag = np.where(x["homeless"] == 1, 1, rng.choice([2, 3], size=n, p=[0.4, 0.6]))
    employ = np.where(x["unemployed"] == 1, 3, rng.choice([1, 2, 4], size=n, p=[0.4, 0.2, 0.4]))
    sub1 = np.where(x["stimulant_use"] == 1, rng.choice([3, 10], size=n, p=[0.5, 0.5]),
                    rng.choice([2, 4, 5, 7], size=n, p=[0.4, 0.2, 0.25, 0.15]))
    df = pd.DataFrame({
        "CASEID": np.arange(1, n + 1, dtype=np.int64) + year * 10_000_000,
        "DISYR": np.full(n, year, dtype=np.int64),
        "STFIPS": stfips.astype(np.int64),
        "AGE": age.astype(np.int64),
        "GENDER": np.where(x["female"] == 1, 2, 1).astype(np.int64),
        "LIVARAG": livarag.astype(np.int64),
        "EMPLOY": employ.astype(np.int64),
        "PSOURCE": rng.choice([1, 2, 3, 6, 7], size=n, p=[0.35, 0.15, 0.1, 0.15, 0.25]).astype(np.int64),
        "SUB1": sub1.astype(np.int64),
        "IDU": x["injects"].astype(np.int64),
        "NOPRIOR": (rng.random(n) < 0.6).astype(np.int64),
        "SERVICES_D": rng.choice([6, 7], size=n, p=[0.2, 0.8]).astype(np.int64),
        "REASON": reason.astype(np.int64),
        "LOS": los.astype(np.int64),
    })
    return df, truth
