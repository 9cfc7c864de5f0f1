"""cox.zph (R survival 3.x score test on scaled Schoenfeld residuals) against stored R output."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from peerstudy.exceptions import ParameterError, ProportionalHazardsWarning
from peerstudy.survival.cox.engine import fit_cox
from peerstudy.survival.cox.zph import PH_ALPHA, cox_zph

REF = Path(__file__).parent / "reference"
DATA = Path(__file__).parents[1] / "src" / "peerstudy" / "data"
R = json.loads((REF / "survival_models.json").read_text())
COVS = ["arm", "age", "female", "homeless", "depression", "prior_treatments"]


@pytest.fixture(scope="module")
def sim():
    return pd.read_csv(REF / "survival_models_cohort.csv")


@pytest.fixture(scope="module")
def rossi_fit():
    from lifelines.datasets import load_rossi
    return fit_cox(load_rossi(), time="week", event="arrest", covariates=["fin", "age", "prio"])


def check(z, ref, check_time=True):
    assert set(z.table) == set(ref["table"])
    for term, row in ref["table"].items():
        assert z.table[term]["chisq"] == pytest.approx(row["chisq"], rel=1e-6, abs=1e-10), term
        assert z.table[term]["df"] == row["df"]
        assert z.table[term]["p"] == pytest.approx(row["p"], rel=1e-6, abs=1e-10), term
    np.testing.assert_allclose(z.x, ref["x"], rtol=1e-9, atol=1e-12)
    if check_time:
        np.testing.assert_allclose(z.time, ref["time"])
    assert list(z.residuals) == ref["y_names"]
    for name, col in zip(ref["y_names"], ref["y"]):
        np.testing.assert_allclose(z.residuals[name], np.array(col, dtype=float), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("transform, name", [("km", "rossi_zph"), ("identity", "rossi_zph_identity"),
                                              ("log", "rossi_zph_log"), ("rank", "rossi_zph_rank")])
def test_rossi_transforms_match_r(rossi_fit, transform, name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ProportionalHazardsWarning)
        check(cox_zph(rossi_fit, transform=transform), R[name])


@pytest.mark.parametrize("name, kwargs", [("sim_zph", {}), ("sim_zph_breslow", {"ties": "breslow"}),
                                          ("sim_zph_strata", {"strata": "site"}),
                                          ("sim_zph_weights", {"weights": "w"})])
def test_simulated_cohort_matches_r(sim, name, kwargs):
    check(cox_zph(fit_cox(sim, covariates=COVS, **kwargs)), R[name])


def test_multi_level_terms_match_r():
    d = pd.read_csv(DATA / "pharmacoSmoking.csv")
    d["grp"] = np.where(d.grp == "C", "combination", "patchOnly")
    d["ageGroup4"] = pd.cut(d.age, [0, 34, 49, 64, np.inf], labels=["21-34", "35-49", "50-64", "65+"]).astype(str)
    d["ttr1"] = d.ttr + 1   # day-0 relapses; a shift keeps the Cox fit and the km/rank transforms
    z = cox_zph(fit_cox(d, time="ttr1", event="relapse", covariates=["grp", "employment", "ageGroup4"]))
    check(z, R["pharmaco_zph"], check_time=False)
    assert z.table["employment"]["df"] == 2 and z.table["ageGroup4"]["df"] == 3


def test_warns_below_threshold_and_serialises(rossi_fit):
    assert PH_ALPHA == 0.05
    with pytest.warns(ProportionalHazardsWarning, match="p < 0.05.*age"):
        z = cox_zph(rossi_fit)
    d = z.to_dict()
    json.dumps(d)
    assert d["table"]["GLOBAL"]["df"] == 3 and "age" in z._repr_html_()


def test_no_warning_when_proportional(sim):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ProportionalHazardsWarning)
        z = cox_zph(fit_cox(sim, covariates=COVS))
    assert min(v["p"] for v in z.table.values()) >= PH_ALPHA


def test_bad_transform(rossi_fit):
    with pytest.raises(ParameterError, match="transform must be one of 'km', 'rank', 'identity', 'log'; got 'sqrt'"):
        cox_zph(rossi_fit, transform="sqrt")
