"""Randomisation (permutation) tests of peer support vs usual care that re-randomise as the design did.

Under the null hypothesis that peer support changes no one's time to dropout, the times and events are
fixed and only the arm labels are random, distributed as the randomisation made them. Re-drawing the
labels as the design did and recomputing the test statistic gives the statistic's exact null
distribution, whatever the site heterogeneity or the correlation within sites (Gail et al. 1996; Good
2005, ch. 3). Two designs are re-randomised:

* ``design="cluster"``: whole sites were randomised, so the arm labels of the *sites* are permuted,
  keeping the number of peer sites (within each site-level stratum, when ``strata`` is given) as
  observed: ``prod_s C(K_s, a_s)`` equally likely allocations.
* ``design="individual"``: participants were randomised within site, so arm is permuted *within each
  site* (and within each ``strata`` level inside a site, when given), keeping each block's number of
  peer participants: ``prod_b C(n_b, a_b)`` allocations. ``cluster=None`` permutes over everyone.

Statistics (two-sided, large ``|S|`` is evidence against the null):

* ``"logrank"``: the log-rank score ``O - E`` of the peer arm (as R's ``survdiff``), which is also the Cox
  partial-likelihood score at ``beta = 0`` with Breslow's handling of ties. With the times fixed it is
  linear in the peer indicators ``g``: ``O - E = sum_i g_i c_i`` with ``c_i = e_i - H(t_i)`` and ``H``
  the pooled Nelson-Aalen cumulative hazard (the null martingale residual), so each allocation costs a
  sum over the randomised units of ``c`` summed within the unit.
* ``"logrank_z"``: ``(O - E) / sqrt(V)`` with the hypergeometric variance ``V`` recomputed for each
  allocation (``survdiff``'s chi-squared is its square). In a cluster design the permutation p-value
  of ``|z|`` is exact even though ``V`` ignores the clustering.
* ``"cox"``: the Cox score at ``beta = 0`` with Efron's handling of ties (``coxph``'s default), also
  linear in ``g``; it equals ``"logrank"`` when no two dropouts share a day.

p-values: with all ``N`` allocations enumerated the p-value is exact, ``#{|S| >= |S_obs|} / N``
(the observed allocation counts). Otherwise ``B`` allocations are drawn independently and uniformly
(with replacement) and ``p = (1 + #{|S_b| >= |S_obs|}) / (1 + B)`` (Phipson & Smyth 2010), which never
understates the p-value; its Monte Carlo standard error is ``sqrt(p (1 - p) / B)``. Statistics within
``1e-9 * max(1, |S_obs|)`` of ``|S_obs|`` count as ties (rounding must not drop the observed allocation
or its mirror image). The allocations are enumerated when there are at most :data:`EXACT_MAX` of them
(or on request, up to :data:`ENUMERATE_MAX`).

Random draws come from a ``numpy.random.Generator``: each Monte Carlo allocation consumes the same fixed
number of uniforms, taken in order, so the result depends only on the seed, not on how the work is
split into chunks. The per-allocation work runs in numba kernels (the compiled fast path of
:mod:`peerstudy.survival.fast`).

References
----------
Gail MH, Mark SD, Carroll RJ, Green SB, Pee D (1996). On design considerations and randomization-based
inference for community intervention trials. *Statistics in Medicine* 15:1069-1092.
Phipson B, Smyth GK (2010). Permutation p-values should never be zero: calculating exact p-values when
permutations are randomly drawn. *Statistical Applications in Genetics and Molecular Biology* 9(1):39.
Good P (2005). *Permutation, Parametric, and Bootstrap Tests of Hypotheses*, 3rd ed. Springer.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from numba import njit

from peerstudy.exceptions import AnalysisError, ParameterError
from peerstudy.survival._display import html_table
from peerstudy.survival._validate import (check_choice, check_number, group_codes, require_columns, require_frame,
                                          show, time_event)

__all__ = ["PermutationResult", "permutation_test", "permutation_allocations", "STATISTICS", "DESIGNS", "EXACT_MAX",
           "ENUMERATE_MAX"]

#: Test statistics: log-rank O - E, standardised log-rank, Efron Cox score at beta = 0.
STATISTICS: tuple[str, ...] = ("logrank", "logrank_z", "cox")
#: Randomisation designs that can be re-randomised.
DESIGNS: tuple[str, ...] = ("individual", "cluster")
#: With ``exact=None``, designs with at most this many allocations are enumerated.
EXACT_MAX = 20_000
#: ``exact=True`` enumerates at most this many allocations.
ENUMERATE_MAX = 10_000_000
#: Monte Carlo permutations allowed.
MAX_PERMUTATIONS = 100_000_000
#: Uniforms (float64) drawn per chunk of Monte Carlo permutations, about 8 MB.
_CHUNK_UNIFORMS = 1 << 20
_KINDS = {"logrank": 0, "logrank_z": 1, "cox": 0}
_LABELS = {"logrank": "log-rank O - E (peer)", "logrank_z": "standardised log-rank (O - E) / sqrt(V) (peer)",
           "cox": "Cox score at beta = 0, Efron ties (peer)"}


# ----- result -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class PermutationResult:
    """A randomisation test of the arm effect on dropout.

    Attributes
    ----------
    statistic : str
        ``"logrank"``, ``"logrank_z"`` or ``"cox"`` (see :mod:`peerstudy.survival.permutation`).
    observed : float
        The statistic for the observed allocation (positive = more dropout in the peer arm than
        expected under the null).
    p_value : float
        Two-sided p-value: exact (``exact``) or the Monte Carlo ``(1 + b) / (1 + B)``.
    mcse : float
        Monte Carlo standard error ``sqrt(p (1 - p) / B)`` of ``p_value`` (0 when exact).
    n_permutations : int
        Allocations evaluated: all ``n_allocations`` when exact, else ``B``.
    exact : bool
        Whether every allocation was enumerated.
    n_allocations : int
        Number of distinct allocations the design could have produced.
    n_as_extreme : int
        Allocations evaluated with ``|S| >= |S_obs|``.
    design : str
        ``"individual"`` or ``"cluster"``.
    arm, cluster, strata : str or None
        The columns used.
    levels : tuple of str
        Arm levels, reference first (the statistic is for the second).
    n, events : int
        Participants and dropouts.
    n_units, n_peer_units : int
        Randomised units (participants or sites) and how many were in the peer arm.
    n_blocks : int
        Blocks within which labels were permuted (sites, site x strata cells, or strata of sites).
    """

    statistic: str
    observed: float
    p_value: float
    mcse: float
    n_permutations: int
    exact: bool
    n_allocations: int
    n_as_extreme: int
    design: str
    arm: str
    cluster: str | None
    strata: str | None
    levels: tuple[str, ...]
    n: int
    events: int
    n_units: int
    n_peer_units: int
    n_blocks: int

    @property
    def method(self) -> str:
        unit = "sites" if self.design == "cluster" else "participants"
        if self.design == "cluster":
            within = f" within strata of {self.strata!r}" if self.strata else ""
        else:
            parts = [repr(c) for c in (self.cluster, self.strata) if c]
            within = f" within {' x '.join(parts)}" if parts else ""
        kind = "exact" if self.exact else "Monte Carlo"
        return f"{kind} randomisation test ({unit} permuted{within}) of the {_LABELS[self.statistic]}"

    def to_dict(self) -> dict[str, Any]:
        """All fields (JSON-ready) and ``method``."""
        d = asdict(self)
        d["levels"] = list(self.levels)
        d["method"] = self.method
        return d

    def _repr_html_(self) -> str:
        rows = [("statistic", _LABELS[self.statistic]), ("observed", f"{self.observed:.4g}"),
                ("p-value (two-sided)", f"{self.p_value:.4g}" + ("" if self.exact else f" (MCSE {self.mcse:.2g})")),
                ("allocations", (f"{self.n_permutations:,} of {self.n_allocations:,} "
                                 f"({'all: exact' if self.exact else 'Monte Carlo'})")),
                ("randomised units", (f"{self.n_units:,} ({self.n_peer_units:,} {self.levels[-1]}) "
                                      f"in {self.n_blocks:,} block(s)")),
                ("participants / dropouts", f"{self.n:,} / {self.events:,}")]
        return html_table(("", ""), rows, caption=self.method)


# ----- compiled kernels -------------------------------------------------------------------------
@njit(cache=True)
def _statistic(gu, w, kind, prof_ptr, prof_bin, prof_cnt, ev_w, ev_n, hist):
    """The statistic for peer indicators ``gu`` of the units (summed in unit order, so it is reproducible)."""
    n_units = w.shape[0]
    s = 0.0
    for u in range(n_units):
        s += w[u] * gu[u]  # branch-free: the peer indicators are random
    if kind == 0:
        return s
    m = ev_n.shape[0]
    hist[:] = 0.0
    for u in range(n_units):
        x = float(gu[u])
        for q in range(prof_ptr[u], prof_ptr[u + 1]):
            hist[prof_bin[q]] += prof_cnt[q] * x
    acc = 0.0
    v = 0.0
    for j in range(m - 1, -1, -1):
        acc += hist[j + 1]   # peer participants at risk at the j-th event time
        p = acc / ev_n[j]
        v += ev_w[j] * p * (1.0 - p)
    if v > 0.0:
        return s / math.sqrt(v)
    return 0.0  # no event time with both arms at risk: O - E is 0 too


@njit(cache=True)
def _observed_kernel(gu, w, kind, prof_ptr, prof_bin, prof_cnt, ev_w, ev_n):
    hist = np.zeros(ev_n.shape[0] + 1)
    return _statistic(gu, w, kind, prof_ptr, prof_bin, prof_cnt, ev_w, ev_n, hist)


@njit(cache=True)
def _draw(u, block_ptr, block_units, take, flip, buf, gu):
    """A random allocation from one row of uniforms ``u``: a partial Fisher-Yates shuffle within each block.

    Block ``b`` draws ``take[b]`` of its units (the peer units, or the usual-care ones when ``flip[b]``)
    starting from the same arrangement every time; each draw uses one uniform, in block order, so the
    allocation depends on ``u`` only.
    """
    buf[:] = block_units
    col = 0
    for b in range(take.shape[0]):
        lo = block_ptr[b]
        n = block_ptr[b + 1] - lo
        base = 1 if flip[b] else 0
        for q in range(lo, lo + n):
            gu[buf[q]] = base
        for i in range(take[b]):
            j = i + int(u[col] * (n - i))
            col += 1
            j = min(j, n - 1)
            tmp = buf[lo + i]
            buf[lo + i] = buf[lo + j]
            buf[lo + j] = tmp
            gu[buf[lo + i]] = 1 - base


@njit(cache=True)
def _binom(n, k):
    if k < 0 or k > n:
        return 0
    k = min(k, n - k)
    c = 1
    for i in range(1, k + 1):
        c = c * (n - k + i) // i
    return c


@njit(cache=True)
def _unrank(idx, block_ptr, block_units, take, flip, radix, gu):
    """Allocation number ``idx``: mixed radix over the blocks, each block's combination unranked in
    lexicographic order (so any range of allocations can be computed on its own)."""
    for b in range(take.shape[0]):
        lo = block_ptr[b]
        n = block_ptr[b + 1] - lo
        k = take[b]
        q = idx % radix[b]
        idx //= radix[b]
        base = 1 if flip[b] else 0
        for p in range(lo, lo + n):
            gu[block_units[p]] = base
        x = 0
        for i in range(k):
            while True:
                c = _binom(n - x - 1, k - i - 1)
                if q < c:
                    break
                q -= c
                x += 1
            gu[block_units[lo + x]] = 1 - base
            x += 1


@njit(cache=True)
def _monte_carlo_kernel(u, block_ptr, block_units, take, flip, w, kind, prof_ptr, prof_bin, prof_cnt,
                        ev_w, ev_n, out):
    """The statistic for the allocation drawn from each row of ``u``."""
    gu = np.zeros(w.shape[0], np.uint8)
    buf = np.empty(block_units.shape[0], np.int64)
    hist = np.zeros(ev_n.shape[0] + 1)
    for r in range(u.shape[0]):
        _draw(u[r], block_ptr, block_units, take, flip, buf, gu)
        out[r] = _statistic(gu, w, kind, prof_ptr, prof_bin, prof_cnt, ev_w, ev_n, hist)


@njit(cache=True)
def _enumerate_kernel(start, block_ptr, block_units, take, flip, radix, w, kind, prof_ptr, prof_bin, prof_cnt,
                      ev_w, ev_n, out):
    """The statistic for allocations ``start .. start + len(out) - 1``."""
    gu = np.zeros(w.shape[0], np.uint8)
    hist = np.zeros(ev_n.shape[0] + 1)
    for r in range(out.shape[0]):
        _unrank(start + r, block_ptr, block_units, take, flip, radix, gu)
        out[r] = _statistic(gu, w, kind, prof_ptr, prof_bin, prof_cnt, ev_w, ev_n, hist)


@njit(cache=True)
def _allocation_kernel(enumerate_all, start, u, block_ptr, block_units, take, flip, radix, out):
    """The allocations themselves (unit peer indicators, one row each), drawn as the statistic kernels draw them."""
    buf = np.empty(block_units.shape[0], np.int64)
    gu = np.zeros(out.shape[1], np.uint8)
    for r in range(out.shape[0]):
        if enumerate_all:
            _unrank(start + r, block_ptr, block_units, take, flip, radix, gu)
        else:
            _draw(u[r], block_ptr, block_units, take, flip, buf, gu)
        out[r, :] = gu


# ----- set-up (numpy, once per test) ------------------------------------------------------------
def _coefficients(t: np.ndarray, e: np.ndarray, statistic: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Per-participant coefficients ``c`` (statistic = sum of ``c`` over peer participants) and the
    event-time quantities of the hypergeometric variance."""
    times, inv = np.unique(t, return_inverse=True)
    m = len(times)
    d = np.bincount(inv, weights=e, minlength=m)
    n_risk = np.cumsum(np.bincount(inv, minlength=m)[::-1])[::-1].astype(np.float64)
    ef = e.astype(np.float64)
    if statistic in ("logrank", "logrank_z"):
        c = ef - np.cumsum(d / n_risk)[inv]
    else:
        # Efron at beta = 0: the l-th of d tied dropouts sees a risk set of n - l, of which n1 - (l/d) d1 peer
        ev = np.flatnonzero(d > 0)
        reps = d[ev].astype(np.int64)
        jj = np.repeat(ev, reps)
        ll = np.arange(len(jj)) - np.repeat(np.cumsum(reps) - reps, reps)
        a = np.bincount(jj, weights=1.0 / (n_risk[jj] - ll), minlength=m)
        bb = np.bincount(jj, weights=(ll / d[jj]) / (n_risk[jj] - ll), minlength=m)
        c = ef * (1.0 + bb[inv]) - np.cumsum(a)[inv]
    ev = d > 0
    dn, nn = d[ev], n_risk[ev]
    with np.errstate(invalid="ignore", divide="ignore"):
        ev_w = np.where(nn > 1, dn * (nn - dn) / (nn - 1.0), 0.0)
    # k(i) = number of event times <= t_i: participant i is at risk at event times 0 .. k(i) - 1
    k = np.searchsorted(times[ev], t, side="right")
    return c, {"ev_w": np.ascontiguousarray(ev_w), "ev_n": np.ascontiguousarray(nn), "k": k}


