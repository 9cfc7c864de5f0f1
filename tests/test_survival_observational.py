"""Weighted KM, IPTW Cox (robust SE), weighted RMST with bootstrap CI, and recovery of the truth.

R references: tests/reference/observational.R (survfit / coxph with weights and cluster).
Recovery: confounded scenarios from peerstudy.simulation.cohort with known truth, in a plain replicate loop.
"""

import json
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np
import pandas as pd
import pytest

from peerstudy.exceptions import AnalysisError, ParameterError, SchemaError
from peerstudy.present.plots.observational import plot_love, plot_overlap
from peerstudy.data.schema import COVARIATES
from peerstudy.survival.cox.engine import fit_cox
from peerstudy.survival.km import kaplan_meier
from peerstudy.survival.rmst import rmst
from peerstudy.survival.observational.iptw import (iptw_analysis, iptw_cox, weighted_kaplan_meier,
                                              weighted_rmst_difference)
from peerstudy.survival.observational.weighting import iptw_weights

REF = Path(__file__).parent / "reference"
COVS = ["age", "homeless", "stimulant_use", "depression", "site"]


@pytest.fixture(scope="module")
def ref():
    return json.loads((REF / "observational_r.json").read_text())


@pytest.fixture(scope="module")
def cohort():
    return pd.read_csv(REF / "observational_cohort.csv")


@pytest.fixture(scope="module")
def weights(cohort):
    return iptw_weights(cohort, covariates=COVS)


def test_weighted_km_and_rmst_match_r(cohort, ref, weights):
    km = weighted_kaplan_meier(cohort, weights=weights)
    days = [10, 30, 60, 90, 150]
    tab = km.survival_at(days)
    for arm in ("usual_care", "peer"):
        np.testing.assert_allclose(tab[arm].to_numpy(), [ref["weighted_km"][arm][str(d)] for d in days], rtol=1e-6)
    r = km.rmst(90)
    for arm in ("usual_care", "peer"):
        assert r[arm] == pytest.approx(ref["weighted_rmst_90"][arm], rel=1e-6)
    # unit weights give the ordinary KM
    plain = weighted_kaplan_meier(cohort)
    from peerstudy.survival.km import kaplan_meier

    ordinary = kaplan_meier(cohort, group="arm").survival_at([30, 90])
    got = plain.survival_at([30, 90])
    for arm in ("usual_care", "peer"):
        expect = ordinary.loc[ordinary["group"] == arm, "survival"].to_numpy()
        np.testing.assert_allclose(got[arm].to_numpy(), expect, rtol=1e-12)


def test_iptw_cox_matches_r_with_cluster_and_robust_se(cohort, ref, weights):
    f = iptw_cox(cohort, weights=weights, cluster="site")
    r = ref["cox_iptw_cluster_site"]
    assert f.coef[0] == pytest.approx(r["coef"]["armpeer"], rel=1e-6)
    assert f.robust_se[0] == pytest.approx(r["robust_se"][0], rel=1e-6)
    assert f.se[0] == pytest.approx(r["se"][0], rel=1e-6)
    g = iptw_cox(cohort, weights=weights)
    assert g.robust_se[0] == pytest.approx(ref["cox_iptw_robust"]["robust_se"][0], rel=1e-6)


def test_rmst_difference_bootstrap_records_seed_and_reproduces(cohort, weights):
    a = weighted_rmst_difference(cohort, tau=90, covariates=COVS, n_boot=40, rng=123)
    b = weighted_rmst_difference(cohort, tau=90, covariates=COVS, n_boot=40, rng=123)
    assert a == b
    assert (a.n_boot, a.seed) == (40, 123)
    km = weighted_kaplan_meier(cohort, weights=weights).rmst(90)
    assert a.difference == pytest.approx(km["peer"] - km["usual_care"], rel=1e-12)
    assert a.ci_lower < a.difference < a.ci_upper
    d = a.to_dict()
    assert d["n_boot"] == 40 and d["seed"] == 123 and d["horizon"] == "90"
    # a Generator is turned into a recorded integer seed that reproduces the result
    c = weighted_rmst_difference(cohort, tau=90, covariates=COVS, n_boot=40, rng=np.random.default_rng(5))
    again = weighted_rmst_difference(cohort, tau=90, covariates=COVS, n_boot=40, rng=c.seed)
    assert again.ci_lower == c.ci_lower and again.ci_upper == c.ci_upper
    with pytest.raises(ParameterError, match="n_boot must be a whole number >= 20; got 5"):
        weighted_rmst_difference(cohort, tau=90, covariates=COVS, n_boot=5)


