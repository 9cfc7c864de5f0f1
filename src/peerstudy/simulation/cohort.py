"""Simulate peer-support cohorts with known truth, by exact inversion of the cumulative hazard.

For participant *i* at site *j* in arm *a*, the dropout time solves ``Z_j exp(lp_i) H_a(T) = E_i`` with
``E_i ~ Exp(1)``, where ``H_a`` is the arm's cumulative baseline hazard (Weibull, with the peer hazard
ratio applied up to ``effect_stops_day``; see :mod:`peerstudy.scenario`). ``H_a`` is piecewise in closed
form, so the inversion is exact: no time grid, no discretised approximation. Incarceration, death and
loss to follow-up are exponential with constant hazards. Observation ends at the first of these or at
``follow_up_days``; the recorded ``time`` is ``ceil`` of the continuous time in whole days (>= 1), and
``retained`` people have ``time == follow_up_days``.

The truth (:mod:`peerstudy.truth`) travels with every cohort in ``df.attrs["truth"]``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from peerstudy.scenario import BinaryCovariate, CountCovariate, NumericCovariate, Scenario, load_scenario
from peerstudy.data.schema import ARMS, COVARIATES, OUTCOMES
from peerstudy.simulation.truth import compute_truth, covariate_coefficients, cumulative_baseline, weibull_scale

__all__ = ["simulate_cohort", "simulate_arrays", "simulate_with_contacts", "truth_sidecar", "CONTACT_TYPES"]

CONTACT_TYPES: tuple[str, ...] = ("face_to_face", "phone")

# outcome codes used in the arrays, in the order of schema.OUTCOMES
DROPOUT, RETAINED, LOST, INCARCERATED, DIED = range(5)


def _draw_covariate(spec: Any, n: int, rng: np.random.Generator) -> np.ndarray:
    if isinstance(spec, BinaryCovariate):
        return (rng.random(n) < spec.prevalence).astype(np.int64)
    if isinstance(spec, NumericCovariate):
        x = np.rint(rng.normal(spec.mean, spec.sd, n))
        return np.clip(x, spec.lower, spec.upper).astype(np.int64)
    if isinstance(spec, CountCovariate):
        return np.minimum(rng.poisson(spec.mean, n), spec.upper).astype(np.int64)
    raise TypeError(type(spec))  # pragma: no cover


def _invert_dropout(e: np.ndarray, k: np.ndarray, peer: np.ndarray, scenario: Scenario) -> np.ndarray:
    """Continuous dropout times solving k * H_arm(T) = e exactly (H_arm piecewise Weibull)."""
    scale, shape = weibull_scale(scenario), scenario.weibull_shape
    target = e / k  # required cumulative baseline-scale hazard
    hr, stop = scenario.hazard_ratio, scenario.effect_stops_day
    h0 = np.where(peer, target / hr, target)  # H0(T) if the effect never stops
    if stop is not None:
        h0c = float(cumulative_baseline(stop, scale, shape))
        after = peer & (target > hr * h0c)
        # hr * H0(c) + H0(T) - H0(c) = target  ->  H0(T) = target - hr * H0(c) + H0(c)
        h0 = np.where(after, target - hr * h0c + h0c, h0)
    return scale * h0 ** (1.0 / shape)


def _exponential(lam: float, n: int, rng: np.random.Generator) -> np.ndarray:
    draws = rng.standard_exponential(n)
    return draws / lam if lam > 0 else np.full(n, np.inf)


def draw_sessions(n: int, contacts: Any, horizon: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Planned session days for ``n`` people: (offsets of length n + 1, sorted unique whole days per person).

    Sessions form a Poisson process with rate ``r0 * 2 ** (-t / halving_days)`` per day on ``(0, horizon]``
    (``r0 = rate_per_week / 7``), drawn by inverting its cumulative rate; each is recorded on day ``ceil(t)``
    and at most one is kept per day.
    """
    r0 = contacts.rate_per_week / 7.0
    h = contacts.halving_days
    if horizon <= 0 or r0 == 0:
        return np.zeros(n + 1, dtype=np.int64), np.zeros(0)
    cum_end = r0 * horizon if h is None else r0 * h / math.log(2) * (1 - 2.0 ** (-horizon / h))
    counts = rng.poisson(cum_end, n)
    v = rng.random(int(counts.sum())) * cum_end
    t = v / r0 if h is None else -h * np.log2(1 - v * math.log(2) / (r0 * h))
    person = np.repeat(np.arange(n), counts)
    day = np.clip(np.ceil(t), 1, math.ceil(horizon))
    order = np.lexsort((day, person))
    person, day = person[order], day[order]
    keep = np.ones(len(day), dtype=bool)
    keep[1:] = (person[1:] != person[:-1]) | (day[1:] != day[:-1])
    person, day = person[keep], day[keep]
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(person, minlength=n), out=offsets[1:])
    return offsets, day


def _contact_horizon(scenario: Scenario) -> float:
    cap = scenario.contacts.cap_day
    return float(scenario.follow_up_days if cap is None else min(cap, scenario.follow_up_days))


