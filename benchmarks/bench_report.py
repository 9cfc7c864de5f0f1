"""Benchmark of ``peerstudy report``: pages 01-03, the default report, its PDF, and a 100,000-person cohort.

Each runs the CLI as a user would (``make report`` with the venv built: the package byte-compiled, then
``peerstudy report --scenario outpatient_default``), in a subprocess, writing to a temporary folder. Targets on
this 2-core machine: the default report (every notebook that applies) <= 30 s, its PDF <= 15 s more, pages 01-03
<= 30 s and pages 01-03 on 100,000 participants <= 60 s. Per-notebook times come from manifest.json.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PEERSTUDY = Path(sys.executable).with_name("peerstudy")


def _report(out: Path, *extra: str) -> tuple[float, dict]:
    cmd = [str(PEERSTUDY), "report", "--scenario", "outpatient_default", "--out", str(out), "--quiet", *extra]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr.strip()}")
    return elapsed, json.loads((out / "manifest.json").read_text())


def run() -> dict:
    # as make report does: kernels then import the package from byte code even where PYTHONDONTWRITEBYTECODE is set
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "src" / "peerstudy")], check=True,
                   capture_output=True)
    metrics: dict = {}
    notes: list[str] = [f"cpus: {os.cpu_count()}; load average before: {os.getloadavg()[0]:.2f}"]
    three = ["--only", "01", "02", "03"]
    with tempfile.TemporaryDirectory() as tmp:
        three_s, m = _report(Path(tmp) / "three", *three)
        metrics["pages_01_03_report_s"] = round(three_s, 2)
        for name, nb in m["notebooks"].items():
            metrics[f"pages_01_03_{name}_execute_s"] = nb["execute_s"]
            metrics[f"pages_01_03_{name}_html_s"] = nb["html_s"]
        try:  # the default report: what `make report` runs, every notebook that applies to a scenario
            all_s, m_all = _report(Path(tmp) / "all")
            metrics["default_report_s"] = round(all_s, 2)
            metrics["default_report_notebooks"] = list(m_all["notebooks"])
            for name, nb in m_all["notebooks"].items():
                metrics[f"default_{name}_execute_s"] = nb["execute_s"]
            pdf_s, _ = _report(Path(tmp) / "pdf", "--format", "html,pdf")
            metrics["pdf_extra_s"] = round(pdf_s - all_s, 2)
        except RuntimeError as exc:  # a notebook of another area failing is reported, not hidden
            metrics["default_report_s"] = metrics["pdf_extra_s"] = None
            notes.append(f"the default report failed: {exc}")
        big_s, m_big = _report(Path(tmp) / "big", *three, "-p", "n=100000")
        metrics["n100000_report_s"] = round(big_s, 2)
        for name, nb in m_big["notebooks"].items():
            metrics[f"n100000_{name}_execute_s"] = nb["execute_s"]
    notes.append("wall-clock of the whole CLI run (process start, parameter checks, 2 worker processes, "
                 "one kernel per notebook, HTML export, index/manifest); the machine is shared, so figures vary with load")
    targets = {
        "pages_01_03_report_s": (30.0, metrics["pages_01_03_report_s"]),   # notebooks 01-03
        "default_report_s": (30.0, metrics["default_report_s"]),            # make report: every notebook that applies
        "pdf_extra_s": (15.0, metrics["pdf_extra_s"]),                      # --format html,pdf on top of it
        "n100000_report_s": (60.0, metrics["n100000_report_s"]),
    }
    return {
        "metrics": metrics,
        "targets": {k: {"limit": lim, "value": v, "ok": v is not None and v <= lim} for k, (lim, v) in targets.items()},
        "notes": notes,
    }
