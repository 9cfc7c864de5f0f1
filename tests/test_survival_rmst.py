"""RMST: against R summary(survfit, rmean = tau)$table (estimate and se(rmean)), difference CI, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from peerstudy.data import datasets
from peerstudy.exceptions import AnalysisError, ParameterError
from peerstudy.survival.km import kaplan_meier
from peerstudy.survival.rmst import rmst, rmst_from_km

REF = Path(__file__).parent / "reference"
R = json.loads((REF / "survival_core.json").read_text())

SETS = {
    "uis": (datasets.load_uis, "TIME", "CENSOR", "TREAT"),
    "pharmacoSmoking": (datasets.load_pharmaco_smoking, "ttr", "relapse", "grp"),
    "rossi": (datasets.load_rossi, "week", "arrest", "fin"),
    "sim": (lambda: pd.read_csv(REF / "survival_core_cohort.csv"), "time", "event", "arm"),
}


@pytest.mark.parametrize("name", list(SETS))
def test_matches_r_rmean(name):
    load, t, e, g = SETS[name]
    df = load()
    for tau, ref in R["rmst"][name].items():
        if tau == "overall":
            res = rmst(df, tau=ref["tau"], time=t, event=e, group=None, allow_zero_time=True)
            assert res.estimate[0] == pytest.approx(ref["estimate"], abs=1e-6)
            assert res.se[0] == pytest.approx(ref["se"], abs=1e-6)
            continue
        res = rmst(df, tau=float(tau), time=t, event=e, group=g, allow_zero_time=True)
        for label, est, se in zip(res.groups, res.estimate, res.se):
            assert est == pytest.approx(ref[label]["estimate"], abs=1e-6), (name, tau, label)
            assert se == pytest.approx(ref[label]["se"], abs=1e-6), (name, tau, label)
        # difference of independent arms: second level minus reference, Wald interval
        r0, r1 = (ref[label] for label in res.groups)
        diff = r1["estimate"] - r0["estimate"]
        se = np.hypot(r0["se"], r1["se"])
        assert res.difference == pytest.approx(diff, abs=1e-6)
        assert res.ci_lower == pytest.approx(diff - stats.norm.ppf(0.975) * se, abs=1e-6)
        assert res.ci_upper == pytest.approx(diff + stats.norm.ppf(0.975) * se, abs=1e-6)


def test_from_km_equals_direct_and_contract():
    df = pd.read_csv(REF / "survival_core_cohort.csv")
    km = kaplan_meier(df, group="arm")
    a, b = rmst(df, tau=90), rmst_from_km(km, 90)
    assert a.to_dict() == b.to_dict()
    d = a.to_dict()
    assert set(d) == {"usual_care", "peer", "difference"}
    assert {"estimate", "ci_lower", "ci_upper"} <= set(d["difference"])
    assert d["difference"]["contrast"] == "peer - usual_care"
    assert "Restricted mean" in a._repr_html_()
    assert len(a.table()) == 3


def test_tau_equal_to_event_time_and_small_example():
    # S = 1 until 2, 0.5 until 4, then 0: RMST(5) = 2 + 0.5 * 2 = 3
    df = pd.DataFrame({"time": [2, 4], "event": [1, 1]})
    res = rmst(df, tau=5, group=None, extend=True)
    assert res.estimate[0] == pytest.approx(3.0)
    assert rmst(df, tau=2, group=None).estimate[0] == pytest.approx(2.0)


def test_errors():
    df = pd.read_csv(REF / "survival_core_cohort.csv")
    with pytest.raises(AnalysisError, match="tau = 400 days is beyond the last observed time"):
        rmst(df, tau=400)
    with pytest.raises(ParameterError, match="tau must be positive numbers of days; got -3"):
        rmst(df, tau=-3)
    with pytest.raises(ParameterError, match="conf_level must be between 0 and 1; got 1.5"):
        rmst(df, tau=90, conf_level=1.5)
    assert rmst(df, tau=400, extend=True).tau == 400


def test_recovers_simulated_rmst():
    from peerstudy.simulation import cohort as simulate
    from peerstudy.scenario import apply_overrides, preset

    scenario = apply_overrides(preset("outpatient_default"), {"n_sites": 2000})
    df = simulate.simulate_cohort(scenario, rng=7, n=40_000)
    truth = df.attrs["truth"]["estimands"]["rmst"]
    for h in ("90", "180"):
        res = rmst(df, tau=float(h))
        for label, est, se in zip(res.groups, res.estimate, res.se):
            assert abs(est - truth[h][label]) < 4 * se, (h, label, est, truth[h][label])
