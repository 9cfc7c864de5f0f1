"""Batched replicate cohorts for simulation studies: many cohorts of one scenario as 2-D arrays.

Replicate ``i`` draws from :func:`replicate_seed` ``(seed, i)``, the ``i``-th child of
``SeedSequence(seed).spawn(reps)``, whatever the chunking, number of workers or backend.
"""

from __future__ import annotations
import math
from typing import Sequence
import numpy as np
from numba import njit
from peerstudy.scenario import Scenario

__all__ = ["replicate_seed", "simulate_replicates"]


def replicate_seed(seed: int, rep: int) -> np.random.SeedSequence:
    """The seed sequence of replicate ``rep``: child ``rep`` of ``SeedSequence(seed).spawn(...)``."""
    return np.random.SeedSequence(seed, spawn_key=(rep,))


def simulate_replicates(scenario: Scenario, reps: Sequence[int], *, seed: int,
                        covariates: Sequence[str] = ()) -> dict[str, np.ndarray]:
    """Simulate replicates ``reps`` of ``scenario`` as 2-D arrays (replicate x participant).

    The model is that of :func:`peerstudy.simulate.simulate_arrays` (same distributions: site, gamma
    frailty, allocation, covariates, exact inversion of the dropout hazard, competing endings, whole
    days). Each replicate draws one block of uniforms (and its site frailties) from its own stream, and a
    compiled kernel turns a chunk of them into cohorts: covariates by inverting their discrete
    distributions (a rounded, clipped normal is a discrete distribution on whole numbers), dropout by
    inverting the arm's cumulative hazard. It is equal in distribution to ``simulate_arrays``, not draw
    for draw.

    Parameters
    ----------
    scenario : Scenario
    reps : sequence of int
        Replicate numbers; replicate ``i`` uses :func:`replicate_seed` ``(seed, i)``.
    seed : int
        Study seed.
    covariates : sequence of str
        Covariates to return (those affecting dropout are always drawn).

    Returns
    -------
    dict
        ``time`` (days, float), ``event`` (1 = dropout), ``peer`` (0/1), ``site`` (codes), and each covariate drawn.
    """
    if scenario.allocation == "observational" or (scenario.contacts.enabled
                                                   and scenario.contacts.hazard_ratio_recent != 1.0):
        # the batched kernel covers randomised designs; confounded assignment and contact-dependent
        # hazards come from the simulator itself, one replicate at a time (same streams, slower)
        return _simulate_replicates_general(scenario, reps, seed=seed, covariates=covariates)
    from peerstudy.simulation.truth import _covariate_pmf, covariate_coefficients, cumulative_baseline, weibull_scale

    n, n_sites = scenario.n, scenario.n_sites
    coefs = covariate_coefficients(scenario)
    drawn = [c for c in scenario.covariates.__dataclass_fields__ if coefs[c][0] != 0.0 or c in covariates]
    width = 1
    tables = []
    for name in drawn:
        support, prob, _ = _covariate_pmf(getattr(scenario.covariates, name))
        keep = prob > 0
        tables.append((support[keep], np.cumsum(prob[keep])))
        width = max(width, int(keep.sum()))
    values = np.zeros((len(drawn), width))
    cdfs = np.ones((len(drawn), width))
    lengths = np.zeros(len(drawn), dtype=np.int64)
    for j, (v, c) in enumerate(tables):
        values[j, : len(v)], cdfs[j, : len(c)], lengths[j] = v, c, len(v)
        cdfs[j, len(c) - 1] = 1.0
    betas = np.array([coefs[c][0] for c in drawn])
    centres = np.array([coefs[c][1] for c in drawn])
    rows = 2 + len(drawn) + 4
    m = len(reps)
    u = np.empty((m, rows, n))
    frailty = np.ones((m, n_sites))
    site_u = np.zeros((m, n_sites))
    theta = scenario.frailty_variance
    cluster = scenario.allocation == "cluster"
    for i, rep in enumerate(reps):
        rng = np.random.default_rng(replicate_seed(seed, int(rep)))
        rng.random(out=u[i])
        if cluster:
            rng.random(out=site_u[i])
        if theta > 0:
            frailty[i] = rng.standard_gamma(1.0 / theta, n_sites) * theta
    scale, shape = weibull_scale(scenario), scenario.weibull_shape
    stop = -1.0 if scenario.effect_stops_day is None else float(scenario.effect_stops_day)
    h0c = 0.0 if stop < 0 else float(cumulative_baseline(stop, scale, shape))
    k = round((n_sites if cluster else n) * scenario.peer_fraction)
    hazards = np.array([scenario.loss_hazard, scenario.incarceration_hazard, scenario.death_hazard])
    time = np.empty((m, n))
    event = np.empty((m, n), dtype=np.int64)
    peer = np.empty((m, n), dtype=np.int64)
    site = np.empty((m, n), dtype=np.int64)
    X = np.empty((m, len(drawn), n))
    _simulate_kernel(u, frailty, site_u, cluster, k, values, cdfs, lengths, betas, centres, scale, shape,
                     scenario.hazard_ratio, stop, h0c, float(scenario.follow_up_days), hazards,
                     time, event, peer, site, X)
    out = {name: X[:, j, :] for j, name in enumerate(drawn)}
    out.update(time=time, event=event, peer=peer, site=site)
    return out


