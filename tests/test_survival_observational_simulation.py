"""Recovery of a known marginal risk difference on a confounded scenario with a misspecified outcome model.

Scenario (continuous times, independent of the package's simulator so the truth is exact; whole days would add
a second, unrelated error: with ``exp(0.6 x1^2)`` many people leave on day 1, and a Cox model of heavily tied
grouped times is no longer the continuous-time model): ``x1 ~ N(0, 1)``,
``x2 ~ Bernoulli(0.4)``, ``x1sq = x1^2``;

* coach uptake: ``logit P(peer) = -0.8 + 0.7 x1sq + 0.5 x2`` (the "right" propensity model is ``x1sq + x2``);
* dropout: Weibull proportional hazards ``H(t) = (t / 250)^0.8 exp(-0.5 peer + 0.6 x1sq + 0.4 x2)``: people with
  large ``|x1|`` both take up a coach more and drop out more, so the naive comparison is biased against peer
  support. The "right" outcome model is ``peer + x1sq + x2``, the "wrong" one ``peer + x1 + x2``;
* censoring: exponential, rate ``0.004 exp(0.5 x2)`` per day, and administrative at day 180 (the censoring
  model ``peer + x2`` is right).

Truth: the marginal risk of dropout by day 90 under each arm, ``F_a = E_x[1 - exp(-H(90 | a, x))]``, by
Gauss-Hermite quadrature over ``x1`` (80 nodes) and the two values of ``x2``; the estimand is
``F_peer - F_usual`` (the ATE of the g-formula and AIPW, and of IPTW).

Expected: g-formula with the right outcome model, AIPW with the right propensity model (and the wrong outcome
model) and IPTW (right propensity) unbiased within Monte Carlo error with coverage near 95%; g-formula with the
wrong outcome model and the naive Kaplan-Meier difference biased.

Run ``python tests/test_survival_observational_simulation.py 300`` for the table; with 300 replicates of n = 800
(seed 20261202; truth -0.1421):

=============================  =======  =========  ======  =======  ========
method                         bias     MCSE bias  emp SD  mean SE  coverage
=============================  =======  =========  ======  =======  ========
naive Kaplan-Meier             0.1461   0.0022     0.0387  -        -
g-formula, right outcome       0.0024   0.0017     0.0298  0.0294   0.927
g-formula, wrong outcome       0.1397   0.0020     0.0347  0.0339   0.020
AIPW, right PS, wrong outcome  0.0041   0.0023     0.0399  0.0445   0.980
IPTW, right PS                 0.0061   0.0030     0.0516  0.0680   1.000
=============================  =======  =========  ======  =======  ========

(coverage MCSE 0.013). The AIPW and IPTW influence-function SEs treat the fitted models as known and are
conservative here; ``se="bootstrap"`` refits them.
"""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pandas as pd
import pytest

from peerstudy.survival.km import km_arrays
from peerstudy.survival.observational.aipw import aipw_survival
from peerstudy.survival.observational.gformula import gformula_survival

SHAPE, SCALE, BETA, G_SQ, G_X2 = 0.8, 250.0, -0.5, 0.6, 0.4
DAY = 90


def truth(day: float = DAY) -> dict[str, float]:
    """Marginal risk of dropout by ``day`` under each arm (Gauss-Hermite over x1, exact sum over x2)."""
    z, w = np.polynomial.hermite_e.hermegauss(80)
    w = w / w.sum()
    out = {}
    for name, a in (("usual_care", 0.0), ("peer", 1.0)):
        total = 0.0
        for x2, p in ((0.0, 0.6), (1.0, 0.4)):
            H = (day / SCALE) ** SHAPE * np.exp(BETA * a + G_SQ * z ** 2 + G_X2 * x2)
            total += p * float(np.sum(w * (1 - np.exp(-H))))
        out[name] = total
    out["difference"] = out["peer"] - out["usual_care"]
    return out


