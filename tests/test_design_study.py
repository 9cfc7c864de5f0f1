"""Simulation studies: data-generating mechanism, reproducibility across backends, resume, must-show comparisons."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from peerstudy.cli import main
from peerstudy.design import study as st
from peerstudy.design.power import power_for_events
from peerstudy.exceptions import DataError, ParameterError
from peerstudy.scenario import apply_overrides, preset
from peerstudy.simulation.cohort import simulate_arrays
from peerstudy.simulation.truth import compute_truth

EFFECTS = ["age", "homeless", "stimulant_use", "injects", "unemployed", "depression"]


def _ph_scenario(n=400):
    """Proportional hazards, no covariate effects, no site frailty: Schoenfeld's setting."""
    return apply_overrides(preset("outpatient_default"),
                           {**{f"covariates.{c}.hazard_ratio": 1.0 for c in EFFECTS}, "frailty_variance": 0.0, "n": n})


def _km_at(time, event, day):
    s = 1.0
    for t in range(1, day + 1):
        at_risk = np.sum(time >= t)
        d = np.sum((time == t) & (event == 1))
        if at_risk:
            s *= 1 - d / at_risk
    return s


def test_replicates_match_truth():
    """Replicates are simulate_arrays cohorts (tests/test_simulate.py checks that draw for draw); here their KM hits the truth."""
    sc = preset("outpatient_default")
    data = st.simulate_replicates(sc, range(60), seed=3, covariates=EFFECTS)
    truth = compute_truth(sc).to_dict()["estimands"]["net_survival"]
    for code, arm in ((0, "usual_care"), (1, "peer")):
        m = data["peer"] == code
        s90 = _km_at(data["time"][m], data["event"][m], 90)
        se = math.sqrt(s90 * (1 - s90) / m.sum()) * 1.5  # inflated for the site frailty
        assert abs(s90 - truth[arm]["90"]) < 4 * se, (arm, s90, truth[arm]["90"])
    assert data["peer"].sum(axis=1).tolist() == [400] * 60  # exactly round(n * peer_fraction) per cohort
    assert data["time"].min() >= 1 and data["time"].max() == sc.follow_up_days
    assert set(data) == {"time", "event", "peer", "site", *EFFECTS}


def test_analyse_replicates_uses_alpha_for_rejection_and_intervals():
    from scipy.stats import norm

    data = st.simulate_replicates(preset("outpatient_default").replace(n=300), range(40), seed=8, covariates=EFFECTS)
    kw = dict(methods=st.DEFAULT_METHODS, adjust=EFFECTS, tau=180)
    at05 = st.analyse_replicates(data, alpha=0.05, **kw)
    at20 = st.analyse_replicates(data, alpha=0.2, **kw)
    for method in st.DEFAULT_METHODS:
        a, b = at05[method], at20[method]
        np.testing.assert_array_equal(a["estimate"], b["estimate"])
        np.testing.assert_array_equal(a["reject"], a["p_value"] < 0.05)
        np.testing.assert_array_equal(b["reject"], b["p_value"] < 0.2)
        np.testing.assert_allclose(a["ci_high"] - a["estimate"], norm.ppf(0.975) * a["se"], rtol=1e-12)
        np.testing.assert_allclose(b["ci_high"] - b["estimate"], norm.ppf(0.9) * b["se"], rtol=1e-12)
        np.testing.assert_allclose(b["estimate"] - b["ci_low"], norm.ppf(0.9) * b["se"], rtol=1e-12)
    with pytest.raises(ParameterError, match=r"alpha must be in \(0, 1\); got 1.5"):
        st.analyse_replicates(data, alpha=1.5, **kw)
    slow = st.analyse_replicates({k: v[:6] for k, v in data.items()}, alpha=0.2, tau=180,
                                 methods=("cox_robust_small_sample", "permutation", "primary"))
    md = slow["cox_robust_small_sample"]
    from scipy.stats import t as student
    np.testing.assert_allclose(md["ci_high"] - md["estimate"], student.ppf(0.9, 7) * md["se"], rtol=1e-12)  # 8 sites
    assert np.all(np.isnan(slow["permutation"]["estimate"])) and np.all((slow["permutation"]["p_value"] > 0))
    np.testing.assert_array_equal(slow["primary"]["reject"], slow["primary"]["p_value"] < 0.2)


