"""``peerstudy analyse --adjust gformula|aipw|overlap``: entries in results.json checked against R, and errors."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from peerstudy.cli import main

REF = Path(__file__).parent / "reference"
COHORT = REF / "observational_cohort.csv"
R = json.loads((REF / "observational2.json").read_text())
COVS = "age,homeless,stimulant_use,depression"


def test_adjust_gformula_entry_matches_riskregression(tmp_path, capsys):
    out = tmp_path / "res"
    assert main(["analyse", str(COHORT), "--out", str(out), "--adjust", "gformula", "--covariates", COVS]) == 0
    text = capsys.readouterr().out
    assert "was associated with" in text and "E-value" in text
    d = json.loads((out / "results.json").read_text())
    g = d["gformula"]
    ref = R["efron"]["estimated_nuisance"]["GFORMULA"]
    for arm in ("usual_care", "peer"):
        for day in ("30", "90", "180"):
            assert g["risk"][arm][day]["estimate"] == pytest.approx(ref["risk"][arm][day]["estimate"], rel=1e-5)
            assert set(g["risk"][arm][day]) >= {"estimate", "se"}
    assert g["difference"]["90"]["estimate"] == pytest.approx(ref["difference"]["90"]["estimate"], rel=1e-5)
    assert {"tau", "estimate", "se"} <= set(g["rmst_difference"])
    assert g["sensitivity"]["risk_difference"]["180"]["evalue"] > 1
    assert len(pd.read_csv(out / "gformula.csv")) == 12
    assert d["n"] == 400 and "cox" in d


def test_adjust_aipw_entry(tmp_path):
    out = tmp_path / "res"
    assert main(["analyse", str(COHORT), "--out", str(out), "--adjust", "aipw", "--covariates", COVS,
                 "--horizons", "30,90"]) == 0
    d = json.loads((out / "results.json").read_text())
    a = d["aipw"]
    assert a["method"] == "aipw" and a["iptw_ipcw"]["method"] == "iptw"
    assert set(a["risk"]) == {"usual_care", "peer"} and set(a["risk"]["peer"]) == {"30", "90"}
    assert a["model"]["censoring"] is not None


def test_adjust_overlap_entry(tmp_path):
    out = tmp_path / "res"
    assert main(["analyse", str(COHORT), "--out", str(out), "--adjust", "overlap", "--propensity", COVS,
                 "--n-boot", "30", "--trim", "0.05"]) == 0
    o = json.loads((out / "results.json").read_text())["overlap"]
    assert o["estimand"] == "overlap" and "ATO" in o["estimand_description"] and "Crump" in o["estimand_description"]
    hr = o["hazard_ratio"]
    assert hr["se"] > 0 and hr["se_naive"] > 0 and o["n_boot"] == 30 and o["seed"] == 0
    assert "common outcome" in o["sensitivity"]["hazard_ratio"]["conversion"]


def test_adjust_errors(tmp_path, capsys):
    out = tmp_path / "res"
    assert main(["analyse", str(COHORT), "--out", str(out), "--adjust", "gformula"]) == 2
    assert "--adjust gformula needs --covariates" in capsys.readouterr().err
    assert main(["analyse", str(COHORT), "--out", str(out), "--adjust", "overlap"]) == 2
    assert "--adjust overlap needs --propensity" in capsys.readouterr().err
    assert main(["analyse", str(COHORT), "--out", str(out), "--adjust", "gformula", "--covariates", "age",
                 "--propensity", "age"]) == 2
    assert "only used with --adjust iptw, aipw or overlap" in capsys.readouterr().err
    assert main(["analyse", str(COHORT), "--out", str(out), "--adjust", "aipw", "--covariates", "age,housing"]) == 2
    err = capsys.readouterr().err
    assert "'housing'" in err and len(err.strip().splitlines()) == 1
    assert not (out / "results.json").exists()