def simulate_arrays(scenario: Scenario, *, rng: Any = None, n: int | None = None) -> dict[str, np.ndarray]:
    """Simulate a cohort as plain numpy arrays (the fast core of :func:`simulate_cohort`).

    Returns a dict with ``site`` (int codes 0..n_sites-1), ``peer`` (bool), ``enrol_day`` (days after
    ``start_date``), each covariate (int64), ``time`` (int64 days >= 1), ``outcome`` (int codes in the
    order of :data:`peerstudy.schema.OUTCOMES`) and ``event`` (int64 0/1). Rows are in enrolment order (``enrol_day`` ascending).
    """
    rng = np.random.default_rng(rng)
    n = scenario.n if n is None else int(n)
    s_alloc, s_site, s_cov, s_time, s_enrol, s_contact = rng.spawn(6)
    n_sites = scenario.n_sites
    site = s_site.integers(0, n_sites, n)
    frailty = (s_site.gamma(1.0 / scenario.frailty_variance, scenario.frailty_variance, n_sites)
               if scenario.frailty_variance > 0 else np.ones(n_sites))
    cov_rngs = s_cov.spawn(len(COVARIATES))
    out: dict[str, np.ndarray] = {}
    lp = np.zeros(n)
    coefs = covariate_coefficients(scenario)
    for name, crng in zip(COVARIATES, cov_rngs):
        x = _draw_covariate(getattr(scenario.covariates, name), n, crng)
        out[name] = x
        beta, centre = coefs[name]
        if beta != 0.0:
            lp += beta * (x - centre)
    peer = _allocate(scenario, site, out, s_alloc)
    k = frailty[site] * np.exp(lp)
    e = s_time.standard_exponential(n)
    t_drop = _invert_dropout(e, k, peer, scenario)
    contacts = scenario.contacts
    if contacts.enabled:
        idx = np.flatnonzero(peer)
        offsets, days = draw_sessions(len(idx), contacts, _contact_horizon(scenario), s_contact)
        if contacts.hazard_ratio_recent != 1.0:
            from peerstudy.simulation.contacts import invert_with_windows

            stop = np.inf if scenario.effect_stops_day is None else float(scenario.effect_stops_day)
            t_drop[idx] = invert_with_windows(e[idx] / k[idx], offsets, days, float(contacts.window_days),
                                              contacts.hazard_ratio_recent, scenario.hazard_ratio, stop,
                                              weibull_scale(scenario), scenario.weibull_shape)
    t_inc = _exponential(scenario.incarceration_hazard, n, s_time)
    t_death = _exponential(scenario.death_hazard, n, s_time)
    t_lost = _exponential(scenario.loss_hazard, n, s_time)
    follow = float(scenario.follow_up_days)
    first = np.full(n, follow)
    outcome = np.full(n, RETAINED, dtype=np.int8)
    for code, t in ((DROPOUT, t_drop), (LOST, t_lost), (INCARCERATED, t_inc), (DIED, t_death)):
        earlier = t < first
        first = np.where(earlier, t, first)
        outcome[earlier] = code
    time = np.maximum(np.ceil(first), 1).astype(np.int64)
    if contacts.enabled:
        person = idx[np.repeat(np.arange(len(idx)), np.diff(offsets))]
        held = days < first[person]  # a session happens only while the participant is still observed
        out["contact_person"] = person[held]
        out["contact_day"] = days[held].astype(np.int64)
        out["contact_phone"] = s_contact.random(int(held.sum())) < contacts.phone_fraction
    out.update(
        site=site,
        peer=peer,
        # participants are exchangeable, so sorted enrolment days give the enrolment order directly
        enrol_day=np.sort(s_enrol.integers(0, scenario.enrolment_days, n)),
        time=time,
        outcome=outcome,
        event=(outcome == DROPOUT).astype(np.int64),
    )
    return out


def _allocate(scenario: Scenario, site: np.ndarray, covariates: dict[str, np.ndarray],
              rng: np.random.Generator) -> np.ndarray:
    n, n_sites = len(site), scenario.n_sites
    if scenario.allocation == "cluster":
        k_sites = round(n_sites * scenario.peer_fraction)
        peer_site = np.zeros(n_sites, dtype=bool)
        peer_site[rng.permutation(n_sites)[:k_sites]] = True
        return peer_site[site]
    if scenario.allocation == "observational":
        a = scenario.assignment
        logit = np.full(n, a.intercept)
        for name, (_, centre) in covariate_coefficients(scenario).items():
            gamma = getattr(a, name)
            if gamma != 0.0:
                logit += gamma * (covariates[name] - centre)
        return rng.random(n) < 1.0 / (1.0 + np.exp(-logit))
    peer = np.zeros(n, dtype=bool)
    peer[rng.permutation(n)[: round(n * scenario.peer_fraction)]] = True
    return peer