def test_study_intervals_follow_alpha():
    res = st.run_study(preset("outpatient_default").replace(n=150), reps=30, seed=2, methods=["cox"], alpha=0.1)
    est = res.estimates
    half = (est["ci_high"] - est["ci_low"]) / 2
    np.testing.assert_allclose(half, 1.6448536269514722 * est["se"], rtol=1e-12)
    assert (est["reject"] == (est["p_value"] < 0.1)).all()


def test_simulated_power_equals_analytic_for_ph_without_clustering():
    res = st.run_study(_ph_scenario(), reps=1000, seed=11, methods=["logrank", "cox"])
    p = res.points[0]
    analytic = power_for_events(0.8, p["analytic"]["events_mean"], allocation=0.5)
    assert p["analytic"]["power_schoenfeld"] == pytest.approx(analytic)
    for method in ("logrank", "cox"):
        m = p["methods"][method]
        assert abs(m["power"] - analytic) < 3 * m["power_mcse"], (method, m["power"], analytic)
        assert abs(m["coverage"] - 0.95) < 3 * m["coverage_mcse"]
        assert abs(m["relative_se_error"]) < 3 * m["relative_se_error_mcse"]


def test_coaching_cap_breaks_the_formula():
    # the peer effect stops at day 30, so the hazard ratio averaged over follow-up is near 1: the
    # formula at the nominal HR 0.8 promises power the study does not have
    res = st.run_study(_ph_scenario().replace(effect_stops_day=30), reps=1000, seed=11, methods=["logrank"])
    p = res.points[0]
    m = p["methods"]["logrank"]
    assert p["analytic"]["power_schoenfeld"] - m["power"] > 10 * m["power_mcse"]
    # the log-rank estimate is judged against its own estimand, the marginal log-HR averaged over follow-up,
    # which the capped effect pulls much closer to 0 than log(0.8): against it, no bias
    assert p["estimands"]["logrank"]["estimand"] == "marginal"
    assert math.log(0.8) / 3 < m["truth"] < 0
    assert abs(m["bias"]) < 3 * m["bias_mcse"]


def test_site_clustering_breaks_the_formula_and_model_se():
    # cluster randomisation with between-site variation: under the null the naive log-rank and Cox
    # reject far more often than alpha because their SE ignores the sites; the cluster-robust SE is close
    sc = preset("cluster_randomised").replace(hazard_ratio=1.0, frailty_variance=0.3)
    res = st.run_study(sc, reps=1000, seed=11, methods=["logrank", "cox", "cox_robust"])
    meths = res.points[0]["methods"]
    for method in ("logrank", "cox"):
        m = meths[method]
        assert m["power"] - 0.05 > 10 * m["power_mcse"]
        assert m["relative_se_error"] < -10 * m["relative_se_error_mcse"]
    robust = meths["cox_robust"]
    assert abs(robust["relative_se_error"]) < abs(meths["cox"]["relative_se_error"]) / 3


def test_identical_across_workers_chunks_and_dask():
    from dask.distributed import Client, LocalCluster

    sc = preset("outpatient_default").replace(n=200)
    one = st.run_study(sc, reps=120, seed=4, workers=1, chunk_size=120)
    two = st.run_study(sc, reps=120, seed=4, workers=2, chunk_size=25)
    pd.testing.assert_frame_equal(one.estimates, two.estimates)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        dask = st.run_study(sc, reps=120, seed=4, scheduler=client, chunk_size=40)
    pd.testing.assert_frame_equal(one.estimates, dask.estimates)
    assert one.to_dict()["methods"] == dask.to_dict()["methods"]
    other = st.run_study(sc, reps=120, seed=5, workers=1)
    assert not np.allclose(other.estimates["estimate"], one.estimates["estimate"])


