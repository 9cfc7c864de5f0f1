"""Secondary outcomes of a simulated cohort: linkage, follow-up interviews, BARC-10, missing covariates.

The model is stated in :class:`peerstudy.scenario.Outcomes`. Everything here is drawn for the people of an
already simulated retention cohort (their arm, intake covariates and how and when observation ended), so the
secondary outcomes belong to the same participants, and switching them on never changes the cohort.

Random stream
-------------
All draws come from one generator (:func:`peerstudy.simulation.cohort.simulate_with_visits` passes the child the
cohort generator spawns after the cohort's own children, so the cohort's draws are unchanged), as one block of uniforms ``rng.random((len(VISIT_ROWS), n))``, one row per
quantity in :data:`VISIT_ROWS`; normal draws invert the normal CDF. Every row is drawn whatever the scenario,
so a switched-off quantity never shifts another's draws.

Truth
-----
:func:`outcomes_truth` gives, from the scenario alone:

* linkage: the cause-specific hazard ratio (peer vs usual care) and the cumulative incidence of linkage by
  days 7, 30 and 90 per arm, with dropout, incarceration and death competing and loss to follow-up as
  independent censoring. With whole days (linkage on day ``ceil(L)`` counts when it is no later than the
  recorded end of observation ``ceil(T)``)::

      CIF(h) = sum_{d=1}^{h} (exp(-lam (d - 1)) - exp(-lam d)) * S(d - 1) * exp(-(mu_inc + mu_death) (d - 1))

  with ``S`` the marginal net retention curve of the arm (:mod:`peerstudy.simulation.truth`);
* housed / employed at 6 months: the probability per arm (marginal over the intake covariate), the risk
  difference and risk ratio (peer vs usual care), and the conditional odds ratios;
* BARC-10: the latent linear model's intake mean, change per 180 days in usual care and the extra change
  with peer support (rounding to whole points and keeping totals in 10-60 make the recorded totals depart
  from it slightly);
* missing covariates: the rates and mechanism.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import expit, logit, ndtri

from peerstudy.scenario import Scenario
from peerstudy.simulation.hazards import COVARIATE_NAMES, covariate_pmf
from peerstudy.simulation.truth import _marginal_survival

__all__ = ["VISIT_ROWS", "VISITS", "LINKAGE_HORIZONS", "GPRA_WINDOW", "simulate_visits", "outcomes_truth",
           "missing_mask"]

#: Rows of the block of uniforms (see the module docstring), then one row per covariate for missingness.
VISIT_ROWS: tuple[str, ...] = ("linkage", "housed", "employed", "interview_3m", "interview_6m", "day_3m", "day_6m",
                               "barc_person", "barc_0", "barc_3m", "barc_6m",
                               *(f"missing_{c}" for c in COVARIATE_NAMES))
#: Interviews: name -> (target day, first day, last day). The 6-month window is the GPRA 5-8 months.
VISITS: dict[str, tuple[int, int, int]] = {"intake": (0, 0, 0), "3m": (91, 76, 106), "6m": (183, 152, 243)}
#: The 6-month (GPRA) follow-up window in days after intake.
GPRA_WINDOW: tuple[int, int] = (152, 243)
LINKAGE_HORIZONS: tuple[int, ...] = (7, 30, 90)
_ROW = {name: i for i, name in enumerate(VISIT_ROWS)}
_DROPOUT, _RETAINED, _LOST, _INCARCERATED, _DIED = range(5)


def _logistic(p0: float, terms: list[tuple[float, np.ndarray]]) -> np.ndarray:
    eta = np.full(len(terms[0][1]), logit(p0))
    for odds_ratio, x in terms:
        eta = eta + math.log(odds_ratio) * x
    return expit(eta)


def _interview_days(u: np.ndarray, visit: str) -> np.ndarray:
    _, lo, hi = VISITS[visit]
    return lo + np.minimum((u * (hi - lo + 1)).astype(np.int64), hi - lo)


def missing_mask(rate: float, spec: Any, u: np.ndarray, event: np.ndarray, peer: np.ndarray) -> np.ndarray:
    """Missing (True) or recorded, for one covariate with share ``rate`` missing, from its row of uniforms ``u``.

    ``spec`` is the :class:`peerstudy.scenario.MissingCovariates`. Under ``"mar"`` the intercept is solved on the
    cohort so that the expected share missing equals ``rate``, given ``event`` (dropout 0/1) and ``peer`` (0/1).
    """
    if rate <= 0:
        return np.zeros(len(u), dtype=bool)
    if spec.mechanism == "mcar":
        return u < rate
    shift = math.log(spec.odds_ratio_event) * event + math.log(spec.odds_ratio_peer) * peer
    c = brentq(lambda c: float(expit(c + shift).mean()) - rate, -60.0, 60.0, xtol=1e-12)
    return u < expit(c + shift)


def simulate_visits(scenario: Scenario, arrays: dict[str, np.ndarray], *, rng: Any = None
                    ) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """Draw linkage, interviews, BARC-10 and missing covariates for the people of a simulated cohort.

    Parameters
    ----------
    scenario : Scenario
        Its ``outcomes`` block states the model.
    arrays : dict
        The cohort as :func:`peerstudy.simulation.cohort.simulate_arrays` returns it (``peer``, ``time``,
        ``outcome``, ``event``, the covariates).
    rng : int, numpy.random.Generator, SeedSequence or None
        Source of randomness (normalised with ``np.random.default_rng``).

    Returns
    -------
    (person, visits)
        ``person``: ``linkage_time`` (whole days), ``linkage_ending`` (codes: 0 = ``linked``, else 1 + the
        cohort outcome code) and, per covariate with a rate above 0, ``missing_COV`` (bool).
        ``visits``: one row per completed interview (intake for everyone): ``row`` (participant index),
        ``visit``, ``day``, ``barc10`` and, at 6 months, ``housed`` and ``employed`` (0/1).
    """
    spec = scenario.outcomes
    rng = np.random.default_rng(rng)
    peer = np.asarray(arrays["peer"], dtype=bool)
    n = len(peer)
    u = rng.random((len(VISIT_ROWS), n))
    time = np.asarray(arrays["time"], dtype=np.int64)
    outcome = np.asarray(arrays["outcome"], dtype=np.int64)
    pf = peer.astype(float)

    rate = spec.linkage_rate_per_week / 7.0 * np.where(peer, spec.linkage_hazard_ratio, 1.0)
    with np.errstate(divide="ignore"):
        lt = -np.log1p(-u[_ROW["linkage"]]) / rate
    link_day = np.maximum(np.ceil(lt), 1.0)
    linked = link_day <= time
    person: dict[str, np.ndarray] = {
        "linkage_time": np.where(linked, link_day, time).astype(np.int64),
        "linkage_ending": np.where(linked, 0, outcome + 1).astype(np.int64),
    }
    event = np.asarray(arrays["event"], dtype=float)
    for cov, share in spec.missing.rates.items():
        person[f"missing_{cov}"] = missing_mask(share, spec.missing, u[_ROW[f"missing_{cov}"]], event, pf)

    homeless = np.asarray(arrays["homeless"], dtype=float)
    unemployed = np.asarray(arrays["unemployed"], dtype=float)
    housed = u[_ROW["housed"]] < _logistic(spec.housed_usual_care, [(spec.housed_odds_ratio_peer, pf),
                                                                    (spec.housed_odds_ratio_homeless, homeless)])
    employed = u[_ROW["employed"]] < _logistic(spec.employed_usual_care, [(spec.employed_odds_ratio_peer, pf),
                                                                          (spec.employed_odds_ratio_unemployed,
                                                                           unemployed)])
    person_effect = spec.barc_person_sd * ndtri(u[_ROW["barc_person"]])
    frames = []
    for visit in VISITS:
        if visit == "intake":
            day = np.zeros(n, dtype=np.int64)
            done = np.ones(n, dtype=bool)
        else:
            day = _interview_days(u[_ROW[f"day_{visit}"]], visit)
            ended = time < day
            died_or_lost = ended & ((outcome == _DIED) | (outcome == _LOST))
            left = (ended & (outcome != _RETAINED)).astype(float)
            p = _logistic(spec.interview_rate, [(spec.interview_odds_ratio_left, left),
                                                (spec.interview_odds_ratio_homeless, homeless)])
            done = ~died_or_lost & (u[_ROW[f"interview_{visit}"]] < p)
        slope = (spec.barc_change_6m + spec.barc_peer_change_6m * pf) / 180.0
        latent = (spec.barc_intake + person_effect + slope * day
                  + spec.barc_residual_sd * ndtri(u[_ROW["barc_" + ("0" if visit == "intake" else visit)]]))
        rows = np.flatnonzero(done)
        frame = {"row": rows, "visit": np.full(len(rows), visit), "day": day[rows],
                 "barc10": np.clip(np.rint(latent[rows]), 10, 60).astype(np.int64)}
        six = visit == "6m"
        frame["housed"] = pd.array(housed[rows].astype(np.int64) if six else [pd.NA] * len(rows), dtype="Int64")
        frame["employed"] = pd.array(employed[rows].astype(np.int64) if six else [pd.NA] * len(rows), dtype="Int64")
        frames.append(pd.DataFrame(frame))
    visits = pd.concat(frames, ignore_index=True)
    visits["visit"] = pd.Categorical(visits["visit"], categories=list(VISITS))
    visits = visits.sort_values(["row", "day"], kind="stable").reset_index(drop=True)
    return person, visits


def _binary_truth(p0: float, or_peer: float, or_cov: float, prevalence: float) -> dict[str, Any]:
    risks = {}
    for arm, peer in (("usual_care", 0.0), ("peer", 1.0)):
        base = logit(p0) + math.log(or_peer) * peer
        risks[arm] = float((1 - prevalence) * expit(base) + prevalence * expit(base + math.log(or_cov)))
    return {"risk": risks, "risk_difference": risks["peer"] - risks["usual_care"],
            "risk_ratio": risks["peer"] / risks["usual_care"], "odds_ratio_peer": or_peer,
            "odds_ratio_covariate": or_cov}


def outcomes_truth(scenario: Scenario) -> dict[str, Any]:
    """The truth of each secondary outcome and effect (see the module docstring), JSON-ready.

    Examples
    --------
    >>> from peerstudy.scenario import preset
    >>> t = outcomes_truth(preset("outpatient_default"))
    >>> t["linkage"]["cause_specific_hazard_ratio"]
    1.4
    """
    spec = scenario.outcomes
    lam0 = spec.linkage_rate_per_week / 7.0
    other = scenario.incarceration_hazard + scenario.death_hazard
    h = max(LINKAGE_HORIZONS)
    d = np.arange(1, h + 1, dtype=float)
    cif = {}
    for arm, peer in (("usual_care", False), ("peer", True)):
        lam = lam0 * (spec.linkage_hazard_ratio if peer else 1.0)
        at_risk = _marginal_survival(d - 1, scenario, peer) * np.exp(-other * (d - 1))
        curve = np.cumsum((np.exp(-lam * (d - 1)) - np.exp(-lam * d)) * at_risk)
        cif[arm] = {str(k): float(curve[k - 1]) for k in LINKAGE_HORIZONS if k <= scenario.follow_up_days}
    cov = scenario.covariates
    return {
        "linkage": {"cause_specific_hazard_ratio": spec.linkage_hazard_ratio, "rate_per_day_usual_care": lam0,
                    "cif": cif},
        "housed_6m": _binary_truth(spec.housed_usual_care, spec.housed_odds_ratio_peer,
                                   spec.housed_odds_ratio_homeless, _prevalence(cov.homeless)),
        "employed_6m": _binary_truth(spec.employed_usual_care, spec.employed_odds_ratio_peer,
                                     spec.employed_odds_ratio_unemployed, _prevalence(cov.unemployed)),
        "barc10": {"intake_mean": spec.barc_intake, "change_per_180_days_usual_care": spec.barc_change_6m,
                   "peer_extra_change_per_180_days": spec.barc_peer_change_6m, "person_sd": spec.barc_person_sd,
                   "residual_sd": spec.barc_residual_sd},
        "missing": {"rates": spec.missing.rates, "mechanism": spec.missing.mechanism,
                    "odds_ratio_event": spec.missing.odds_ratio_event, "odds_ratio_peer": spec.missing.odds_ratio_peer},
        "interviews": {"windows": {k: [lo, hi] for k, (_, lo, hi) in VISITS.items() if k != "intake"},
                       "gpra_target": 0.80},
    }


def _prevalence(spec: Any) -> float:
    support, p = covariate_pmf(spec)
    return float(np.sum(p[support == 1]))
