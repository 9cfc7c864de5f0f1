"""``peerstudy simulate``: simulate a cohort and write it with its truth sidecar."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "simulate",
        help="simulate a cohort (CSV or Parquet) with its truth sidecar",
        description="Simulate a peer-support cohort. Writes FILE and, beside it, FILE.truth.json "
        "(e.g. cohort.csv -> cohort.truth.json), FILE.contacts.csv|parquet (the coach-contact log) "
        "when the scenario has contacts.enabled, and FILE.events.csv|parquet (recurrent episodes: participant_id, "
        "day, kind) when it has recurrent.enabled, and FILE.visits.csv|parquet (follow-up interviews: "
        "participant_id, visit, day, barc10, housed, employed; the cohort then also has linkage_time and "
        "linkage_ending, and the covariates outcomes.missing names have missing values) when it has "
        "outcomes.enabled; the outcomes truth goes into FILE.truth.json under 'outcomes'.",
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


def events_path(out: Path) -> Path:
    return out.with_name(out.stem + ".events" + out.suffix)


def visits_path(out: Path) -> Path:
    return out.with_name(out.stem + ".visits" + out.suffix)


#: Peak memory per simulated participant (bytes, the frame plus the simulation's working arrays), for messages.
BYTES_PER_PARTICIPANT = 300
COHORT_SUFFIXES = (".csv", ".parquet")


def _gb(nbytes: float) -> str:
    return f"{nbytes / 1e9:,.1f} GB" if nbytes >= 1e8 else f"{nbytes / 1e6:,.0f} MB"


def _is_truth_file(path: Path) -> bool:
    """True if ``path`` reads as a truth sidecar peerstudy wrote (JSON with its seed, n and scenario)."""
    import json

    try:
        with open(path, "rb") as fh:
            data = json.loads(fh.read(16 << 20))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and {"seed", "n", "scenario"} <= set(data)


def check_targets(out: Path, shown: str, contacts: bool, events: bool = False) -> None:
    """Refuse, before any work, an ``--out`` whose files peerstudy may not write or replace.

    The cohort FILE is replaced only together with its truth sidecar (a cohort peerstudy made); a file without
    one is the user's and is refused. FILE.truth.json is never taken from another cohort of the same stem
    (``c.csv`` and ``c.parquet`` would share ``c.truth.json``).
    """
    from peerstudy.exceptions import DataError

    tpath = truth_path(out)
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        raise DataError(f"output folder does not exist: {str(folder)!r} (for --out {shown!r})")
    if out.is_dir():
        raise DataError(f"--out {shown!r} is an existing folder; give a file name ending in .csv or .parquet")
    if tpath.is_dir():
        raise DataError(f"--out {shown!r}: its truth file {str(tpath)!r} is an existing folder; choose another name")
    if contacts and contacts_path(out).is_dir():
        raise DataError(f"--out {shown!r}: its contacts file {str(contacts_path(out))!r} is an existing folder; "
                        "choose another name")
    if events and events_path(out).is_dir():
        raise DataError(f"--out {shown!r}: its events file {str(events_path(out))!r} is an existing folder; "
                        "choose another name")
    others = [out.with_name(out.stem + sfx) for sfx in COHORT_SUFFIXES if sfx != out.suffix.lower()]
    others = [o for o in others if o.exists() and o.name != out.name]
    if others and tpath.exists():
        raise DataError(f"--out {shown!r} would replace {str(tpath)!r}, the truth file of {str(others[0])!r}; "
                        "choose another name")
    if out.exists() or out.is_symlink():
        if not (tpath.is_file() and _is_truth_file(tpath)):
            raise DataError(f"--out {shown!r} is an existing file that is not a peerstudy cohort (no truth file "
                            f"{str(tpath)!r} beside it); peerstudy never replaces your files: choose another name")
        return
    if tpath.exists():
        if not _is_truth_file(tpath):
            raise DataError(f"--out {shown!r} would replace {str(tpath)!r}, which is not a peerstudy truth file; "
                            "peerstudy never replaces your files: choose another name")
    if contacts and contacts_path(out).exists():
        raise DataError(f"--out {shown!r} would replace {str(contacts_path(out))!r}, which belongs to no cohort "
                        "there; choose another name")
    if events and events_path(out).exists():
        raise DataError(f"--out {shown!r} would replace {str(events_path(out))!r}, which belongs to no cohort "
                        "there; choose another name")


def check_visits_target(out: Path, shown: str) -> None:
    """Refuse a FILE.visits table peerstudy may not write: a folder, or a file beside no cohort of peerstudy's
    (one beside a cohort with its truth file is that cohort's and is replaced with it)."""
    from peerstudy.exceptions import DataError

    path = visits_path(out)
    if path.is_dir():
        raise DataError(f"--out {shown!r}: its visits file {str(path)!r} is an existing folder; choose another name")
    tpath = truth_path(out)
    ours = (out.exists() or out.is_symlink()) and tpath.is_file() and _is_truth_file(tpath)
    if path.exists() and not ours:
        raise DataError(f"--out {shown!r} would replace {str(path)!r}, which belongs to no cohort there; choose "
                        "another name")


def _backup_name(target: Path) -> Path:
    import os

    return target.with_name(f".{target.name}.old-{os.getpid()}")


def commit_files(pairs: "list[tuple[Path, Path]]") -> None:
    """Rename each temporary file onto its target: all of them, or (on any failure) none, old files restored."""
    import contextlib
    import os

    done: list[tuple[Path, Path | None]] = []  # targets replaced so far, with their backups
    backups: list[Path] = []
    try:
        for tmp, target in pairs:
            backup = None
            if target.exists():
                backup = _backup_name(target)
                try:
                    os.link(target, backup)  # the old file stays in place until it is replaced
                except OSError:
                    os.rename(target, backup)
                backups.append(backup)
            try:
                os.replace(tmp, target)
            except BaseException:
                if backup is not None and not target.exists():
                    os.rename(backup, target)
                raise
            done.append((target, backup))
    except BaseException:
        for target, backup in reversed(done):
            with contextlib.suppress(OSError):
                if backup is not None:
                    os.rename(backup, target)
                else:
                    target.unlink()
        raise
    finally:
        for path in [tmp for tmp, _ in pairs] + backups:
            with contextlib.suppress(OSError):
                path.unlink()


def run(args: argparse.Namespace) -> int:
    import contextlib

    import numpy as np

    from peerstudy._io import dumps_json
    from peerstudy.exceptions import DataError, ScenarioError
    from peerstudy.scenario import LIMITS, apply_overrides, load_scenario
    from peerstudy.data.schema import write_cohort
    from peerstudy.simulation.cohort import (note_overrides, scenario_label, simulate_cohort, simulate_with_contacts,
                                             simulate_with_events, simulate_with_visits, truth_sidecar)

    out = Path(args.out)
    if out.suffix.lower() not in COHORT_SUFFIXES:
        raise DataError(f"--out must end in .csv or .parquet; got {args.out!r}")
    if args.n is not None and args.n < 2:
        raise ScenarioError(f"n must be >= 2; got {args.n}")
    if args.n is not None and args.n > LIMITS["n"]:
        raise ScenarioError(f"n must be at most {LIMITS['n']:,}; got {args.n:,} (a cohort that size would need "
                            f"about {_gb(args.n * BYTES_PER_PARTICIPANT)} of memory)")
    if args.seed is not None and not 0 <= args.seed < 2**63:
        raise ScenarioError(f"seed must be >= 0 and < 2**63; got {str(args.seed)[:40]}")
    base = scenario = load_scenario(args.scenario)
    if args.overrides:
        scenario = apply_overrides(scenario, args.overrides)
    if args.n is not None:
        scenario = scenario.replace(n=args.n)
    scenario = note_overrides(base, scenario)  # the description names what --set and --n changed
    check_targets(out, args.out, scenario.contacts.enabled, scenario.recurrent.enabled)
    outcomes = scenario.outcomes.enabled
    if outcomes:
        check_visits_target(out, args.out)
    seed = args.seed if args.seed is not None else int(np.random.SeedSequence().entropy % (2**63))
    log = episodes = None
    visits = None
    try:
        if scenario.contacts.enabled:
            df, log = simulate_with_contacts(scenario, rng=seed)
        elif not (scenario.recurrent.enabled or outcomes):
            df = simulate_cohort(scenario, rng=seed)
        if scenario.recurrent.enabled:  # the same seed gives the same cohort, so the logs belong together
            df, episodes = simulate_with_events(scenario, rng=seed)
        if outcomes:  # the same cohort with its linkage columns and missing covariates, and its interviews
            df, visits = simulate_with_visits(scenario, rng=seed)
    except MemoryError:
        raise DataError(f"not enough memory to simulate {scenario.n:,} participants (about "
                        f"{_gb(scenario.n * BYTES_PER_PARTICIPANT)}); lower --n") from None
    sidecar = truth_sidecar(scenario, seed=seed, cohort=df)
    if outcomes:
        sidecar["outcomes"] = df.attrs["truth"]["outcomes"]
    # all files or none: each is written to a temporary file beside its target, then all are renamed together
    tpath, cpath = truth_path(out), contacts_path(out)
    try:
        with contextlib.ExitStack() as stack:
            tmp_out = stack.enter_context(_temp_beside(out))
            tmp_truth = stack.enter_context(_temp_beside(tpath))
            pairs = [(tmp_out, out), (tmp_truth, tpath)]
            if log is not None:
                tmp_log = stack.enter_context(_temp_beside(cpath))
                pairs.append((tmp_log, cpath))
                write_table(log, tmp_log, suffix=out.suffix)
            if episodes is not None:
                tmp_events = stack.enter_context(_temp_beside(events_path(out)))
                pairs.append((tmp_events, events_path(out)))
                write_table(episodes, tmp_events, suffix=out.suffix)
            if visits is not None:
                tmp_visits = stack.enter_context(_temp_beside(visits_path(out)))
                pairs.append((tmp_visits, visits_path(out)))
                write_table(visits, tmp_visits, suffix=out.suffix)
            tmp_truth.write_text(dumps_json(sidecar), encoding="utf-8")
            write_cohort(df, tmp_out, metadata={"seed": str(seed), "scenario": scenario.name})
            check_targets(out, args.out, log is not None, episodes is not None)  # the folder may have changed
            if visits is not None:
                check_visits_target(out, args.out)
            commit_files(pairs)
    except OSError as exc:
        raise DataError(f"cannot write --out {args.out!r}: {exc.strerror or exc}") from None
    extra = f", {cpath} ({len(log):,} sessions)" if log is not None else ""
    if episodes is not None:
        extra += f", {events_path(out)} ({len(episodes):,} episodes)"
    if visits is not None:
        extra += f", {visits_path(out)} ({len(visits):,} interviews)"
    print(f"wrote {out} ({len(df):,} participants of {scenario_label(scenario)}), {tpath}{extra}")
    return 0


def _temp_beside(target: Path):
    """A temporary file beside ``target`` (same suffix, so writers pick the format), removed unless renamed."""
    import contextlib
    import os
    import tempfile

    @contextlib.contextmanager
    def cm():
        folder = target.parent if str(target.parent) else Path(".")
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=target.suffix, dir=folder)
        os.close(fd)
        tmp = Path(name)
        try:
            os.chmod(tmp, 0o644)
            yield tmp
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()

    return cm()


def write_table(df, path: Path, *, suffix: str) -> None:
    """Write a plain table to an already-temporary path in the format named by ``suffix``."""
    if suffix.lower() == ".csv":
        df.to_csv(path, index=False, lineterminator="\n")
    else:
        df.to_parquet(path, index=False, compression="zstd")
