"""Write the coach-clustered cohort of the effect-modification references (tests/reference/coaches.R).

Run from the repository root: ``.venv/bin/python tests/reference/make_coaches_cohort.py``, then
``Rscript --vanilla tests/reference/coaches.R``. The file is generated once and kept: the references are fitted
by R on exactly these rows.

``coaches_cohort.csv``
    900 participants of the ``coach_clustered`` preset (4 sites, 3 coaches each) with a stronger coach frailty
    (variance 0.3) and match effect (match hazard ratio 0.6), seed 11: ``site``, ``arm``, ``coach`` and
    ``coach_match`` (empty in usual care), ``age``, ``homeless``, ``time``, ``event``.
"""

from __future__ import annotations

from pathlib import Path

from peerstudy.scenario import apply_overrides, preset
from peerstudy.simulation.cohort import simulate_cohort

HERE = Path(__file__).resolve().parent
COLUMNS = ["site", "arm", "coach", "coach_match", "age", "homeless", "time", "event"]


def main() -> None:
    scenario = apply_overrides(preset("coach_clustered"), {"n": 900, "coaches.frailty_variance": 0.3,
                                                           "coaches.match_hazard_ratio": 0.6})
    df = simulate_cohort(scenario, rng=11)[COLUMNS]
    df.to_csv(HERE / "coaches_cohort.csv", index=False, lineterminator="\n")


if __name__ == "__main__":
    main()
