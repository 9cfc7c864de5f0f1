"""Write tests/reference/survival_models_cohort.csv: the simulated cohort the regression references use.

Run from the repository root: ``.venv/bin/python tests/reference/make_survival_models_cohort.py``, then
``Rscript tests/reference/survival_models.R``. The cohort is the ``outpatient_default`` preset at n = 1500
(seed 20261123) plus two weight columns for the case-weight references: ``w`` (non-integer, 0.5-2) and
``wi`` (integer, 1-3).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from peerstudy.scenario import preset
from peerstudy.simulation.cohort import simulate_cohort

SEED = 20261123
OUT = Path(__file__).resolve().parent / "survival_models_cohort.csv"


def main() -> None:
    scenario = dataclasses.replace(preset("outpatient_default"), n=1500)
    rng = np.random.default_rng(SEED)
    df = simulate_cohort(scenario, rng=rng)
    df["w"] = np.round(rng.uniform(0.5, 2.0, len(df)), 3)
    df["wi"] = rng.integers(1, 4, len(df))
    df.to_csv(OUT, index=False)


if __name__ == "__main__":
    main()
