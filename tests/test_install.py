"""Installed anywhere: a wheel of the package, installed (not editable) into a fresh virtual environment,
builds a report from an empty directory with that environment's own kernel.

The dependencies come from a local wheel cache, ``.wheel-cache/`` at the repository root (not committed):
filled once from the package index at the versions of ``requirements.lock``, then reused offline, so the
install takes seconds rather than minutes. The wheel is built from a copy of the sources, so building
leaves nothing in the checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from peerstudy.report import runner

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".wheel-cache"
_NB_FILES = sorted((ROOT / "src" / "peerstudy" / "notebooks").glob("*.ipynb"))
#: every notebook the package ships
ALL_NOTEBOOKS = [p.stem for p in _NB_FILES]
#: the notebooks of a scenario report (pages about programme data only, metadata peerstudy.needs_data, run with --data)
NOTEBOOKS = [p.stem for p in _NB_FILES
             if not json.loads(p.read_text()).get("metadata", {}).get("peerstudy", {}).get("needs_data")]
#: notebooks that fail with ``-p n=300`` for reasons that are not the install's: 300 people give no death to draw
#: a curve of, and every person with a coach has a session by day 30 (no unexposed group for the landmark)
KNOWN_FAILURES = {
    "03-competing-endings": "ValueError: 'died' is not in list",
    "06-observational": "both exposed and unexposed people are needed",
}


def _run(cmd: list, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, check=False, **kw)


def _check(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, f"{' '.join(proc.args)}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc


def _pip(*args: str, **kw) -> subprocess.CompletedProcess:
    return _run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args], timeout=900, **kw)


def _sources(dest: Path) -> Path:
    """The files a wheel is built from, copied so that the build leaves nothing in the checkout."""
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, dest / name)
    shutil.copytree(ROOT / "src", dest / "src", symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", ".ipynb_checkpoints"))
    return dest


def _build_wheel(src: Path, dist: Path) -> tuple[Path, str]:
    """The package's wheel (setuptools from the cache when it is there, else from the index) and pip's output."""
    offline = ["--no-index", "--find-links", str(CACHE)]
    proc = _pip("wheel", "-v", "--no-deps", *offline, "-w", str(dist), str(src), cwd=src)
    if proc.returncode != 0:
        proc = _check(_pip("wheel", "-v", "--no-deps", "-w", str(dist), str(src), cwd=src))
    wheels = list(dist.glob("peerstudy-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0], proc.stdout + proc.stderr


def _install(venv: Path, wheel: Path) -> None:
    """Install the wheel and its dependencies at the locked versions, offline from the cache (filled if need be)."""
    lock = ROOT / "requirements.lock"
    install = ["--python", str(venv / "bin" / "python"), "install", "--no-compile", "--no-index", "--find-links",
               str(CACHE), "-c", str(lock), str(wheel)]
    if _pip(*install).returncode != 0:
        CACHE.mkdir(exist_ok=True)
        # the runtime dependencies at the locked versions, and the build backend for the offline wheel build
        _check(_pip("wheel", "-q", "-w", str(CACHE), "-c", str(lock), str(wheel), "setuptools>=77", "wheel"))
        for stale in CACHE.glob("peerstudy-*.whl"):
            stale.unlink()
        _check(_pip(*install))


def _kernel_python(venv: Path, name: str) -> str:
    """The executable the venv's jupyter_client starts for kernel ``name``."""
    code = ("from jupyter_client.manager import KernelManager\n"
            f"print(KernelManager(kernel_name={name!r}).format_kernel_cmd()[0])")
    return _check(_run([venv / "bin" / "python", "-c", code], timeout=120)).stdout.strip()


_PROBE = """\
import json, peerstudy
from peerstudy.data import datasets
from peerstudy.data.programme.mapping import load_mapping
from peerstudy.report.parameters import default_notebook_dir, list_notebooks
from peerstudy.report.runner import _kernel_name
from peerstudy.scenario import PRESETS, preset
print(json.dumps({"package": peerstudy.__file__, "notebooks": str(default_notebook_dir()),
                  "listed": [p.stem for p in list_notebooks()], "presets": [preset(p).name for p in PRESETS],
                  "uis": len(datasets.load_uis()), "pharmaco": len(datasets.load_pharmaco_smoking()),
                  "teds": bool(load_mapping("teds")), "kernel": _kernel_name(None)}))
"""


