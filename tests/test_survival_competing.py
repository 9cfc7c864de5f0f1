"""Aalen-Johansen cumulative incidence: against R survfit multi-state (tied data), statsmodels, lifelines' jitter."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from peerstudy.exceptions import AnalysisError, ParameterError, SchemaError
from peerstudy.survival.competing import cumulative_incidence

REF = Path(__file__).parent / "reference"
R = json.loads((REF / "survival_core.json").read_text())

SETS = {
    "sim": (REF / "survival_core_cohort.csv", "time", "outcome", "arm", ("retained", "lost_to_follow_up")),
    "mgus2": (REF / "mgus2.csv", "etime", "ending", "sex", ("censor",)),
}


@pytest.mark.parametrize("name", list(SETS))
def test_matches_r_survfit_multistate(name):
    path, t, ending, g, cens = SETS[name]
    df = pd.read_csv(path)
    ref = R["cif"][name]
    fit = cumulative_incidence(df, time=t, ending=ending, group=g, censored=cens)
    for label, curve in fit.curves.items():
        r = ref[label]
        np.testing.assert_array_equal(curve.time, r["time"])
        for j, cause in enumerate(curve.causes):
            np.testing.assert_allclose(curve.cif[:, j], r["cif"][cause], atol=1e-12, err_msg=f"{label} {cause}")
            np.testing.assert_allclose(curve.se[:, j], r["std_err"][cause], atol=1e-10)
            at = curve.at(r["at_time"])
            np.testing.assert_allclose(at.loc[at.cause == cause, "cif"], r["at"][cause], atol=1e-6)
    overall = cumulative_incidence(df, time=t, ending=ending, censored=cens)["all"]
    for j, cause in enumerate(overall.causes):
        np.testing.assert_allclose(overall.cif[:, j], ref["all"]["cif"][cause], atol=1e-12)


def test_matches_statsmodels_cumincidenceright():
    from statsmodels.duration.survfunc import CumIncidenceRight

    df = pd.read_csv(REF / "survival_core_cohort.csv")
    fit = cumulative_incidence(df, causes=("dropout", "incarcerated", "died"))["all"]
    status = df["outcome"].map({"dropout": 1, "incarcerated": 2, "died": 3}).fillna(0).astype(int)
    sm = CumIncidenceRight(df["time"].to_numpy(), status.to_numpy())
    for j in range(3):
        np.testing.assert_allclose(fit.cif[:, j], sm.cinc[j], atol=1e-12)
        np.testing.assert_allclose(fit.se[:, j], sm.cinc_se[j], atol=1e-12)


def test_order_to_dict_and_cause_first():
    df = pd.read_csv(REF / "survival_core_cohort.csv")
    fit = cumulative_incidence(df, group="arm")
    assert fit.causes == ("dropout", "incarcerated", "died")
    assert list(fit.curves) == ["usual_care", "peer"]
    d = fit.to_dict()
    assert set(d["cif"]["died"]["peer"]) == {"30", "90", "180"}
    assert "Aalen-Johansen" in fit._repr_html_()
    again = cumulative_incidence(df, group="arm", causes=("incarcerated",))
    assert again.causes[0] == "incarcerated"
    np.testing.assert_allclose(again["peer"].cif[:, 0], fit["peer"].cif[:, 1])
    # endings plus overall survival add to one at every time
    km_free = 1 - fit["peer"].cif.sum(axis=1)
    assert np.all(np.diff(km_free) <= 1e-12) and km_free[-1] >= 0


def test_numeric_endings_and_errors():
    df = pd.read_csv(REF / "survival_core_cohort.csv")
    codes = df["outcome"].map({"dropout": 1, "incarcerated": 2, "died": 3}).fillna(0).astype(int)
    fit = cumulative_incidence(df.assign(code=codes), ending="code", censored=(0,))
    np.testing.assert_allclose(fit["all"].cif[:, 0], cumulative_incidence(df)["all"].cif[:, 0])
    with pytest.raises(AnalysisError, match="cause 'relapse' does not occur in column 'outcome'"):
        cumulative_incidence(df, causes=("relapse",))
    with pytest.raises(ParameterError, match="cause 'retained' is also listed in censored"):
        cumulative_incidence(df, causes=("retained",))
    with pytest.raises(SchemaError, match=r"missing column\(s\) 'ending_col'"):
        cumulative_incidence(df, ending="ending_col")
    with pytest.raises(SchemaError, match=r"column 'outcome' \(ending\) has 1 missing value\(s\) at row\(s\) 5"):
        cumulative_incidence(df.assign(outcome=df["outcome"].where(df.index != 4, None)))
    with pytest.raises(AnalysisError, match="no endings other than the censored"):
        cumulative_incidence(df.assign(outcome="retained"))


def test_recovers_simulated_cif():
    from peerstudy.simulation import cohort as simulate
    from peerstudy.scenario import apply_overrides, preset

    scenario = apply_overrides(preset("outpatient_default"), {"n_sites": 2000})
    df = simulate.simulate_cohort(scenario, rng=11, n=40_000)
    truth = df.attrs["truth"]["estimands"]["cif"]
    fit = cumulative_incidence(df, group="arm")
    at = fit.at()
    for ending, by_arm in truth.items():
        for arm, by_h in by_arm.items():
            for h, p in by_h.items():
                row = at[(at.cause == ending) & (at.group == arm) & (at.time == float(h))].iloc[0]
                assert abs(row["cif"] - p) < 4 * row["se"] + 1e-9, (ending, arm, h, row["cif"], p)
