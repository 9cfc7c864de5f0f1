"""Regenerate ``data/synthetic/`` byte for byte: ``python -m peerstudy.make_data data/synthetic`` (``make data``).

Per preset: ``<preset>.csv`` (800 participants, seed 2026) with ``<preset>.truth.json``, the same as
``peerstudy simulate --scenario <preset> --n 800 --seed 2026 --out data/synthetic/<preset>.csv``; a
``codebook.csv`` of the canonical columns; the programme-export example (``messy_export.csv`` with its
mapping) and a synthetic TEDS-D file.
"""

from __future__ import annotations

import copy
import csv
import os
import io
import sys
from typing import Any
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from peerstudy._io import atomic_path, dumps_json
from peerstudy.scenario import PRESETS, preset
from peerstudy.data.schema import CODEBOOK, COLUMNS, OPTIONAL_COLUMNS, write_cohort
from peerstudy.simulation.cohort import note_overrides, simulate_cohort, simulate_with_contacts, truth_sidecar

SEED = 2026
N = 800

__all__ = ["make_synthetic", "messy_export", "write_programme_examples", "SEED", "N"]


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
        scenario = note_overrides(preset(name), preset(name).replace(n=N))  # as `peerstudy simulate --n 800` says it
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
    written += list(write_programme_examples(folder))
    return written


_MESSY_MAPPING: dict[str, Any] = {
    "name": "messy_example",
    "layout": "dates",
    "columns": {
        "participant_id": "Client ID", "site": "Clinic", "arm": "Group", "coach": "Coach",
        "admitted_on": "Admission Date", "discharged_on": "Discharge Date", "reason": "Discharge Reason",
        "age": "Age", "female": "Sex", "homeless": "Housing", "stimulant_use": "Stimulants", "injects": "Injects",
        "unemployed": "Employment", "depression": "BDI", "prior_treatments": "Prior episodes",
    },
    "optional": ["coach"],
    "date_format": "%d/%m/%Y",
    "values": {
        "arm": {"Peer support": "peer", "Usual care": "usual_care"},
        "female": {"F": 1, "M": 0},
        "homeless": {"Homeless": 1, "Housed": 0},
        "unemployed": {"Unemployed": 1, "Employed": 0},
    },
    "reasons": {"Completed": "retained", "Dropped out": "dropout", "Terminated": "dropout",
                "Transferred": "lost_to_follow_up", "Incarcerated": "incarcerated", "Died": "died",
                "Other": "lost_to_follow_up"},
}


