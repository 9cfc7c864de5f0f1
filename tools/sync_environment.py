"""Write environment.yml (conda) from requirements.in + requirements.lock so both name the same pins.

Run by `make lock`; tests/test_environment.py checks the two agree.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    lock = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            k, v = line.split("==", 1)
            lock[k.strip().lower().replace("_", "-")] = v.strip()
    lines = [
        "# Conda equivalent of requirements.lock (the tested path is a venv with pip: `make venv`).",
        "# Direct dependencies from requirements.in, pinned to the same versions as requirements.lock;",
        "# tests/test_environment.py checks that the two agree. Regenerate with `make lock`.",
        "name: peerstudy", "channels:", "  - conda-forge", "dependencies:", "  - python=3.11", "  - pip",
    ]
    for raw in (ROOT / "requirements.in").read_text().splitlines():
        line = raw.split("#")[0].strip()
        if not line:
            continue
        name = re.split(r"[\[<>=]", line)[0].strip().lower()
        for member in (["dask", "distributed"] if name == "dask" else [name]):
            lines.append(f"  - {member}={lock[member]}")
    lines += ["  - pip:", "      - -e ."]
    (ROOT / "environment.yml").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
