"""``peerstudy study``: a simulation study (ADEMP) of analysis methods on a scenario, locally or on Dask."""

from __future__ import annotations

import argparse

HELP = "simulation study: power, bias, SEs and coverage of analysis methods, with Monte Carlo SEs"


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("study", help=HELP, description=(
        "Simulate REPS cohorts of a scenario (per grid point), analyse each with every method and write "
        "DIR/performance.json and DIR/estimates.csv (one row per replicate and method). Finished chunks are "
        "kept in DIR/chunks, so rerunning an interrupted study resumes it. Results do not depend on --workers "
        "or the backend. For a Dask cluster start 'dask scheduler' and 'dask worker tcp://HOST:8786' on each "
        "machine (peerstudy installed there) and pass --scheduler tcp://HOST:8786."))
    p.add_argument("--scenario", required=True, metavar="NAME_OR_YAML", help="preset name or scenario YAML file")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a scenario field")
    p.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2,...",
                   help="run at each value (repeat for a full factorial grid)")
    p.add_argument("--reps", type=int, required=True, help="replicates (per grid point)")
    p.add_argument("--n", type=int, default=None, help="participants per cohort (default: the scenario's n)")
    p.add_argument("--seed", type=int, default=0, help="study seed (default 0)")
    p.add_argument("--methods", default=None,
                   help="comma-separated methods (default: logrank,cox,cox_adjusted,cox_robust,rmst); also "
                        "cox_stratified, cox_robust_small_sample, frailty, permutation and primary (the design's "
                        "primary analysis), fitted replicate by replicate; with recurrent.enabled also andersen_gill, "
                        "andersen_gill_naive and negative_binomial")
    p.add_argument("--tau", type=int, default=None, help="RMST horizon in days (default: follow-up)")
    p.add_argument("--alpha", type=float, default=0.05, help="two-sided significance level")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=None, help="local processes (default: CPU count)")
    where.add_argument("--scheduler", default=None, metavar="ADDRESS", help="Dask scheduler address (tcp://host:8786)")
    p.add_argument("--backend", choices=("processes", "dask"), default="processes")
    p.add_argument("--chunk-size", type=int, default=None, help="replicates per chunk")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created if needed)")
    return p


def _parse_grid(items: list[str]) -> dict:
    from peerstudy._yaml import parse_yaml
    from peerstudy.exceptions import ParameterError

    grid: dict = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key or not raw.strip():
            raise ParameterError(f"--grid expects KEY=V1,V2,...; got {item!r}")
        if key in grid:
            raise ParameterError(f"--grid {key!r} is given twice; give all its values once, e.g. {key}=V1,V2")
        grid[key] = [parse_yaml(v, where=f"--grid {key} value {v.strip()[:40]!r}", error=ParameterError)
                     for v in raw.split(",")]
    return grid


def run(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    from peerstudy._io import atomic_path, write_json
    from peerstudy.design.study import DEFAULT_METHODS, check_study_dir, run_study
    from peerstudy.exceptions import DataError
    from peerstudy.scenario import Scenario, load_scenario
    from peerstudy.simulation.cohort import override, scenario_label

    grid = _parse_grid(args.grid) or None
    out = Path(args.out)
    check_study_dir(out)
    scenario = load_scenario(args.scenario)
    if args.set:
        scenario = override(scenario, args.set)  # the description names the overridden fields
    methods = DEFAULT_METHODS if args.methods is None else tuple(m.strip() for m in args.methods.split(",") if m.strip())
    workers = args.workers if args.workers is not None else min(os.cpu_count() or 1, 8)
    backend = "dask" if args.scheduler else args.backend
    result = run_study(
        scenario, reps=args.reps, seed=args.seed, methods=methods, grid=grid, n=args.n,
        alpha=args.alpha, tau=args.tau, workers=workers, backend=backend, scheduler=args.scheduler,
        chunk_size=args.chunk_size, out=out, progress=not args.no_progress,
    )
    try:
        with atomic_path(out / "estimates.csv") as tmp:
            result.estimates.to_csv(tmp, index=False)
        write_json(result.to_dict(), out / "performance.json")
    except OSError as exc:
        raise DataError(f"cannot write the results into --out {args.out!r}: {exc.strerror or exc}") from None
    for point in result.points:
        label = scenario_label(Scenario.from_dict(point["scenario"]))  # the scenario run, overrides and grid point included
        print(f"{label}: {args.reps} replicates")
        width = max(13, *(len(m) for m in point["methods"]))
        for method, m in point["methods"].items():
            line = f"  {method:<{width}} power {m['power']:.3f} ({m['power_mcse']:.3f})"
            if m["truth"] is not None:
                line += (f"  bias {m['bias']:+.4f} ({m['bias_mcse']:.4f})  coverage {m['coverage']:.3f} "
                         f"({m['coverage_mcse']:.3f})")
            else:
                line += "  (a test: no estimate)"
            print(line + f"  [{point['estimands'][method]['estimand']}]")
    print(f"wrote {out / 'performance.json'} and {out / 'estimates.csv'}")
    return 0
