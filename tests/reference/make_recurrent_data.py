"""Write the recurrent-episode data of the R references (tests/reference/recurrent.R).

Run from the repository root: ``.venv/bin/python tests/reference/make_recurrent_data.py``, then
``Rscript --vanilla tests/reference/recurrent.R``. The files are generated once and kept: the references are
computed by R on exactly these rows.

``recurrent_cohort.csv`` / ``recurrent_events.csv``
    600 participants simulated by peerstudy (``outpatient_default`` with a year of follow-up, a raised death
    rate and recurrent episodes: subject frailty variance 0.6 shared with death, rate ratio 0.75), whole
    days: the cohort (``participant_id``, ``arm``, ``age``, ``homeless``, ``time``, ``outcome``) and its
    episodes (``participant_id``, ``day``, ``kind``), with ties between people and with deaths.
``recurrent_continuous.csv``
    400 participants with episode and death times on a continuous scale (no two times equal), for the
    Ghosh-Lin estimator whose variance R's ``mets`` computes record by record: one row per participant
    and time, ``id``, ``arm``, ``time``, ``status`` (1 = episode, 2 = death, 0 = end of follow-up).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from peerstudy.scenario import Recurrent, preset
from peerstudy.simulation.cohort import simulate_with_events

HERE = Path(__file__).resolve().parent


def whole_days() -> tuple[pd.DataFrame, pd.DataFrame]:
    s = preset("outpatient_default").replace(
        follow_up_days=365, death_rate=0.3, frailty_variance=0.0,
        recurrent=Recurrent(enabled=True, rate_per_year=2.5, rate_ratio=0.75, frailty_variance=0.6, death_frailty=1.0))
    cohort, events = simulate_with_events(s, rng=20261202, n=600)
    cohort = cohort[["participant_id", "arm", "age", "homeless", "time", "outcome"]]
    return cohort, events


def continuous(n: int = 400, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    arm = rng.choice(["usual_care", "peer"], n)
    w = rng.gamma(2.0, 0.5, n)
    death = rng.exponential(1 / (0.002 * w))
    cens = rng.uniform(50, 400, n)
    end = np.minimum(death, cens)
    rate = 0.01 * w * np.where(arm == "peer", 0.7, 1.0)
    rows = []
    for i in range(n):
        t = np.sort(rng.uniform(0, end[i], rng.poisson(rate[i] * end[i])))
        for x in t:
            rows.append((i + 1, arm[i], round(float(x), 6), 1))
        rows.append((i + 1, arm[i], round(float(end[i]), 6), 2 if death[i] <= cens[i] else 0))
    df = pd.DataFrame(rows, columns=["id", "arm", "time", "status"])
    assert not df.time.duplicated().any()
    return df


if __name__ == "__main__":
    cohort, events = whole_days()
    cohort.to_csv(HERE / "recurrent_cohort.csv", index=False, lineterminator="\n")
    events.to_csv(HERE / "recurrent_events.csv", index=False, lineterminator="\n")
    continuous().to_csv(HERE / "recurrent_continuous.csv", index=False, lineterminator="\n")
