"""Write ``permutation_data.csv``: a small cluster-randomised cohort for the randomisation-test references.

Run with the project's Python (``.venv/bin/python tests/reference/make_permutation_data.py``); the output is
byte-for-byte reproducible and independent of ``peerstudy.simulation.cohort``. Eight sites (S1-S8, 4 to 7
participants each) in two site-level strata (A: S1-S4, B: S5-S8); ``arm`` randomises whole sites, two peer
sites per stratum (so 70 allocations of 4 peer sites among 8, or 36 within strata); ``arm_within``
randomises participants within each site (``floor(n_site / 2)`` peer per site) for the individual design.
Exponential dropout with a gamma site frailty, censoring at 60 days and whole-day times, so dropouts
share days (ties).
"""

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent


def make(seed: int = 20260301) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sizes = np.array([4, 5, 6, 5, 4, 6, 5, 7])
    n_sites = len(sizes)
    site = np.repeat(np.arange(n_sites), sizes)
    stratum = np.where(np.arange(n_sites) < 4, "A", "B")
    peer_site = np.zeros(n_sites, dtype=bool)
    for s in (np.arange(4), np.arange(4, 8)):
        peer_site[rng.permutation(s)[:2]] = True
    within = np.zeros(len(site), dtype=bool)
    for k in range(n_sites):
        idx = np.flatnonzero(site == k)
        within[rng.permutation(idx)[: len(idx) // 2]] = True
    frailty = rng.gamma(1 / 0.3, 0.3, n_sites)[site]
    hazard = frailty * np.where(peer_site[site], 0.7, 1.0) / 25.0
    t_drop = rng.exponential(1 / hazard)
    t_cens = rng.uniform(20, 90, len(site)).clip(max=60)
    time = np.ceil(np.minimum(t_drop, t_cens)).astype(int).clip(1, 60)
    event = (t_drop <= t_cens).astype(int)
    arms = np.array(["usual_care", "peer"])
    return pd.DataFrame({
        "participant_id": np.arange(1, len(site) + 1), "site": np.char.add("S", (site + 1).astype(str)),
        "stratum": stratum[site], "arm": arms[peer_site[site].astype(int)], "arm_within": arms[within.astype(int)],
        "time": time, "event": event,
    })


if __name__ == "__main__":
    make().to_csv(HERE / "permutation_data.csv", index=False, lineterminator="\n")
