"""The benchmark harness records a failing R side as unavailable instead of crashing."""

from __future__ import annotations

import importlib.util
import os
import stat
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _load_r_helper():
    spec = importlib.util.spec_from_file_location("bench_r", BENCH / "_common.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fake_rscript(folder: Path, body: str) -> None:
    exe = folder / "Rscript"
    exe.write_text(f"#!/bin/sh\n{body}\n")
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)


def test_missing_r_package_is_reported_not_raised(tmp_path, monkeypatch):
    _fake_rscript(tmp_path, "echo \"Error in library(data.table) : there is no package called 'data.table'\" >&2; exit 1")
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    r = _load_r_helper()
    out, why = r.run_r(["-e", "library(data.table)"])
    assert out is None
    assert why == "R failed: Error in library(data.table) : there is no package called 'data.table'"
    target = r.unavailable(0.5, why)
    assert target["ok"] is None and target["unavailable"] == why


def test_working_r_returns_its_output(tmp_path, monkeypatch):
    _fake_rscript(tmp_path, "echo 1.25 0.5")
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    out, why = _load_r_helper().run_r(["x.R"])
    assert out.split() == ["1.25", "0.5"] and why is None


def test_no_rscript_at_all(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    out, why = _load_r_helper().run_r(["x.R"])
    assert out is None and why.startswith("Rscript not found")
