"""``peerstudy analyse``: the retention analysis of one cohort file, to ``DIR/results.json`` plus CSV tables.

Reads CSV or Parquet (or a programme export with ``--mapping``), runs
:func:`peerstudy.survival.analyse.analyse_cohort`, and writes into ``--out DIR``: one CSV per table
(``km_curves.csv``, ``km_horizons.csv``, ``km_medians.csv``, ``logrank.csv``, ``cox.csv``, ``rmst.csv``,
``cif.csv``, ... as available) and ``results.json``. The folder is built beside ``DIR`` and moved into place
whole, so the set of files is complete or absent (no stale tables from another run); an existing ``DIR`` is
replaced only if peerstudy made it. Warnings go to stderr and into ``notes`` of ``results.json``. Bad input
exits with status 2 and one line.
With ``--adjust iptw --propensity A,B,...`` (non-randomised arms) it adds the inverse probability of
treatment weighted analysis of :func:`peerstudy.survival.observational.iptw_analysis` under ``"iptw"``
in ``results.json`` and ``iptw_balance.csv``, ``iptw_km.csv``, ``iptw_cox.csv``.
With ``--events EVENTS.csv`` (``participant_id, day, kind``; follow-up ends at the cohort's ``time``, death
where ``outcome`` is ``died``) it adds the recurrent-event analysis of
:func:`peerstudy.survival.recurrent.analyse_recurrent` under ``"recurrent"`` and ``recurrent_*.csv``.
"""

from __future__ import annotations

import argparse


def _csv_list(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "analyse", help="estimate retention by arm (KM, log-rank, Cox, RMST, competing endings)",
        description="Analyse a cohort file (CSV or Parquet): Kaplan-Meier retention, log-rank test, Cox model, "
        "RMST and, with --ending, cumulative incidence of each ending, Fine-Gray and cause-specific Cox. "
        "Writes DIR/results.json and CSV tables beside it.")
    p.add_argument("file", metavar="FILE", help="cohort as .csv or .parquet (or a programme export with --mapping)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created if missing)")
    p.add_argument("--time", default="time", metavar="COL", help="days in treatment (default: time)")
    p.add_argument("--event", default="event", metavar="COL", help="1 = dropout, 0 = censored (default: event)")
    p.add_argument("--arm", default="arm", metavar="COL", help="arm column (default: arm); 'none' for no arm")
    p.add_argument("--covariates", default="", metavar="A,B,...", help="extra Cox terms, comma-separated")
    p.add_argument("--strata", default=None, metavar="COL", help="stratify Cox and log-rank (e.g. site)")
    p.add_argument("--cluster", default=None, metavar="COL", help="cluster-robust Cox SEs (e.g. site, coach)")
    p.add_argument("--ties", default="efron", choices=("efron", "breslow"))
    p.add_argument("--frailty", default=None, metavar="COL",
                   help="also fit a shared frailty Cox model with a frailty term per value of COL (e.g. site); "
                        "results under 'frailty' in results.json")
    p.add_argument("--frailty-distribution", default="gamma", choices=("gamma", "gaussian"),
                   help="frailty distribution for --frailty (default: gamma, as R's frailty(); gaussian as "
                        "frailty(COL, distribution = 'gaussian'))")
    p.add_argument("--horizons", default="30,90,180", metavar="D1,D2,...",
                   help="days for retention, RMST and cumulative incidence (default: 30,90,180)")
    p.add_argument("--ending", default=None, metavar="COL", help="column of endings: enables competing endings")
    p.add_argument("--cause", default=None, metavar="VALUE", help="ending of interest (default: dropout)")
    p.add_argument("--censored", default="retained,lost_to_follow_up", metavar="V1,V2",
                   help="ending values that mean censoring (default: retained,lost_to_follow_up)")
    p.add_argument("--mapping", default=None, metavar="MAP.yaml",
                   help="read FILE as a programme export through this mapping (peerstudy.data.programme)")
    p.add_argument("--exclude-invalid", action="store_true",
                   help="with --mapping: leave out rows that break a validation rule, counted by reason in the "
                        "flow of results.json (default: refuse the file, listing every problem)")
    p.add_argument("--adjust", default=None, choices=("iptw",),
                   help="adjust a non-randomised arm comparison: iptw = inverse probability of treatment weights "
                   "(weighted KM, weighted Cox with robust SE, weighted RMST difference; results under 'iptw')")
    p.add_argument("--propensity", default="", metavar="A,B,...",
                   help="propensity-model covariates for --adjust iptw, comma-separated")
    p.add_argument("--events", default=None, metavar="EVENTS.csv",
                   help="recurrent events (participant_id, day, kind): mean cumulative functions, Ghosh-Lin means "
                        "with death as terminal event, Andersen-Gill, PWP and negative binomial models of the arm "
                        "and --covariates; results under 'recurrent' in results.json")
    p.add_argument("--events-mapping", default=None, metavar="MAP.yaml",
                   help="with --events: which events column is which (peerstudy.data.programme.events)")
    return p


