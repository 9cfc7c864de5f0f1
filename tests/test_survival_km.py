"""Kaplan-Meier: against R survfit (tests/reference/survival_core.R; with case weights survival_base.R), the
published UIS table, errors, truth."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from peerstudy.data import datasets
from peerstudy.exceptions import ParameterError, SchemaError
from peerstudy.survival.km import kaplan_meier

REF = Path(__file__).parent / "reference"
R = json.loads((REF / "survival_core.json").read_text())
R_BASE = json.loads((REF / "survival_base.json").read_text())


def _rossi() -> pd.DataFrame:
    return datasets.load_rossi().assign(paro=lambda d: d["paro"].astype(int))


SETS = {
    "uis": (datasets.load_uis, "TIME", "CENSOR", "TREAT"),
    "pharmacoSmoking": (datasets.load_pharmaco_smoking, "ttr", "relapse", "grp"),
    "rossi": (_rossi, "week", "arrest", "fin"),
    "sim": (lambda: pd.read_csv(REF / "survival_core_cohort.csv"), "time", "event", "arm"),
}


def _arr(x) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in x], dtype=float)


@pytest.mark.parametrize("conf_type", ["log-log", "log", "plain"])
@pytest.mark.parametrize("name", list(SETS))
def test_curves_match_r_survfit(name, conf_type):
    load, t, e, g = SETS[name]
    fit = kaplan_meier(load(), time=t, event=e, group=g, conf_type=conf_type, allow_zero_time=True)
    ref = R["km"][name][conf_type]["curves"]
    assert set(fit.groups) == set(ref)
    for label, c in fit.curves.items():
        r = ref[label]
        np.testing.assert_array_equal(c.time, r["time"])
        np.testing.assert_array_equal(c.n_risk, r["n_risk"])
        np.testing.assert_array_equal(c.n_event, r["n_event"])
        np.testing.assert_array_equal(c.n_censor, r["n_censor"])
        np.testing.assert_allclose(c.survival, r["surv"], atol=1e-12)
        np.testing.assert_allclose(c.std_err, _arr(r["std_err"]), atol=1e-10)
        np.testing.assert_allclose(c.lower, _arr(r["lower"]), atol=1e-10)
        np.testing.assert_allclose(c.upper, _arr(r["upper"]), atol=1e-10)


@pytest.mark.parametrize("case, weights, conf_type", [("w_loglog", "w", "log-log"), ("w_log", "w", "log"),
                                                      ("wi_loglog", "wi", "log-log")])
def test_weighted_curves_match_r_survfit(case, weights, conf_type):
    """survfit(weights = ): weighted counts; Greenwood for whole-number weights, the robust SE otherwise."""
    ref = R_BASE["weighted_km"][case]
    df = pd.read_csv(REF / "survival_models_cohort.csv")
    fit = kaplan_meier(df, group="arm", weights=weights, conf_type=conf_type)
    assert fit.weighted and fit.meta()["weighted"] is True
    for label, c in fit.curves.items():
        r = ref[label]
        np.testing.assert_array_equal(c.time, r["time"])
        np.testing.assert_allclose(c.n_risk, r["n_risk"], rtol=1e-12)
        np.testing.assert_allclose(c.n_event, r["n_event"], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(c.survival, r["surv"], rtol=1e-12)
        # R keeps the SE of log S for whole-number weights, and of S itself for the robust SE
        r_se = _arr(r["std_err"]) if ref["logse"] else _arr(r["std_err"]) / c.survival
        np.testing.assert_allclose(c.std_err, r_se, rtol=1e-9)
        np.testing.assert_allclose(c.lower, _arr(r["lower"]), rtol=1e-9)
        np.testing.assert_allclose(c.upper, _arr(r["upper"]), rtol=1e-9)
        assert c.n == int((df["arm"] == label).sum()) and c.events == int(df.loc[df["arm"] == label, "event"].sum())
    assert ref["logse"] is (weights == "wi")
    from peerstudy.survival.rmst import rmst_from_km

    r90 = rmst_from_km(fit, 90)
    np.testing.assert_allclose(r90.estimate, [ref["rmean_90"]["usual_care"], ref["rmean_90"]["peer"]], rtol=1e-12)
    np.testing.assert_allclose(r90.se, [ref["rmean_90"]["se_usual_care"], ref["rmean_90"]["se_peer"]], rtol=1e-9)


def test_whole_number_weights_equal_repeated_rows():
    df = pd.DataFrame({"time": [2, 3, 3, 5, 6, 6, 8, 9], "event": [1, 0, 1, 1, 0, 1, 1, 0],
                       "w": [1, 2, 1, 1, 1, 3, 1, 2]})
    weighted = kaplan_meier(df, weights="w")["all"]
    repeated = kaplan_meier(df.loc[df.index.repeat(df["w"])])["all"]
    for name in ("time", "n_risk", "n_event", "n_censor", "survival", "std_err", "lower", "upper"):
        np.testing.assert_allclose(getattr(weighted, name), getattr(repeated, name), rtol=1e-12)
    assert weighted.n == 8 and repeated.n == 12


@pytest.mark.parametrize("conf_type", ["log-log", "log"])
@pytest.mark.parametrize("name", list(SETS))
def test_horizons_and_medians_match_r(name, conf_type):
    load, t, e, g = SETS[name]
    ref = R["km"][name][conf_type]
    first = next(iter(ref["at"].values()))["time"]
    fit = kaplan_meier(load(), time=t, event=e, group=g, conf_type=conf_type, horizons=first, allow_zero_time=True)
    for label, c in fit.curves.items():
        r = ref["at"][label]
        at = c.at(r["time"])
        np.testing.assert_allclose(at["survival"], r["surv"], atol=1e-6)
        np.testing.assert_allclose(at["lower"], _arr(r["lower"]), atol=1e-6)
        np.testing.assert_allclose(at["upper"], _arr(r["upper"]), atol=1e-6)
        med = c.median()
        m = ref["median"][label]
        for key in ("median", "lower", "upper"):
            want = np.nan if m[key] is None else m[key]
            np.testing.assert_allclose(med[key], want, atol=1e-9, err_msg=f"{name} {label} {key}")


def test_overall_curve_matches_r():
    fit = kaplan_meier(datasets.load_uis(), time="TIME", event="CENSOR")
    ref = R["km"]["uis"]["overall"]
    c = fit["all"]
    np.testing.assert_allclose(c.survival, ref["surv"], atol=1e-12)
    np.testing.assert_allclose(c.lower, _arr(ref["lower"]), atol=1e-10)
    assert [c.median()[k] for k in ("median", "lower", "upper")] == pytest.approx(ref["median"])


def test_published_uis_table():
    """Hosmer, Lemeshow & May (2008): KM free of drug use at 30/90/180/365 days, by TREAT (3 decimals)."""
    published = {"0": [0.903, 0.689, 0.415, 0.215], "1": [0.934, 0.752, 0.549, 0.297]}
    fit = kaplan_meier(datasets.load_uis(), time="TIME", event="CENSOR", group="TREAT", horizons=(30, 90, 180, 365))
    d = fit.to_dict()
    for g, vals in published.items():
        got = [round(d[g]["survival"][k], 3) for k in ("30", "90", "180", "365")]
        assert got == vals


def test_to_dict_contract_and_beyond_follow_up():
    df = pd.read_csv(REF / "survival_core_cohort.csv")
    fit = kaplan_meier(df, group="arm", horizons=(30, 90, 180, 400))
    d = fit.to_dict()
    assert list(d) == ["usual_care", "peer"]
    assert set(d["peer"]["survival"]) == {"30", "90", "180", "400"}
    assert np.isnan(d["peer"]["survival"]["400"])  # beyond follow-up: unknown, not extrapolated
    assert 0 < d["peer"]["survival"]["90"] < 1
    assert "peer" in fit._repr_html_()
    with pytest.raises(ValueError):
        fit["peer"].survival[0] = 0.5  # read-only arrays


def test_matches_lifelines_on_ties():
    from lifelines import KaplanMeierFitter

    df = pd.read_csv(REF / "survival_core_cohort.csv")
    c = kaplan_meier(df)["all"]
    kmf = KaplanMeierFitter().fit(df["time"], df["event"])
    np.testing.assert_allclose(kmf.survival_function_at_times(c.time).to_numpy(), c.survival, atol=1e-12)


def test_errors_name_column_and_value():
    df = pd.read_csv(REF / "survival_core_cohort.csv")
    with pytest.raises(SchemaError, match="missing column.*'days'"):
        kaplan_meier(df, time="days")
    with pytest.raises(SchemaError, match=r"'time' \(time\) must be > 0; got 0 at row\(s\) 4"):
        kaplan_meier(df.assign(time=df["time"].where(df.index != 3, 0)))
    with pytest.raises(SchemaError, match=r"'time' \(time\) must be numeric.*'ten' at row\(s\) 3"):
        kaplan_meier(df.assign(time=df["time"].astype(object).where(df.index != 2, "ten")))
    with pytest.raises(SchemaError, match=r"'event' \(event\) must be 0/1 \(1 = event, 0 = censored\); got 2 at"):
        kaplan_meier(df.assign(event=df["event"].where(df.index != 0, 2)))
    with pytest.raises(SchemaError, match="missing or infinite"):
        kaplan_meier(df.assign(time=df["time"].astype(float).where(df.index != 0, np.nan)))
    with pytest.raises(ParameterError, match="conf_type must be one of 'log-log', 'log', 'plain'; got 'logit'"):
        kaplan_meier(df, conf_type="logit")
    with pytest.raises(ParameterError, match="conf_level must be between 0 and 1; got 95"):
        kaplan_meier(df, conf_level=95)
    with pytest.raises(ParameterError, match="horizons must be positive numbers of days; got 'x'"):
        kaplan_meier(df, horizons=(30, "x"))
    with pytest.raises(SchemaError, match=r"column 'w' \(weights\) must be finite and >= 0; 1 are not \(e.g. -1 at"):
        kaplan_meier(df.assign(w=np.where(df.index == 0, -1.0, 1.0)), weights="w")
    with pytest.raises(ParameterError, match=r"weights must have one value per row"):
        kaplan_meier(df, weights=[1.0, 2.0])
    with pytest.raises(SchemaError, match=r"column 'arm' \(group\) has 1 missing"):
        kaplan_meier(df.assign(arm=df["arm"].where(df.index != 5, None)), group="arm")
    with pytest.raises(SchemaError, match="no rows"):
        kaplan_meier(df.iloc[:0])


def test_recovers_simulated_net_survival():
    """On outpatient_default at large N, KM of dropout (others censored) is within MC error of the truth.

    Sites are made many (2,000) so that the site frailty, whose truth is marginal over its distribution,
    averages out instead of adding between-cohort variance that the KM standard error does not carry.
    """
    from peerstudy.simulation import cohort as simulate
    from peerstudy.scenario import apply_overrides, preset

    scenario = apply_overrides(preset("outpatient_default"), {"n_sites": 2000})
    df = simulate.simulate_cohort(scenario, rng=20240601, n=40_000)
    truth = df.attrs["truth"]["estimands"]["net_survival"]
    fit = kaplan_meier(df, group="arm", horizons=(30, 90, 180))
    for arm, curve in fit.curves.items():
        at = curve.at([30, 90, 180])
        for h, s, lo, hi in zip(("30", "90", "180"), at["survival"], at["lower"], at["upper"]):
            se = (hi - lo) / (2 * 1.96)
            assert abs(s - truth[arm][h]) < 4 * se, (arm, h, s, truth[arm][h])
