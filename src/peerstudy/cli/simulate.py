"""``peerstudy simulate``: simulate a cohort and write it with its truth sidecar."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "simulate",
        help="simulate a cohort (CSV or Parquet) with its truth sidecar",
        description="Simulate a peer-support cohort. Writes FILE and, beside it, FILE.truth.json "
        "(e.g. cohort.csv -> cohort.truth.json), and FILE.contacts.csv|parquet (the coach-contact log) "
        "when the scenario has contacts.enabled.",
    )
    p.add_argument("--scenario", required=True, metavar="NAME_OR_YAML", help="preset name or scenario YAML file")
    p.add_argument("--n", type=int, default=None, help="number of participants (overrides the scenario)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: a fresh one, recorded in the truth file)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a scenario field, e.g. hazard_ratio=0.7 or covariates.homeless.prevalence=0.3")
    p.add_argument("--out", required=True, metavar="FILE", help="output .csv or .parquet")
    return p


def truth_path(out: Path) -> Path:
    return out.with_name(out.stem + ".truth.json")


def contacts_path(out: Path) -> Path:
    return out.with_name(out.stem + ".contacts" + out.suffix)


def run(args: argparse.Namespace) -> int:
    import contextlib

    import numpy as np

    from peerstudy._io import atomic_path, dumps_json
    from peerstudy.exceptions import DataError, ScenarioError
    from peerstudy.scenario import apply_overrides, load_scenario
    from peerstudy.data.schema import write_cohort
    from peerstudy.simulation.cohort import (note_overrides, scenario_label, simulate_cohort, simulate_with_contacts,
                                             truth_sidecar)

    out = Path(args.out)
    if out.suffix.lower() not in (".csv", ".parquet"):
        raise DataError(f"--out must end in .csv or .parquet; got {args.out!r}")
    base = scenario = load_scenario(args.scenario)
    if args.overrides:
        scenario = apply_overrides(scenario, args.overrides)
    if args.n is not None:
        if args.n < 2:
            raise ScenarioError(f"n must be >= 2; got {args.n}")
        scenario = scenario.replace(n=args.n)
    scenario = note_overrides(base, scenario)  # the description names what --set and --n changed
    if args.seed is not None and args.seed < 0:
        raise ScenarioError(f"seed must be >= 0; got {args.seed}")
    seed = args.seed if args.seed is not None else int(np.random.SeedSequence().entropy % (2**63))
    log = None
    if scenario.contacts.enabled:
        df, log = simulate_with_contacts(scenario, rng=seed)
    else:
        df = simulate_cohort(scenario, rng=seed)
    sidecar = truth_sidecar(scenario, seed=seed)
    # all files or none: the sidecar and log are renamed into place only after the cohort is written
    tpath, cpath = truth_path(out), contacts_path(out)
    with contextlib.ExitStack() as stack:
        tmp_truth = stack.enter_context(atomic_path(tpath))
        tmp_truth.write_text(dumps_json(sidecar), encoding="utf-8")
        if log is not None:
            tmp_log = stack.enter_context(atomic_path(cpath))
            write_table(log, tmp_log, suffix=out.suffix)
        write_cohort(df, out, metadata={"seed": str(seed), "scenario": scenario.name})
    extra = f", {cpath} ({len(log):,} sessions)" if log is not None else ""
    print(f"wrote {out} ({len(df):,} participants of {scenario_label(scenario)}), {tpath}{extra}")
    return 0


def write_table(df, path: Path, *, suffix: str) -> None:
    """Write a plain table to an already-temporary path in the format named by ``suffix``."""
    if suffix.lower() == ".csv":
        df.to_csv(path, index=False, lineterminator="\n")
    else:
        df.to_parquet(path, index=False, compression="zstd")