def simulate_cohort(scenario: "Scenario | str", *, rng: Any = None, n: int | None = None) -> pd.DataFrame:
    """Simulate one cohort in the canonical schema, with its truth in ``df.attrs["truth"]``.

    Parameters
    ----------
    scenario : Scenario or str
        A scenario, preset name or YAML path.
    rng : int, numpy.random.Generator, SeedSequence or None
        Source of randomness (normalised with ``np.random.default_rng``). The same seed gives the same cohort.
    n : int, optional
        Override the scenario's number of participants.

    Returns
    -------
    pandas.DataFrame
        One row per participant, ordered by enrolment date (``participant_id`` 1..n in that order);
        columns as :data:`peerstudy.schema.COLUMNS`. ``attrs["truth"]`` holds the estimands
        (:func:`peerstudy.truth.compute_truth`), ``attrs["scenario"]`` the resolved scenario dict.

    Examples
    --------
    >>> from peerstudy.simulation.cohort import simulate_cohort
    >>> df = simulate_cohort("outpatient_default", rng=1, n=200)
    >>> df.shape
    (200, 15)
    >>> round(df.attrs["truth"]["estimands"]["net_survival"]["usual_care"]["90"], 3)
    0.55
    """
    return _simulate(load_scenario(scenario), rng=rng, n=n)[0]


def _simulate(scenario: Scenario, *, rng: Any, n: int | None) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    if n is not None:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
            from peerstudy.exceptions import ScenarioError

            raise ScenarioError(f"n must be a whole number >= 2; got {n!r}")
        scenario = scenario.replace(n=int(n))
    a = simulate_arrays(scenario, rng=rng)
    width = len(str(scenario.n_sites))
    site_labels = [f"S{i + 1:0{width}d}" for i in range(scenario.n_sites)]
    start = np.datetime64(scenario.start_date, "D")
    data: dict[str, Any] = {
        "participant_id": np.arange(1, scenario.n + 1, dtype=np.int64),
        "site": pd.Categorical.from_codes(a["site"], categories=site_labels),
        "arm": pd.Categorical.from_codes(a["peer"].astype(np.int8), categories=list(ARMS)),
        "enrolled_on": (start + a["enrol_day"].astype("timedelta64[D]")).astype("datetime64[s]"),
    }
    for name in COVARIATES:
        data[name] = a[name]
    data["time"] = a["time"]
    data["outcome"] = pd.Categorical.from_codes(a["outcome"], categories=list(OUTCOMES))
    data["event"] = a["event"]
    df = pd.DataFrame(data, copy=False)  # no block consolidation: 1M rows stay cheap
    df.attrs["truth"] = compute_truth(scenario).to_dict()
    df.attrs["scenario"] = scenario.to_dict()
    return df, a


def simulate_with_contacts(scenario: "Scenario | str", *, rng: Any = None,
                           n: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate a cohort and its peer-coach contact log (scenario ``contacts.enabled`` must be true).

    Returns
    -------
    (cohort, contacts) : tuple of pandas.DataFrame
        ``cohort`` as :func:`simulate_cohort` (same draws for the same seed); ``contacts`` has one row per
        session: ``participant_id``, ``day`` (whole day >= 1 after enrolment, before the end of observation)
        and ``contact_type`` (``face_to_face`` / ``phone``), sorted by participant and day.
    """
    scenario = load_scenario(scenario)
    if not scenario.contacts.enabled:
        from peerstudy.exceptions import ScenarioError

        raise ScenarioError(f"contacts.enabled must be true to simulate a contact log; got false (scenario {scenario.name!r})")
    cohort, a = _simulate(scenario, rng=rng, n=n)
    contacts = pd.DataFrame({
        "participant_id": a["contact_person"].astype(np.int64) + 1,
        "day": a["contact_day"],
        "contact_type": pd.Categorical.from_codes(a["contact_phone"].astype(np.int8), categories=list(CONTACT_TYPES)),
    })
    return cohort, contacts


def truth_sidecar(scenario: Scenario, *, seed: Any, n: int | None = None) -> dict[str, Any]:
    """The ``FILE.truth.json`` document: seed, n, resolved scenario, hazard ratio and estimands."""
    scenario = scenario if n is None else scenario.replace(n=int(n))
    truth = compute_truth(scenario).to_dict()
    return {
        "seed": seed,
        "n": scenario.n,
        "scenario": scenario.to_dict(),
        "hazard_ratio": scenario.hazard_ratio,
        "log_hazard_ratio": math.log(scenario.hazard_ratio),
        "weibull_scale": truth["weibull_scale"],
        "coefficients": truth["coefficients"],
        "estimands": truth["estimands"],
        "notes": {
            "net_survival": "P(no dropout by day t), net of other endings, marginal over covariates and site frailty",
            "cif": "cumulative incidence of each ending with loss to follow-up as independent censoring",
            "rmst": "restricted mean days in treatment (whole days, i.e. the area under a whole-day KM curve)",
            "hazard_ratio": "conditional hazard ratio of dropout (peer vs usual care) given covariates and site frailty",
        },
    }
