"""A synthetic TEDS-D discharge file with known truth, in the public-use layout and codes.

The codebook and reader are in :mod:`peerstudy.data.programme.teds`; this module draws from the Weibull
retention model of :mod:`peerstudy.simulation.hazards` (the same baseline and exact inversion as the
cohorts, with no arm and no site frailty) so that the interval-censored estimators can be checked against a
known truth.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from peerstudy.data.programme.teds import AGE_BANDS, LOS_BANDS
from peerstudy.exceptions import ParameterError
from peerstudy.scenario import load_scenario
from peerstudy.simulation.hazards import cumulative_baseline, exponential_times, invert_arm_hazard

__all__ = ["TedsTruth", "simulate_teds"]


@dataclass(frozen=True)
class TedsTruth:
    """The generating model of :func:`simulate_teds` (times in days).

    Dropout: ``h(t | x) = exp(beta' x) * (shape / scale) * (t / scale) ** (shape - 1)`` (Weibull
    proportional hazards) with ``x`` the cohort covariates as :mod:`peerstudy.data.programme` derives them
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
        bins = ["homeless", "stimulant_use", "injects", "unemployed", "female"]
        out = {}
        for t in days:
            base = float(cumulative_baseline(t, self.scale, self.shape))
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
    # dropout: solve exp(lp) H0(T) = E exactly (no arm: the usual-care hazard, multiplier 1)
    t_drop = invert_arm_hazard(rng.standard_exponential(n) / np.exp(lp), False, truth.scale, truth.shape, 1.0, None)
    rates = [truth.completion_rate, truth.transfer_rate, truth.other_rate, truth.incarceration_rate, truth.death_rate]
    others = np.column_stack([exponential_times(rng.standard_exponential(n), r) for r in rates])
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
