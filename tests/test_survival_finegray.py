"""Fine-Gray against R finegray() + coxph(weight = fgwt, cluster = id) and cmprsk::crr; cause-specific Cox."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from peerstudy.exceptions import AnalysisError, ParameterError, SchemaError
from peerstudy.survival.cox.finegray import finegray_expand, fit_fine_gray

REF = Path(__file__).parent / "reference"
R = json.loads((REF / "survival_models.json").read_text())
COVS = ["arm", "age", "homeless", "depression"]


@pytest.fixture(scope="module")
def sim():
    return pd.read_csv(REF / "survival_models_cohort.csv")


def check(fit, ref, rtol=1e-6):
    np.testing.assert_allclose(fit.coef, list(ref["coef"].values()), rtol=rtol)
    np.testing.assert_allclose(fit.cox.se, ref["se"], rtol=rtol)
    np.testing.assert_allclose(fit.robust_se, ref["robust_se"], rtol=rtol)
    assert fit.cox.loglik == pytest.approx(ref["loglik"], rel=1e-9)
    assert fit.expanded_rows == ref["n"]


@pytest.mark.parametrize("name, kwargs", [
    ("fg_dropout", {}), ("fg_dropout_site", {"cluster": "site"}), ("fg_dropout_breslow", {"ties": "breslow"}),
    ("fg_incarcerated", {"cause": "incarcerated"})])
def test_matches_r_finegray_coxph(sim, name, kwargs):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # 17 incarcerations for 4 terms warns, as it should
        check(fit_fine_gray(sim, covariates=COVS, **kwargs), R[name])


def test_agrees_with_crr(sim):
    crr = R["crr_dropout"]
    breslow = fit_fine_gray(sim, covariates=COVS, ties="breslow")
    np.testing.assert_allclose(breslow.coef, list(crr["coef"].values()), rtol=5e-4)
    np.testing.assert_allclose(breslow.robust_se, crr["se"], rtol=5e-4)
    efron = fit_fine_gray(sim, covariates=COVS)
    np.testing.assert_allclose(efron.coef, list(crr["coef"].values()), rtol=1e-2)
    np.testing.assert_allclose(efron.robust_se, crr["se"], rtol=1e-2)


def test_expansion_weights_by_hand():
    # censoring KM: censored at 2 with 5 at risk (G = 4/5), and at 5 with 1 at risk (the ending at 5 comes first)
    time = np.array([1, 2, 3, 4, 5, 5.0])
    status = np.array([2, 0, 1, 1, 1, 0])
    ex = finegray_expand(time, status, 1)
    extra = ex["row"] == 0
    assert ex["status"].tolist()[:1] == [0]
    # the competing ending at day 1 stays until 2 with weight 1, then (2, 5] with weight G(2)/G(1-) = 4/5
    assert ex["stop"][extra].tolist() == [2.0, 5.0]
    np.testing.assert_allclose(ex["weight"][extra], [1.0, 0.8])


def test_dict_and_errors(sim):
    fit = fit_fine_gray(sim, covariates=COVS, cluster="site")
    d = fit.to_dict()
    json.dumps(d)
    assert set(d) >= {"terms", "n", "events"} and d["n"] == len(sim)
    assert d["events"] == int((sim.outcome == "dropout").sum())
    assert set(d["terms"]["arm[peer]"]) == {"coef", "se", "hr", "ci_lower", "ci_upper", "p", "robust_se"}
    assert "Fine-Gray" in fit._repr_html_()
    with pytest.raises(AnalysisError, match="cause 'relapse' does not occur in column 'outcome'"):
        fit_fine_gray(sim, cause="relapse")
    with pytest.raises(ParameterError, match="cause 'retained' is also listed in censored"):
        fit_fine_gray(sim, cause="retained")
    with pytest.raises(SchemaError, match=r"missing column\(s\) 'ending'"):
        fit_fine_gray(sim, ending="ending")
    with pytest.raises(ParameterError, match="ties must be one of 'efron', 'breslow'; got 'exact'"):
        fit_fine_gray(sim, ties="exact")