def _profiles(unit: np.ndarray, k: np.ndarray, n_units: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per unit, how many of its participants leave the risk sets after each event time (CSR)."""
    keep = k > 0
    m1 = int(k.max()) + 1 if len(k) else 1
    key, cnt = np.unique(unit[keep].astype(np.int64) * m1 + k[keep], return_counts=True)
    units = key // m1
    ptr = np.searchsorted(units, np.arange(n_units + 1)).astype(np.int64)
    return ptr, (key % m1).astype(np.int64), cnt.astype(np.float64)


def _check_options(design: Any, statistic: Any, n_permutations: Any, exact: Any, cluster: Any,
                   chunk_size: Any) -> None:
    check_choice(design, DESIGNS, name="design")
    check_choice(statistic, STATISTICS, name="statistic")
    if (isinstance(n_permutations, (bool, np.bool_)) or not isinstance(n_permutations, (int, np.integer))
            or not 1 <= n_permutations <= MAX_PERMUTATIONS):
        raise ParameterError(f"n_permutations must be a whole number from 1 to {MAX_PERMUTATIONS:,}; "
                             f"got {show(n_permutations)}")
    if exact is not None and not isinstance(exact, (bool, np.bool_)):
        raise ParameterError(f"exact must be None (enumerate when there are at most {EXACT_MAX:,} allocations), "
                             f"True or False; got {show(exact)}")
    if design == "cluster" and cluster is None:
        raise ParameterError("cluster must name the column of the randomised clusters (e.g. 'site') when "
                             "design='cluster'; got None")
    if chunk_size is not None:
        check_number(chunk_size, name="chunk_size", minimum=1, whole=True)


def _codes(df: pd.DataFrame, column: str, role: str) -> tuple[np.ndarray, tuple[str, ...]]:
    return group_codes(df, column, role=role, min_levels=1)


def _cluster_units(df: pd.DataFrame, g: np.ndarray, arm: str, cluster: str, strata: str | None,
                   levels: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Site code of each participant, and per site its arm (0/1) and block (stratum) code."""
    site, site_labels = _codes(df, cluster, "cluster")
    k = len(site_labels)
    n_peer = np.bincount(site, weights=g, minlength=k)
    size = np.bincount(site, minlength=k)
    mixed = np.flatnonzero((n_peer > 0) & (n_peer < size))
    if len(mixed):
        j = mixed[0]
        raise AnalysisError(
            f"column {arm!r} (arm) is not constant within cluster {site_labels[j]!r} of column {cluster!r} "
            f"({int(n_peer[j])} {levels[1]}, {int(size[j] - n_peer[j])} {levels[0]}); design='cluster' "
            f"re-randomises whole clusters ({len(mixed)} cluster(s) are mixed; for participants randomised "
            f"within sites use design='individual')")
    site_arm = (n_peer > 0).astype(np.int64)
    if strata is None:
        block = np.zeros(k, dtype=np.int64)
    else:
        s, s_labels = _codes(df, strata, "strata")
        lo = np.full(k, np.iinfo(np.int64).max)
        hi = np.full(k, -1)
        np.minimum.at(lo, site, s)
        np.maximum.at(hi, site, s)
        bad = np.flatnonzero(lo != hi)
        if len(bad):
            j = bad[0]
            raise AnalysisError(
                f"column {strata!r} (strata) is not constant within cluster {site_labels[j]!r} of column "
                f"{cluster!r} (values {s_labels[lo[j]]!r} and {s_labels[hi[j]]!r}); with design='cluster' the "
                f"strata must be site-level")
        block = lo
    return site, site_arm, block


def _blocks(block: np.ndarray, unit_arm: np.ndarray) -> dict[str, Any]:
    """Units grouped by block, with each block's draw count and the number of allocations."""
    order = np.argsort(block, kind="stable")
    sizes = np.bincount(block)
    nonempty = sizes > 0
    sizes = sizes[nonempty]
    peer = np.bincount(block, weights=unit_arm)[nonempty].astype(np.int64)
    take = np.minimum(peer, sizes - peer).astype(np.int64)
    n_alloc = 1
    for n_b, a_b in zip(sizes.tolist(), peer.tolist()):
        n_alloc *= math.comb(n_b, a_b)
    return {"ptr": np.concatenate(([0], np.cumsum(sizes))).astype(np.int64), "units": order.astype(np.int64),
            "take": take, "flip": peer > sizes - peer, "sizes": sizes, "n_allocations": n_alloc}


def _prepare(df: pd.DataFrame, design: str, arm: str, cluster: str | None, strata: str | None,
             exact: bool | None, columns: list[str | None]) -> dict[str, Any]:
    """Randomised units, their blocks and arms, the number of allocations and whether to enumerate them."""
    require_frame(df)
    require_columns(df, [arm, cluster, strata, *columns])
    g, levels = group_codes(df, arm, role="arm")
    if len(levels) != 2:
        raise AnalysisError(f"column {arm!r} (arm) must have exactly two levels; it has {len(levels)}: "
                            f"{', '.join(map(repr, levels))}")
    if design == "cluster":
        unit, unit_arm, block = _cluster_units(df, g, arm, cluster, strata, levels)
    else:
        unit = np.arange(len(g))
        unit_arm = g.astype(np.int64)
        block = np.zeros(len(g), dtype=np.int64)
        for col, role in ((cluster, "cluster"), (strata, "strata")):  # site x stratum cells
            if col is not None:
                key = _codes(df, col, role)[0]
                block = np.unique(block * (int(key.max()) + 1) + key, return_inverse=True)[1].astype(np.int64)
    blocks = _blocks(block, unit_arm)
    n_alloc = blocks["n_allocations"]
    if n_alloc == 1:
        if design == "cluster":
            where = f"every cluster of {cluster!r}" + (f" within strata of {strata!r}" if strata else "")
        else:
            where = "every block" + (f" of {cluster!r}" if cluster else "") + (f" x {strata!r}" if strata else "")
        hint = " (were whole sites randomised? then use design='cluster')" if design == "individual" and cluster else ""
        raise AnalysisError(f"the design allows only one allocation: {where} is all {levels[1]} or all "
                            f"{levels[0]}{hint}; a randomisation test needs at least two")
    use_exact = n_alloc <= EXACT_MAX if exact is None else bool(exact)
    if use_exact and n_alloc > ENUMERATE_MAX:
        raise ParameterError(f"exact=True would enumerate {n_alloc:,} allocations (more than {ENUMERATE_MAX:,}); "
                             f"use exact=False or None for a Monte Carlo p-value")
    radix = None
    if use_exact:
        radix = np.array([math.comb(int(n_b), int(k)) for n_b, k in zip(blocks["sizes"], blocks["take"])], np.int64)
    return {"levels": levels, "unit": unit, "unit_arm": unit_arm, "n_units": len(unit_arm), "blocks": blocks,
            "core": (blocks["ptr"], blocks["units"], blocks["take"], blocks["flip"]), "radix": radix,
            "n_allocations": int(n_alloc), "exact": use_exact, "width": int(blocks["take"].sum())}


def _chunks(prep: dict[str, Any], n_permutations: int, rng: Any, chunk_size: int | None):
    """``(start, rows, uniforms)`` per chunk: all allocations when exact (``uniforms`` None), else ``B``
    Monte Carlo allocations, each from the next ``width`` uniforms of the generator (chunk-independent)."""
    width = prep["width"]
    if prep["exact"]:
        total = prep["n_allocations"]
        step = int(chunk_size) if chunk_size else 1 << 16
    else:
        total = int(n_permutations)
        step = int(chunk_size) if chunk_size else max(1, _CHUNK_UNIFORMS // max(width, 1))
        gen = np.random.default_rng(rng)
    for start in range(0, total, step):
        rows = min(step, total - start)
        yield start, rows, None if prep["exact"] else gen.random((rows, width))


def permutation_allocations(df: pd.DataFrame, *, design: str = "individual", arm: str = "arm",
                            cluster: str | None = "site", strata: str | None = None, n_permutations: int = 10_000,
                            exact: bool | None = None, rng: Any = None, chunk_size: int | None = None) -> np.ndarray:
    """The allocations :func:`permutation_test` evaluates, as peer indicators per participant.

    Takes the design arguments of :func:`permutation_test` and returns, with the same ``rng``, exactly the
    allocations it draws (or enumerates), e.g. to check the re-randomisation or to compute another
    statistic over them.

    Returns
    -------
    numpy.ndarray of bool, shape (allocations, len(df))
        Row ``b``: True where participant (row of ``df``) is in the second arm level (peer) under
        allocation ``b``. All ``n_allocations`` rows when exact, else ``n_permutations``.

    Raises
    ------
    SchemaError, AnalysisError, ParameterError
        As :func:`permutation_test`; also ``ParameterError`` when the array would exceed 10^9 cells.
    """
    _check_options(design, "logrank", n_permutations, exact, cluster, chunk_size)
    prep = _prepare(df, design, arm, cluster, strata, exact, [])
    rows = prep["n_allocations"] if prep["exact"] else int(n_permutations)
    if rows * len(df) > 10 ** 9:
        raise ParameterError(f"{rows:,} allocations of {len(df):,} participants would exceed 10^9 cells; "
                             f"lower n_permutations")
    out = np.empty((rows, prep["n_units"]), dtype=np.uint8)
    radix = prep["radix"] if prep["exact"] else np.zeros(0, np.int64)
    for start, n_rows, u in _chunks(prep, n_permutations, rng, chunk_size):
        _allocation_kernel(prep["exact"], start, np.zeros((0, 0)) if u is None else u, *prep["core"], radix,
                           out[start:start + n_rows])
    return out[:, prep["unit"]].astype(bool)


# ----- the test ---------------------------------------------------------------------------------
def permutation_test(df: pd.DataFrame, *, design: str = "individual", arm: str = "arm", cluster: str | None = "site",
                     strata: str | None = None, statistic: str = "logrank", n_permutations: int = 10_000,
                     exact: bool | None = None, time: str = "time", event: str = "event", rng: Any = None,
                     chunk_size: int | None = None) -> PermutationResult:
    """Randomisation test of peer support vs usual care that re-randomises as the design did.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per participant.
    design : {"individual", "cluster"}, default "individual"
        ``"individual"``: participants were randomised within sites; arm is permuted within each
        ``cluster`` (and ``strata``) block, keeping each block's number of peer participants.
        ``"cluster"``: whole clusters were randomised; the clusters' arm labels are permuted (within
        ``strata``), keeping the number of peer clusters.
    arm : str, default "arm"
        Arm column with two levels (``usual_care``/``peer``; otherwise the second sorted level is the
        one the statistic is for).
    cluster : str or None, default "site"
        Cluster (site) column. With ``design="individual"``, ``None`` permutes over all participants.
    strata : str, optional
        Stratifying column: site-level for ``design="cluster"`` (stratified cluster randomisation);
        for ``design="individual"``, labels are permuted within each site x stratum cell.
    statistic : {"logrank", "logrank_z", "cox"}, default "logrank"
        Log-rank ``O - E`` of the peer arm (the Breslow Cox score at beta = 0), its standardised form
        ``(O - E) / sqrt(V)`` with ``V`` recomputed per allocation, or the Efron Cox score at beta = 0.
    n_permutations : int, default 10000
        Monte Carlo allocations ``B`` when the allocations are not enumerated.
    exact : bool, optional
        ``None``: enumerate every allocation when there are at most ``EXACT_MAX`` (20,000), else Monte
        Carlo. ``True``: enumerate (at most ``ENUMERATE_MAX``). ``False``: Monte Carlo.
    time, event : str
        Days in treatment (> 0) and dropout indicator (1 = dropout, 0 = censored).
    rng : int, numpy.random.Generator, SeedSequence or None
        Source of the Monte Carlo allocations (normalised with ``np.random.default_rng``).
    chunk_size : int, optional
        Allocations per compiled call (memory only: the result does not depend on it).

    Returns
    -------
    PermutationResult
        ``observed`` statistic, two-sided ``p_value`` (exact, or ``(1 + b) / (1 + B)``), its ``mcse``
        (``sqrt(p (1 - p) / B)``, 0 when exact), ``n_permutations``, ``exact``, ``n_allocations``.

    Raises
    ------
    SchemaError
        A named column is missing.
    AnalysisError
        Bad times or events; no dropouts; an arm column without exactly two levels; with
        ``design="cluster"``, arm (or ``strata``) not constant within a cluster; a design that allows
        only one allocation.
    ParameterError
        An unknown ``design`` or ``statistic``; ``n_permutations``, ``exact`` or ``chunk_size`` out of
        range; ``cluster=None`` with ``design="cluster"``; ``exact=True`` with more than
        ``ENUMERATE_MAX`` allocations.

    Notes
    -----
    The null hypothesis is that each participant's time to dropout would be the same in either arm;
    the test is then exact for any within-site correlation, because the allocations are re-drawn
    exactly as the design drew them (Gail et al. 1996). Monte Carlo p-values follow Phipson & Smyth
    (2010): the observed allocation counts as one of the ``B + 1``, so the test has level at most
    alpha. Only sites with participants in ``df`` are re-randomised.

    References
    ----------
    Gail MH, Mark SD, Carroll RJ, Green SB, Pee D (1996). On design considerations and
    randomization-based inference for community intervention trials. Stat Med 15:1069-1092.
    Phipson B, Smyth GK (2010). Permutation p-values should never be zero. Stat Appl Genet Mol Biol 9:39.

    Examples
    --------
    >>> import pandas as pd
    >>> from peerstudy.survival.permutation import permutation_test
    >>> df = pd.DataFrame({
    ...     "site": ["A"] * 3 + ["B"] * 3 + ["C"] * 3 + ["D"] * 3,
    ...     "arm": ["peer"] * 3 + ["usual_care"] * 3 + ["peer"] * 3 + ["usual_care"] * 3,
    ...     "time": [30, 90, 180, 5, 12, 40, 60, 180, 180, 8, 20, 33],
    ...     "event": [1, 1, 0, 1, 1, 1, 1, 0, 0, 1, 1, 1]})
    >>> res = permutation_test(df, design="cluster", cluster="site")
    >>> res.n_allocations, res.exact
    (6, True)
    >>> print(f"O - E = {res.observed:.3f}, exact p = {res.p_value:.3f}")
    O - E = -3.610, exact p = 0.333
    """
    _check_options(design, statistic, n_permutations, exact, cluster, chunk_size)
    prep = _prepare(df, design, arm, cluster, strata, exact, [time, event])
    t, e = time_event(df, time, event)
    if e.sum() == 0:
        raise AnalysisError(f"no events in column {event!r}: the log-rank statistic needs at least one dropout")
    c, ev = _coefficients(t, e, statistic)
    unit, n_units = prep["unit"], prep["n_units"]
    kind = _KINDS[statistic]
    w = np.ascontiguousarray(np.bincount(unit, weights=c, minlength=n_units), dtype=np.float64)
    if kind == 1:
        prof = _profiles(unit, ev["k"], n_units)
    else:
        prof = (np.zeros(n_units + 1, np.int64), np.zeros(0, np.int64), np.zeros(0))
    stat_args = (w, kind, *prof, ev["ev_w"], ev["ev_n"])
    observed = float(_observed_kernel(prep["unit_arm"].astype(np.uint8), *stat_args))
    use_exact = prep["exact"]
    total = prep["n_allocations"] if use_exact else int(n_permutations)
    stats = np.empty(total)
    for start, rows, u in _chunks(prep, n_permutations, rng, chunk_size):
        if use_exact:
            _enumerate_kernel(start, *prep["core"], prep["radix"], *stat_args, stats[start:start + rows])
        else:
            _monte_carlo_kernel(u, *prep["core"], *stat_args, stats[start:start + rows])
    tol = 1e-9 * max(1.0, abs(observed))
    extreme = int(np.count_nonzero(np.abs(stats) >= abs(observed) - tol))
    if use_exact:
        p = extreme / total
        mcse = 0.0
    else:
        p = (1 + extreme) / (1 + total)
        mcse = math.sqrt(p * (1.0 - p) / total)
    return PermutationResult(statistic=statistic, observed=observed, p_value=float(p), mcse=float(mcse),
                             n_permutations=total, exact=bool(use_exact), n_allocations=prep["n_allocations"],
                             n_as_extreme=extreme, design=design, arm=arm, cluster=cluster, strata=strata,
                             levels=prep["levels"], n=len(t), events=int(e.sum()), n_units=int(n_units),
                             n_peer_units=int(prep["unit_arm"].sum()), n_blocks=len(prep["blocks"]["take"]))