def test_resume_from_finished_chunks(tmp_path):
    sc = preset("outpatient_default").replace(n=150)
    full = st.run_study(sc, reps=100, seed=2, chunk_size=25, out=tmp_path, methods=["cox", "rmst"])
    chunks = sorted((tmp_path / "chunks").glob("*.npz"))
    assert len(chunks) == 4
    chunks[1].unlink()  # as if interrupted before this chunk finished
    kept = {p.name: p.stat().st_mtime_ns for p in chunks if p.exists()}
    resumed = st.run_study(sc, reps=100, seed=2, chunk_size=25, out=tmp_path, methods=["cox", "rmst"])
    pd.testing.assert_frame_equal(full.estimates, resumed.estimates)
    assert {p.name: p.stat().st_mtime_ns for p in chunks if p.name in kept} == kept  # not recomputed
    assert chunks[1].exists()
    with pytest.raises(DataError, match="holds chunks of a different study"):
        st.run_study(sc, reps=100, seed=3, chunk_size=25, out=tmp_path, methods=["cox", "rmst"])


def test_grid_and_truth():
    res = st.run_study(preset("outpatient_default").replace(n=150), reps=40, seed=1,
                       grid={"hazard_ratio": [0.7, 1.0]}, methods=["cox", "rmst"])
    d = res.to_dict()
    assert [g["point"] for g in d["grid"]] == [{"hazard_ratio": 0.7}, {"hazard_ratio": 1.0}]
    marginal = compute_truth(preset("outpatient_default").replace(hazard_ratio=0.7)).to_dict()
    assert d["grid"][0]["truth"]["cox"] == pytest.approx(marginal["estimands"]["log_hazard_ratio"]["marginal"])
    assert math.log(0.7) < d["grid"][0]["truth"]["cox"] < 0.9 * math.log(0.7)   # non-collapsibility
    assert d["grid"][0]["estimands"]["cox"]["estimand"] == "marginal"
    rmst_truth = compute_truth(preset("outpatient_default").replace(n=150, hazard_ratio=0.7)).to_dict()
    assert d["grid"][0]["truth"]["rmst"] == pytest.approx(rmst_truth["estimands"]["rmst_difference"]["180"])
    assert d["grid"][1]["truth"]["rmst"] == pytest.approx(0.0, abs=1e-9)
    assert set(res.estimates["point"]) == {0, 1} and len(res.estimates) == 2 * 2 * 40
    assert "<table>" in res._repr_html_()


def test_performance_measures_follow_morris_formulas():
    rng = np.random.default_rng(0)
    est = rng.normal(0.1, 0.2, 500)
    se = np.abs(rng.normal(0.2, 0.02, 500))
    p = 2 * (1 - __import__("scipy").stats.norm.cdf(np.abs(est / se)))
    df = pd.DataFrame({"method": "m", "estimate": est, "se": se, "p_value": p, "ci_low": est - 1.959963984540054 * se,
                       "ci_high": est + 1.959963984540054 * se, "converged": True})
    m = st.performance(df, {"m": 0.0})["m"]
    n = 500
    assert m["bias"] == pytest.approx(est.mean())
    assert m["bias_mcse"] == pytest.approx(est.std(ddof=1) / math.sqrt(n))
    assert m["empirical_se_mcse"] == pytest.approx(est.std(ddof=1) / math.sqrt(2 * (n - 1)))
    assert m["model_se"] == pytest.approx(math.sqrt(np.mean(se ** 2)))
    assert m["model_se_mcse"] == pytest.approx(math.sqrt(np.var(se ** 2, ddof=1) / (4 * n * np.mean(se ** 2))))
    cover = np.mean(np.abs(est / se) <= 1.959963984540054)
    assert m["coverage"] == pytest.approx(cover)
    assert m["power"] == pytest.approx(np.mean(p < 0.05))
    assert m["power_mcse"] == pytest.approx(math.sqrt(m["power"] * (1 - m["power"]) / n))