def test_iptw_analysis_result_and_plots(cohort):
    res = iptw_analysis(cohort, covariates=COVS, horizons=(30, 90), n_boot=30, rng=1, cluster="site")
    d = json.loads(json.dumps(res.to_dict(), allow_nan=True))
    assert d["method"] == "iptw" and set(d["iptw"]["km"]["survival"]["peer"]) == {"30", "90"}
    assert d["rmst_difference"]["seed"] == 1
    assert set(res.tables()) == {"iptw_balance", "iptw_km", "iptw_cox", "iptw_se"}
    assert "IPTW HR" in res._repr_html_()
    ax = plot_overlap(res.weights)
    assert len(ax.patches) == 60
    ax = plot_love(res.weights)
    assert [t.get_text() for t in ax.get_yticklabels()][-1] in set(res.weights.balance["term"])
    with pytest.raises(AnalysisError, match="plot_love needs"):
        plot_love(pd.DataFrame({"x": [1]}))


def test_bad_weights_are_refused(cohort):
    with pytest.raises(ParameterError, match=r"weights must have one value per row \(400\); got shape \(3,\)"):
        weighted_kaplan_meier(cohort, weights=np.ones(3))
    with pytest.raises(SchemaError, match=r"weights must be finite and >= 0; 400 are not \(e.g. -1 at row\(s\) 1"):
        weighted_kaplan_meier(cohort, weights=-np.ones(len(cohort)))
    with pytest.raises(SchemaError, match=r"missing column\(s\) 'w'"):
        weighted_kaplan_meier(cohort, weights="w")
    with pytest.raises(SchemaError, match="weights must be finite and > 0"):
        iptw_cox(cohort, weights=np.zeros(len(cohort)))


# --------------------------------------------------------------------------------------------- recovery
def _greenwood_se(curve, day):
    """SE of S(day) = S * std_err (std_err is R's SE of -log S)."""
    i = np.searchsorted(curve.time, day, side="right") - 1
    return float(curve.survival[i] * curve.std_err[i])


