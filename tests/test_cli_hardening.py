"""Bad input to the command line: one line naming the field and value, exit 2, and the file system unchanged."""

from __future__ import annotations

import errno
import hashlib
import json
import os
from pathlib import Path

import pytest

from peerstudy.cli import main


def snapshot(folder: Path) -> dict[str, str]:
    """Every file and folder under ``folder`` (hidden ones too) with a digest of its bytes."""
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = str(p.relative_to(folder))
        out[rel] = "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def refused(capsys, argv: list[str], *needles: str) -> str:
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


def simulate(out: Path, *extra: str) -> list[str]:
    return ["simulate", "--scenario", "null_effect", "--n", "60", "--seed", "3", *extra, "--out", str(out)]


# ----- simulate -------------------------------------------------------------------------------------------
def test_simulate_replaces_its_own_cohort_and_truth_together(tmp_path, capsys):
    out = tmp_path / "c.csv"
    assert main(simulate(out)) == 0
    assert main(["simulate", "--scenario", "null_effect", "--n", "80", "--seed", "4", "--out", str(out)]) == 0
    assert json.loads((tmp_path / "c.truth.json").read_text())["n"] == 80
    assert len(out.read_text().splitlines()) == 81
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.csv", "c.truth.json"]


def test_simulate_refuses_a_user_file(tmp_path, capsys):
    (tmp_path / "mine.csv").write_text("a,b\n1,2\n")
    before = snapshot(tmp_path)
    refused(capsys, simulate(tmp_path / "mine.csv"), "--out", "mine.csv", "not a peerstudy cohort")
    assert snapshot(tmp_path) == before


def test_simulate_refuses_a_user_truth_file(tmp_path, capsys):
    (tmp_path / "c.truth.json").write_text("my notes")
    before = snapshot(tmp_path)
    refused(capsys, simulate(tmp_path / "c.csv"), "c.truth.json", "not a peerstudy truth file")
    assert snapshot(tmp_path) == before


def test_simulate_refuses_a_truth_file_of_another_format(tmp_path, capsys):
    assert main(simulate(tmp_path / "c.csv")) == 0
    before = snapshot(tmp_path)
    refused(capsys, simulate(tmp_path / "c.parquet"), "--out", "c.parquet", "c.truth.json", "c.csv",
            "choose another name")
    assert snapshot(tmp_path) == before


def test_simulate_refuses_a_folder(tmp_path, capsys):
    (tmp_path / "d.csv").mkdir()
    (tmp_path / "d.csv" / "keep.txt").write_text("keep")
    before = snapshot(tmp_path)
    refused(capsys, simulate(tmp_path / "d.csv"), "--out", "d.csv", "existing folder")
    assert snapshot(tmp_path) == before


def test_simulate_n_too_large_refused_up_front_with_memory(tmp_path, capsys):
    before = snapshot(tmp_path)
    refused(capsys, ["simulate", "--scenario", "null_effect", "--n", str(10**8), "--out", str(tmp_path / "c.csv")],
            "n must be at most 20,000,000", "100,000,000", "GB of memory")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("existing", [False, True])
