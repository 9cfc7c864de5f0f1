"""``peerstudy analyse`` on a coach-clustered cohort: --cluster coach, --frailty coach, --effect-modifier coach_match."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from peerstudy.cli import main

REF = Path(__file__).parent / "reference"
COHORT = REF / "coaches_cohort.csv"
R = json.loads((REF / "coaches.json").read_text())


def test_frailty_coach_and_effect_modification_in_results(tmp_path, capsys):
    out = tmp_path / "res"
    rc = main(["analyse", str(COHORT), "--out", str(out), "--frailty", "coach", "--effect-modifier", "coach_match"])
    assert rc == 0
    said = capsys.readouterr().out
    assert "effect modification (frailty_gamma)" in said and "clusters of coach" in said
    d = json.loads((out / "results.json").read_text())
    em = d["effect_modification"]
    assert em["model"] == "frailty_gamma" and em["cluster"] == "coach" and em["nested"] is True
    ref = R["frailty_gamma"]
    for lev, r in zip(("0", "1"), ref["strata"]):
        assert em["strata"][lev]["coef"] == pytest.approx(r["coef"], rel=1e-6)
        assert em["strata"][lev]["se"] == pytest.approx(r["se"], rel=1e-6)
    assert em["interaction"]["p"] == pytest.approx(ref["interaction"]["p"], rel=1e-6)
    # the frailty model of the arm alone: usual care's participants are clusters of one beside the 12 coaches
    n_uc = int((pd.read_csv(COHORT)["arm"] == "usual_care").sum())
    assert d["frailty"]["clusters"] == 12 + n_uc
    table = pd.read_csv(out / "effect_modification.csv")
    assert list(table["stratum"]) == ["coach_match = 0", "coach_match = 1"]


def test_cluster_coach_and_effect_modification_robust(tmp_path):
    out = tmp_path / "res"
    assert main(["analyse", str(COHORT), "--out", str(out), "--cluster", "coach",
                 "--effect-modifier", "coach_match"]) == 0
    d = json.loads((out / "results.json").read_text())
    em = d["effect_modification"]
    assert em["model"] == "cox_cluster_robust"
    assert em["interaction"]["chisq"] == pytest.approx(R["robust"]["interaction"]["chisq"], rel=1e-6)
    assert "robust_se" in d["cox"]["terms"]["arm[peer]"]


def test_effect_modifier_errors_exit_2(tmp_path, capsys):
    rc = main(["analyse", str(COHORT), "--out", str(tmp_path / "x"), "--effect-modifier", "no_such"])
    assert rc == 2
    assert "no_such" in capsys.readouterr().err
    rc = main(["analyse", str(COHORT), "--out", str(tmp_path / "y"), "--arm", "none", "--covariates", "age",
               "--effect-modifier", "coach_match"])
    assert rc == 2
    assert "--effect-modifier needs an arm column" in capsys.readouterr().err
