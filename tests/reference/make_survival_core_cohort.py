"""Write ``survival_core_cohort.csv``: a simulated canonical cohort for the R reference tests.

Run with the project's Python (``.venv/bin/python tests/reference/make_survival_core_cohort.py``); the
output is byte-for-byte reproducible. It is deliberately independent of ``peerstudy.simulation.cohort`` so the
reference data do not change when the simulator does: Weibull dropout (shape 0.8, peer HR 0.8, site
frailty), constant hazards of incarceration, death and loss to follow-up, administrative censoring at
180 days, times rounded up to whole days (so there are many ties, as in real programme data).
"""

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent


def make(n: int = 600, seed: int = 20240603) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    site = rng.integers(0, 6, n)
    arm = np.where(rng.random(n) < 0.5, "usual_care", "peer")
    age = np.round(rng.normal(38, 10, n).clip(18, 75))
    female = (rng.random(n) < 0.35).astype(int)
    homeless = (rng.random(n) < 0.25).astype(int)
    stim = (rng.random(n) < 0.3).astype(int)
    injects = (rng.random(n) < 0.2).astype(int)
    unemployed = (rng.random(n) < 0.5).astype(int)
    depression = np.round(rng.gamma(4, 4, n).clip(0, 63))
    prior = rng.poisson(1.5, n)
    frailty = rng.gamma(1 / 0.1, 0.1, 6)[site]
    lp = (np.log(0.8) * (arm == "peer") + 0.3 * homeless + 0.25 * stim - 0.02 * (age - 38)
          + 0.01 * (depression - 16))
    shape, scale = 0.8, 160.0
    t_drop = scale * (-np.log(rng.random(n)) / (frailty * np.exp(lp))) ** (1 / shape)
    t_inc = rng.exponential(365.25 / 0.15, n)
    t_died = rng.exponential(365.25 / 0.03, n)
    t_ltfu = rng.exponential(365.25 / 0.10, n)
    follow = np.full(n, 180.0)
    cand = np.column_stack([t_drop, t_inc, t_died, t_ltfu, follow])
    which = cand.argmin(axis=1)
    names = np.array(["dropout", "incarcerated", "died", "lost_to_follow_up", "retained"])
    time = np.ceil(cand.min(axis=1)).astype(int).clip(1, 180)
    outcome = names[which]
    enrolled = pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 540, n), unit="D")
    return pd.DataFrame({
        "participant_id": np.arange(1, n + 1), "site": np.char.add("S", (site + 1).astype(str)), "arm": arm,
        "enrolled_on": enrolled.strftime("%Y-%m-%d"), "age": age.astype(int), "female": female, "homeless": homeless,
        "stimulant_use": stim, "injects": injects, "unemployed": unemployed, "depression": depression.astype(int),
        "prior_treatments": prior, "time": time, "outcome": outcome, "event": (outcome == "dropout").astype(int),
    })


if __name__ == "__main__":
    make().to_csv(HERE / "survival_core_cohort.csv", index=False, lineterminator="\n")
