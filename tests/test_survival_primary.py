"""The design decides the primary analysis (peerstudy.survival.primary)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import peerstudy as ps
from peerstudy.cli import main
from peerstudy.exceptions import AnalysisError, ParameterError
from peerstudy.survival.cox.engine import fit_cox
from peerstudy.survival.permutation import permutation_test
from peerstudy.survival.primary import StudyDesign, design_of, primary_analysis

REF = Path(__file__).parent / "reference"
SYN = Path(__file__).parents[1] / "data" / "synthetic"


def test_individual_allocation_gives_the_cox_model_stratified_by_site():
    df = pd.read_csv(REF / "frailty_few_sites.csv")
    pa = primary_analysis(df, design_of(df, "individual"), covariates=["age"])
    ref = fit_cox(df, covariates=["arm", "age"], strata="site")
    assert pa.method == "cox_stratified" and pa.permutation is None and pa.n_clusters == 4
    assert pa.term["coef"] == ref.coef[0] and pa.term["p"] == pa.term["p_wald"]
    assert "randomised individually" in pa.reason and "4 sites" in pa.reason
    assert any("cluster-robust" in m for m, _ in pa.not_valid)


def test_cluster_allocation_gives_the_small_sample_sandwich_and_the_randomisation_test():
    df = pd.read_csv(REF / "frailty_cluster.csv")
    pa = primary_analysis(df, design_of(df, "cluster"), rng=3, n_permutations=2000)
    md = fit_cox(df, covariates=["arm"], cluster="site", small_sample="md")
    perm = permutation_test(df, design="cluster", cluster="site", n_permutations=2000, rng=np.random.default_rng(3))
    assert pa.method == "cox_small_sample_permutation"
    assert pa.term["robust_se"] == pytest.approx(md.robust_se[0], rel=1e-12) and pa.term["df"] == 15
    assert pa.term["p"] == perm.p_value and pa.permutation.n_permutations == perm.n_permutations
    d = pa.to_dict()
    assert d["design"]["allocation"] == "cluster" and d["permutation"]["design"] == "cluster"
    assert "population-averaged" in d["estimand"]


def test_the_same_seed_gives_the_same_p_value():
    df = pd.read_csv(REF / "frailty_cluster.csv")
    one = primary_analysis(df, design_of(df, "cluster"), rng=11, n_permutations=500).term["p"]
    assert primary_analysis(df, design_of(df, "cluster"), rng=11, n_permutations=500).term["p"] == one


def test_site_level_arm_without_a_stated_design_uses_the_small_sample_sandwich_and_says_association():
    df = pd.read_csv(REF / "frailty_cluster.csv")
    pa = primary_analysis(df, design_of(df))
    assert pa.design.stated_by == "default" and pa.method == "cox_small_sample" and pa.permutation is None
    assert "association" in pa.reason


def test_individual_design_with_a_site_level_arm_is_refused():
    df = pd.read_csv(REF / "frailty_cluster.csv")
    with pytest.raises(AnalysisError, match="state the design as cluster"):
        primary_analysis(df, design_of(df, "individual"))


def test_cluster_design_with_one_site_in_an_arm_is_refused():
    df = pd.read_csv(REF / "frailty_cluster.csv")
    peer_sites = sorted(df.loc[df.arm == "peer", "site"].unique())
    small = df[(df.arm == "usual_care") | (df.site == peer_sites[0])]
    with pytest.raises(AnalysisError, match=r"at least 2 sites in each arm; arm 'peer' has 1"):
        primary_analysis(small, design_of(small, "cluster"))


def test_design_values_are_checked():
    with pytest.raises(ParameterError, match="design"):
        StudyDesign("stepped_wedge")
    with pytest.raises(ParameterError, match="--cluster"):
        StudyDesign("cluster", cluster=None)


def test_simulated_cohorts_carry_their_design():
    df = ps.simulate_cohort("cluster_randomised", rng=1, n=400)
    assert design_of(df).allocation == "cluster" and design_of(df).stated_by == "scenario"
    res = ps.analyse_cohort(df, design=design_of(df), n_permutations=200)
    assert res.to_dict()["primary"]["method"] == "cox_small_sample_permutation"


def test_cli_reads_the_design_of_a_simulated_cohort_and_states_it(tmp_path, capsys):
    out = tmp_path / "res"
    assert main(["analyse", str(SYN / "cluster_randomised.csv"), "--out", str(out), "--permutations", "500"]) == 0
    printed = capsys.readouterr().out
    assert "randomisation test p =" in printed and "Whole sites were randomised" in printed
    primary = json.loads((out / "results.json").read_text())["primary"]
    assert primary["design"] == {"allocation": "cluster", "cluster": "site", "stated_by": "scenario",
                                 "randomised": True}
    assert primary["permutation"]["exact"] and primary["permutation"]["n_permutations"] == 12870  # C(16, 8): all


def test_cli_design_flag_and_its_errors(tmp_path, capsys):
    assert main(["analyse", str(SYN / "ed_bridge.csv"), "--out", str(tmp_path / "a"), "--design", "individual"]) == 0
    primary = json.loads((tmp_path / "a" / "results.json").read_text())["primary"]
    assert primary["method"] == "cox_stratified" and primary["design"]["stated_by"] == "user"
    capsys.readouterr()
    assert main(["analyse", str(SYN / "ed_bridge.csv"), "--out", str(tmp_path / "b"), "--design", "cluster"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not constant within cluster" in err
    assert not (tmp_path / "b").exists()
