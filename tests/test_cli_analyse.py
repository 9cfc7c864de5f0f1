"""``peerstudy analyse``: files written, the results.json contract, exit 2 with one clear line."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from peerstudy.cli import main

REF = Path(__file__).parent / "reference"
COHORT = REF / "survival_core_cohort.csv"
R = json.loads((REF / "survival_core.json").read_text())


def test_writes_results_and_tables(tmp_path, capsys):
    out = tmp_path / "res"
    rc = main(["analyse", str(COHORT), "--out", str(out), "--covariates", "age,homeless", "--strata", "site",
               "--cluster", "site", "--ending", "outcome", "--cause", "dropout", "--horizons", "30,90,180"])
    assert rc == 0
    assert "600 participants" in capsys.readouterr().out
    d = json.loads((out / "results.json").read_text())
    assert d["n"] == 600 and d["events"] == 341
    assert d["km"]["peer"]["survival"]["90"] == pytest.approx(R["km"]["sim"]["log-log"]["at"]["peer"]["surv"][1],
                                                              abs=1e-6)
    assert d["logrank"]["statistic"] == pytest.approx(R["logrank"]["sim"]["rho0"]["statistic"], abs=1e-6)
    assert {"estimate", "ci_lower", "ci_upper"} <= set(d["rmst"]["180"]["difference"])
    assert set(d["competing"]["cif"]) >= {"dropout"}
    assert d["input"]["file"] == str(COHORT)
    for name in ("km_curves", "km_horizons", "km_medians", "logrank", "rmst", "cif"):
        assert len(pd.read_csv(out / f"{name}.csv")) > 0
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == [".peerstudy-output"]  # only the marker
    assert not [p for p in out.parent.iterdir() if ".building-" in p.name]  # no build folder left


def test_real_data_with_other_columns(tmp_path):
    uis = Path(__import__("peerstudy").__file__).parent / "data" / "uis.csv"
    out = tmp_path / "uis"
    assert main(["analyse", str(uis), "--out", str(out), "--time", "TIME", "--event", "CENSOR", "--arm", "TREAT",
                 "--horizons", "30,90,180,365"]) == 0
    d = json.loads((out / "results.json").read_text())
    assert [round(d["km"]["0"]["survival"][h], 3) for h in ("30", "90", "180", "365")] == [0.903, 0.689, 0.415, 0.215]


def test_parquet_input(tmp_path):
    pq = tmp_path / "c.parquet"
    pd.read_csv(COHORT).to_parquet(pq)
    assert main(["analyse", str(pq), "--out", str(tmp_path / "o")]) == 0
    assert (tmp_path / "o" / "results.json").is_file()


@pytest.mark.parametrize("extra,frame,message", [
    (["--time", "days"], None, "missing column(s) 'days'"),
    ([], lambda d: d.assign(time=d["time"].astype(str).where(d.index != 0, "abc")), "'time' (time) must be numeric"),
    ([], lambda d: d.assign(event=d["event"].where(d.index != 1, 5)), "'event' (event) must be 0/1"),
    ([], lambda d: d.assign(time=d["time"].where(d.index != 2, -4)), "must be > 0; got -4"),
    ([], lambda d: d[d.arm == "peer"], "'arm' (arm) needs at least 2 levels"),
    (["--horizons", "30,abc"], None, "--horizons must be comma-separated days"),
    (["--cause", "dropout"], None, "--cause needs --ending"),
    (["--ending", "outcome", "--cause", "relapse"], None, "cause 'relapse' does not occur"),
])
def test_bad_input_exits_2(tmp_path, capsys, extra, frame, message):
    path = COHORT
    if frame is not None:
        path = tmp_path / "bad.csv"
        frame(pd.read_csv(COHORT)).to_csv(path, index=False)
    out = tmp_path / "out"
    assert main(["analyse", str(path), "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (out / "results.json").exists()


def test_missing_file(tmp_path, capsys):
    assert main(["analyse", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "o")]) == 2
    assert "not found" in capsys.readouterr().err



def test_mapping_reads_programme_export(tmp_path):
    """--mapping reads a programme export through peerstudy.data.programme.read_export: same numbers as the cohort."""
    from peerstudy.data import programme
    cohort = pd.read_csv(COHORT)
    export = tmp_path / "export.csv"
    programme.to_export(cohort).to_csv(export, index=False)
    assert main(["analyse", str(export), "--mapping", "canonical", "--no-private", "--out", str(tmp_path / "m")]) == 0
    assert main(["analyse", str(COHORT), "--out", str(tmp_path / "c")]) == 0
    m = json.loads((tmp_path / "m" / "results.json").read_text())
    c = json.loads((tmp_path / "c" / "results.json").read_text())
    assert m["n"] == c["n"] == 600 and m["events"] == c["events"]
    assert m["km"] == c["km"] and m["logrank"] == c["logrank"]
    assert m["input"]["mapping"] == "canonical" and "flow" in m


def test_exclude_invalid_rows_of_a_programme_export(tmp_path, capsys):
    import json
    from pathlib import Path

    from peerstudy.cli import main

    syn = Path(__file__).resolve().parents[1] / "data" / "synthetic"
    export, mapping = str(syn / "messy_export.csv"), str(syn / "messy_export.mapping.yaml")
    # by default the export is refused, every problem listed
    assert main(["analyse", export, "--mapping", mapping, "--out", str(tmp_path / "a")]) == 2
    assert "problem" in capsys.readouterr().err and not (tmp_path / "a").exists()
    # with --exclude-invalid the bad rows are left out and counted by reason
    assert main(["analyse", export, "--mapping", mapping, "--exclude-invalid", "--no-private",
                 "--out", str(tmp_path / "b")]) == 0
    err = capsys.readouterr().err
    assert "row(s) excluded" in err
    flow = json.loads((tmp_path / "b" / "results.json").read_text())["flow"]
    assert flow["received"] == 60 and flow["analysed"] == 54 and sum(flow["excluded"].values()) == 6
    assert main(["analyse", export, "--exclude-invalid", "--out", str(tmp_path / "c")]) == 2
    assert "--exclude-invalid needs --mapping" in capsys.readouterr().err


def _snapshot(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_out_replaces_its_own_folder_whole_so_no_stale_tables_remain(tmp_path):
    out = tmp_path / "res"
    assert main(["analyse", str(COHORT), "--out", str(out), "--ending", "outcome"]) == 0
    assert (out / "cif.csv").is_file()
    assert main(["analyse", str(COHORT), "--out", str(out)]) == 0  # no competing endings this time
    assert not (out / "cif.csv").exists() and not (out / "fine_gray.csv").exists()
    assert (out / "results.json").is_file()


@pytest.mark.parametrize("make, message", [
    (lambda p: (p.mkdir(), (p / "notes.txt").write_text("mine")), "is a folder peerstudy did not make and it is not empty"),
    (lambda p: p.write_text("mine"), "is an existing file; peerstudy writes a folder there and never replaces a file"),
])
def test_out_never_replaces_what_the_user_made(make, message, tmp_path, capsys):
    target = tmp_path / "mine"
    make(target)
    before = _snapshot(tmp_path)
    assert main(["analyse", str(COHORT), "--out", str(target)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err and "--out" in err
    assert _snapshot(tmp_path) == before


def test_out_dot_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data.csv").write_bytes(COHORT.read_bytes())
    before = _snapshot(tmp_path)
    assert main(["analyse", "data.csv", "--out", "."]) == 2
    assert "is the working folder or holds it" in capsys.readouterr().err
    assert _snapshot(tmp_path) == before


def test_a_full_disk_leaves_nothing_half_written(tmp_path, monkeypatch, capsys):
    import errno

    out = tmp_path / "res"
    assert main(["analyse", str(COHORT), "--out", str(out)]) == 0
    before = _snapshot(tmp_path)
    calls = {"n": 0}
    real = pd.DataFrame.to_csv

    def full(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, *a, **k)

    monkeypatch.setattr(pd.DataFrame, "to_csv", full)
    assert main(["analyse", str(COHORT), "--out", str(out), "--ending", "outcome"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "No space left on device" in err
    assert _snapshot(tmp_path) == before  # the old results stand, untouched; no build folder left


def test_a_killed_runs_build_folder_is_cleaned_up(tmp_path):
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".res.building-{dead.stdout.strip()}-abcd"
    stale.mkdir()
    (stale / "km_curves.csv").write_text("partial")
    assert main(["analyse", str(COHORT), "--out", str(tmp_path / "res")]) == 0
    assert not stale.exists()


def test_warnings_reach_stderr_and_results_notes(tmp_path, capsys):
    df = pd.read_csv(COHORT)
    df["separates"] = df["event"]  # a covariate that separates dropouts perfectly
    path = tmp_path / "sep.csv"
    df.to_csv(path, index=False)
    out = tmp_path / "res"
    assert main(["analyse", str(path), "--out", str(out), "--covariates", "separates"]) == 0
    err = capsys.readouterr().err
    warned = [line for line in err.splitlines() if line.startswith("peerstudy analyse: warning: ")]
    assert warned
    notes = json.loads((out / "results.json").read_text())["notes"]
    assert all(line.removeprefix("peerstudy analyse: warning: ") in notes for line in warned)


def test_frailty_adds_the_frailty_block_to_results(tmp_path):
    data = Path(__file__).parent / "reference" / "frailty_cluster.csv"
    ref = json.loads((Path(__file__).parent / "reference" / "frailty.json").read_text())["cluster_gamma"]
    out = tmp_path / "res"
    assert main(["analyse", str(data), "--out", str(out), "--frailty", "site"]) == 0
    fr = json.loads((out / "results.json").read_text())["frailty"]
    assert {"distribution", "variance", "terms", "lrt_p"} <= set(fr)
    assert fr["distribution"] == "gamma"
    assert fr["variance"] == pytest.approx(ref["theta"], rel=1e-5)
    assert fr["terms"]["arm[peer]"]["coef"] == pytest.approx(ref["coef"]["armpeer"], rel=1e-5)
    assert {"coef", "se", "hr", "ci_lower", "ci_upper", "p"} <= set(fr["terms"]["arm[peer]"])
    cohort = Path(__file__).parent / "reference" / "frailty_cohort.csv"
    assert main(["analyse", str(cohort), "--out", str(tmp_path / "g"), "--frailty", "site",
                 "--frailty-distribution", "gaussian"]) == 0
    assert json.loads((tmp_path / "g" / "results.json").read_text())["frailty"]["distribution"] == "gaussian"


def test_gaussian_frailty_with_a_cluster_level_arm_is_refused_in_one_line(tmp_path, capsys):
    data = Path(__file__).parent / "reference" / "frailty_cluster.csv"
    assert main(["analyse", str(data), "--out", str(tmp_path / "g"), "--frailty", "site",
                 "--frailty-distribution", "gaussian"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "use the gamma frailty" in err


def test_a_latin1_file_is_read_and_the_encoding_is_said(tmp_path, capsys):
    df = pd.read_csv(COHORT)
    df["site"] = "Northg\u00e1te"
    path = tmp_path / "latin1.csv"
    df.to_csv(path, index=False, encoding="latin-1")
    assert main(["validate", str(path)]) == 0
    err = capsys.readouterr().err
    assert "peerstudy validate: warning: " in err and "read as cp1252" in err
    from peerstudy.data.schema import read_cohort

    assert read_cohort(path)["site"].astype(str).iloc[0] == "Northg\u00e1te"
