"""Multiple imputation and Rubin's rules: pooling against R's mice::pool (tests/reference/outcomes.R), imputation
behaviour, and complete-case bias under MAR corrected by imputation (a simulation study with known truth)."""

from __future__ import annotations

import doctest
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from peerstudy.exceptions import AnalysisError, ParameterError, SchemaError
from peerstudy.scenario import apply_overrides, preset
from peerstudy.simulation.cohort import simulate_with_visits
from peerstudy.survival import missing as missing_module
from peerstudy.survival.cox.engine import fit_cox
from peerstudy.survival.missing import (ImputedData, impute, nelson_aalen_at, pool, pool_cox, pool_km, pool_logistic,
                                        pool_risk_difference, pool_rmst, pool_scalar)

REF = Path(__file__).parent / "reference"
R = json.loads((REF / "outcomes.json").read_text())
COLUMNS = ["estimate", "ubar", "b", "t", "df", "riv", "lambda", "fmi"]
COVS = ["arm", "age", "homeless", "depression"]
MAR = ["outcomes.enabled=true", "frailty_variance=0", "outcomes.missing.homeless=0.4",
       "outcomes.missing.depression=0.3", "outcomes.missing.mechanism=mar", "outcomes.missing.odds_ratio_event=4"]


@pytest.fixture(scope="module")
def stored() -> ImputedData:
    """The completed data sets R pooled, wrapped as an imputation result."""
    df = pd.read_csv(REF / "outcomes_imputed.csv")
    df["arm"] = pd.Categorical(df["arm"], categories=["usual_care", "peer"])
    sets = tuple(d.drop(columns="imputation").reset_index(drop=True) for _, d in df.groupby("imputation"))
    return ImputedData(datasets=sets, imputed=("homeless", "depression"), predictors=("arm",), n_missing={},
                       burn_in=10, skip=2, seed=20261205)


def _check(table: pd.DataFrame, ref: dict, names: dict[str, str] | None = None, rtol: float = 1e-8) -> None:
    terms = [names.get(t, t) for t in ref["term"]] if names else list(table.index)
    for col in COLUMNS:
        np.testing.assert_allclose(table.loc[terms, col].to_numpy(), np.asarray(ref[col], dtype=float), rtol=rtol,
                                   err_msg=col)


def test_doctests():
    assert doctest.testmod(missing_module).failed == 0


def test_pooled_cox_equals_mice_pool(stored):
    res = pool_cox(stored, covariates=COVS)
    _check(res.table, R["cox_pool"], {"armpeer": "arm[peer]"}, rtol=1e-7)
    assert res.table["dfcom"].iloc[0] == R["cox_pool"]["dfcom"][0]  # events - terms, as mice takes it for coxph


def test_pooled_logistic_equals_mice_pool(stored):
    res = pool_logistic(stored, outcome="event", covariates=COVS)
    _check(res.table, R["glm_pool"], {"armpeer": "arm[peer]"}, rtol=1e-6)
    assert res.table["dfcom"].iloc[0] == R["glm_pool"]["dfcom"][0]


def test_pooled_km_rmst_rd_equal_pool_scalar(stored):
    km = pool_km(stored, day=90).table
    rm = pool_rmst(stored, tau=90).table
    for arm in ("usual_care", "peer"):
        for key in ("estimate", "ubar", "b", "t", "df", "riv", "fmi"):
            assert km.loc[f"survival[{arm}]", key] == pytest.approx(R["km90"][arm][key], rel=1e-9)
            assert rm.loc[f"rmst[{arm}]", key] == pytest.approx(R["rmst90"][arm][key], rel=1e-9)
    rd = pool_risk_difference(stored, outcome="event").table.loc["risk_difference"]
    for key in ("estimate", "ubar", "b", "t", "df", "riv", "fmi"):
        assert rd[key] == pytest.approx(R["risk_difference"][key], rel=1e-9)


def test_pool_rules_by_hand():
    q = np.array([[1.0, 2.0], [1.2, 2.5], [0.8, 1.5]])
    u = np.array([[0.04, 0.1], [0.05, 0.1], [0.03, 0.1]])
    t = pool(q, u, terms=["a", "b"], dfcom=50).table
    b = q.var(axis=0, ddof=1)
    assert t["t"].tolist() == pytest.approx((u.mean(0) + (1 + 1 / 3) * b).tolist())
    lam = (1 + 1 / 3) * b / t["t"].to_numpy()
    dfold = 2 / lam ** 2
    dfobs = 51 / 53 * 50 * (1 - lam)
    assert t["df"].tolist() == pytest.approx((dfold * dfobs / (dfold + dfobs)).tolist())
    one = pool_scalar([1.0, 1.2, 0.8], [0.04, 0.05, 0.03]).table.loc["estimate"]
    assert one["df"] == pytest.approx(2 / ((1 + 1 / 3) * 0.04 / (0.04 + 4 / 3 * 0.04)) ** 2)