def _horizons(text: str) -> tuple[float, ...]:
    from peerstudy.exceptions import ParameterError

    vals = []
    for part in _csv_list(text):
        try:
            v = float(part)
        except ValueError:
            raise ParameterError(f"--horizons must be comma-separated days, e.g. 30,90,180; got {text!r}") from None
        if not v > 0:
            raise ParameterError(f"--horizons must be positive days; got {part!r}")
        vals.append(v)
    if not vals:
        raise ParameterError(f"--horizons must list at least one day; got {text!r}")
    return tuple(vals)


def _wanted(args: argparse.Namespace) -> list[str]:
    cols = [args.time, args.event, args.arm, args.strata, args.cluster, args.ending, getattr(args, "frailty", None),
            *_csv_list(args.covariates),
            *_csv_list(getattr(args, "propensity", "") or ""),
            *(("participant_id", "outcome", "enrolled_on") if getattr(args, "events", None) else ())]
    return [c for c in dict.fromkeys(cols) if c and c.lower() != "none"]


def _read_columns(path: str, wanted: list[str]):
    """Read only the analysed columns (a 1M-row cohort reads about twice as fast); absent ones are left out
    so that the analysis names them in its missing-column error."""
    from peerstudy.data.schema import read_table

    return read_table(path, columns=wanted)


def _read(args: argparse.Namespace):
    if getattr(args, "exclude_invalid", False) and args.mapping is None:
        from peerstudy.exceptions import ParameterError

        raise ParameterError("--exclude-invalid needs --mapping (it applies the mapping's validation rules)")
    if args.mapping is None:
        return _read_columns(args.file, _wanted(args)), None
    from peerstudy.exceptions import DataError

    try:
        from peerstudy.data.programme import read_export
    except ModuleNotFoundError as exc:  # pragma: no cover - depends on the installation
        raise DataError(f"--mapping needs peerstudy.data.programme, which is not available: {exc}") from None
    export = read_export(args.file, mapping=args.mapping,
                         invalid_rows="exclude" if getattr(args, "exclude_invalid", False) else None)
    excluded = sum(export.flow.get("excluded", {}).values())
    if excluded:
        import sys

        reasons = ", ".join(f"{k}: {v}" for k, v in export.flow["excluded"].items())
        print(f"peerstudy analyse: {excluded} row(s) excluded ({reasons}); see 'flow' in results.json", file=sys.stderr)
    return export.cohort, export.flow


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    import sys

    from peerstudy._io import OutputDir, check_output_dir, write_json
    from peerstudy.exceptions import ParameterError
    from peerstudy.survival.analyse import analyse_cohort

    if args.cause is not None and args.ending is None:
        raise ParameterError("--cause needs --ending COL (the column of endings)")
    horizons = _horizons(args.horizons)
    propensity = _csv_list(getattr(args, "propensity", "") or "")
    adjust = getattr(args, "adjust", None)
    if adjust == "iptw" and not propensity:
        raise ParameterError("--adjust iptw needs --propensity A,B,... (the covariates of the propensity model)")
    if propensity and adjust is None:
        raise ParameterError("--propensity is only used with --adjust iptw")
    df, flow = _read(args)
    arm = None if str(args.arm).lower() == "none" else args.arm
    if adjust is not None and arm is None:
        raise ParameterError("--adjust iptw needs an arm column (--arm COL)")
    import warnings

    target = check_output_dir(args.out)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = analyse_cohort(df, time=args.time, event=args.event, arm=arm, covariates=_csv_list(args.covariates),
                             strata=args.strata, cluster=args.cluster, ties=args.ties, horizons=horizons,
                             ending=args.ending, cause=args.cause, censored=tuple(_csv_list(args.censored)))
        iptw = _iptw(df, args, arm, propensity, horizons) if adjust == "iptw" else None
        frailty = _frailty(df, args, arm) if args.frailty else None
        recurrent = _recurrent(df, args, arm) if getattr(args, "events", None) else None
    import numpy as np

    with np.errstate(over="ignore"):  # exp of a separated coefficient is inf: shown as such, warned about above
        payload = res.to_dict()
        iptw_dict = iptw.to_dict() if iptw is not None else None
    payload["input"] = {"file": str(args.file), "mapping": args.mapping}
    if flow is not None:
        payload["flow"] = flow
    if frailty is not None:
        payload["frailty"] = frailty.to_dict()
    if recurrent is not None:
        payload["recurrent"] = {**recurrent[0].to_dict(), "input": {"file": str(args.events),
                                "mapping": args.events_mapping, "flow": recurrent[1].flow}}
    # every warning reaches the user: on stderr now, and in results.json's notes
    said = list(res.notes) + (list(iptw.notes) if iptw is not None else [])
    extra = [str(w.message) for w in caught if str(w.message) not in said]
    payload["notes"] = list(dict.fromkeys([*payload.get("notes", []), *extra]))
    with np.errstate(over="ignore"):
        tables = dict(res.tables())
    if iptw is not None:
        payload["iptw"] = iptw_dict
        tables.update(iptw.tables())
    if recurrent is not None:
        tables.update(recurrent[0].tables())
    with OutputDir(target, made_by="peerstudy analyse") as build:
        for name, table in tables.items():
            table.to_csv(build / f"{name}.csv", index=False, lineterminator="\n")
        write_json(payload, build / "results.json")
    out = Path(args.out)
    for note in dict.fromkeys(extra):
        print(f"peerstudy analyse: warning: {note}", file=sys.stderr)
    n_lr = f", log-rank p = {res.logrank.p:.3g}" if res.logrank is not None else ""
    print(f"analysed {res.n:,} participants, {res.events:,} dropouts{n_lr}; results in {out / 'results.json'}")
    for note in res.notes:
        print(f"note: {note}")
    if iptw is not None:
        hr = iptw.iptw_cox.to_dict()["terms"][iptw.iptw_cox.terms[0]]
        print(f"IPTW hazard ratio {hr['hr']:.3f} (95% CI {hr['ci_lower']:.3f}-{hr['ci_upper']:.3f}, robust SE); "
              f"effective sample size {iptw.weights.ess:,.1f} of {iptw.weights.n:,}")
        for note in iptw.notes:
            print(f"note: {note}")
    if recurrent is not None:
        rec = recurrent[0]
        ag = rec.andersen_gill.to_dict()["terms"] if rec.andersen_gill is not None else {}
        first = next(iter(ag), None)
        said = (f"; Andersen-Gill {first} rate ratio {ag[first]['hr']:.3f} (95% CI {ag[first]['ci_lower']:.3f}-"
                f"{ag[first]['ci_upper']:.3f}, robust SE)" if first else "")
        print(f"recurrent events: {rec.events:,} events, {rec.deaths:,} deaths{said}")
    if frailty is not None:
        first = next(iter(frailty.terms))
        hr = frailty.terms[first]
        print(f"frailty Cox ({frailty.distribution}, {frailty.clusters} clusters of {args.frailty}): {first} HR "
              f"{hr['hr']:.3f} (95% CI {hr['ci_lower']:.3f}-{hr['ci_upper']:.3f}); frailty variance "
              f"{frailty.variance:.3g}, test of no frailty p = {frailty.lrt_p:.3g}")
    return 0


