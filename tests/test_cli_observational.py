"""``peerstudy analyse --adjust iptw --propensity A,B,C``: IPTW results checked against R, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from peerstudy.cli import main

REF = Path(__file__).parent / "reference"
COHORT = REF / "observational_cohort.csv"
R = json.loads((REF / "observational_r.json").read_text())


def test_adjust_iptw_writes_weighted_results(tmp_path, capsys):
    out = tmp_path / "res"
    rc = main(["analyse", str(COHORT), "--out", str(out), "--adjust", "iptw", "--horizons", "30,90",
               "--propensity", "age,homeless,stimulant_use,depression,site", "--cluster", "site"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "IPTW hazard ratio" in text and "effective sample size" in text
    d = json.loads((out / "results.json").read_text())
    iptw = d["iptw"]
    term = iptw["iptw"]["cox"]["terms"]["arm[peer]"]
    assert term["coef"] == pytest.approx(R["cox_iptw_cluster_site"]["coef"]["armpeer"], rel=1e-6)
    assert term["robust_se"] == pytest.approx(R["cox_iptw_cluster_site"]["robust_se"][0], rel=1e-6)
    assert iptw["iptw"]["km"]["survival"]["peer"]["90"] == pytest.approx(R["weighted_km"]["peer"]["90"], rel=1e-6)
    assert iptw["weights"]["ess"] == pytest.approx(R["propensity"]["ess"], rel=1e-6)
    assert iptw["rmst_difference"]["seed"] == 0 and iptw["rmst_difference"]["n_boot"] == 200
    # the unadjusted analysis is still there, unchanged
    assert d["n"] == 400
    for name in ("iptw_balance", "iptw_km", "iptw_cox"):
        assert len(pd.read_csv(out / f"{name}.csv")) > 0


def test_adjust_iptw_errors(tmp_path, capsys):
    out = tmp_path / "res"
    assert main(["analyse", str(COHORT), "--out", str(out), "--adjust", "iptw"]) == 2
    assert "--adjust iptw needs --propensity" in capsys.readouterr().err
    assert main(["analyse", str(COHORT), "--out", str(out), "--propensity", "age"]) == 2
    assert "only used with --adjust iptw" in capsys.readouterr().err
    assert main(["analyse", str(COHORT), "--out", str(out), "--adjust", "iptw", "--propensity", "age,housing"]) == 2
    err = capsys.readouterr().err
    assert "'housing'" in err and len(err.strip().splitlines()) == 1
    assert not (out / "results.json").exists()


def test_adjust_iptw_reports_three_standard_errors(tmp_path, capsys):
    out = tmp_path / "res"
    rc = main(["analyse", str(COHORT), "--out", str(out), "--adjust", "iptw", "--horizons", "30,90",
               "--propensity", "age,homeless,stimulant_use,depression"])
    assert rc == 0
    assert "counting the propensity model (stacked equations)" in capsys.readouterr().out
    u = json.loads((out / "results.json").read_text())["iptw"]["uncertainty"]
    R3 = json.loads((REF / "observational3.json").read_text())["stacked"]["ate_stabilised"]
    assert u["log_hr"]["se_stacked"] == pytest.approx(R3["se_stacked"]["log_hr"], rel=1e-6)
    assert u["survival"]["peer"]["90"]["se_stacked"] == pytest.approx(R3["se_stacked"]["survival_peer_90"], rel=1e-6)
    assert u["n_boot"] == 200 and u["log_hr"]["se_bootstrap"] > 0
    se = pd.read_csv(out / "iptw_se.csv")
    assert set(se.columns) >= {"quantity", "group", "day", "estimate", "se_naive", "se_stacked", "se_bootstrap"}