def test_naive_misses_truth_iptw_recovers_it():
    """Confounded scenario, no site frailty (so one cohort's truth is the scenario's), 3 replicates of 20,000.

    Truth: the marginal survival and RMST per arm from the scenario (attrs["truth"]); the marginal HR
    from the same scenario randomised, 200,000 people, unadjusted Cox (simulation truth).
    """
    from peerstudy.scenario import apply_overrides, preset
    from peerstudy.simulation.cohort import simulate_cohort

    scenario = apply_overrides(preset("observational"), {"frailty_variance": 0.0})
    big = simulate_cohort(scenario.replace(allocation="individual"), rng=99, n=200_000)
    marginal = fit_cox(big, covariates=["arm"])
    truth_hr, truth_se = marginal.coef[0], marginal.se[0]
    naive, iptw, s90, s90_se, rm, rm_se = [], [], [], [], [], []
    for ss in np.random.SeedSequence(7).spawn(3):
        df = simulate_cohort(scenario, rng=ss, n=20_000)
        est = df.attrs["truth"]["estimands"]
        with warnings.catch_warnings():
            warnings.simplefilter("error")   # well-behaved weights: no warnings expected
            res = iptw_analysis(df, covariates=list(COVARIATES), n_boot=0)
        naive.append((res.naive_cox.coef[0], res.naive_cox.se[0]))
        iptw.append((res.iptw_cox.coef[0], res.iptw_cox.robust_se[0]))
        # naive misses the marginal truth by far more than its SE, in every replicate
        assert abs(res.naive_cox.coef[0] - truth_hr) > 5 * res.naive_cox.se[0]
        s = res.iptw_km.survival_at([90])
        s90.append([s.loc[90, "usual_care"] - est["net_survival"]["usual_care"]["90"],
                    s.loc[90, "peer"] - est["net_survival"]["peer"]["90"]])
        r = res.iptw_km.rmst(180)
        rm.append((r["peer"] - r["usual_care"]) - (est["rmst"]["180"]["peer"] - est["rmst"]["180"]["usual_care"]))
        # Monte Carlo SEs: the unweighted estimators' SEs inflated by the design effect n_arm / ESS_arm
        deff = {a: (df["arm"] == a).sum() / res.iptw_km.ess[a] for a in ("usual_care", "peer")}
        plain = rmst(df, tau=180).to_dict()
        km = kaplan_meier(df, group="arm")
        greenwood = {a: _greenwood_se(km[a], 90) for a in ("usual_care", "peer")}
        s90_se.append([np.sqrt(deff[a]) * greenwood[a] for a in ("usual_care", "peer")])
        rm_se.append(np.sqrt(sum(deff[a] * plain[a]["se"] ** 2 for a in ("usual_care", "peer"))))
    iptw = np.array(iptw)
    mc = np.sqrt(np.mean(iptw[:, 1] ** 2) / len(iptw) + truth_se ** 2)
    assert abs(iptw[:, 0].mean() - truth_hr) < 3 * mc
    # survival at day 90 (Greenwood SE of the unweighted KM times the design effect)
    assert np.all(np.abs(np.mean(s90, axis=0)) < 3 * np.sqrt(np.mean(np.square(s90_se), axis=0) / 3))
    assert abs(np.mean(rm)) < 3 * np.sqrt(np.mean(np.square(rm_se)) / 3)


def test_notebook_runs_on_a_small_scenario(tmp_path):
    """notebooks/06-observational.ipynb runs under plain papermill, has no function definitions, shows the biases."""
    import papermill as pm
    import nbformat

    path = Path(__file__).parents[1] / "notebooks" / "06-observational.ipynb"
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and "scenario: str = \"observational\"" in params[0].source
    assert not any(c.cell_type == "code" and ("def " in c.source or "class " in c.source) for c in nb.cells)
    out = tmp_path / "out.ipynb"
    pm.execute_notebook(str(path), str(out), parameters={"n": 3000, "n_boot": 20, "seed": 5}, progress_bar=False,
                        kernel_name="python3")
    text = out.read_text()
    assert "BIASED: immortal time" in text and "IPTW Cox (SE by participant, counting the propensity model)" in text
    # the SEs are by participant (a handful of sites is too few for a cluster sandwich): no few-clusters warning
    assert "clusters, too few" not in text
    # tables for people: no row index, no NaN; the three SEs side by side
    assert "row_heading" not in text and "NaN" not in text and ">nan<" not in text
    assert "counting the propensity model" in text and "bootstrap refitting it" in text
    # the reading is written from the results: each interval's coverage, in observational words
    ran = nbformat.read(out, as_version=4)
    reading = "".join(o.get("data", {}).get("text/markdown", "") for o in ran.cells[-1].outputs)
    assert "the naive comparison was off by" in reading and "was associated with" in reading
    assert reading.count("The 95% intervals of") == 3 and "E-value of the g-formula risk" in reading


def test_summary_sentence_uses_the_numbers():
    from peerstudy.simulation.cohort import simulate_cohort
    from peerstudy.data.schema import COVARIATES
    from peerstudy.survival.observational.iptw import iptw_analysis

    cohort = simulate_cohort("observational", rng=3, n=1500)
    res = iptw_analysis(cohort, covariates=list(COVARIATES), horizons=(90,), tau=180, n_boot=20, rng=1)
    text = res.summary(day=90)
    naive = res.naive_km.survival_at([90])
    assert text.startswith(f"At 90 days, {100 * naive.loc[90, 'peer']:.0f}% of people who took up a peer coach")
    assert f"{abs(res.rmst.difference):.0f} {'more' if res.rmst.difference >= 0 else 'fewer'} days in treatment" in text
    assert "associated with" in text and "peer support added" not in text  # observational: no causal verb
