"""Propensity scores, stabilised IPT weights, ESS, balance and their warnings.

Reference values come from tests/reference/observational.R (R's glm(binomial)) on the stored cohort.
"""

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from peerstudy.exceptions import ExtremeWeightsWarning, ParameterError, SchemaError, SeparationWarning, AnalysisError
from peerstudy.survival.observational.weighting import (ESS_FRACTION, MAX_WEIGHT, balance_table, effective_sample_size,
                                          fit_propensity, iptw_weights)

REF = Path(__file__).parent / "reference"
COVS = ["age", "homeless", "stimulant_use", "depression", "site"]


@pytest.fixture(scope="module")
def ref():
    return json.loads((REF / "observational_r.json").read_text())


@pytest.fixture(scope="module")
def cohort():
    return pd.read_csv(REF / "observational_cohort.csv")


def _rel(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300))


def test_propensity_matches_r_glm(cohort, ref):
    m = fit_propensity(cohort, covariates=COVS)
    rcoef = ref["propensity"]["coef"]
    ours = {"(Intercept)": m.coef["Intercept"], **{k: v for k, v in m.coef.items() if k != "Intercept"}}
    mapped = {k.replace("site[", "site").rstrip("]"): v for k, v in ours.items()}
    assert set(mapped) == set(rcoef)
    assert _rel([mapped[k] for k in rcoef], list(rcoef.values())) < 1e-6
    assert _rel(m.scores, ref["propensity"]["ps"]) < 1e-6


def test_stabilised_weights_trim_and_ess_match_r(cohort, ref):
    w = iptw_weights(cohort, covariates=COVS)
    assert _rel(w.weights, ref["propensity"]["weights"]) < 1e-6
    assert abs(w.ess / ref["propensity"]["ess"] - 1) < 1e-6
    wt = iptw_weights(cohort, covariates=COVS, trim=1)
    assert wt.trim == (1.0, 99.0)
    assert _rel(wt.weights, ref["propensity"]["weights_trim_1_99"]) < 1e-6
    assert wt.n_trimmed == int(np.sum(~np.isclose(wt.weights, w.weights)))


def test_formula_gives_the_same_model_as_column_names(cohort):
    a = iptw_weights(cohort, covariates=COVS)
    b = iptw_weights(cohort, formula="arm ~ age + homeless + stimulant_use + depression + C(site)")
    np.testing.assert_allclose(a.weights, b.weights, rtol=1e-10)
    assert set(b.balance["covariate"]) == set(COVS)


def test_unstabilised_weights_are_inverse_probabilities(cohort):
    w = iptw_weights(cohort, covariates=COVS, stabilised=False)
    ps, a = w.model.scores, w.model.treated
    np.testing.assert_allclose(w.weights, np.where(a == 1, 1 / ps, 1 / (1 - ps)))


def test_balance_table_smd_definition_and_improvement(cohort):
    w = iptw_weights(cohort, covariates=COVS)
    b = w.balance.set_index("term")
    t = cohort["arm"] == "peer"
    x = cohort["age"]
    pooled = np.sqrt((x[t].var() + x[~t].var()) / 2)
    assert b.loc["age", "smd_before"] == pytest.approx((x[t].mean() - x[~t].mean()) / pooled, rel=1e-12)
    wt = w.weights
    after = (np.average(x[t], weights=wt[t]) - np.average(x[~t], weights=wt[~t])) / pooled
    assert b.loc["age", "smd_after"] == pytest.approx(after, rel=1e-12)
    # the confounders are imbalanced before and balanced after weighting
    assert b.loc["homeless", "smd_before"] > 0.2
    assert w.max_abs_smd_after < 0.1
    plain = balance_table(cohort, covariates=["age"])
    assert np.isnan(plain["smd_after"]).all()


def test_effective_sample_size():
    assert effective_sample_size(np.ones(10)) == 10
    w = np.array([1.0, 1.0, 2.0])
    assert effective_sample_size(w) == pytest.approx(16 / 6)


def test_missing_propensity_covariates_are_all_named(cohort):
    with pytest.raises(SchemaError, match=r"missing column\(s\) 'unemployed', 'injects' \(propensity covariate\)"):
        fit_propensity(cohort, covariates=["age", "unemployed", "injects"])
    with pytest.raises(SchemaError, match=r"missing column\(s\) 'housing' \(named in the propensity formula"):
        iptw_weights(cohort, formula="age + housing")
    with pytest.raises(ParameterError, match="exactly one of covariates"):
        fit_propensity(cohort)
    with pytest.raises(AnalysisError, match="treated level 'coach' never occurs in column 'arm'"):
        fit_propensity(cohort, covariates=["age"], treated="coach")


