"""TEDS-D layout, codebook, reader and recovery of the simulated truth by interval-censored analysis."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from peerstudy.exceptions import ParameterError, SchemaError
from peerstudy.data.programme import read_export, validate_export
from peerstudy.survival.interval import fit_interval_weibull, turnbull
from peerstudy.data.programme.teds import CODEBOOK, LOS_BANDS, TEDS_COLUMNS, discharge_intervals, los_range, teds_intervals
from peerstudy.simulation.teds import simulate_teds

ROOT = Path(__file__).parent.parent
TEDS = ROOT / "data" / "synthetic" / "teds_d_synthetic.csv"
COVS = ["age10", "homeless", "stimulant_use", "injects", "unemployed"]


def test_los_bands_follow_the_codebook():
    first, last = los_range(np.array([1, 30, 31, 33, 36, 37, 38, 0]))
    np.testing.assert_array_equal(first[:6], [1, 30, 31, 61, 181, 366])
    np.testing.assert_array_equal(last[:6], [1, 30, 45, 90, 365, np.inf])
    assert np.isnan(first[6]) and np.isnan(first[7])
    assert CODEBOOK["LOS"][37] == "More than a year" and set(LOS_BANDS) == set(range(31, 38))
    assert CODEBOOK["REASON"][2] == "Dropped out of treatment"


def test_intervals_for_dropout_and_other_endings():
    los = np.array([5, 5, 33, 33, 37, 37])
    drop = np.array([True, False, True, False, True, False])
    lo, hi = teds_intervals(los, drop)
    np.testing.assert_array_equal(lo, [4, 5, 60, 75, 365, 366])
    np.testing.assert_array_equal(hi, [5, np.inf, 90, np.inf, np.inf, np.inf])
    assert teds_intervals(los, drop, censor_at="lower")[0][3] == 61
    assert teds_intervals(los, drop, censor_at="upper")[0][3] == 90
    with pytest.raises(ParameterError, match="censor_at must be"):
        teds_intervals(los, drop, censor_at="mid")
    lo, hi = discharge_intervals(np.array([1, 31]))
    np.testing.assert_array_equal([lo, hi], [[0, 30], [1, 45]])


def test_synthetic_file_layout_and_reader():
    raw = pd.read_csv(TEDS)
    assert tuple(raw.columns) == TEDS_COLUMNS
    for col in ("REASON", "LOS", "SERVICES_D", "SUB1", "AGE", "LIVARAG", "EMPLOY", "PSOURCE", "STFIPS"):
        assert set(raw[col]) <= set(CODEBOOK[col]), col
    data = read_export(TEDS, mapping="teds")
    c = data.cohort
    assert data.flow == {"received": 5000, "excluded": {}, "analysed": 5000}
    assert set(data.unavailable) == {"arm", "enrolled_on", "depression"}
    assert (c["event"] == raw["REASON"].isin([2, 3]).astype(int)).all()
    assert (c.loc[raw["REASON"] == 1, "outcome"] == "retained").all()
    assert (c.loc[raw["REASON"] == 5, "outcome"] == "incarcerated").all()
    assert (c["homeless"] == (raw["LIVARAG"] == 1)).all() and (c["female"] == (raw["GENDER"] == 2)).all()
    assert set(c["site"]) <= set(CODEBOOK["STFIPS"].values())
    assert data.to_dict()["interval_censored"] == int(((raw["LOS"] > 30) & (raw["LOS"] < 37)
                                                       & raw["REASON"].isin([2, 3])).sum())


def test_missing_codes_and_filters_are_counted_not_dropped(tmp_path):
    raw = pd.read_csv(TEDS).head(200).copy()
    raw.loc[[3, 4], "LIVARAG"] = -9
    raw.loc[10, "LOS"] = -9
    p = tmp_path / "t.csv"
    raw.to_csv(p, index=False)
    data = read_export(p, mapping={"extends": "teds", "keep": {"SERVICES_D": [7]}})
    n7 = int((raw["SERVICES_D"] == 7).sum())
    ex = data.flow["excluded"]
    assert ex["SERVICES_D not in 7"] == 200 - n7
    assert sum(ex.values()) + data.flow["analysed"] == 200
    assert data.flow["analysed"] == len(data.cohort) == len(data.intervals)


def test_invalid_codes_and_missing_columns_are_reported(tmp_path):
    raw = pd.read_csv(TEDS).head(50).copy()
    raw.loc[7, "REASON"] = 9
    raw.loc[8, "LOS"] = 40
    p = tmp_path / "t.csv"
    raw.rename(columns={"AGE": "AGES"}).to_csv(p, index=False)
    rep = validate_export(p, mapping="teds")
    assert any("missing TEDS-D column 'AGE' (did you mean 'AGES'?)" in x.message for x in rep.problems)
    raw.to_csv(p, index=False)
    rep = validate_export(p, mapping="teds")
    msgs = [x.message for x in rep.problems]
    assert any("'REASON' has codes not in the TEDS-D codebook" in m and "row 9" in m for m in msgs)
    assert any("'LOS' has codes not in the TEDS-D codebook" in m and "row 10" in m for m in msgs)
    with pytest.raises(SchemaError, match="REASON"):
        read_export(p, mapping="teds")


def test_reason_override():
    data = read_export(TEDS, mapping={"extends": "teds", "reasons": {"3": "lost_to_follow_up"}})
    raw = pd.read_csv(TEDS)
    assert (data.cohort.loc[raw["REASON"] == 3, "event"] == 0).all()


def test_simulate_teds_is_reproducible():
    a, _ = simulate_teds(300, rng=7)
    b, _ = simulate_teds(300, rng=np.random.default_rng(7))
    pd.testing.assert_frame_equal(a, b)
    with pytest.raises(ParameterError, match="n must be"):
        simulate_teds(0)


@pytest.fixture(scope="module")
def recovery():
    """20,000 synthetic discharges written in the TEDS-D layout, read back and analysed as interval-censored."""
    df, truth = simulate_teds(20000, rng=20260)
    return df, truth


def test_weibull_regression_recovers_truth(recovery, tmp_path):
    df, truth = recovery
    p = tmp_path / "teds.csv"
    df.to_csv(p, index=False)
    data = read_export(p, mapping="teds").interval_data()
    data["age10"] = (data["age"] - truth.age_centre) / 10
    fit = fit_interval_weibull(data, covariates=COVS)
    aft = truth.aft()
    for term, name in zip(fit.terms, ["(Intercept)", "age", "homeless", "stimulant_use", "injects", "unemployed"]):
        j = fit.terms.index(term)
        assert abs(fit.coef[j] - aft[name]) < 3.5 * fit.se[j], term
    assert abs(fit.log_scale - aft["log_scale"]) < 3.5 * fit.log_scale_se
    for name, key in zip(COVS[1:], COVS[1:]):
        assert fit.hr_lower[key] < truth.hazard_ratios[name] * 1.03 and truth.hazard_ratios[name] < fit.hr_upper[key] * 1.03


def test_turnbull_recovers_truth(recovery):
    df, truth = recovery
    tdict = truth.to_dict()
    lo, hi = discharge_intervals(df["LOS"].to_numpy())
    all_cause = turnbull(pd.DataFrame({"time_lower": lo, "time_upper": hi}))
    se = np.sqrt(0.25 / len(df))
    for h, s in zip((30, 90, 180), all_cause.survival_at([30, 90, 180])):
        assert abs(s - tdict["discharge_survival"][str(h)]) < 4 * se, h
    # dropout: the NPMLE brackets the net survival (lower: withdrawals at band start; upper: at band end)
    drop = df["REASON"].isin([2, 3]).to_numpy()
    bounds = []
    for where in ("lower", "upper"):
        lo, hi = teds_intervals(df["LOS"].to_numpy(), drop, censor_at=where)
        bounds.append(turnbull(pd.DataFrame({"time_lower": lo, "time_upper": hi})).survival_at([30, 90, 180]))
    for j, h in enumerate((30, 90, 180)):
        t = tdict["net_survival"][str(h)]
        assert bounds[0][j] - 4 * se < t < bounds[1][j] + 4 * se, h


def test_truth_file_is_the_generator_truth():
    stored = json.loads((ROOT / "data" / "synthetic" / "teds_d_synthetic.truth.json").read_text())
    _, truth = simulate_teds(10, rng=2026)
    assert stored["aft"] == pytest.approx(truth.aft())
    assert stored["net_survival"] == pytest.approx(truth.to_dict()["net_survival"])
