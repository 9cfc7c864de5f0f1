"""Simulate peer-support cohorts with known truth, by exact inversion of the cumulative hazard.

For participant *i* at site *j* in arm *a*, the dropout time solves ``Z_j exp(lp_i) H_a(T) = E_i`` with
``E_i ~ Exp(1)``, where ``H_a`` is the arm's cumulative baseline hazard (Weibull, with the peer hazard
ratio applied up to ``effect_stops_day``; see :mod:`peerstudy.simulation.hazards`, where the model lives).
``H_a`` is piecewise in closed form, so the inversion is exact: no time grid, no discretised approximation.
Incarceration, death and loss to follow-up are exponential with constant hazards. Observation ends at the
first of these or at ``follow_up_days``; the recorded ``time`` is ``ceil`` of the continuous time in whole
days (>= 1), and ``retained`` people have ``time == follow_up_days``.

One cohort and a stack of replicate cohorts (:mod:`peerstudy.simulation.batch`) are made by the same code,
:func:`simulate_stack`: uniforms drawn in a fixed layout, turned into cohorts by compiled kernels. A cohort
from ``simulate_arrays(scenario, rng=g)`` is therefore, draw for draw, the replicate whose generator is ``g``.

Random streams
--------------
Each cohort takes all its randomness from one generator ``rng`` (normalised with
``np.random.default_rng``), in this fixed layout:

1. From ``rng`` itself, two blocks of uniforms on [0, 1), in this order:

   * the site block ``rng.random((2, n_sites))``: row 0 chooses the ``round(n_sites * peer_fraction)``
     peer-support sites under cluster allocation (sequential selection: every set of sites equally likely);
     row 1 gives the gamma site frailties by inverting their CDF, ``Z_j = theta * P^-1(1 / theta, u_j)``
     with ``P^-1`` the inverse regularised lower incomplete gamma function (mean 1, variance
     ``theta = frailty_variance``);
   * the person block ``rng.random((6 + 8, n))`` (:data:`PERSON_ROWS`): row 0 allocation (individual:
     exactly ``round(n * peer_fraction)`` people by sequential selection; observational: peer support when
     ``u < expit(logit)`` of the assignment model), row 1 site (``floor(u * n_sites)``), row 2 dropout
     (``E = -log(1 - u)``), rows 3-5 loss to follow-up, incarceration and death (``E / rate``), rows 6..
     the covariates in :data:`peerstudy.data.schema.COVARIATES` order (each by inverting its discrete
     distribution).

   Every row is drawn whatever the scenario (a feature switched off leaves its row unused), so the layout
   depends on ``n`` and ``n_sites`` alone.
2. Spawned children ``rng.spawn(3)``: child 0 draws the enrolment days, child 1 the coach-contact sessions
   and their type, child 2 (only with ``coaches.enabled``) the coaches: first the coach block
   ``random(n_sites * per_site)`` (coach frailties, by inverting the gamma CDF; coach ``c`` works at site
   ``c // per_site``), then ``random((2, n))``: row 0 each peer-arm client's coach within their site, row 1
   the coach-client match (:func:`peerstudy.simulation.hazards.coach_assignment`). Children of a seed
   sequence do not depend on how many draws their parent made, so these streams never change each other's
   draws or the blocks'; a scenario without coaches draws exactly what it drew before coaches existed.

With ``recurrent.enabled`` a fourth child ``rng.spawn(4)[3]`` draws the subject frailty (which the death hazard
shares) and the episode log (:mod:`peerstudy.simulation.events`); children 0 to 2 are as before.

Adding a feature must not change the other streams' draws: a new person-level quantity appends a row at
the end of the person block; anything else (site-level quantities, draws of variable count) takes a new
spawned child (``rng.spawn(5)`` keeps children 0 to 3 as they are).

The truth (:mod:`peerstudy.simulation.truth`) travels with every cohort in ``df.attrs["truth"]``.
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from numba import njit

from peerstudy.data.schema import ARMS, COVARIATES, OUTCOMES
from peerstudy.exceptions import ScenarioError
from peerstudy.scenario import Scenario, apply_overrides, load_scenario
from peerstudy.simulation.contacts import contact_horizon, draw_sessions, invert_with_windows
from peerstudy.simulation.hazards import (COVARIATE_NAMES, NO_COACH, arm_cumulative_hazard, arm_tables,
                                          coach_assignment, coach_multiplier, covariate_coefficients,
                                          covariate_tables, ending_hazards, exponential_time, gamma_frailty,
                                          exponential_times, invert_arm_hazard, invert_cdf, invert_pieces,
                                          unit_exponential)
from peerstudy.simulation.truth import compute_truth, net_survival_given_sites, weibull_scale
from peerstudy.simulation.visits import outcomes_truth, simulate_visits
from peerstudy.simulation.events import (EVENT_KINDS, EVENTS_ENDINGS, REENTRY_KIND, death_multiplier, draw_frailty,
                                         episode_log)

__all__ = ["simulate_cohort", "simulate_arrays", "simulate_stack", "simulate_with_contacts", "simulate_with_visits",
           "simulate_with_events", "LINKAGE_ENDINGS", "truth_sidecar",
           "note_overrides", "scenario_label", "CONTACT_TYPES", "PERSON_ROWS", "SITE_ROWS"]

CONTACT_TYPES: tuple[str, ...] = ("face_to_face", "phone")

# outcome codes used in the arrays, in the order of schema.OUTCOMES
DROPOUT, RETAINED, LOST, INCARCERATED, DIED = range(5)

#: Rows of the person block of uniforms (see the module docstring), then one row per covariate.
PERSON_ROWS: tuple[str, ...] = ("allocation", "site", "dropout", "lost_to_follow_up", "incarcerated", "died",
                                *COVARIATE_NAMES)
#: Rows of the site block of uniforms.
SITE_ROWS: tuple[str, ...] = ("cluster_allocation", "frailty")
_ALLOCATION_ROW, _SITE_ROW, _DROPOUT_ROW, _ENDING_ROW, _COV0 = (PERSON_ROWS.index(r) for r in (
    "allocation", "site", "dropout", "lost_to_follow_up", COVARIATE_NAMES[0]))
_DIED_ROW = PERSON_ROWS.index("died")
_CLUSTER_ROW, _FRAILTY_ROW = (SITE_ROWS.index(r) for r in ("cluster_allocation", "frailty"))
_ALLOCATION = {"individual": 0, "cluster": 1, "observational": 2}
assert OUTCOMES[DROPOUT] == "dropout" and OUTCOMES[LOST] == "lost_to_follow_up"


# ----- compiled kernels: uniforms -> cohort -------------------------------------------------------------
@njit(cache=True)
def _select(u, k, chosen):
    """Exactly ``k`` of ``len(u)`` items, each subset equally likely (sequential selection, one uniform each)."""
    n = u.shape[0]
    left = k
    for q in range(n):
        if left > 0 and u[q] * (n - q) < left:
            chosen[q] = True
            left -= 1
        else:
            chosen[q] = False


@njit(cache=True)
def _people_kernel(u, site_u, frailty, allocation, k_peer, intercept, gamma, values, cdfs, guides, need, betas,
                   centres, h0_start, cum_start, mult, m, scale, shape, h_follow, exact_target, site, peer, X, target,
                   t_drop):
    """Sites, covariates, allocation and dropout times (arm hazard inverted exactly) for each replicate.

    ``h_follow[a]`` is arm ``a``'s cumulative hazard at the end of follow-up: a person whose target exceeds it
    drops out after follow-up, so ``t_drop`` is left at inf (and, unless ``exact_target``, ``target`` too)
    without computing it; the cohort is the same.
    """
    reps, _, n = u.shape
    n_sites = site_u.shape[2]
    ncov = values.shape[0]
    peer_site = np.zeros(n_sites, np.bool_)
    h0_uc, cum_uc, mult_uc, m_uc = h0_start[0], cum_start[0], mult[0], m[0]
    h0_pe, cum_pe, mult_pe, m_pe = h0_start[1], cum_start[1], mult[1], m[1]
    lp = np.empty(n)
    logit = np.empty(n)
    for r in range(reps):
        lp[:] = 0.0
        logit[:] = intercept
        for j in range(ncov):  # one covariate at a time: each row of uniforms is read in order
            if not need[j]:
                continue
            vals, cdf, guide, beta, centre, g = values[j], cdfs[j], guides[j], betas[j], centres[j], gamma[j]
            uj, xj = u[r, _COV0 + j], X[r, j]
            for q in range(n):
                x = invert_cdf(vals, cdf, guide, uj[q])
                xj[q] = np.int64(x)
                lp[q] += beta * (x - centre)
                logit[q] += g * (x - centre)
        if allocation == 0:
            _select(u[r, _ALLOCATION_ROW], k_peer, peer[r])
        elif allocation == 1:
            _select(site_u[r, _CLUSTER_ROW], k_peer, peer_site)
        for q in range(n):
            s = min(int(u[r, _SITE_ROW, q] * n_sites), n_sites - 1)
            site[r, q] = s
            if allocation == 1:
                peer[r, q] = peer_site[s]
            elif allocation == 2:
                peer[r, q] = u[r, _ALLOCATION_ROW, q] < 1.0 / (1.0 + math.exp(-logit[q]))
            k = frailty[r, s] * math.exp(lp[q])
            hf = h_follow[1] if peer[r, q] else h_follow[0]
            uq = u[r, _DROPOUT_ROW, q]
            # -log(1 - u) >= u: when u / k is past H(follow) so is the target, and dropout comes after follow-up
            if k > 0.0 and (exact_target or uq < k * hf * (1.0 + 1e-9)):
                tg = unit_exponential(uq) / k
            else:
                tg = np.inf
            target[r, q] = tg
            if tg >= hf * (1.0 + 1e-9):
                t_drop[r, q] = np.inf
            elif peer[r, q]:
                t_drop[r, q] = invert_pieces(tg, h0_pe, cum_pe, mult_pe, m_pe, scale, shape)
            else:
                t_drop[r, q] = invert_pieces(tg, h0_uc, cum_uc, mult_uc, m_uc, scale, shape)


@njit(cache=True)
def _endings_kernel(u, t_drop, rates, death_mult, follow, time, outcome):
    """The first ending (dropout, loss, incarceration, death, else retained at ``follow`` days), in whole days.

    ``death_mult[r, q]`` multiplies the death hazard (a subject frailty shared with recurrent episodes; 1 otherwise).
    """
    reps, _, n = u.shape
    codes = (LOST, INCARCERATED, DIED)
    rate = np.empty(3)
    for r in range(reps):
        for q in range(n):
            first = follow
            code = RETAINED
            if t_drop[r, q] < first:
                first = t_drop[r, q]
                code = DROPOUT
            rate[0], rate[1], rate[2] = rates[0], rates[1], rates[2] * death_mult[r, q]
            for j in range(3):
                uj = u[r, _ENDING_ROW + j, q]
                # -log(1 - u) >= u, so when u >= rate * first the ending comes after ``first``: skip the logarithm
                if uj < rate[j] * first * (1.0 + 1e-9):
                    t = exponential_time(unit_exponential(uj), rate[j])
                    if t < first:
                        first = t
                        code = codes[j]
            time[r, q] = max(math.ceil(first), 1.0)
            outcome[r, q] = code


# ----- the one simulation path ----------------------------------------------------------------------------
def simulate_stack(scenario: Scenario, rngs: Sequence[np.random.Generator], *, n: int | None = None,
                   covariates: Sequence[str] | None = None, full: bool = False) -> dict[str, Any]:
    """Simulate one cohort per generator in ``rngs``, stacked (replicate x participant): the one simulation path.

    :func:`simulate_arrays` is this with one generator and ``full=True``;
    :func:`peerstudy.simulation.batch.simulate_replicates` is this with one generator per replicate. Each
    generator's draws follow the layout in the module docstring, so a cohort does not depend on which
    other cohorts are stacked with it.

    Parameters
    ----------
    scenario : Scenario
    rngs : sequence of numpy.random.Generator, int or SeedSequence
        One source of randomness per cohort, each normalised with ``np.random.default_rng``.
    n : int, optional
        Participants per cohort (default ``scenario.n``).
    covariates : sequence of str, optional
        Covariates to return; those affecting dropout or assignment are always drawn. ``None`` = all.
    full : bool
        Also draw enrolment days and the coach-contact log (``contacts.enabled``); returned as lists, one
        entry per cohort, under ``enrol_day``, ``contact_person``, ``contact_day`` and ``contact_phone``.
        With ``recurrent.enabled`` the episode log is always drawn (lists ``event_person``, ``event_day``,
        ``event_overdose``; :mod:`peerstudy.simulation.events`).

    Returns
    -------
    dict
        ``site`` (int64 codes), ``peer`` (bool), ``time`` (float64 whole days >= 1), ``outcome`` (int8 codes in
        the order of :data:`peerstudy.data.schema.OUTCOMES`), each covariate drawn (int64), with
        ``coaches.enabled`` also ``coach`` (int64 codes, -1 = no coach) and ``coach_match`` (int8 1/0, -1 = no
        coach), each of shape ``(len(rngs), n)``; and, with ``full``, the per-cohort lists above.
    """
    n = scenario.n if n is None else int(n)
    rngs = [np.random.default_rng(g) for g in rngs]
    reps, n_sites, ncov = len(rngs), scenario.n_sites, len(COVARIATE_NAMES)
    site_u = np.empty((reps, len(SITE_ROWS), n_sites))
    u = np.empty((reps, len(PERSON_ROWS), n))
    for r, g in enumerate(rngs):
        g.random(out=site_u[r])
        g.random(out=u[r])
    frailty = gamma_frailty(site_u[:, _FRAILTY_ROW], scenario.frailty_variance)

    coefs = covariate_coefficients(scenario)
    allocation = _ALLOCATION[scenario.allocation]
    assignment = scenario.assignment
    gamma = np.array([getattr(assignment, c) if allocation == 2 else 0.0 for c in COVARIATE_NAMES])
    betas = np.array([coefs[c][0] for c in COVARIATE_NAMES])
    centres = np.array([coefs[c][1] for c in COVARIATE_NAMES])
    wanted = set(COVARIATE_NAMES if covariates is None else covariates)
    need = np.array([c in wanted or betas[j] != 0.0 or gamma[j] != 0.0 for j, c in enumerate(COVARIATE_NAMES)])
    values, cdfs, guides = covariate_tables(scenario)
    scale, shape = weibull_scale(scenario), float(scenario.weibull_shape)
    _, h0_start, cum_start, mult, m = arm_tables(scale, shape, scenario.hazard_ratio, scenario.effect_stops_day)
    k_peer = round((n_sites if allocation == 1 else n) * scenario.peer_fraction)

    site = np.empty((reps, n), dtype=np.int64)
    peer = np.empty((reps, n), dtype=np.bool_)
    X = np.zeros((reps, ncov, n), dtype=np.int64)
    target = np.empty((reps, n))
    t_drop = np.empty((reps, n))
    contacts = scenario.contacts
    effect = contacts.enabled and contacts.hazard_ratio_recent != 1.0
    follow = float(scenario.follow_up_days)
    h_follow = np.array([float(arm_cumulative_hazard(follow, scale, shape, scenario.hazard_ratio,
                                                     scenario.effect_stops_day, peer_arm)) for peer_arm in (False, True)])
    coaches = scenario.coaches
    _people_kernel(u, site_u, frailty, allocation, k_peer, float(assignment.intercept), gamma, values, cdfs, guides,
                   need, betas, centres, h0_start, cum_start, mult, m, scale, shape, h_follow,
                   effect or coaches.enabled, site, peer, X, target, t_drop)

    recurrent = scenario.recurrent.enabled
    # spawned children: 0 enrolment, 1 contact sessions, 2 coaches, 3 recurrent episodes (spawning more keeps the
    # first ones as they were)
    children = [g.spawn(4 if recurrent else 3) for g in rngs] if (full or effect or coaches.enabled or recurrent) else []
    coach = match = None
    if coaches.enabled:
        coach, match = _with_coaches(scenario, [c[2] for c in children], site, peer, target, t_drop, h_follow[1],
                                     scale, shape)
    sessions = []
    if contacts.enabled and (full or effect):
        stop = np.inf if scenario.effect_stops_day is None else float(scenario.effect_stops_day)
        for r in range(reps):
            idx = np.flatnonzero(peer[r])
            offsets, days = draw_sessions(len(idx), contacts, contact_horizon(scenario), rng=children[r][1])
            if effect:
                t_drop[r, idx] = invert_with_windows(target[r, idx], offsets, days, float(contacts.window_days),
                                                     contacts.hazard_ratio_recent, scenario.hazard_ratio, stop,
                                                     scale, shape)
            sessions.append((idx, offsets, days))

    # recurrent episodes: a subject frailty (child 3) that the death hazard shares
    subject_frailty = [draw_frailty(n, scenario.recurrent, rng=c[3]) for c in children] if recurrent else []
    death_mult = (np.stack([death_multiplier(f, scenario.recurrent) for f in subject_frailty]) if recurrent
                  else np.ones((reps, n)))
    time = np.empty((reps, n))
    outcome = np.empty((reps, n), dtype=np.int8)
    _endings_kernel(u, t_drop, ending_hazards(scenario), death_mult, follow, time, outcome)

    out: dict[str, Any] = {name: X[:, j, :] for j, name in enumerate(COVARIATE_NAMES) if need[j]}
    out.update(site=site, peer=peer, time=time, outcome=outcome)
    if coaches.enabled:
        out.update(coach=coach, coach_match=match)
    if full:
        out["site_frailty"] = frailty
        out["enrol_day"] = [_enrolment_days(scenario, n, c[0]) for c in children]
        if contacts.enabled:
            logs = [_contact_log(idx, offsets, days, time[r], contacts.phone_fraction, children[r][1])
                    for r, (idx, offsets, days) in enumerate(sessions)]
            for j, key in enumerate(("contact_person", "contact_day", "contact_phone")):
                out[key] = [log[j] for log in logs]
    if recurrent:
        rates = ending_hazards(scenario)
        latent = scenario.recurrent.effect_while_coached or scenario.recurrent.reentries
        logs = [episode_log(scenario, peer[r], subject_frailty[r], time[r], u[r, _DIED_ROW], rng=children[r][3],
                            **(dict(t_drop=t_drop[r], dropped=outcome[r] == DROPOUT,
                                    other=tuple(exponential_times(-np.log1p(-u[r, _ENDING_ROW + j]), rates[j])
                                                for j in range(2))) if latent else {}))
                for r in range(reps)]
        keys = ("person", "day", "overdose") + (("reentry_person", "reentry_day", "events_time", "events_ending")
                                                if scenario.recurrent.reentries else ())
        for key in keys:
            out["event_" + key if key in ("person", "day", "overdose") else key] = [log[key] for log in logs]
    return out


def _with_coaches(scenario: Scenario, rngs: list, site: np.ndarray, peer: np.ndarray, target: np.ndarray,
                  t_drop: np.ndarray, h_follow_peer: float, scale: float, shape: float) -> tuple[np.ndarray, np.ndarray]:
    """Draw coaches and matches (child 2 of each cohort) and redo the peer arm's dropout times with them.

    A client's multiplier gains the coach factor (:func:`~peerstudy.simulation.hazards.coach_multiplier`), so
    their target ``E / k`` is divided by it and inverted again, exactly; ``target`` and ``t_drop`` change in place.
    """
    coaches = scenario.coaches
    reps, n = site.shape
    coach = np.empty((reps, n), dtype=np.int64)
    match = np.empty((reps, n), dtype=np.int8)
    for r, g in enumerate(rngs):
        w = gamma_frailty(g.random(scenario.n_sites * coaches.per_site), coaches.frailty_variance)
        uc = g.random((2, n))
        coach[r], match[r] = coach_assignment(uc[0], uc[1], site[r], peer[r], coaches)
        idx = np.flatnonzero(peer[r])
        with np.errstate(divide="ignore"):  # a coach frailty of 0 (possible at large variances): no dropout
            tg = target[r, idx] / coach_multiplier(coach[r, idx], match[r, idx], w, coaches)
        target[r, idx] = tg
        late = tg >= h_follow_peer * (1.0 + 1e-9)  # the kernel's rule: dropout after follow-up is left at inf
        times = invert_arm_hazard(np.where(late, 0.0, tg), True, scale, shape, scenario.hazard_ratio,
                                  scenario.effect_stops_day)
        t_drop[r, idx] = np.where(late, np.inf, times)
    return coach, match


def _enrolment_days(scenario: Scenario, n: int, rng: np.random.Generator) -> np.ndarray:
    """Enrolment days (0 .. enrolment_days - 1), sorted: participants are exchangeable, so sorted days give the order."""
    counts = np.bincount(rng.integers(0, scenario.enrolment_days, n), minlength=scenario.enrolment_days)
    return np.repeat(np.arange(scenario.enrolment_days, dtype=np.int64), counts)


def _contact_log(idx: np.ndarray, offsets: np.ndarray, days: np.ndarray, time: np.ndarray, phone_fraction: float,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    person = idx[np.repeat(np.arange(len(idx)), np.diff(offsets))]
    held = days < time[person]  # a session happens only while the participant is still observed
    return person[held], days[held].astype(np.int64), rng.random(int(held.sum())) < phone_fraction


def simulate_arrays(scenario: Scenario, *, rng: Any = None, n: int | None = None) -> dict[str, np.ndarray]:
    """Simulate a cohort as plain numpy arrays (the fast core of :func:`simulate_cohort`).

    Parameters
    ----------
    scenario : Scenario
    rng : int, numpy.random.Generator, SeedSequence or None
        Source of randomness (normalised with ``np.random.default_rng``); draws follow the layout in the
        module docstring.
    n : int, optional
        Participants (default ``scenario.n``).

    Returns
    -------
    dict
        ``site`` (int codes 0..n_sites-1), ``peer`` (bool), ``enrol_day`` (days after ``start_date``), each
        covariate (int64), ``time`` (int64 days >= 1), ``outcome`` (int codes in the order of
        :data:`peerstudy.data.schema.OUTCOMES`) and ``event`` (int64 0/1); with ``contacts.enabled`` also
        ``contact_person`` (row index), ``contact_day`` and ``contact_phone`` (bool). Rows are in enrolment
        order (``enrol_day`` ascending).
    """
    stack = simulate_stack(scenario, [np.random.default_rng(rng)], n=n, full=True)
    out: dict[str, np.ndarray] = {}
    for key, value in stack.items():
        out[key] = value[0]
    out["time"] = out["time"].astype(np.int64)
    out["event"] = (out["outcome"] == DROPOUT).astype(np.int64)
    return out


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
        columns as :data:`peerstudy.data.schema.COLUMNS`, then, with ``coaches.enabled``, ``coach`` (missing in
        usual care) and ``coach_match`` (1 = client matched with their coach; missing without a coach). ``attrs["truth"]`` holds the estimands
        (:func:`peerstudy.simulation.truth.compute_truth`), ``attrs["scenario"]`` the resolved scenario dict.

    Examples
    --------
    >>> from peerstudy.simulation.cohort import simulate_cohort
    >>> df = simulate_cohort("outpatient_default", rng=1, n=200)
    >>> df.shape
    (200, 15)
    >>> round(df.attrs["truth"]["estimands"]["net_survival"]["usual_care"]["90"], 3)
    0.55
    """
    return _cohort_frame(load_scenario(scenario), rng=rng, n=n)[0]