def test_missing_values_and_bad_trim(cohort):
    bad = cohort.assign(age=cohort["age"].astype(float))
    bad.loc[3, "age"] = np.nan
    with pytest.raises(SchemaError, match=r"column 'age' \(propensity covariate\) has 1 missing value\(s\) at row\(s\) 4"):
        fit_propensity(bad, covariates=["age"])
    with pytest.raises(SchemaError, match=r"column 'arm' \(treatment\) has 1 missing value"):
        fit_propensity(cohort.assign(arm=cohort["arm"].where(cohort.index != 0, None)), covariates=["age"])
    with pytest.raises(AnalysisError, match="propensity covariate 'age' is constant"):
        fit_propensity(cohort.assign(age=30), covariates=["age"])
    with pytest.raises(ParameterError, match="trim percentiles"):
        iptw_weights(cohort, covariates=COVS, trim=(99, 1))


def test_separation_warns_naming_the_covariate(cohort):
    df = cohort.assign(offered=(cohort["arm"] == "peer").astype(int) * (cohort["homeless"]))
    # every 'offered' person is in the peer arm: quasi-complete separation
    with pytest.warns(SeparationWarning, match="separation by offered"):
        m = fit_propensity(df, covariates=["age", "offered"])
    assert m.separated == ("offered",)
    df2 = cohort.assign(score=np.where(cohort["arm"] == "peer", 10, 0) + cohort["depression"] / 100)
    with pytest.warns(SeparationWarning, match="score \\(its ranges in the two arms do not overlap"):
        fit_propensity(df2, covariates=["score"])


def test_extreme_weights_warn_and_report_ess():
    rng = np.random.default_rng(3)
    x = rng.normal(size=2000)
    df = pd.DataFrame({"x": x, "arm": np.where(rng.random(2000) < 1 / (1 + np.exp(-3.5 * x)), "peer", "usual_care")})
    with pytest.warns(ExtremeWeightsWarning, match=r"ESS = \d+\.\d") as rec:
        w = iptw_weights(df, covariates=["x"])
    assert w.ess < ESS_FRACTION * len(df) or w.weights.max() > MAX_WEIGHT
    assert f"{w.ess:.1f}" in str(rec[0].message)
    # truncation at the 5th/95th percentiles tames them
    with warnings.catch_warnings():
        warnings.simplefilter("error", ExtremeWeightsWarning)
        t = iptw_weights(df, covariates=["x"], trim=5)
    assert t.weights.max() < w.weights.max()


def test_no_warning_on_well_behaved_weights(cohort):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        w = iptw_weights(cohort, covariates=COVS)
    d = w.to_dict()
    assert d["n"] == len(cohort) and d["ess"] == pytest.approx(w.ess)
    json.dumps(d)
    assert "ESS" in w._repr_html_() and "log-odds" in w.model._repr_html_()


def test_refit_weights_equals_a_full_refit_on_the_resample(cohort):
    from peerstudy.survival.observational.weighting import refit_weights

    w = iptw_weights(cohort, covariates=COVS)
    idx = np.random.default_rng(4).integers(0, len(cohort), len(cohort))
    fast = refit_weights(w.model, idx, trim=(2, 98))
    full = iptw_weights(cohort.iloc[idx].reset_index(drop=True), covariates=COVS, trim=(2, 98))
    np.testing.assert_allclose(fast, full.weights, rtol=1e-8)
    with pytest.raises(AnalysisError, match="one arm only"):
        refit_weights(w.model, np.flatnonzero(w.model.treated == 1))


@pytest.mark.parametrize("formula, token", [
    ("age + I(__import__('os').system('touch {pwn}')*0 + homeless)", "__import__('os').system('touch {pwn}')"),
    ("age + np.log(age)", "np.log(age)"),
    ("age + (lambda: 1)()", "lambda"),
    ("age + homeless.__class__", "homeless.__class__"),
])
def test_a_formula_cannot_run_code(formula, token, tmp_path):
    from peerstudy.exceptions import ParameterError
    from peerstudy.survival.observational.weighting import fit_propensity
    from peerstudy.simulation.cohort import simulate_cohort

    df = simulate_cohort("observational", rng=1, n=300)
    pwn = tmp_path / "pwned"
    with pytest.raises(ParameterError, match="is not allowed|cannot be read"):
        fit_propensity(df, formula=formula.format(pwn=pwn))
    assert not pwn.exists()


def test_allowed_formula_terms_fit():
    from peerstudy.survival.observational.weighting import fit_propensity
    from peerstudy.simulation.cohort import simulate_cohort

    df = simulate_cohort("observational", rng=1, n=400)
    model = fit_propensity(df, formula="age + log(age) + I(age ** 2) + C(site) + homeless:female")
    assert model.formula.endswith("age + log(age) + I(age ** 2) + C(site) + homeless:female")