def messy_export(n: int = 60, *, rng: Any = 2026) -> tuple[pd.DataFrame, dict[str, Any], dict[str, list[int]]]:
    """A small programme export in a programme's own words, with deliberate mistakes.

    Returns the export (strings, as a spreadsheet would hold them), its mapping, and the
    spreadsheet rows of each planted mistake: ``reason typo`` (2), ``missing date`` (1),
    ``duplicate id`` (2 rows), ``discharge before admission`` (1).
    """
    rng = np.random.default_rng(rng)
    start = np.datetime64("2024-03-04")
    adm = start + rng.integers(0, 300, n).astype("timedelta64[D]")
    stay = np.maximum(np.ceil(120 * rng.weibull(0.8, n)), 1).astype(int)
    labels = np.array(["Dropped out", "Completed", "Terminated", "Transferred", "Incarcerated", "Died", "Other"])
    reason = rng.choice(labels, n, p=[0.45, 0.3, 0.1, 0.07, 0.04, 0.01, 0.03])
    dis = adm + (stay - 1).astype("timedelta64[D]")
    cut = np.datetime64("2025-03-31")
    still = dis > cut
    fmt = lambda d: pd.to_datetime(d).strftime("%d/%m/%Y")  # noqa: E731
    df = pd.DataFrame({
        "Client ID": [f"C{1000 + i}" for i in range(n)],
        "Clinic": rng.choice(["North", "South", "East"], n),
        "Group": rng.choice(["Peer support", "Usual care"], n),
        "Coach": "",
        "Admission Date": fmt(adm),
        "Discharge Date": np.where(still, "", fmt(dis)),
        "Discharge Reason": np.where(still, "", reason),
        "Age": np.clip(np.rint(rng.normal(34, 9, n)), 18, 70).astype(int).astype(str),
        "Sex": rng.choice(["F", "M"], n, p=[0.35, 0.65]),
        "Housing": rng.choice(["Homeless", "Housed"], n, p=[0.25, 0.75]),
        "Stimulants": rng.choice(["Y", "N"], n, p=[0.2, 0.8]),
        "Injects": rng.choice(["Y", "N"], n, p=[0.35, 0.65]),
        "Employment": rng.choice(["Unemployed", "Employed"], n, p=[0.6, 0.4]),
        "BDI": np.clip(np.rint(rng.normal(17, 9, n)), 0, 63).astype(int).astype(str),
        "Prior episodes": rng.poisson(1.5, n).astype(str),
    })
    df["Coach"] = np.where(df["Group"] == "Peer support", rng.choice(["Ana", "Ben", "Cy"], n), "")
    ended = np.flatnonzero(~still)
    planted: dict[str, list[int]] = {}
    typo_rows = ended[[3, 11]]
    df.loc[typo_rows[0], "Discharge Reason"] = "Droped out"
    df.loc[typo_rows[1], "Discharge Reason"] = "Completd"
    planted["reason typo"] = [int(r) + 2 for r in typo_rows]
    miss = ended[7]
    df.loc[miss, "Admission Date"] = ""
    planted["missing date"] = [int(miss) + 2]
    before = ended[15]
    dup = [int(r) for r in np.setdiff1d(np.arange(n), [*typo_rows, miss, before])[[4, 19]]]
    df.loc[dup[1], "Client ID"] = df.loc[dup[0], "Client ID"]
    planted["duplicate id"] = [dup[0] + 2, dup[1] + 2]
    df.loc[before, "Discharge Date"] = fmt(adm[before] - np.timedelta64(9, "D"))
    planted["discharge before admission"] = [int(before) + 2]
    return df, copy.deepcopy(_MESSY_MAPPING), planted


def write_programme_examples(folder: "str | os.PathLike") -> list[Path]:
    """Write the programme-data examples into ``folder`` (deterministic bytes); return the paths.

    ``messy_export.csv`` + ``messy_export.mapping.yaml`` (a programme export with planted mistakes)
    and ``teds_d_synthetic.csv`` (5,000 synthetic discharges in the TEDS-D public-use layout, seed
    2026) with ``teds_d_synthetic.truth.json``.
    """
    from peerstudy._io import atomic_path, dumps_json
    from peerstudy.simulation.teds import simulate_teds

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    df, mapping, planted = messy_export()
    paths = []
    p = folder / "messy_export.csv"
    with atomic_path(p) as tmp:
        df.to_csv(tmp, index=False, lineterminator="\n")
    paths.append(p)
    p = folder / "messy_export.mapping.yaml"
    head = ("# Mapping for messy_export.csv (peerstudy.data.programme.load_mapping). Written by\n"
            "# peerstudy.make_data.write_programme_examples; planted mistakes (spreadsheet rows): "
            + "; ".join(f"{k} {v}" for k, v in planted.items()) + "\n")
    with atomic_path(p) as tmp:
        tmp.write_text(head + yaml.safe_dump(mapping, sort_keys=False, allow_unicode=True), encoding="utf-8")
    paths.append(p)
    teds_df, truth = simulate_teds(5000, rng=2026)
    p = folder / "teds_d_synthetic.csv"
    with atomic_path(p) as tmp:
        teds_df.to_csv(tmp, index=False, lineterminator="\n")
    paths.append(p)
    p = folder / "teds_d_synthetic.truth.json"
    with atomic_path(p) as tmp:
        tmp.write_text(dumps_json({"generator": "peerstudy.simulation.teds.simulate_teds(5000, rng=2026)", **truth.to_dict()}),
                       encoding="utf-8")
    paths.append(p)
    return paths


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    folder = Path(argv[0]) if argv else Path("data/synthetic")
    for path in make_synthetic(folder):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