def test_pool_refuses_bad_shapes():
    with pytest.raises(ParameterError, match=r"\(m, 1\)"):
        pool([[1.0, 2.0]], [[1.0, 2.0]], terms=["x"])
    with pytest.raises(ParameterError, match="at least 2 imputations"):
        pool([[1.0]], [[1.0]], terms=["x"])
    with pytest.raises(AnalysisError, match="non-finite"):
        pool([[1.0], [np.nan]], [[1.0], [1.0]], terms=["x"])


def test_nelson_aalen_matches_its_definition():
    rng = np.random.default_rng(3)
    t = rng.integers(1, 30, 200)
    e = rng.integers(0, 2, 200)
    h = nelson_aalen_at(t, e)
    for day in (1, 7, 29):
        times = np.unique(t[t <= day])
        expected = sum(e[t == s].sum() / (t >= s).sum() for s in times)
        assert h[t == day][0] == pytest.approx(expected) if (t == day).any() else True


@pytest.fixture(scope="module")
def mar_cohort() -> pd.DataFrame:
    cohort, _ = simulate_with_visits(apply_overrides(preset("outpatient_default"), MAR), rng=11, n=600)
    return cohort


def test_impute_fills_only_missing_and_is_reproducible(mar_cohort):
    cols = ["age", "homeless", "depression"]
    a = impute(mar_cohort, columns=cols, m=3, rng=5)
    b = impute(mar_cohort, columns=cols, m=3, rng=5)
    assert a.m == 3 and a.seed == 5 and a.imputed == ("homeless", "depression")
    assert a.to_dict()["predictors"] == ["arm", "event indicator", "Nelson-Aalen cumulative hazard"]
    assert a.n_missing["homeless"] == int(mar_cohort["homeless"].isna().sum()) > 0
    for x, y in zip(a.datasets, b.datasets):
        pd.testing.assert_frame_equal(x, y)
    seen = mar_cohort["homeless"].notna()
    for d in a.datasets:
        assert d["homeless"].notna().all() and set(d["homeless"].unique()) <= {0, 1}
        assert (d.loc[seen, "homeless"] == mar_cohort.loc[seen, "homeless"]).all()
        assert d["depression"].between(0, 63).all()
    assert not all(a.datasets[0]["homeless"].equals(d["homeless"]) for d in a.datasets[1:])
    assert mar_cohort["homeless"].isna().any()  # the input is never changed


def test_impute_refuses_bad_input(mar_cohort):
    with pytest.raises(ParameterError, match="m must be a whole number from 2"):
        impute(mar_cohort, columns=["homeless"], m=1)
    with pytest.raises(SchemaError, match="'nope'"):
        impute(mar_cohort, columns=["nope"])
    with pytest.raises(AnalysisError, match="nothing to impute"):
        impute(mar_cohort, columns=["age"])
    bad = mar_cohort.assign(homeless=mar_cohort["homeless"].astype(object).where(mar_cohort["homeless"].notna(), None))
    bad.loc[0, "homeless"] = "yes"
    with pytest.raises(SchemaError, match="'homeless' must be numeric"):
        impute(bad, columns=["homeless"])
    with pytest.raises(SchemaError, match="predictor column 'homeless' has missing values"):
        impute(mar_cohort, columns=["depression"], predictors=("arm", "homeless"))