def test_simulate_full_disk_leaves_nothing(tmp_path, capsys, monkeypatch, existing):
    import pandas as pd

    out = tmp_path / "c.csv"
    if existing:
        assert main(simulate(out)) == 0
    before = snapshot(tmp_path)

    def full(*a, **k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(pd.DataFrame, "to_csv", full)
    refused(capsys, ["simulate", "--scenario", "null_effect", "--n", "70", "--out", str(out)],
            "--out", "c.csv", "No space left on device")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("existing", [False, True])
def test_simulate_second_rename_fails_restores(tmp_path, capsys, monkeypatch, existing):
    out = tmp_path / "c.csv"
    if existing:
        assert main(simulate(out)) == 0
    before = snapshot(tmp_path)
    real = os.replace

    def flaky(src, dst, *a, **k):
        if str(dst).endswith("c.truth.json") and ".c.truth.json." in str(src):
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return real(src, dst, *a, **k)

    monkeypatch.setattr(os, "replace", flaky)
    refused(capsys, ["simulate", "--scenario", "null_effect", "--n", "70", "--out", str(out)], "--out", "c.csv")
    monkeypatch.setattr(os, "replace", real)
    assert snapshot(tmp_path) == before


# ----- study ----------------------------------------------------------------------------------------------
def study(out: Path, *extra: str) -> list[str]:
    return ["study", "--scenario", "null_effect", "--n", "100", "--reps", "4", "--methods", "cox", "--workers", "1",
            "--no-progress", *extra, "--out", str(out)]


def test_study_marks_its_folder_resumes_and_refuses_a_user_folder(tmp_path, capsys):
    from peerstudy._io import MARKER

    out = tmp_path / "st"
    assert main(study(out)) == 0
    assert (out / MARKER).is_file() and (out / "chunks" / "study.json").is_file()
    chunk = next((out / "chunks").glob("*.npz"))
    stamp = chunk.stat().st_mtime_ns
    assert main(study(out)) == 0  # resumed: the chunk is reused, not recomputed
    assert chunk.stat().st_mtime_ns == stamp

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    before = snapshot(tmp_path)
    refused(capsys, study(mine), "--out", "mine", "peerstudy did not make")
    (tmp_path / "file").write_text("x")
    before = snapshot(tmp_path)
    refused(capsys, study(tmp_path / "file"), "--out", "file", "existing file")
    assert snapshot(tmp_path) == before


def test_study_resumes_a_folder_of_an_earlier_version(tmp_path, capsys):
    from peerstudy._io import MARKER

    out = tmp_path / "st"
    assert main(study(out)) == 0
    (out / MARKER).unlink()  # as written before study folders were marked
    assert main(study(out)) == 0
    assert (out / MARKER).is_file()


@pytest.mark.parametrize("extra, needles", [
    (["--reps", str(10**12)], ["reps must be at most 1,000,000", "1,000,000,000,000", "GB of memory"]),
    (["--n", str(10**8)], ["n must be", "100000000"]),
    (["--grid", "hazard_ratio=0.7", "--grid", "hazard_ratio=0.9"], ["--grid 'hazard_ratio' is given twice"]),
    (["--grid", "hazard_ratio=[0.7"], ["--grid hazard_ratio", "not valid YAML"]),
])
def test_study_bad_input_refused_up_front(tmp_path, capsys, extra, needles):
    argv = study(tmp_path / "st")
    i = argv.index("--out")
    before = snapshot(tmp_path)
    refused(capsys, argv[:i] + extra + argv[i:], *needles)
    assert snapshot(tmp_path) == before


def test_study_unreachable_scheduler_one_line_quickly(tmp_path, capsys):
    import time

    argv = ["study", "--scenario", "null_effect", "--n", "100", "--reps", "4", "--no-progress",
            "--scheduler", "tcp://127.0.0.1:1", "--out", str(tmp_path / "st")]
    before = snapshot(tmp_path)
    t0 = time.monotonic()
    refused(capsys, argv, "scheduler 'tcp://127.0.0.1:1'", "no Dask scheduler answered")
    assert time.monotonic() - t0 < 15  # an 8 s connect timeout, plus start-up on a loaded machine
    assert snapshot(tmp_path) == before


def test_study_workers_die_with_their_parent(monkeypatch):
    import concurrent.futures as cf

    from peerstudy._io import die_with_parent
    from peerstudy.design import study as st

    seen = {}

    class Pool:
        def __init__(self, **kwargs):
            seen.update(kwargs)

        submit = shutdown = None

    monkeypatch.setattr(cf, "ProcessPoolExecutor", Pool)
    st._executor("processes", 2, None)
    assert seen["initializer"] is die_with_parent


# ----- report ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("params, needles", [
    (["seed=" + "1" * 5000], ["parameter 'seed'", "from -2**63 to 2**63 - 1", "'111111", "5,002 characters"]),
    (["seed=-9223372036854775809"], ["parameter 'seed'", "'-9223372036854775809'"]),
    (["seed=7", "seed=8"], ["parameter 'seed' is given twice"]),
    (["seed=" + "x" * 5000], ["parameter 'seed' must be int", "'xxxx"]),
])
def test_report_parameters_bounded_and_once(tmp_path, capsys, monkeypatch, params, needles):
    monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path)
    argv = ["report", *[a for p in params for a in ("-p", p)], "--out", str(tmp_path / "r")]
    err = refused(capsys, argv, *needles)
    assert len(err) < 300
    assert snapshot(tmp_path) == before


def test_int_parameter_range():
    from peerstudy.exceptions import ParameterError
    from peerstudy.report.parameters import Parameter

    p = Parameter("seed", "int", 1)
    assert p.coerce(str(2**63 - 1)) == 2**63 - 1 and p.coerce("-0009") == -9
    for bad in (str(2**63), 2**63, -(2**63) - 1):
        with pytest.raises(ParameterError, match="'seed'"):
            p.coerce(bad)


# ----- validate: a Parquet file that fails validation, many times over -----------------------------------
def test_invalid_parquet_exits_2_every_time(tmp_path):
    import subprocess
    import sys
    from concurrent.futures import ThreadPoolExecutor

    import pandas as pd

    out = tmp_path / "c.parquet"
    assert main(simulate(out)) == 0
    bad = tmp_path / "bad.parquet"
    pd.read_parquet(out).drop(columns=["age"]).assign(time=-1).to_parquet(bad)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}

    def once(_):
        proc = subprocess.run([sys.executable, "-m", "peerstudy", "validate", str(bad)], env=env,
                              capture_output=True, text=True, timeout=60)
        return proc.returncode, proc.stderr

    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(once, range(50)))
    codes = [code for code, _ in runs]
    assert codes == [2] * 50, [(c, e[-500:]) for c, e in runs if c != 2][:3]
    assert all("INVALID" in err and "Traceback" not in err for _, err in runs)
