"""Compiled inner loop of the standardisation estimators (numba): the average predicted survival over people."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, fastmath=True, nogil=True)
def mean_survival(r, L):  # pragma: no cover - compiled
    """``out[j] = mean_k exp(-L[j] * r[k])``: the standardised survival at each cumulative baseline hazard."""
    n = r.shape[0]
    T = L.shape[0]
    out = np.zeros(T)
    for j in range(T):
        s = 0.0
        lj = L[j]
        for k in range(n):
            s += np.exp(-lj * r[k])
        out[j] = s / n
    return out
