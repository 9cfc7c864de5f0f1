"""Write the data of the secondary-outcome references (tests/reference/outcomes.R).

Run from the repository root: ``PYTHONPATH=src .venv/bin/python tests/reference/make_outcomes_data.py``, then
``Rscript --vanilla tests/reference/outcomes.R``. The files are generated once and kept: R fits exactly
these rows.

``outcomes_visits.csv``
    BARC-10 totals at the completed interviews (intake, about 3 and 6 months) of a simulated cohort of 300
    (``outpatient_default`` with the ``outcomes`` block on): ``participant_id``, ``arm``, ``day``, ``barc10``.
``outcomes_six.csv``
    The 6-month interviews of a cohort of 1,000: ``participant_id``, ``arm``, ``housed``, ``employed``.
``outcomes_export.csv``
    A canonical programme export (:func:`peerstudy.data.programme.export.to_export`) of a simulated cohort of
    200, which ``outcomes.R`` writes as ``outcomes_export.sas7bdat`` (haven) for the SAS reader's test.
``outcomes_imputed.csv``
    Five completed data sets (column ``imputation`` 1-5) from :func:`peerstudy.survival.missing.impute` of a
    cohort of 600 with ``homeless`` (40%) and ``depression`` (30%) missing at random given dropout:
    ``participant_id``, ``time``, ``event``, ``arm``, ``age``, ``homeless``, ``depression``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from peerstudy.data.programme.export import to_export
from peerstudy.scenario import apply_overrides, preset
from peerstudy.simulation.cohort import simulate_with_visits
from peerstudy.survival.missing import impute

HERE = Path(__file__).resolve().parent
ON = ["outcomes.enabled=true"]
MAR = [*ON, "outcomes.missing.homeless=0.4", "outcomes.missing.depression=0.3", "outcomes.missing.mechanism=mar"]


def main() -> None:
    base = preset("outpatient_default")
    cohort, visits = simulate_with_visits(apply_overrides(base, ON), rng=20261202, n=300)
    v = visits.merge(cohort[["participant_id", "arm"]], on="participant_id")
    v[["participant_id", "arm", "day", "barc10"]].to_csv(HERE / "outcomes_visits.csv", index=False)

    cohort, visits = simulate_with_visits(apply_overrides(base, ON), rng=20261203, n=1000)
    six = visits[visits["visit"] == "6m"].merge(cohort[["participant_id", "arm"]], on="participant_id")
    six[["participant_id", "arm", "housed", "employed"]].to_csv(HERE / "outcomes_six.csv", index=False)

    cohort, _ = simulate_with_visits(apply_overrides(base, ON), rng=20261206, n=200)
    to_export(cohort.drop(columns=["linkage_time", "linkage_ending"])).to_csv(HERE / "outcomes_export.csv", index=False)

    cohort, _ = simulate_with_visits(apply_overrides(base, MAR), rng=20261204, n=600)
    cols = ["age", "homeless", "stimulant_use", "injects", "unemployed", "depression"]
    imp = impute(cohort, columns=cols, m=5, burn_in=10, skip=2, rng=20261205)
    keep = ["participant_id", "time", "event", "arm", "age", "homeless", "depression"]
    frames = [d[keep].assign(imputation=i + 1) for i, d in enumerate(imp.datasets)]
    pd.concat(frames, ignore_index=True).to_csv(HERE / "outcomes_imputed.csv", index=False)


if __name__ == "__main__":
    main()
