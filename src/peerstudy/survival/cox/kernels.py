"""Compiled inner loops of the Cox engine (numba).

Kept apart from :mod:`peerstudy.survival.cox` so the public module stays readable. Each kernel
works on arrays the engine has already sorted into "slots" (one per stratum and event-time
interval), so every loop is a single pass over the rows or over the distinct event times.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def aggregate(slot, r, X, nslots):  # pragma: no cover - compiled
    """Per-slot sums of ``r``, ``r*x`` and ``r*x*x'`` (lower triangle), shape (nslots, 1+p+p*p)."""
    n, p = X.shape
    out = np.zeros((nslots, 1 + p + p * p))
    for i in range(n):
        b = slot[i]
        ri = r[i]
        out[b, 0] += ri
        for a in range(p):
            xa = ri * X[i, a]
            out[b, 1 + a] += xa
            base = 1 + p + a * p
            for c in range(a + 1):
                out[b, base + c] += xa * X[i, c]
    for b in range(nslots):
        for a in range(p):
            for c in range(a):
                out[b, 1 + p + c * p + a] = out[b, 1 + p + a * p + c]
    return out


@njit(cache=True)
def reverse_cumsum(agg, slot_last):  # pragma: no cover - compiled
    """Strict reverse cumulative sum within strata: ``out[j] = sum(agg[m] for m > j in j's stratum)``.

    ``slot_last[j]`` is True for the last slot of a stratum. Summing from the end keeps small
    late risk sets free of cancellation (as R's backward accumulation does).
    """
    nslots, m = agg.shape
    out = np.zeros_like(agg)
    run = np.zeros(m)
    for j in range(nslots - 1, -1, -1):
        if slot_last[j]:
            run[:] = 0.0
        out[j, :] = run
        run += agg[j, :]
    return out


@njit(cache=True)
def event_terms(S, D, d, dw, p, efron, want_groups):  # pragma: no cover - compiled
    """Log-likelihood, score and information contributions of each distinct event time.

    ``S``: risk-set sums at each event time (rows of ``aggregate`` layout), ``D``: sums over the
    deaths at that time, ``d``: number of deaths, ``dw``: sum of their case weights. With Efron's
    approximation a time with ``d`` deaths is split into ``d`` steps in which the deaths' share of
    the risk set falls by ``1/d`` each, every step carrying weight ``dw/d``.

    Returns ``ll`` (minus the log-denominator part), ``xbar_sum`` (sum over steps of weight*mean),
    ``info`` (p x p), and for residuals per event: ``h0``/``h1`` (hazard and hazard-weighted mean
    for subjects at risk but not dying) and ``h0d``/``h1d`` (the same for the dying subjects),
    ``xbarbar`` (mean of the step means, for Schoenfeld residuals), plus per-event score parts
    ``ug`` and information ``ig`` when ``want_groups``.
    """
    G = S.shape[0]
    ll = 0.0
    xsum = np.zeros(p)
    info = np.zeros((p, p))
    h0 = np.zeros(G)
    h1 = np.zeros((G, p))
    h0d = np.zeros(G)
    h1d = np.zeros((G, p))
    xbb = np.zeros((G, p))
    ng = G if want_groups else 0
    ug = np.zeros((ng, p))
    ig = np.zeros((ng, p, p))
    s1 = np.zeros(p)
    xb = np.zeros(p)
    for k in range(G):
        nd = d[k]
        steps = nd if (efron and nd > 1) else 1
        wt = dw[k] / steps
        for m in range(steps):
            f = m / steps if steps > 1 else 0.0
            s0 = S[k, 0] - f * D[k, 0]
            ll -= wt * np.log(s0)
            for a in range(p):
                s1[a] = S[k, 1 + a] - f * D[k, 1 + a]
                xb[a] = s1[a] / s0
                xsum[a] += wt * xb[a]
                h1[k, a] += wt * xb[a] / s0
                h1d[k, a] += (1.0 - f) * wt * xb[a] / s0
                xbb[k, a] += xb[a] / steps
                if want_groups:
                    ug[k, a] -= wt * xb[a]
            h0[k] += wt / s0
            h0d[k] += (1.0 - f) * wt / s0
            for a in range(p):
                for c in range(a + 1):
                    s2 = S[k, 1 + p + a * p + c] - f * D[k, 1 + p + a * p + c]
                    v = wt * (s2 / s0 - xb[a] * xb[c])
                    info[a, c] += v
                    if want_groups:
                        ig[k, a, c] += v
    for a in range(p):
        for c in range(a):
            info[c, a] = info[a, c]
            for k in range(ng):
                ig[k, c, a] = ig[k, a, c]
    return ll, xsum, info, h0, h1, h0d, h1d, xbb, ug, ig


