"""Replicate cohorts for simulation studies: many cohorts of one scenario as 2-D arrays.

Replicate ``i`` draws from :func:`replicate_seed` ``(seed, i)``, the ``i``-th child of
``SeedSequence(seed).spawn(reps)``, whatever the chunking, number of workers or backend. The cohorts are
made by :func:`peerstudy.simulation.cohort.simulate_stack`, the code behind
:func:`~peerstudy.simulation.cohort.simulate_arrays`, so replicate ``i`` is, draw for draw, the cohort
``simulate_arrays(scenario, rng=np.random.default_rng(replicate_seed(seed, i)))``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from peerstudy.exceptions import ParameterError
from peerstudy.scenario import Scenario
from peerstudy.simulation.cohort import DROPOUT, simulate_stack
from peerstudy.simulation.events import EVENTS_ENDINGS
from peerstudy.simulation.hazards import COVARIATE_NAMES

__all__ = ["replicate_seed", "simulate_replicates"]


def replicate_seed(seed: int, rep: int) -> np.random.SeedSequence:
    """The seed sequence of replicate ``rep``: child ``rep`` of ``SeedSequence(seed).spawn(...)``."""
    return np.random.SeedSequence(seed, spawn_key=(rep,))


def simulate_replicates(scenario: Scenario, reps: Sequence[int], *, seed: int,
                        covariates: Sequence[str] = ()) -> dict[str, np.ndarray]:
    """Simulate replicates ``reps`` of ``scenario`` as 2-D arrays (replicate x participant).

    Every scenario feature (cluster or observational allocation, a coaching cap, contact-dependent
    hazards) goes through the same code as :func:`peerstudy.simulation.cohort.simulate_arrays`.

    Parameters
    ----------
    scenario : Scenario
    reps : sequence of int
        Replicate numbers; replicate ``i`` uses :func:`replicate_seed` ``(seed, i)``.
    seed : int
        Study seed.
    covariates : sequence of str
        Covariates to return (those affecting dropout or assignment are always drawn and returned).

    Returns
    -------
    dict
        ``time`` (whole days, float64), ``event`` (int64, 1 = dropout), ``peer`` (int64 0/1), ``site``
        (int64 codes), and each covariate drawn (float64); with ``coaches.enabled`` also ``coach`` (int64 codes,
        -1 = no coach, as in usual care) and ``coach_match`` (int8 1/0, -1 = no coach).
        (int64 codes), and each covariate drawn (float64); with ``recurrent.enabled`` also ``episode_person``
        and ``episode_day``, lists (one entry per replicate) of the episodes' person index and day (relapses
        and overdoses); with re-entries also ``episode_end`` (days) and ``episode_died`` (bool), the end of
        the observation of episodes and whether death ended it, shaped as ``time``.
    """
    unknown = [c for c in covariates if c not in COVARIATE_NAMES]
    if unknown:
        raise ParameterError(f"covariates must be among {', '.join(COVARIATE_NAMES)}; got {unknown!r}")
    rngs = [np.random.default_rng(replicate_seed(seed, int(rep))) for rep in reps]
    stack = simulate_stack(scenario, rngs, covariates=tuple(covariates))
    out = {name: stack[name].astype(np.float64) for name in COVARIATE_NAMES if name in stack}
    out.update(time=stack["time"], event=(stack["outcome"] == DROPOUT).astype(np.int64),
               peer=stack["peer"].astype(np.int64), site=stack["site"])
    if "coach" in stack:
        out.update(coach=stack["coach"], coach_match=stack["coach_match"])
    if "event_person" in stack:  # recurrent episodes: per replicate, (person index, day) of each
        out["episode_person"], out["episode_day"] = stack["event_person"], stack["event_day"]
    if "events_time" in stack:  # with re-entries episodes are observed past a dropout: their own follow-up
        out["episode_end"] = np.stack(stack["events_time"])
        out["episode_died"] = np.stack(stack["events_ending"]) == EVENTS_ENDINGS.index("died")
    return out
