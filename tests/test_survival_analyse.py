"""analyse_cohort: the results.json contract, agreement with R on the simulated cohort, errors, truth recovery."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from peerstudy._io import dumps_json
from peerstudy.exceptions import AnalysisError, ParameterError, SchemaError
from peerstudy.survival.analyse import analyse_cohort

REF = Path(__file__).parent / "reference"
R = json.loads((REF / "survival_core.json").read_text())
HAS_COX = __import__("importlib").util.find_spec("peerstudy.survival.cox") is not None


@pytest.fixture(scope="module")
def cohort() -> pd.DataFrame:
    return pd.read_csv(REF / "survival_core_cohort.csv")


@pytest.fixture(scope="module")
def full(cohort):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return analyse_cohort(cohort, covariates=("age", "homeless"), strata="site", cluster="site",
                              ending="outcome", cause="dropout")


def test_contract_keys(full):
    d = json.loads(dumps_json(full.to_dict()))
    assert d["n"] == 600 and d["events"] == 341
    for arm in ("usual_care", "peer"):
        assert set(d["km"][arm]["survival"]) == {"30", "90", "180"}
        assert "median" in d["km"][arm]
        assert set(d["rmst"]["90"][arm]) >= {"estimate", "se"}
    assert set(d["logrank"]) >= {"statistic", "df", "p"}
    assert set(d["rmst"]["180"]["difference"]) >= {"estimate", "ci_lower", "ci_upper"}
    assert set(d["competing"]["cif"]) == {"dropout", "incarcerated", "died"}
    assert set(d["competing"]["cif"]["dropout"]["peer"]) == {"30", "90", "180"}
    if HAS_COX:
        assert set(d["cox"]) >= {"ties", "terms", "loglik", "concordance"}
        term = d["cox"]["terms"]["arm[peer]"]
        assert set(term) >= {"coef", "se", "hr", "ci_lower", "ci_upper", "p", "robust_se"}
    with pytest.raises(Exception):
        full.n = 3  # frozen


def test_numbers_agree_with_r(full):
    d = full.to_dict()
    at = R["km"]["sim"]["log-log"]["at"]
    for arm in ("usual_care", "peer"):
        np.testing.assert_allclose([d["km"][arm]["survival"][h] for h in ("30", "90", "180")], at[arm]["surv"],
                                   atol=1e-6)
        assert d["km"][arm]["median"] == pytest.approx(R["km"]["sim"]["log-log"]["median"][arm]["median"])
        for h in ("90", "180"):
            assert d["rmst"][h][arm]["estimate"] == pytest.approx(R["rmst"]["sim"][h][arm]["estimate"], abs=1e-6)
            assert d["rmst"][h][arm]["se"] == pytest.approx(R["rmst"]["sim"][h][arm]["se"], abs=1e-6)
        np.testing.assert_allclose([d["competing"]["cif"]["dropout"][arm][h] for h in ("30", "90", "180")],
                                   R["cif"]["sim"][arm]["at"]["dropout"], atol=1e-6)
    assert d["logrank"]["statistic"] == pytest.approx(R["logrank"]["sim"]["rho0"]["statistic"], abs=1e-6)
    assert d["logrank_stratified"]["statistic"] == pytest.approx(R["logrank"]["sim"]["strata"]["statistic"], abs=1e-6)
    if HAS_COX:
        ref = R["analyse_cox"]
        for term, coef, se, rse in zip(ref["terms"], ref["coef"], ref["se"], ref["robust_se"]):
            got = d["cox"]["terms"][term]
            assert got["coef"] == pytest.approx(coef, rel=1e-6)
            assert got["se"] == pytest.approx(se, rel=1e-6)
            assert got["robust_se"] == pytest.approx(rse, rel=1e-6)


def test_tables_and_html(full):
    tables = full.tables()
    assert {"km_curves", "km_horizons", "km_medians", "logrank", "rmst", "cif"} <= set(tables)
    assert len(tables["km_horizons"]) == 6
    assert "dropouts" in full._repr_html_()


def test_single_group_and_skipped_rmst(cohort):
    with pytest.warns(Warning, match="RMST at 365 days skipped"):
        res = analyse_cohort(cohort, arm=None, horizons=(90, 365))
    d = res.to_dict()
    assert list(d["km"]) == ["all"] and "logrank" not in d
    assert set(d["rmst"]) == {"90"}
    assert any("365" in n for n in d["notes"])


def test_event_derived_from_ending(cohort):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = analyse_cohort(cohort.drop(columns="event"), ending="outcome")
    assert res.events == 341 and any("derived" in n for n in res.notes)


def test_errors(cohort):
    with pytest.raises(AnalysisError, match=r"column 'arm' \(arm\) needs at least 2 levels; it has 1: 'peer'"):
        analyse_cohort(cohort[cohort.arm == "peer"])
    with pytest.raises(SchemaError, match=r"missing column\(s\) 'coach'"):
        analyse_cohort(cohort, cluster="coach")
    with pytest.raises(ParameterError, match="ties must be one of 'efron', 'breslow'; got 'exact'"):
        analyse_cohort(cohort, ties="exact")
    with pytest.raises(ParameterError, match="cause 'dropout' needs an ending column"):
        analyse_cohort(cohort, cause="dropout")
    with pytest.raises(ParameterError, match="cause 'retained' is also listed in censored"):
        analyse_cohort(cohort, ending="outcome", cause="retained")
    with pytest.raises(ParameterError, match="horizons must be positive numbers of days; got -30"):
        analyse_cohort(cohort, horizons=(-30, 90))
    with pytest.raises(AnalysisError, match="cause 'relapse' does not occur in column 'outcome'"):
        analyse_cohort(cohort, ending="outcome", cause="relapse")
    with pytest.raises(AnalysisError, match="no events"):
        analyse_cohort(cohort.assign(event=0))
    with pytest.raises(SchemaError, match=r"'event' \(event\) must be 0/1"):
        analyse_cohort(cohort.assign(event=cohort["event"] + 1))


def test_recovers_simulated_truth():
    """outpatient_default at large N (many sites so the frailty averages out): KM, AJ and RMST vs the truth."""
    from peerstudy.simulation import cohort as simulate
    from peerstudy.scenario import apply_overrides, preset

    scenario = apply_overrides(preset("outpatient_default"), {"n_sites": 2000})
    df = simulate.simulate_cohort(scenario, rng=2024, n=40_000)
    truth = df.attrs["truth"]["estimands"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = analyse_cohort(df, ending="outcome", horizons=(30, 90, 180))
    d = res.to_dict()
    for arm in ("usual_care", "peer"):
        for h in ("30", "90", "180"):
            km = d["km"][arm]
            se = (km["upper"][h] - km["lower"][h]) / (2 * 1.96)
            assert abs(km["survival"][h] - truth["net_survival"][arm][h]) < 4 * se
            for ending in truth["cif"]:
                p, s = d["competing"]["cif"][ending][arm][h], d["competing"]["cif_se"][ending][arm][h]
                assert abs(p - truth["cif"][ending][arm][h]) < 4 * s + 1e-9
        for h in ("90", "180"):
            r = d["rmst"][h][arm]
            assert abs(r["estimate"] - truth["rmst"][h][arm]) < 4 * r["se"]
