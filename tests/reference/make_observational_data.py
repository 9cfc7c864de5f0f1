"""Build the small confounded cohort and contact log used as R reference input for the observational analyses.

Run from the repository root: ``.venv/bin/python tests/reference/make_observational_data.py``.
Writes ``observational_cohort.csv`` and ``observational_contacts.csv`` beside this file; the R script
``observational.R`` reads them and writes ``observational_r.json``. The generator is deliberately
independent of :mod:`peerstudy.simulation.cohort` (a day-by-day simulation with numpy), so the reference data
do not change when the simulator does. Same seed, same bytes.
"""

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent


def main(seed: int = 20261123, n: int = 400) -> None:
    rng = np.random.default_rng(seed)
    site = rng.choice(["S1", "S2", "S3", "S4", "S5", "S6"], n)
    age = np.rint(rng.normal(33, 7, n)).astype(int)
    homeless = (rng.random(n) < 0.3).astype(int)
    stimulant_use = (rng.random(n) < 0.25).astype(int)
    depression = np.clip(np.rint(rng.normal(17, 9, n)), 0, 63).astype(int)
    lin = -0.2 + 0.04 * (age - 33) + 0.9 * homeless + 0.6 * stimulant_use + 0.02 * (depression - 17)
    peer = rng.random(n) < 1 / (1 + np.exp(-lin))
    base = 0.006 * np.exp(0.35 * homeless + 0.4 * stimulant_use - 0.02 * (age - 33))
    follow = 180
    time = np.full(n, follow)
    event = np.zeros(n, dtype=int)
    cens = rng.integers(60, follow + 200, n)  # administrative/loss censoring day
    rows = []
    for i in range(n):
        last = -10**6
        for day in range(1, follow + 1):
            recent = day - last <= 14 and day > last  # exposure over (d, d + 14]
            h = base[i] * (0.8 if peer[i] else 1.0) * (0.5 if recent else 1.0)
            if rng.random() < h:
                time[i], event[i] = day, 1
                break
            if day >= cens[i]:
                time[i] = day
                break
            if peer[i] and rng.random() < 0.12 * 0.5 ** (day / 45) and day <= 120:
                rows.append((i + 1, day, "face_to_face" if rng.random() < 0.6 else "phone"))
                last = day
    cohort = pd.DataFrame({"participant_id": np.arange(1, n + 1), "site": site,
                           "arm": np.where(peer, "peer", "usual_care"), "age": age, "homeless": homeless,
                           "stimulant_use": stimulant_use, "depression": depression, "time": time, "event": event})
    contacts = pd.DataFrame(rows, columns=["participant_id", "day", "contact_type"])
    cohort.to_csv(HERE / "observational_cohort.csv", index=False, lineterminator="\n")
    contacts.to_csv(HERE / "observational_contacts.csv", index=False, lineterminator="\n")
    print(f"{n} participants ({int(peer.sum())} peer, {int(event.sum())} dropouts), {len(contacts)} contacts")


if __name__ == "__main__":
    main()
