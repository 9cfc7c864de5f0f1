"""The package's layers hold: import-linter checks the contracts in .importlinter.

Engine (scenario, data, simulation, survival) below design, presentation below the report, the command
line on top; survival never imports the simulation engine; the report runner knows nothing of simulation
or programme data; nothing but ``python -m peerstudy`` imports the command line.
"""

from __future__ import annotations

import configparser
import os
import subprocess
import sys
from pathlib import Path


def _lint_imports(root: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("lint-imports")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root / "src"), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([str(exe), "--no-cache", "--no-logo", str(root / ".importlinter")], cwd=root, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_import_contracts_are_kept(root):
    proc = _lint_imports(root)
    assert proc.returncode == 0 and "0 broken" in proc.stdout, proc.stdout + proc.stderr


def test_the_contracts_named_in_the_architecture_are_declared(root):
    cfg = configparser.ConfigParser()
    cfg.read(root / ".importlinter")
    contracts = {s.split(":", 2)[2]: cfg[s] for s in cfg.sections() if s.startswith("importlinter:contract:")}
    layers = [line.strip() for line in contracts["layers"]["layers"].split("\n") if line.strip()]
    assert layers[0] == "cli" and layers[-1] == "exceptions"
    assert layers.index("report") < layers.index("present") < layers.index("design | make_data")
    assert contracts["layers"]["exhaustive"] == "true"
    forbidden = {(c["source_modules"].split()[0], m) for c in contracts.values() if c["type"] == "forbidden"
                 for m in c["forbidden_modules"].split()}
    assert {("peerstudy.survival", "peerstudy.simulation"), ("peerstudy.report.runner", "peerstudy.simulation"),
            ("peerstudy.report.runner", "peerstudy.data.programme"), ("peerstudy", "peerstudy.cli")} <= forbidden