def _cohort_frame(scenario: Scenario, *, rng: Any, n: int | None) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    if n is not None:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
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
    if scenario.coaches.enabled:
        data.update(_coach_columns(a["coach"], a["coach_match"], site_labels, scenario.coaches.per_site))
    df = pd.DataFrame(data, copy=False)  # no block consolidation: 1M rows stay cheap
    df.attrs["truth"] = compute_truth(scenario).to_dict()
    given = net_survival_given_sites(scenario, np.ravel(a["site_frailty"]), a["site"], a["peer"])
    if given is not None:
        df.attrs["truth"]["estimands"]["net_survival_given_sites"] = given
    df.attrs["scenario"] = scenario.to_dict()
    df.attrs["design"] = {"allocation": scenario.allocation, "cluster": "site"}
    return df, a


def _coach_columns(coach: np.ndarray, match: np.ndarray, site_labels: list[str], per_site: int) -> dict[str, Any]:
    """``coach`` (labels ``S1-C1`` ...: site, then coach within site; missing in usual care) and ``coach_match``
    (nullable 0/1, missing without a coach)."""
    width = len(str(per_site))
    labels = [f"{s}-C{k + 1:0{width}d}" for s in site_labels for k in range(per_site)]
    return {"coach": pd.Categorical.from_codes(np.where(coach == NO_COACH, -1, coach), categories=labels),
            "coach_match": pd.array(np.where(match < 0, None, match), dtype="Int8")}


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
        raise ScenarioError(f"contacts.enabled must be true to simulate a contact log; got false (scenario {scenario.name!r})")
    cohort, a = _cohort_frame(scenario, rng=rng, n=n)
    contacts = pd.DataFrame({
        "participant_id": a["contact_person"].astype(np.int64) + 1,
        "day": a["contact_day"],
        "contact_type": pd.Categorical.from_codes(a["contact_phone"].astype(np.int8), categories=list(CONTACT_TYPES)),
    })
    return cohort, contacts


