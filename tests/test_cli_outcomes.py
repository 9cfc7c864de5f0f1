"""``peerstudy simulate`` writes the follow-up interviews of a scenario with outcomes; ``peerstudy analyse --outcomes``
joins them to the cohort, checks them and adds the secondary outcomes to results.json (exact and private)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from peerstudy.cli import main
from peerstudy.data.programme.readers import FOLLOW_UP_WINDOWS, read_visits
from peerstudy.present.audit import audit_report
from peerstudy.simulation.visits import VISITS
from peerstudy.survival.outcomes import (barc_mixed_model, follow_up_rates, linkage_incidence, risk_contrast,
                                         six_month_frame)

ON = ["--set", "outcomes.enabled=true", "--set", "outcomes.missing.homeless=0.3"]


@pytest.fixture(scope="module")
def simulated(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("sim")
    out = folder / "c.csv"
    assert main(["simulate", "--scenario", "outpatient_default", *ON, "--n", "600", "--seed", "11",
                 "--out", str(out)]) == 0
    return out


def test_simulate_writes_the_visits_table_and_its_truth(simulated, tmp_path, capsys):
    visits = pd.read_csv(simulated.with_name("c.visits.csv"))
    assert list(visits.columns) == ["participant_id", "visit", "day", "barc10", "housed", "employed"]
    truth = json.loads(simulated.with_name("c.truth.json").read_text())
    assert set(truth["outcomes"]) >= {"linkage", "housed_6m", "employed_6m", "barc10", "interviews"}
    assert truth["scenario"]["outcomes"]["enabled"] is True
    cohort = pd.read_csv(simulated)
    assert {"linkage_time", "linkage_ending"} <= set(cohort.columns) and cohort["homeless"].isna().any()
    # the same command gives the same bytes, for every file
    again = tmp_path / "c.csv"
    assert main(["simulate", "--scenario", "outpatient_default", *ON, "--n", "600", "--seed", "11",
                 "--out", str(again)]) == 0
    assert "c.visits.csv (" in capsys.readouterr().out
    for name in ("c.csv", "c.visits.csv", "c.truth.json"):
        assert (tmp_path / name).read_bytes() == simulated.with_name(name).read_bytes(), name
    # a cohort peerstudy made is replaced whole, its interviews with it
    assert main(["simulate", "--scenario", "outpatient_default", *ON, "--n", "60", "--seed", "12",
                 "--out", str(again)]) == 0
    assert pd.read_csv(tmp_path / "c.visits.csv")["participant_id"].max() <= 60
    # the retention cohort is the one simulated without outcomes
    plain = tmp_path / "plain.csv"
    assert main(["simulate", "--scenario", "outpatient_default", "--n", "600", "--seed", "11", "--out", str(plain)]) == 0
    base = pd.read_csv(plain)
    pd.testing.assert_frame_equal(cohort[["participant_id", "arm", "time", "outcome", "age"]],
                                  base[["participant_id", "arm", "time", "outcome", "age"]])
    assert not (tmp_path / "plain.visits.csv").exists()


def test_simulate_never_replaces_a_visits_file_it_did_not_make(tmp_path, capsys):
    (tmp_path / "c.visits.csv").write_text("mine\n")
    assert main(["simulate", "--scenario", "outpatient_default", *ON, "--n", "50", "--seed", "1",
                 "--out", str(tmp_path / "c.csv")]) == 2
    assert "c.visits.csv" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.visits.csv"]
    assert (tmp_path / "c.visits.csv").read_text() == "mine\n"


def test_the_windows_of_the_reader_are_those_of_the_simulation():
    assert FOLLOW_UP_WINDOWS == {k: (lo, hi) for k, (_, lo, hi) in VISITS.items()}


def test_analyse_outcomes_writes_each_part_as_the_estimators_give_it(simulated, tmp_path, capsys):
    out = tmp_path / "res"
    visits_file = simulated.with_name("c.visits.csv")
    assert main(["analyse", str(simulated), "--outcomes", str(visits_file), "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "6-month follow-up:" in said and "BARC-10:" in said
    doc = json.loads((out / "results.json").read_text())["outcomes"]
    cohort = pd.read_csv(simulated)
    visits = read_visits(visits_file, cohort)
    # linkage: the Aalen-Johansen estimate (checked against R in the competing-risks tests) by day 7, 30, 90
    link = linkage_incidence(cohort).at()
    for arm in ("usual_care", "peer"):
        for day in ("7", "30", "90"):
            want = link[(link["group"] == arm) & (link["cause"] == "linked") & (link["time"] == float(day))]
            got = doc["linkage"]["by_arm"][arm]["cif"][day]
            assert got["estimate"] == pytest.approx(float(want["cif"].iloc[0]), rel=1e-12)
            assert got["ci_lower"] < got["estimate"] < got["ci_upper"]
    # 6-month risks: risk_contrast (checked against R glm) on everyone due, complete cases
    six = six_month_frame(cohort, visits)
    for name in ("housed", "employed"):
        want = risk_contrast(six, outcome=name).to_dict()
        assert doc["six_month"][name]["risk_difference"] == pytest.approx(want["risk_difference"])
        assert doc["six_month"][name]["risk_ratio"] == pytest.approx(want["risk_ratio"])
    rates = follow_up_rates(cohort, visits).table
    got = pd.DataFrame(doc["follow_up"]["rates"])
    assert got["done"].tolist() == rates["done"].tolist() and set(got["by"]) == {"all", "arm", "site"}
    assert doc["follow_up"]["target"] == 0.8
    barc = barc_mixed_model(visits, cohort)  # checked against lme4 in the outcomes tests
    assert doc["barc10"]["change"]["difference"]["estimate"] == pytest.approx(barc.change["difference"]["estimate"])
    for name in ("linkage", "six_month", "follow_up", "barc10"):
        assert (out / f"outcomes_{name}.csv").is_file()


def test_every_problem_of_the_interview_table_on_its_own_line_exit_2_nothing_written(simulated, tmp_path, capsys):
    visits = pd.read_csv(simulated.with_name("c.visits.csv"))
    bad = pd.concat([visits, visits.iloc[[0]], pd.DataFrame([{"participant_id": 99999, "visit": "6m", "day": 200}])],
                    ignore_index=True)
    six = bad.index[bad["visit"] == "6m"][0]
    bad.loc[six, "day"] = 300  # outside the GPRA window
    bad.loc[bad.index[1], "visit"] = "12m"
    bad.loc[bad.index[2], "barc10"] = 75
    path = tmp_path / "bad.csv"
    bad.to_csv(path, index=False)
    out = tmp_path / "res"
    assert main(["analyse", str(simulated), "--outcomes", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert "Traceback" not in err and not out.exists()
    for text in ("not in the cohort: 99999", "repeat a participant's 'visit'", "unknown 'visit' ('12m'",
                 "'6m' interview(s) outside its window (days 152-243)", "column 'barc10' must hold whole numbers"):
        assert sum(text in ln for ln in lines) == 1, (text, lines)
    assert lines[-1].startswith("peerstudy analyse: error:") and "5 problems" in lines[-1]


def test_outcomes_need_an_arm_and_a_known_file(simulated, tmp_path, capsys):
    assert main(["analyse", str(simulated), "--outcomes", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "a")]) == 2
    assert "not found" in capsys.readouterr().err
    visits = simulated.with_name("c.visits.csv")
    assert main(["analyse", str(simulated), "--arm", "none", "--outcomes", str(visits),
                 "--out", str(tmp_path / "b")]) == 2
    assert "--outcomes needs an arm column" in capsys.readouterr().err


def test_impute_with_outcomes_pools_missed_interviews(simulated, tmp_path):
    out = tmp_path / "res"
    visits = simulated.with_name("c.visits.csv")
    assert main(["analyse", str(simulated), "--outcomes", str(visits), "--impute", "4", "--out", str(out)]) == 0
    doc = json.loads((out / "results.json").read_text())
    imp = doc["outcomes"]["imputed"]
    assert imp["m"] == 4 and imp["n_missing"]["housed"] > 0 and "imputed" not in doc  # no covariates: none imputed
    for name in ("housed", "employed"):
        rd, rr = imp["pooled"][name]["risk_difference"], imp["pooled"][name]["risk_ratio"]
        assert rd["ci_lower"] < rd["estimate"] < rd["ci_upper"] and 0 < rd["fmi"] < 1
        assert rr["ci_lower"] < rr["estimate"] < rr["ci_upper"]
    # with covariates, both imputations run: the covariates of the retention model and the missed interviews
    out2 = tmp_path / "res2"
    assert main(["analyse", str(simulated), "--outcomes", str(visits), "--impute", "3", "--covariates", "homeless",
                 "--out", str(out2)]) == 0
    doc2 = json.loads((out2 / "results.json").read_text())
    assert doc2["imputed"]["imputation"]["imputed"] == ["homeless"]
    assert "homeless" in doc2["outcomes"]["imputed"]["predictors"]


def test_private_outcomes_pass_the_audit_and_show_no_exact_small_count(simulated, tmp_path, capsys):
    out = tmp_path / "res"
    visits = simulated.with_name("c.visits.csv")
    assert main(["analyse", str(simulated), "--outcomes", str(visits), "--impute", "3", "--covariates", "homeless",
                 "--private", "--out", str(out)]) == 0
    assert "(private)" in capsys.readouterr().out
    doc = json.loads((out / "results.json").read_text())
    assert "counts" not in doc["outcomes"]
    for r in doc["outcomes"]["follow_up"]["rates"]:
        for key in ("due", "done"):
            assert isinstance(r[key], str)
    ids = pd.read_csv(simulated)["participant_id"]
    audit = audit_report(out, private=True, ids=ids)
    assert audit.passed, audit.summary(10)
    assert main(["audit", str(out)]) == 0


@pytest.mark.parametrize("n, seed", [(40, 1), (90, 2), (160, 3)])
def test_small_simulated_cohorts_analysed_privately_pass_the_audit(tmp_path, n, seed):
    cohort = tmp_path / "c.csv"
    assert main(["simulate", "--scenario", "outpatient_default", *ON, "--n", str(n), "--seed", str(seed),
                 "--out", str(cohort)]) == 0
    out = tmp_path / "res"
    code = main(["analyse", str(cohort), "--outcomes", str(tmp_path / "c.visits.csv"), "--impute", "3",
                 "--covariates", "homeless", "--private", "--out", str(out)])
    if code == 2:  # too few people for some model: refused whole, nothing written
        assert not out.exists()
        return
    assert code == 0
    audit = audit_report(out, private=True, ids=pd.read_csv(cohort)["participant_id"])
    assert audit.passed, audit.summary(10)
    doc = json.loads((out / "results.json").read_text())
    for part in ("imputed", "outcomes"):
        text = json.dumps(doc[part])
        assert not any(f'"n": {k},' in text or f'"events": {k},' in text for k in range(1, 11))


def test_private_imputation_refuses_when_complete_cases_differ_by_one_to_ten(tmp_path, capsys):
    cohort = tmp_path / "c.csv"
    assert main(["simulate", "--scenario", "outpatient_default", "--set", "outcomes.enabled=true", "--n", "300",
                 "--seed", "4", "--out", str(cohort)]) == 0
    df = pd.read_csv(cohort)
    df.loc[df.index[:4], "homeless"] = np.nan
    df.to_csv(cohort, index=False)
    out = tmp_path / "res"
    assert main(["analyse", str(cohort), "--impute", "3", "--covariates", "homeless", "--private",
                 "--out", str(out)]) == 2
    assert "fewer than 11 people" in capsys.readouterr().err and not out.exists()
    assert main(["analyse", str(cohort), "--impute", "3", "--covariates", "homeless", "--out", str(out)]) == 0


def test_a_programme_export_with_interviews_is_private_by_default(tmp_path, capsys):
    from peerstudy.data.programme import read_export

    syn = Path(__file__).resolve().parents[1] / "data" / "synthetic"
    export, mapping = syn / "messy_export.csv", syn / "messy_export.mapping.yaml"
    cohort = read_export(export, mapping=mapping, invalid_rows="exclude").cohort
    rng = np.random.default_rng(0)
    rows = []
    for pid in cohort["participant_id"]:
        rows.append({"participant_id": pid, "visit": "intake", "day": 0, "barc10": int(rng.integers(10, 61))})
        if rng.uniform() < 0.7:
            rows.append({"participant_id": pid, "visit": "6m", "day": int(rng.integers(152, 244)),
                         "barc10": int(rng.integers(10, 61)), "housed": int(rng.uniform() < 0.6),
                         "employed": int(rng.uniform() < 0.4)})
    visits = tmp_path / "visits.csv"
    pd.DataFrame(rows).to_csv(visits, index=False)
    out = tmp_path / "res"
    assert main(["analyse", str(export), "--mapping", str(mapping), "--exclude-invalid", "--outcomes", str(visits),
                 "--out", str(out)]) == 0
    assert "(private)" in capsys.readouterr().out
    doc = json.loads((out / "results.json").read_text())
    assert all(isinstance(r["done"], str) for r in doc["outcomes"]["follow_up"]["rates"])
    audit = audit_report(out, private=True, ids=pd.read_csv(export, dtype=str)["Client ID"])
    assert audit.passed, audit.summary(10)