@pytest.mark.parametrize("kwargs, match", [
    (dict(reps=1), "reps must be a whole number >= 2; got 1"),
    (dict(reps=10, methods=["cox", "weibull"]), "methods must be some of"),
    (dict(reps=10, tau=100), r"tau must be one of the truth's horizons \[30, 90, 180\]; got 100"),
    (dict(reps=10, grid={"hazard_ratio": []}), r"grid\['hazard_ratio'\] must be a non-empty list"),
    (dict(reps=10, backend="dask"), "the dask backend needs scheduler="),
    (dict(reps=10, adjust=["shoe_size"]), "adjust must name covariates"),
    (dict(reps=10, alpha=2), r"alpha must be in \(0, 1\); got 2"),
])
def test_study_errors(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        st.run_study(preset("outpatient_default").replace(n=100), **kwargs)


def test_cli_study_writes_performance_and_csv(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["study", "--scenario", "outpatient_default", "--n", "150", "--reps", "60", "--seed", "3", "--workers", "1",
            "--set", "frailty_variance=0.2", "--no-progress", "--out", str(out)]
    assert main(argv) == 0
    perf = json.loads((out / "performance.json").read_text())
    assert perf["reps"] == 60 and perf["scenario"]["frailty_variance"] == 0.2
    # the description and the printed label say what was run, not the preset's numbers alone
    assert perf["scenario"]["description"] == (preset("outpatient_default").description
                                               + "; overridden: frailty_variance=0.2, n=150")
    assert set(perf["methods"]) == set(st.DEFAULT_METHODS)
    for m in perf["methods"].values():
        assert {"power", "power_mcse", "bias", "bias_mcse", "coverage", "coverage_mcse", "empirical_se",
                "model_se"} <= set(m)
    assert perf["truth"]["cox_adjusted"] == pytest.approx(math.log(0.8))
    assert perf["estimands"]["cox"]["estimand"] == "marginal" and perf["truth"]["cox"] > math.log(0.8)
    csv = pd.read_csv(out / "estimates.csv")
    assert len(csv) == 60 * len(st.DEFAULT_METHODS) and {"rep", "method", "estimate", "se", "truth"} <= set(csv.columns)
    printed = capsys.readouterr().out
    assert "cox_robust" in printed
    assert "outpatient_default with frailty_variance=0.2, n=150: 60 replicates" in printed
    # a grid writes one entry per point
    assert main(["study", "--scenario", "outpatient_default", "--n", "100", "--reps", "20", "--workers", "1",
                 "--grid", "hazard_ratio=0.7,0.9", "--methods", "logrank", "--no-progress",
                 "--out", str(tmp_path / "grid")]) == 0
    grid = json.loads((tmp_path / "grid" / "performance.json").read_text())["grid"]
    assert [g["point"]["hazard_ratio"] for g in grid] == [0.7, 0.9]
    assert [g["scenario"]["description"].rsplit("; ", 1)[1] for g in grid] == [
        "overridden: n=100, hazard_ratio=0.7", "overridden: n=100, hazard_ratio=0.9"]
    printed = capsys.readouterr().out
    assert "outpatient_default with n=100, hazard_ratio=0.7: 20 replicates" in printed
    assert "outpatient_default with n=100, hazard_ratio=0.9: 20 replicates" in printed


def test_cli_study_bad_input_exits_2(tmp_path, capsys):
    assert main(["study", "--scenario", "outpatient_default", "--reps", "10", "--grid", "hazard_ratio",
                 "--out", str(tmp_path)]) == 2
    assert "--grid expects KEY=V1,V2" in capsys.readouterr().err
    assert main(["study", "--scenario", "nope", "--reps", "10", "--out", str(tmp_path)]) == 2


def test_observational_scenarios_are_simulated_with_their_assignment_model():
    """Replicates of an observational scenario take up peer support by its assignment model (confounded)."""
    sc = preset("observational").replace(n=3000)
    data = st.simulate_replicates(sc, range(3), seed=5, covariates=("homeless",))
    homeless, peer = data["homeless"], data["peer"]
    rate_housed = peer[homeless == 0].mean()
    rate_homeless = peer[homeless == 1].mean()
    assert rate_housed - rate_homeless > 0.1  # assignment log-odds -0.8 for homeless people
    # the same replicate stream as simulate_arrays
    from peerstudy.simulation.cohort import simulate_arrays

    a = simulate_arrays(sc, rng=np.random.default_rng(st.replicate_seed(5, 1)))
    np.testing.assert_array_equal(data["time"][1], a["time"])
