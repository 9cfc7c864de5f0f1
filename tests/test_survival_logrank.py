"""Log-rank tests: against R survdiff (rho 0/1, stratified) and the G(rho, gamma) formula in survival_core.R."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from peerstudy.data import datasets
from peerstudy.exceptions import AnalysisError, ParameterError, SchemaError
from peerstudy.survival.logrank import logrank_test

REF = Path(__file__).parent / "reference"
R = json.loads((REF / "survival_core.json").read_text())

SETS = {
    "uis": (datasets.load_uis, "TIME", "CENSOR", "TREAT", "SITE"),
    "pharmacoSmoking": (datasets.load_pharmaco_smoking, "ttr", "relapse", "grp", "employment"),
    "rossi": (datasets.load_rossi, "week", "arrest", "fin", "paro"),
    "sim": (lambda: pd.read_csv(REF / "survival_core_cohort.csv"), "time", "event", "arm", "site"),
}


def _fit(name, **kw):
    load, t, e, g, s = SETS[name]
    strata = s if kw.pop("strata", False) else None
    return logrank_test(load(), time=t, event=e, group=g, strata=strata, allow_zero_time=True, **kw)


@pytest.mark.parametrize("name", list(SETS))
@pytest.mark.parametrize("rho", [0, 1])
def test_matches_survdiff(name, rho):
    ref = R["logrank"][name][f"rho{rho}"]
    res = _fit(name, rho=rho)
    assert res.statistic == pytest.approx(ref["statistic"], abs=1e-6, rel=1e-9)
    assert res.p == pytest.approx(ref["p"], abs=1e-6)
    assert res.df == ref["df"]
    order = [res.groups.index(g) for g in ref["groups"]]
    np.testing.assert_allclose(np.array(res.observed)[order], ref["observed"], atol=1e-8)
    np.testing.assert_allclose(np.array(res.expected)[order], ref["expected"], atol=1e-8)


@pytest.mark.parametrize("name", list(SETS))
def test_stratified_matches_survdiff(name):
    ref = R["logrank"][name]
    res = _fit(name, strata=True)
    assert res.statistic == pytest.approx(ref["strata"]["statistic"], abs=1e-6)
    assert res.p == pytest.approx(ref["strata"]["p"], abs=1e-6)
    assert sorted(res.expected) == pytest.approx(sorted(ref["strata"]["expected"]), abs=1e-8)
    weighted = _fit(name, strata=True, rho=1)
    assert weighted.statistic == pytest.approx(ref["strata_rho1"]["statistic"], abs=1e-6)
    assert res.method == "stratified log-rank"


@pytest.mark.parametrize("name", list(SETS))
@pytest.mark.parametrize("key,rho,gamma,strata", [("fh_0_1", 0, 1, False), ("fh_1_1", 1, 1, False),
                                                  ("fh_0_1_strata", 0, 1, True), ("fh_1_0_check", 1, 0, False)])
def test_fleming_harrington_matches_reference_formula(name, key, rho, gamma, strata):
    ref = R["logrank"][name][key]
    res = _fit(name, rho=rho, gamma=gamma, strata=strata)
    assert res.statistic == pytest.approx(ref["statistic"], abs=1e-6)
    assert res.p == pytest.approx(ref["p"], abs=1e-6)


def test_fleming_harrington_agrees_with_lifelines():
    from lifelines.statistics import logrank_test as ll_logrank

    df = pd.read_csv(REF / "survival_core_cohort.csv")
    a, b = df[df.arm == "usual_care"], df[df.arm == "peer"]
    ll = ll_logrank(a.time, b.time, a.event, b.event, weightings="fleming-harrington", p=1, q=1)
    assert logrank_test(df, rho=1, gamma=1).statistic == pytest.approx(ll.test_statistic, rel=1e-9)


def test_three_groups_and_to_dict():
    df = pd.read_csv(REF / "survival_core_cohort.csv")
    res = logrank_test(df, group="site")
    assert res.df == df["site"].nunique() - 1
    d = res.to_dict()
    assert {"statistic", "df", "p"} <= set(d) and set(d["groups"]) == set(df["site"].unique())
    assert sum(g["observed"] for g in d["groups"].values()) == df["event"].sum()
    assert sum(g["expected"] for g in d["groups"].values()) == pytest.approx(df["event"].sum())
    assert "chi-squared" in res._repr_html_()


def test_errors():
    df = pd.read_csv(REF / "survival_core_cohort.csv")
    with pytest.raises(AnalysisError, match=r"column 'arm' \(group\) needs at least 2 levels; it has 1: 'peer'"):
        logrank_test(df[df.arm == "peer"])
    with pytest.raises(SchemaError, match=r"missing column\(s\) 'clinic'"):
        logrank_test(df, strata="clinic")
    with pytest.raises(ParameterError, match="rho must be a number >= 0; got -1"):
        logrank_test(df, rho=-1)
    with pytest.raises(ParameterError, match="gamma must be a number >= 0; got 'a'"):
        logrank_test(df, gamma="a")
    with pytest.raises(AnalysisError, match="no events"):
        logrank_test(df.assign(event=0))
    with pytest.raises(SchemaError, match=r"'event' \(event\) must be 0/1"):
        logrank_test(df.assign(event=df["event"] * 3))


def test_vectorised_on_large_data_is_fast():
    import time

    rng = np.random.default_rng(1)
    n = 1_000_000
    df = pd.DataFrame({"time": rng.integers(1, 181, n), "event": rng.integers(0, 2, n),
                       "arm": np.where(rng.random(n) < 0.5, "peer", "usual_care"), "site": rng.integers(0, 8, n)})
    t0 = time.perf_counter()
    res = logrank_test(df, strata="site")
    assert time.perf_counter() - t0 < 5
    assert 0 <= res.p <= 1