@njit(cache=True)
def concordance_counts(stop, start, status, rank, w, nrank, has_start, order, sorder):  # pragma: no cover - compiled
    """Weighted concordant / discordant / tied-on-risk pair counts, as R's ``concordancefit``.

    Arrays hold one stratum. A death at time t is compared with everyone at risk at t except
    the others dying at t (ties in time are not comparable); those censored at t count as at
    risk. Pairs are weighted by the product of case weights. Higher risk (rank) dying first is
    concordant (R's ``reverse = TRUE`` for a Cox linear predictor).
    """
    n = stop.shape[0]
    # order: rows by decreasing stop; sorder: by decreasing start (sorted by the caller, numpy is faster)
    tree = np.zeros(nrank + 1)
    byrank = np.zeros(nrank)
    total = 0.0
    conc = 0.0
    disc = 0.0
    tied = 0.0
    i = 0
    j = 0
    while i < n:
        t = stop[order[i]]
        if has_start:
            while j < n and start[sorder[j]] >= t:
                q = sorder[j]
                # only remove rows already added (their stop lies after t)
                if stop[q] > t:
                    rr = rank[q] + 1
                    while rr <= nrank:
                        tree[rr] -= w[q]
                        rr += rr & (-rr)
                    byrank[rank[q]] -= w[q]
                    total -= w[q]
                j += 1
        e = i
        while e < n and stop[order[e]] == t:
            e += 1
        for ii in range(i, e):
            q = order[ii]
            if status[q] == 0 and not (has_start and start[q] >= t):
                rr = rank[q] + 1
                while rr <= nrank:
                    tree[rr] += w[q]
                    rr += rr & (-rr)
                byrank[rank[q]] += w[q]
                total += w[q]
        for ii in range(i, e):
            q = order[ii]
            if status[q] != 0:
                rr = rank[q]
                below = 0.0
                while rr > 0:
                    below += tree[rr]
                    rr -= rr & (-rr)
                same = byrank[rank[q]]
                conc += w[q] * below
                tied += w[q] * same
                disc += w[q] * (total - below - same)
        for ii in range(i, e):
            q = order[ii]
            if status[q] != 0:
                rr = rank[q] + 1
                while rr <= nrank:
                    tree[rr] += w[q]
                    rr += rr & (-rr)
                byrank[rank[q]] += w[q]
                total += w[q]
        i = e
    return conc, disc, tied


@njit(cache=True)
def risk_and_death_sums(slot, gev, status, w, X, beta, nslots, G):  # pragma: no cover - compiled
    """One pass over the rows: linear predictor, per-slot risk sums, per-event death sums.

    Returns ``eta``, ``agg`` (nslots x (1+p+p*p), as ``aggregate``), ``D`` (G x (1+p+p*p)) over the
    deaths, and ``sum(w * eta)`` over the deaths (the first term of the log partial likelihood).
    """
    n, p = X.shape
    m = 1 + p + p * p
    agg = np.zeros((nslots, m))
    D = np.zeros((G, m))
    eta = np.empty(n)
    weta = 0.0
    for i in range(n):
        e = 0.0
        for a in range(p):
            e += X[i, a] * beta[a]
        eta[i] = e
        ri = w[i] * np.exp(e)
        b = slot[i]
        dead = status[i] != 0
        g = gev[i]
        agg[b, 0] += ri
        if dead:
            D[g, 0] += ri
            weta += w[i] * e
        for a in range(p):
            xa = ri * X[i, a]
            agg[b, 1 + a] += xa
            if dead:
                D[g, 1 + a] += xa
            base = 1 + p + a * p
            for c in range(a + 1):
                v = xa * X[i, c]
                agg[b, base + c] += v
                if dead:
                    D[g, base + c] += v
    for out in (agg, D):
        for b in range(out.shape[0]):
            for a in range(p):
                for c in range(a):
                    out[b, 1 + p + c * p + a] = out[b, 1 + p + a * p + c]
    return eta, agg, D, weta