@pytest.mark.slow
def test_installed_wheel_builds_a_report_from_an_empty_directory(tmp_path):
    # one test, not several sharing a fixture: under pytest-xdist each worker would install its own copy
    (tmp_path / "sources").mkdir()
    wheel, build_log = _build_wheel(_sources(tmp_path / "sources"), tmp_path / "dist")
    warnings = [ln for ln in build_log.splitlines() if "warning" in ln.lower()
                and "byte-compiling is disabled" not in ln  # pip's own --no-compile note
                and "is ignored: it is neither a file nor a directory" not in ln]  # pip's note on index paths
    assert not warnings, "\n".join(warnings)

    venv = tmp_path / "venv"
    _check(_run([sys.executable, "-m", "venv", "--without-pip", venv], timeout=120))
    _install(venv, wheel)
    _check(_run([venv / "bin" / "python", "-m", "ipykernel", "install", "--prefix", venv, "--name", "peerstudy",
                 "--display-name", "peerstudy (test venv)"], timeout=120))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PEERSTUDY_NOTEBOOKS", "VIRTUAL_ENV")}
    env["PATH"] = os.pathsep.join([str(venv / "bin"), env.get("PATH", "")])
    work = tmp_path / "empty"
    work.mkdir()

    # the package and its data (notebooks, presets, mappings, bundled CSVs) come from the venv
    out = json.loads(_check(_run([venv / "bin" / "python", "-c", _PROBE], cwd=work, env=env, timeout=300)).stdout)
    site = venv / "lib"
    assert Path(out["package"]).is_relative_to(site) and Path(out["notebooks"]).is_relative_to(site), out
    assert out["listed"] == ALL_NOTEBOOKS
    assert sorted(out["presets"]) == sorted(p.stem for p in (ROOT / "src" / "peerstudy" / "presets").glob("*.yaml"))
    assert (out["uis"], out["pharmaco"], out["teds"], out["kernel"]) == (575, 125, True, "peerstudy")

    proc = _run([venv / "bin" / "peerstudy", "report", "--scenario", "null_effect", "-p", "n=300", "--quiet"],
                cwd=work, env=env, timeout=1500)
    folder = work / "reports" / "null_effect"
    manifest_file = folder / "manifest.json"
    if not manifest_file.is_file():
        manifest_file = folder.with_name("null_effect.failed") / "manifest.json"
    assert manifest_file.is_file(), f"no manifest\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    manifest = json.loads(manifest_file.read_text())
    assert set(manifest["notebooks"]) == set(NOTEBOOKS), proc.stderr[-4000:]
    # the kernel the report ran is this venv's python
    assert _kernel_python(venv, manifest["kernel"]) == str(venv / "bin" / "python")
    assert manifest["packages"]["peerstudy"] == "0.1.0" and manifest["git"] is None
    for name, st in manifest["notebooks"].items():
        # every kernel started and ran its notebook's cells: a failure, if any, is in a cell
        assert st["status"] == "ok" or st.get("cell") is not None, (name, st)
    # a scenario report leaves out the programme-data page (it would describe a bundled example, not the scenario)
    assert "05-programme-data" not in manifest["notebooks"]

    failed = {n: st.get("error", "") for n, st in manifest["notebooks"].items() if st["status"] != "ok"}
    if failed and all(n in KNOWN_FAILURES and KNOWN_FAILURES[n] in err for n, err in failed.items()):
        pytest.xfail(f"the install works; known failures of the notebooks with -p n=300: {failed}")
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert (folder / "index.html").is_file()
    results = json.loads((folder / "results.json").read_text())
    for name in NOTEBOOKS:
        assert (folder / f"{name}.html").is_file() and results[name].get("summary"), name


def test_kernel_of_another_environment_is_not_ours(tmp_path, monkeypatch):
    """A ``peerstudy`` kernel of another venv made from the same base interpreter is not this interpreter's."""
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager

    other = tmp_path / "other" / "bin"
    other.mkdir(parents=True)
    (other / "python").symlink_to(Path(sys.executable).resolve())
    argv: list[str] = []
    monkeypatch.setattr(KernelSpecManager, "get_kernel_spec",
                        lambda self, name: KernelSpec(argv=[*argv, "-m", "ipykernel_launcher"], resource_dir=""))
    argv[:] = [str(other / "python")]
    assert runner._kernel_name(None) == "python3"
    argv[:] = [sys.executable]
    assert runner._kernel_name(None) == "peerstudy"
    argv[:] = ["python"]
    assert runner._kernel_name(None) == "peerstudy"
    assert runner._kernel_name("custom") == "custom"