#: Values of ``linkage_ending``: linked, or the retention outcome that came first (competing or censoring).
LINKAGE_ENDINGS: tuple[str, ...] = ("linked", *OUTCOMES)


def simulate_with_visits(scenario: "Scenario | str", *, rng: Any = None,
                         n: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate a cohort with its secondary outcomes and follow-up interviews (``outcomes.enabled`` must be true).

    The retention cohort is :func:`simulate_cohort`'s for the same seed; the secondary outcomes take their
    draws from the cohort generator's third spawned child (:mod:`peerstudy.simulation.visits`).

    Returns
    -------
    (cohort, visits) : tuple of pandas.DataFrame
        ``cohort`` adds ``linkage_time`` (whole days) and ``linkage_ending`` (:data:`LINKAGE_ENDINGS`) and has
        the covariates named in ``outcomes.missing`` as nullable integers with missing values (NA, never 0);
        ``attrs["truth"]["outcomes"]`` holds :func:`peerstudy.simulation.visits.outcomes_truth`. ``visits`` has
        one row per completed interview (intake for everyone): ``participant_id``, ``visit`` (``intake``,
        ``3m``, ``6m``), ``day`` after enrolment, ``barc10`` (10-60) and, at 6 months, ``housed`` and
        ``employed`` (0/1), sorted by participant and day.
    """
    scenario = load_scenario(scenario)
    if not scenario.outcomes.enabled:
        raise ScenarioError(f"outcomes.enabled must be true to simulate follow-up visits; got false "
                            f"(scenario {scenario.name!r})")
    gen = np.random.default_rng(rng)
    cohort, a = _cohort_frame(scenario, rng=gen, n=n)
    person, visits = simulate_visits(scenario, a, rng=gen.spawn(1)[0])
    cohort["linkage_time"] = person["linkage_time"]
    cohort["linkage_ending"] = pd.Categorical.from_codes(person["linkage_ending"], categories=list(LINKAGE_ENDINGS))
    for cov in scenario.outcomes.missing.rates:
        values = pd.array(cohort[cov].to_numpy(), dtype="Int64")
        values[person[f"missing_{cov}"]] = pd.NA
        cohort[cov] = values
    cohort.attrs["truth"]["outcomes"] = outcomes_truth(scenario)
    visits.insert(0, "participant_id", cohort["participant_id"].to_numpy()[visits.pop("row").to_numpy()])
    return cohort, visits


def simulate_with_events(scenario: "Scenario | str", *, rng: Any = None,
                         n: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate a cohort and its recurrent-episode log (scenario ``recurrent.enabled`` must be true).

    Returns
    -------
    (cohort, events) : tuple of pandas.DataFrame
        ``cohort`` as :func:`simulate_cohort` (same draws for the same seed); ``events`` has one row per
        episode: ``participant_id``, ``day`` (whole day >= 1, at most the participant's ``time``; at most one
        a day) and ``kind`` (``relapse`` / ``overdose``), sorted by participant and day
        (:mod:`peerstudy.simulation.events`). The truth in ``cohort.attrs["truth"]["recurrent"]``.
        With re-entries (``recurrent.reentry_rate_per_year > 0``) also rows of kind ``reentry`` (after a
        dropout; a re-entry may share a day with an episode), and the cohort gains ``events_time`` (whole
        days: end of the observation of events, which dropout does not end) and ``events_ending``
        (``end_of_follow_up``, ``lost_to_follow_up``, ``incarcerated`` or ``died``): analyse events with
        ``time="events_time", ending="events_ending"``.

    Examples
    --------
    >>> from peerstudy.scenario import preset
    >>> s = preset("outpatient_default")
    >>> s = s.replace(recurrent=s.recurrent.__class__(enabled=True))
    >>> cohort, events = simulate_with_events(s, rng=1, n=300)
    >>> list(events.columns)
    ['participant_id', 'day', 'kind']
    """
    scenario = load_scenario(scenario)
    if not scenario.recurrent.enabled:
        raise ScenarioError(f"recurrent.enabled must be true to simulate recurrent episodes; got false "
                            f"(scenario {scenario.name!r})")
    cohort, a = _cohort_frame(scenario, rng=rng, n=n)
    person, day, kind = a["event_person"], a["event_day"], a["event_overdose"].astype(np.int8)
    kinds = list(EVENT_KINDS)
    if scenario.recurrent.reentries:
        person = np.concatenate([person, a["reentry_person"]])
        day = np.concatenate([day, a["reentry_day"]])
        kind = np.concatenate([kind, np.full(len(a["reentry_day"]), len(kinds), dtype=np.int8)])
        order = np.lexsort((kind, day, person))
        person, day, kind = person[order], day[order], kind[order]
        kinds.append(REENTRY_KIND)
        cohort["events_time"] = a["events_time"]
        cohort["events_ending"] = pd.Categorical.from_codes(a["events_ending"], categories=list(EVENTS_ENDINGS))
    events = pd.DataFrame({
        "participant_id": person.astype(np.int64) + 1,
        "day": day.astype(np.int64),
        "kind": pd.Categorical.from_codes(kind, categories=kinds),
    })
    return cohort, events


def truth_sidecar(scenario: Scenario, *, seed: Any, n: int | None = None,
                  cohort: pd.DataFrame | None = None) -> dict[str, Any]:
    """The ``FILE.truth.json`` document: seed, n, resolved scenario, hazard ratio and estimands.

    With the simulated ``cohort``, the estimands also hold its ``net_survival_given_sites`` (the retention the
    drawn sites imply, see :func:`peerstudy.simulation.truth.net_survival_given_sites`).
    """
    scenario = scenario if n is None else scenario.replace(n=int(n))
    truth = compute_truth(scenario).to_dict()
    if cohort is not None and "net_survival_given_sites" in cohort.attrs.get("truth", {}).get("estimands", {}):
        truth["estimands"]["net_survival_given_sites"] = cohort.attrs["truth"]["estimands"]["net_survival_given_sites"]
    extra = {"recurrent": truth["recurrent"]} if "recurrent" in truth else {}
    return {**extra,
        "seed": seed,
        "n": scenario.n,
        "scenario": scenario.to_dict(),
        "hazard_ratio": scenario.hazard_ratio,
        "log_hazard_ratio": math.log(scenario.hazard_ratio),
        "weibull_scale": truth["weibull_scale"],
        "coefficients": truth["coefficients"],
        "estimands": truth["estimands"],
        **({"coach": truth["coach"]} if "coach" in truth else {}),
        "notes": {
            "net_survival": "P(no dropout by day t), net of other endings, marginal over covariates and site frailty",
            "net_survival_given_sites": "the same given the site frailties this cohort drew, weighted by each "
                                        "arm's participants per site: what its Kaplan-Meier curves estimate; "
                                        "the gap to net_survival is between-site sampling error, not estimator error",
            "log_hazard_ratio": "the log hazard ratio each Cox model estimates: conditional (given site and "
                                "covariates, as simulated), within_site (a model stratified by site of the arm "
                                "alone) and marginal (the arm alone: population-averaged)",
            "cif": "cumulative incidence of each ending with loss to follow-up as independent censoring",
            "rmst": "restricted mean days in treatment (whole days, i.e. the area under a whole-day KM curve)",
            "hazard_ratio": "conditional hazard ratio of dropout (peer vs usual care) given covariates and site frailty",
            **({"coach": "peer-arm clients have coaches: hazard_ratio is that of clients not matched with their coach, "
                         "given covariates, site and coach frailty; matched clients have hazard_ratio * "
                         "match_hazard_ratio (see coach)"} if scenario.coaches.enabled else {}),
        },
    }


# ----- scenarios changed from a preset: say so in the description ------------------------------------------
_NOTE = re.compile(r"(?:^|; )overridden: (.*)$")


def _flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, Mapping):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _value_text(v: Any) -> str:
    return "null" if v is None else str(v).lower() if isinstance(v, bool) else str(v)


