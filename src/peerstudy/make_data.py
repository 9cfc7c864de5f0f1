"""Regenerate ``data/synthetic/`` byte for byte: ``python -m peerstudy.make_data data/synthetic`` (``make data``).

Per preset: ``<preset>.csv`` (800 participants, seed 2026) with ``<preset>.truth.json``, the same as
``peerstudy simulate --scenario <preset> --n 800 --seed 2026 --out data/synthetic/<preset>.csv``; a
``codebook.csv`` of the canonical columns; and the programme-export examples when that module is present.
"""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

from ._io import atomic_path, dumps_json
from .scenario import PRESETS, preset
from .schema import CODEBOOK, COLUMNS, OPTIONAL_COLUMNS, write_cohort
from .simulate import simulate_cohort, simulate_with_contacts, truth_sidecar

SEED = 2026
N = 800

__all__ = ["make_synthetic", "SEED", "N"]


def _codebook_text() -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["column", "type", "unit", "meaning"])
    for col in (*COLUMNS, *OPTIONAL_COLUMNS):
        w.writerow([col, *CODEBOOK[col]])
    return buf.getvalue()


def make_synthetic(folder: str | Path) -> list[Path]:
    """Write the reference cohorts, truth files and codebook into ``folder``; return the paths written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name in PRESETS:
        scenario = preset(name).replace(n=N)
        out = folder / f"{name}.csv"
        if scenario.contacts.enabled:
            cohort, log = simulate_with_contacts(scenario, rng=SEED)
            log_path = folder / f"{name}.contacts.csv"
            with atomic_path(log_path) as tmp:
                log.to_csv(tmp, index=False, lineterminator="\n")
            written.append(log_path)
        else:
            cohort = simulate_cohort(scenario, rng=SEED)
        write_cohort(cohort, out)
        truth = folder / f"{name}.truth.json"
        with atomic_path(truth) as tmp:
            tmp.write_text(dumps_json(truth_sidecar(scenario, seed=SEED)), encoding="utf-8")
        written += [out, truth]
    codebook = folder / "codebook.csv"
    with atomic_path(codebook) as tmp:
        tmp.write_text(_codebook_text(), encoding="utf-8")
    written.append(codebook)
    try:
        from .programme import write_programme_examples
    except ImportError:
        pass
    else:
        written += list(write_programme_examples(folder))
    return written


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    folder = Path(argv[0]) if argv else Path("data/synthetic")
    for path in make_synthetic(folder):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
