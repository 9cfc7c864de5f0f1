import json
import subprocess
import sys

import pandas as pd
import pytest

from peerstudy.cli import main


def test_scenarios_lists_presets(capsys):
    assert main(["scenarios"]) == 0
    out = capsys.readouterr().out
    for name in ("outpatient_default", "ed_bridge", "moud_clinic", "cluster_randomised", "null_effect"):
        assert name in out


def test_simulate_writes_cohort_and_truth(tmp_path, capsys):
    out = tmp_path / "cohort.csv"
    assert main(["simulate", "--scenario", "ed_bridge", "--n", "300", "--seed", "9", "--set", "hazard_ratio=0.7",
                 "--set", "covariates.homeless.prevalence=0.4", "--out", str(out)]) == 0
    truth = json.loads((tmp_path / "cohort.truth.json").read_text())
    assert truth["seed"] == 9 and truth["n"] == 300 and truth["hazard_ratio"] == 0.7
    assert truth["scenario"]["covariates"]["homeless"]["prevalence"] == 0.4
    # the preset's description states its HR and size; the file says which fields were overridden
    from peerstudy.scenario import preset

    note = "overridden: n=300, hazard_ratio=0.7, covariates.homeless.prevalence=0.4"
    assert truth["scenario"]["description"] == f"{preset('ed_bridge').description}; {note}"
    assert f"300 participants of ed_bridge with {note.split(': ', 1)[1]}" in capsys.readouterr().out
    assert set(truth["estimands"]) >= {"net_survival", "cif", "rmst"}
    df = pd.read_csv(out)
    assert len(df) == 300
    assert main(["validate", str(out)]) == 0
    # the same command gives the same bytes
    out2 = tmp_path / "again.csv"
    main(["simulate", "--scenario", "ed_bridge", "--n", "300", "--seed", "9", "--set", "hazard_ratio=0.7",
          "--set", "covariates.homeless.prevalence=0.4", "--out", str(out2)])
    assert out.read_bytes() == out2.read_bytes()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--scenario", "nope"], "unknown preset 'nope'"),
        (["--scenario", "outpatient_default", "--set", "hazard_ratio=-1"], "hazard_ratio must be > 0; got -1"),
        (["--scenario", "outpatient_default", "--set", "hazard_ratoi=0.7"], "unknown scenario field 'hazard_ratoi'"),
        (["--scenario", "outpatient_default", "--n", "0"], "n must be >= 2; got 0"),
        (["--scenario", "outpatient_default", "--set", "covariates.age.mean=200"], "covariates.age.mean must be within"),
    ],
)
def test_bad_input_one_line_exit_2_nothing_written(tmp_path, capsys, args, message):
    out = tmp_path / "c.csv"
    assert main(["simulate", *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_unwritable_output_and_bad_suffix(tmp_path, capsys):
    assert main(["simulate", "--scenario", "null_effect", "--out", str(tmp_path / "missing" / "c.csv")]) == 2
    assert "output folder does not exist" in capsys.readouterr().err
    assert main(["simulate", "--scenario", "null_effect", "--out", str(tmp_path / "c.xlsx")]) == 2
    assert "--out must end in .csv or .parquet; got" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_validate_reports_every_problem(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    main(["simulate", "--scenario", "null_effect", "--n", "50", "--seed", "1", "--out", str(bad)])
    df = pd.read_csv(bad)
    df.loc[0, "time"] = -2
    df.loc[1, "outcome"] = "relapse"
    df.drop(columns=["age"]).to_csv(bad, index=False)
    capsys.readouterr()
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "INVALID, 3 problem(s)" in err and "missing column(s): age" in err and "'relapse'" in err
    assert main(["validate", str(tmp_path / "nothing.csv")]) == 2
    assert "data file not found" in capsys.readouterr().err


def test_console_script_exit_status(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "peerstudy", "simulate", "--scenario", "nope", "--out",
                           str(tmp_path / "x.csv")], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.strip().startswith("peerstudy simulate: error: unknown preset")


def test_simulate_writes_contact_log_when_enabled(tmp_path):
    out = tmp_path / "obs.parquet"
    assert main(["simulate", "--scenario", "observational", "--n", "500", "--seed", "4", "--out", str(out)]) == 0
    log = pd.read_parquet(tmp_path / "obs.contacts.parquet")
    assert list(log.columns) == ["participant_id", "day", "contact_type"] and len(log) > 0
    truth = json.loads((tmp_path / "obs.truth.json").read_text())
    assert truth["estimands"] and truth["scenario"]["allocation"] == "observational"