def _noted_fields(description: str) -> tuple[str, list[str]]:
    """(description without its override note, the fields the note names)."""
    match = _NOTE.search(description)
    if match is None:
        return description, []
    return description[: match.start()], [item.split("=", 1)[0] for item in match.group(1).split(", ")]


def note_overrides(base: Scenario, scenario: Scenario) -> Scenario:
    """``scenario`` with a description that names the fields in which it differs from ``base``.

    A preset's description states its numbers ("HR 0.80", "800 people"); after overrides those may be
    stale, so ``"; overridden: hazard_ratio=0.7, n=300"`` is appended, each value read from ``scenario``
    itself (fields named by an earlier note are kept and re-read, so the note is never stale either).

    Parameters
    ----------
    base : Scenario
        The scenario the overrides were applied to (e.g. the preset).
    scenario : Scenario
        The scenario actually run.
    """
    head, noted = _noted_fields(base.description)
    old, new = (_flatten({**s.to_dict(), "recurrent": dataclasses.asdict(s.recurrent),
                          "outcomes": dataclasses.asdict(s.outcomes)}) for s in (base, scenario))
    changed = [k for k in new if k not in ("name", "description") and new[k] != old.get(k)]
    fields = list(dict.fromkeys([*noted, *changed]))
    fields = [f for f in fields if f in new]
    if not fields:
        return scenario if scenario.description == base.description else scenario.replace(description=base.description)
    note = "overridden: " + ", ".join(f"{f}={_value_text(new[f])}" for f in fields)
    return scenario.replace(description=f"{head}; {note}" if head else note)


def scenario_label(scenario: Scenario) -> str:
    """The scenario's name and its overridden fields, e.g. ``"outpatient_default with hazard_ratio=0.7"``."""
    match = _NOTE.search(scenario.description)
    return scenario.name if match is None else f"{scenario.name} with {match.group(1)}"


def override(scenario: Scenario, changes: "Mapping[str, Any] | list[str]") -> Scenario:
    """:func:`peerstudy.scenario.apply_overrides`, with the description noting the changed fields (:func:`note_overrides`)."""
    return note_overrides(scenario, apply_overrides(scenario, changes))