def _simulate_replicates_general(scenario: Scenario, reps: Sequence[int], *, seed: int,
                                 covariates: Sequence[str] = ()) -> dict[str, np.ndarray]:
    """:func:`simulate_replicates` through :func:`peerstudy.simulate.simulate_arrays` (every scenario feature)."""
    from peerstudy.simulation.cohort import simulate_arrays
    from peerstudy.simulation.truth import covariate_coefficients

    coefs = covariate_coefficients(scenario)
    drawn = [c for c in scenario.covariates.__dataclass_fields__ if coefs[c][0] != 0.0 or c in covariates]
    runs = [simulate_arrays(scenario, rng=np.random.default_rng(replicate_seed(seed, int(rep)))) for rep in reps]
    out = {name: np.stack([r[name] for r in runs]).astype(float) for name in drawn}
    out.update(time=np.stack([r["time"] for r in runs]).astype(float),
               event=np.stack([r["event"] for r in runs]).astype(np.int64),
               peer=np.stack([r["peer"] for r in runs]).astype(np.int64),
               site=np.stack([r["site"] for r in runs]).astype(np.int64))
    return out


@njit(cache=True)
def _invert_dropout_one(e, kfac, peer, scale, shape, hr, stop, h0c):
    """Dropout time solving kfac * H_arm(T) = e (Weibull baseline, peer HR up to ``stop`` days)."""
    target = e / kfac
    if peer:
        if stop >= 0.0 and target > hr * h0c:
            h0 = target - hr * h0c + h0c
        else:
            h0 = target / hr
    else:
        h0 = target
    return scale * h0 ** (1.0 / shape)


@njit(cache=True)
def _simulate_kernel(u, frailty, site_u, cluster, k, values, cdfs, lengths, betas, centres, scale, shape, hr,
                     stop, h0c, follow, hazards, time, event, peer, site, X):
    m, rows, n = u.shape
    n_sites = frailty.shape[1]
    ncov = values.shape[0]
    base = 2 + ncov
    for r in range(m):
        if cluster:
            rank = np.argsort(site_u[r])
            peer_site = np.zeros(n_sites, np.int64)
            for q in range(k):
                peer_site[rank[q]] = 1
        else:
            rank = np.argsort(u[r, 0])
            for q in range(n):
                peer[r, q] = 0
            for q in range(k):
                peer[r, rank[q]] = 1
        for q in range(n):
            s = min(int(u[r, 1, q] * n_sites), n_sites - 1)
            site[r, q] = s
            if cluster:
                peer[r, q] = peer_site[s]
            lp = 0.0
            for j in range(ncov):
                uj = u[r, 2 + j, q]
                lo = 0  # first index with cdf > u (binary search; the last cdf is 1)
                hi = lengths[j] - 1
                while lo < hi:
                    mid = (lo + hi) // 2
                    if cdfs[j, mid] <= uj:
                        lo = mid + 1
                    else:
                        hi = mid
                x = values[j, lo]
                X[r, j, q] = x
                lp += betas[j] * (x - centres[j])
            kfac = frailty[r, s] * math.exp(lp)
            first = follow
            ev = 0
            t = _invert_dropout_one(-math.log1p(-u[r, base, q]), kfac, peer[r, q] == 1, scale, shape, hr, stop, h0c)
            if t < first:
                first = t
                ev = 1
            for j in range(3):
                if hazards[j] > 0.0:
                    t = -math.log1p(-u[r, base + 1 + j, q]) / hazards[j]
                    if t < first:
                        first = t
                        ev = 0
            time[r, q] = max(math.ceil(first), 1.0)
            event[r, q] = ev