def cohort(n: int, rng: np.random.Generator) -> pd.DataFrame:
    x1 = rng.normal(size=n)
    x2 = (rng.random(n) < 0.4).astype(float)
    peer = rng.random(n) < 1 / (1 + np.exp(-(-0.8 + 0.7 * x1 ** 2 + 0.5 * x2)))
    H_unit = np.exp(BETA * peer + G_SQ * x1 ** 2 + G_X2 * x2)
    t = SCALE * (rng.exponential(size=n) / H_unit) ** (1 / SHAPE)
    c = np.minimum(rng.exponential(1 / (0.004 * np.exp(0.5 * x2))), 180.0)
    time = np.minimum(t, c)
    return pd.DataFrame({"arm": np.where(peer, "peer", "usual_care"), "x1": x1, "x1sq": x1 ** 2, "x2": x2,
                         "time": time, "event": (t <= c).astype(int)})


def _naive(df: pd.DataFrame) -> float:
    risk = []
    for arm in ("usual_care", "peer"):
        m = df["arm"] == arm
        times, _, _, _, surv, _ = km_arrays(df["time"][m].to_numpy(float), df["event"][m].to_numpy(float))
        idx = np.searchsorted(times, DAY, side="right") - 1
        risk.append(1 - surv[idx])
    return risk[1] - risk[0]


def one_replicate(rng: np.random.Generator, n: int) -> dict[str, tuple[float, float]]:
    """Estimate and SE of the day-90 risk difference by each method."""
    df = cohort(n, rng)
    out: dict[str, tuple[float, float]] = {"naive": (_naive(df), np.nan)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, covs in (("gformula_right", ["x1sq", "x2"]), ("gformula_wrong", ["x1", "x2"])):
            d = gformula_survival(df, covariates=covs, horizons=[DAY]).to_dict()["difference"][str(DAY)]
            out[name] = (d["estimate"], d["se"])
        res = aipw_survival(df, covariates=["x1", "x2"], propensity=["x1sq", "x2"], censoring=["x2"],
                            horizons=[DAY])
    for name, key in (("aipw_right_ps_wrong_outcome", "aipw"), ("iptw_right_ps", "iptw")):
        d = res[key].to_dict()["difference"][str(DAY)]
        out[name] = (d["estimate"], d["se"])
    return out


def study(reps: int, n: int, seed: int = 20261202) -> pd.DataFrame:
    """Bias, its Monte Carlo SE, empirical SD, mean model SE and 95% coverage of each method."""
    true = truth()["difference"]
    streams = np.random.SeedSequence(seed).spawn(reps)
    rows = [one_replicate(np.random.default_rng(s), n) for s in streams]
    table = []
    for name in rows[0]:
        est = np.array([r[name][0] for r in rows])
        se = np.array([r[name][1] for r in rows])
        cover = np.mean(np.abs(est - true) <= 1.959964 * se) if np.isfinite(se).all() else np.nan
        table.append({"method": name, "bias": est.mean() - true, "mcse_bias": est.std(ddof=1) / np.sqrt(reps),
                      "emp_sd": est.std(ddof=1), "mean_se": np.nanmean(se) if np.isfinite(se).any() else np.nan,
                      "coverage": cover, "mcse_coverage": np.sqrt(0.95 * 0.05 / reps)})
    return pd.DataFrame(table).set_index("method")


def test_truth_by_quadrature_matches_a_large_sample():
    rng = np.random.default_rng(7)
    n = 400_000
    x1 = rng.normal(size=n)
    x2 = (rng.random(n) < 0.4).astype(float)
    for name, a in (("usual_care", 0.0), ("peer", 1.0)):
        H = (DAY / SCALE) ** SHAPE * np.exp(BETA * a + G_SQ * x1 ** 2 + G_X2 * x2)
        assert truth()[name] == pytest.approx(np.mean(1 - np.exp(-H)), abs=4e-3)


@pytest.mark.slow
def test_double_robustness_and_coverage():
    tab = study(reps=40, n=800)
    print("\n" + tab.round(4).to_string())
    for name in ("gformula_right", "aipw_right_ps_wrong_outcome", "iptw_right_ps"):
        row = tab.loc[name]
        assert abs(row["bias"]) < 3 * row["mcse_bias"], name
        assert 0.85 <= row["coverage"] <= 1.0, name
    for name in ("naive", "gformula_wrong"):
        row = tab.loc[name]
        assert abs(row["bias"]) > 4 * row["mcse_bias"], name


if __name__ == "__main__":
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    print(f"truth: {truth()}")
    print(study(reps=reps, n=800).round(4).to_string())
