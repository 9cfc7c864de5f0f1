"""Provenance of a report: package versions and the git commit, for ``manifest.json``.
"""

from __future__ import annotations
import contextlib
import subprocess
import sys
from pathlib import Path
from typing import Any



_PACKAGES = ("peerstudy", "numpy", "scipy", "pandas", "pyarrow", "statsmodels", "lifelines", "matplotlib",
             "seaborn", "papermill", "nbclient", "nbconvert", "nbformat", "ipykernel", "jupyter_client")


def package_versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": sys.version.split()[0]}
    for name in _PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[name] = metadata.version(name)
    return out


def git_info(folder: Path) -> dict[str, Any] | None:
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=folder,
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": bool(dirty)}