@pytest.mark.slow
def test_mar_complete_case_bias_and_imputation_recovery():
    """Missingness of homeless and depression depends on dropout (MAR): complete-case Cox is biased; MI is not.

    40 replicate cohorts of 1,500 (no site frailty, so the adjusted Cox estimates the conditional log hazard
    ratios of the scenario), M = 5. Bias is judged against its Monte Carlo SE, coverage against 95% with
    40 replicates (binomial SE 0.034).
    """
    scenario = apply_overrides(preset("outpatient_default"), MAR)
    cov = ["age", "homeless", "stimulant_use", "injects", "unemployed", "depression"]
    terms = ["arm[peer]", *cov]
    truth = None
    cc, mi, cover = [], [], []
    for seq in np.random.SeedSequence(20261202).spawn(40):
        g = np.random.default_rng(seq)
        cohort, _ = simulate_with_visits(scenario, rng=g, n=1500)
        coefs = cohort.attrs["truth"]["coefficients"]
        truth = np.array([coefs[t] for t in terms])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cc.append(fit_cox(cohort.dropna(subset=cov), covariates=["arm", *cov]).coef)
            imp = impute(cohort, columns=cov, m=5, burn_in=5, skip=1, rng=g.spawn(1)[0])
            table = pool_cox(imp, covariates=["arm", *cov]).table.loc[terms]
        mi.append(table["estimate"].to_numpy())
        cover.append(((table["ci_lower"] <= truth) & (truth <= table["ci_upper"])).to_numpy())
    cc, mi = np.array(cc), np.array(mi)
    mcse_cc = cc.std(axis=0, ddof=1) / math.sqrt(len(cc))
    mcse_mi = mi.std(axis=0, ddof=1) / math.sqrt(len(mi))
    bias_cc, bias_mi = cc.mean(axis=0) - truth, mi.mean(axis=0) - truth
    # complete cases: every log hazard ratio pushed away from 0 (7 of 7 signs: 1 in 128 by chance), the largest
    # biases by far more than Monte Carlo error (with 40 replicates only the strongest clear 2.5 MCSE)
    assert (np.sign(bias_cc) == np.sign(truth)).all(), (bias_cc, truth)
    assert (np.abs(bias_cc) > 2.5 * mcse_cc).sum() >= 2, (bias_cc, mcse_cc)
    assert (np.abs(bias_mi) < 3.5 * mcse_mi).all(), (bias_mi, mcse_mi)
    assert (np.mean(cover, axis=0) >= 0.85).all(), np.mean(cover, axis=0)


def test_cli_analyse_impute(tmp_path, mar_cohort):
    """``peerstudy analyse --impute M``: pooled results beside the complete-case analysis; without it, refused."""
    import json
    import subprocess
    import sys

    data = tmp_path / "mar.csv"
    mar_cohort.drop(columns=["linkage_time", "linkage_ending"]).to_csv(data, index=False)
    base = [sys.executable, "-m", "peerstudy", "analyse", str(data), "--covariates", "age,homeless,depression"]
    refused = subprocess.run([*base, "--out", str(tmp_path / "a")], capture_output=True, text=True, check=False)
    assert refused.returncode == 2 and "'homeless' (covariate) has" in refused.stderr
    assert not (tmp_path / "a").exists()
    done = subprocess.run([*base, "--out", str(tmp_path / "b"), "--impute", "4"], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    res = json.loads((tmp_path / "b" / "results.json").read_text())
    imp = res["imputed"]
    assert imp["imputation"]["m"] == 4 and imp["imputation"]["seed"] == 0
    assert set(imp["imputation"]["imputed"]) == {"homeless", "depression"}
    # the same pooled Cox as the package gives with the same seed
    df = pd.read_csv(data)
    direct = pool_cox(impute(df, columns=["age", "homeless", "depression"], m=4, rng=0),
                      covariates=["arm", "age", "homeless", "depression"]).table
    assert imp["cox"]["terms"]["homeless"]["estimate"] == pytest.approx(direct.loc["homeless", "estimate"], rel=1e-9)
    assert res["n"] == int(df[["homeless", "depression"]].notna().all(axis=1).sum())
    bad = subprocess.run([*base, "--out", str(tmp_path / "c"), "--impute", "1"], capture_output=True, text=True,
                         check=False)
    assert bad.returncode == 2 and "m must be a whole number from 2" in bad.stderr


def test_pool_risk_ratio_is_rubins_rules_on_the_log_ratios():
    """The pooled log risk ratio is pool_scalar (checked against mice::pool.scalar) of each completed data set's
    log ratio and its variance (risk_contrast: checked against R's glm with a log link)."""
    import math

    from peerstudy.survival.missing import impute, pool_risk_ratio, pool_scalar
    from peerstudy.survival.outcomes import risk_contrast

    rng = np.random.default_rng(3)
    n = 400
    df = pd.DataFrame({"arm": np.where(rng.uniform(size=n) < 0.5, "peer", "usual_care"),
                       "x": rng.normal(size=n), "time": rng.integers(1, 100, n), "event": rng.integers(0, 2, n)})
    y = (rng.uniform(size=n) < np.where(df["arm"] == "peer", 0.6, 0.45)).astype(float)
    y[rng.uniform(size=n) < 0.3] = np.nan
    df["y"] = y
    imp = impute(df, columns=["y", "x"], m=4, rng=2)
    got = pool_risk_ratio(imp, outcome="y")
    fits = [risk_contrast(d, outcome="y").risk_ratio for d in imp.datasets]
    want = pool_scalar([f["log"] for f in fits], [f["se_log"] ** 2 for f in fits])
    row, ref = got.table.iloc[0], want.table.iloc[0]
    for k in ("estimate", "t", "df", "fmi", "ci_lower", "ci_upper"):
        assert row[k] == pytest.approx(ref[k], rel=1e-12)
    assert got.exponentiate and math.exp(row["estimate"]) > 1