def _recurrent(df, args: argparse.Namespace, arm: str | None):
    """Recurrent-event analysis (survival.recurrent) of --events, read and checked by data.programme.events."""
    from peerstudy.data.programme.events import read_events
    from peerstudy.survival.recurrent import analyse_recurrent

    ending = args.ending or ("outcome" if "outcome" in df.columns else None)
    events = read_events(args.events, df, mapping=args.events_mapping,
                         invalid_rows="exclude" if getattr(args, "exclude_invalid", False) else None)
    res = analyse_recurrent(df, events.events, arm=arm, covariates=_csv_list(args.covariates), time=args.time,
                            ending=ending, ties=args.ties)
    return res, events


def _frailty(df, args: argparse.Namespace, arm: str | None):
    """Shared frailty Cox (survival.cox.frailty) on the arm and covariates, frailty per value of --frailty."""
    from peerstudy.exceptions import ParameterError
    from peerstudy.survival.cox.frailty import fit_frailty_cox

    terms = ([arm] if arm is not None else []) + _csv_list(args.covariates)
    if not terms:
        raise ParameterError("--frailty needs an arm or --covariates to model")
    return fit_frailty_cox(df, covariates=terms, frailty=args.frailty, distribution=args.frailty_distribution,
                           time=args.time, event=args.event, ties=args.ties)


def _iptw(df, args: argparse.Namespace, arm: str, propensity: list[str], horizons: tuple[float, ...]):
    """IPTW analysis (survival.observational) of the arm; the bootstrap seed is fixed (0) and recorded."""
    import warnings

    from peerstudy.survival._validate import group_codes
    from peerstudy.survival.observational.iptw import iptw_analysis

    _, levels = group_codes(df, arm, role="arm")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # kept in the result's notes and printed
        return iptw_analysis(df, covariates=propensity, treatment=arm, treated=levels[-1], time=args.time,
                             event=args.event, horizons=horizons, cluster=args.cluster, ties=args.ties, rng=0)
