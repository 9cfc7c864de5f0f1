"""Write the simulated clustered cohorts of the shared-frailty references (tests/reference/frailty.R).

Run from the repository root: ``.venv/bin/python tests/reference/make_frailty_cohort.py``, then
``Rscript --vanilla tests/reference/frailty.R``. Both files are generated once and kept: the references are
fitted by R on exactly these rows.

``frailty_cohort.csv``
    1,500 participants at 12 sites; a gamma site frailty with mean 1 and variance 0.3 multiplies each
    site's dropout hazard. Covariates ``arm`` (HR 0.75 for peer), ``age`` (HR 0.8 per 10 years) and
    ``homeless`` (HR 1.3). Weibull (shape 0.8) dropout, administrative censoring between 30 and 180 days,
    whole days >= 1.
``frailty_few_sites.csv``
    600 participants at 4 sites, gamma frailty variance 0.5, the same covariates: few clusters, where R's
    ``frailty()`` switches from its sparse to its dense computation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent


def simulate(n: int, n_sites: int, theta: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    site = rng.integers(0, n_sites, n)
    frail = rng.gamma(1 / theta, theta, n_sites)
    df = pd.DataFrame({
        "site": [f"S{s + 1:02d}" for s in site],
        "arm": rng.choice(["usual_care", "peer"], n),
        "age": np.clip(np.round(rng.normal(32, 6.2, n)), 18, 75).astype(int),
        "homeless": rng.binomial(1, 0.25, n),
    })
    lp = np.log(0.75) * (df.arm == "peer") + np.log(0.8) * (df.age - 32) / 10 + np.log(1.3) * df.homeless
    t = 120 * (rng.exponential(size=n) * np.exp(-lp) / frail[site]) ** (1 / 0.8)
    end = rng.uniform(30, 180, n)
    df["time"] = np.maximum(1, np.ceil(np.minimum(t, end))).astype(int)
    df["event"] = (t <= end).astype(int)
    return df


def main() -> None:
    simulate(1500, 12, 0.3, 20260412).to_csv(HERE / "frailty_cohort.csv", index=False)
    simulate(600, 4, 0.5, 20260413).to_csv(HERE / "frailty_few_sites.csv", index=False)


if __name__ == "__main__":
    main()
