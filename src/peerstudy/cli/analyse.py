"""``peerstudy analyse``: the retention analysis of one cohort file, to ``DIR/results.json`` plus CSV tables.

Reads CSV or Parquet (or a programme export with ``--mapping``), runs
:func:`peerstudy.survival.analyse.analyse_cohort` with the primary analysis valid for the design
(``--design``; :mod:`peerstudy.survival.primary`), and writes into ``--out DIR``: one CSV per table
(``km_curves.csv``, ``km_horizons.csv``, ``km_medians.csv``, ``logrank.csv``, ``cox.csv``, ``rmst.csv``,
``cif.csv``, ... as available) and ``results.json``. With ``--private`` (the default for a programme export
read with ``--mapping``) those files follow the privacy rules of a report of real data
(:func:`peerstudy.present.privacy.private_analysis`). The folder is built beside ``DIR`` and moved into place
whole, so the set of files is complete or absent (no stale tables from another run); an existing ``DIR`` is
replaced only if peerstudy made it. Warnings go to stderr and into ``notes`` of ``results.json``. Bad input
exits with status 2 and one line.
With ``--adjust gformula|aipw|overlap`` it adds the adjusted comparison of
:func:`peerstudy.survival.observational.adjusted.adjusted_analysis` under the method's name (with E-values).
With ``--adjust iptw --propensity A,B,...`` (non-randomised arms) it adds the inverse probability of
treatment weighted analysis of :func:`peerstudy.survival.observational.iptw_analysis` under ``"iptw"``
in ``results.json`` and ``iptw_balance.csv``, ``iptw_km.csv``, ``iptw_cox.csv``, ``iptw_se.csv`` (the SEs of the
weighted log HR and KM survival treating the weights as known, by stacked estimating equations and by the
bootstrap refitting the propensity model).
With ``--effect-modifier COL`` (e.g. ``coach_match``) it adds the arm's hazard ratio in each stratum of ``COL`` and
the test of no interaction (:func:`peerstudy.survival.cox.modification.fit_effect_modification`) under
``"effect_modification"`` in ``results.json`` and ``effect_modification.csv``.
With ``--outcomes VISITS.csv`` (the follow-up interviews: ``participant_id, visit, day`` and the measures
``barc10``, ``housed``, ``employed``, as ``peerstudy simulate`` writes ``FILE.visits.csv``; checked against the
cohort by :func:`peerstudy.data.programme.readers.read_visits`) it adds the secondary outcomes of
:func:`peerstudy.survival.outcomes.analyse_outcomes` under ``"outcomes"`` and ``outcomes_*.csv``: linkage
(from the cohort's ``linkage_time``/``linkage_ending`` or ``linkage_day``), 6-month risk differences and ratios,
the follow-up rate against the 80% target by arm and site, and the BARC-10 mixed model; with ``--impute M`` the
missed 6-month interviews are imputed too (``outcomes.imputed``).
With ``--events EVENTS.csv`` (``participant_id, day, kind``; follow-up ends at the cohort's ``time``, death
where ``outcome`` is ``died``, or at ``events_time`` / ``events_ending`` when the cohort has them;
``--events-kinds`` keeps some kinds only) it adds the recurrent-event analysis of
:func:`peerstudy.survival.recurrent.analyse_recurrent` under ``"recurrent"`` and ``recurrent_*.csv``
(privately: :func:`peerstudy.present.privacy.private_recurrent`). Without ``--events``, an ``events:`` section
of the ``--mapping`` names the events table.
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
    p.add_argument("--cluster", default=None, metavar="COL",
                   help="without --design: cluster-robust Cox SEs (e.g. site, coach; too small with fewer than "
                        "about 30 clusters); with --design: the column of the sites or allocated clusters")
    p.add_argument("--design", default=None, choices=("individual", "cluster", "observational"),
                   help="how the arms were formed: individual (participants randomised, within sites), cluster "
                        "(whole sites randomised: --cluster COL names them) or observational (not randomised). "
                        "Decides the primary analysis ('primary' in results.json). Default: the design of a "
                        "simulated cohort (from FILE.truth.json), else observational")
    p.add_argument("--permutations", default=10_000, type=int, metavar="B",
                   help="re-randomisations of the randomisation test of a cluster design (default: 10000)")
    p.add_argument("--seed", default=0, type=int, metavar="S",
                   help="seed of the re-randomisations (default: 0; recorded in results.json)")
    p.add_argument("--ties", default="efron", choices=("efron", "breslow"))
    p.add_argument("--frailty", default=None, metavar="COL",
                   help="also fit a shared frailty Cox model with a frailty term per value of COL (e.g. site); "
                        "results under 'frailty' in results.json")
    p.add_argument("--frailty-distribution", default="gamma", choices=("gamma", "gaussian"),
                   help="frailty distribution for --frailty (default: gamma, as R's frailty(); gaussian as "
                        "frailty(COL, distribution = 'gaussian'))")
    p.add_argument("--effect-modifier", default=None, metavar="COL",
                   help="also estimate the arm's hazard ratio in each stratum of COL (e.g. coach_match) with the test "
                        "of no interaction, from a Cox model with their interaction (frailty with --frailty, else "
                        "cluster-robust with --cluster); results under 'effect_modification' in results.json")
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
    p.add_argument("--adjust", default=None, choices=("iptw", "gformula", "aipw", "overlap"),
                   help="adjust a non-randomised arm comparison: iptw = inverse probability of treatment weights "
                   "(weighted KM, weighted Cox with robust SE, weighted RMST difference; results under 'iptw'); "
                   "gformula = standardised risks from a Cox model of the arm and --covariates; aipw = doubly robust "
                   "risks (propensity and Cox outcome models, censoring weights); overlap = weighted risks for "
                   "--estimand (overlap weights by default) with SEs that refit the propensity model; each under "
                   "its own name in results.json, with E-values")
    p.add_argument("--propensity", default="", metavar="A,B,...",
                   help="propensity-model covariates for --adjust iptw, aipw (default: --covariates) or overlap, "
                        "comma-separated")
    p.add_argument("--estimand", default="overlap", choices=("overlap", "ate", "att"),
                   help="population of --adjust overlap: overlap (overlap weights), ate (whole cohort) or att "
                        "(those who had a coach)")
    p.add_argument("--trim", default=None, type=float, metavar="ALPHA",
                   help="with --adjust overlap: Crump trimming, keep people with propensity in [ALPHA, 1 - ALPHA]")
    p.add_argument("--se", default="influence", choices=("influence", "bootstrap"),
                   help="standard errors of --adjust gformula/aipw: influence function or a bootstrap refitting "
                        "the models (default: influence)")
    p.add_argument("--n-boot", default=200, type=int, metavar="B",
                   help="bootstrap resamples for --se bootstrap and --adjust overlap (default: 200; seed 0)")
    _add_impute_option(p)
    p.add_argument("--outcomes", default=None, metavar="VISITS",
                   help="follow-up interviews (CSV, Parquet, SAS, SPSS or Stata: participant_id, visit = intake/3m/6m, "
                        "day, barc10, housed, employed): linkage by day 7/30/90 (cohort columns linkage_time and "
                        "linkage_ending, or linkage_day), 6-month risk differences and ratios, the follow-up rate "
                        "against the 80%% target by arm and site and the BARC-10 mixed model, under 'outcomes' in "
                        "results.json and outcomes_*.csv; with --impute M, missed 6-month interviews are imputed")
    p.add_argument("--private", action=argparse.BooleanOptionalAction, default=None,
                   help="write outputs under the privacy rules of a report of real data: counts 1-10 as '<11', "
                        "flow suppressed as a whole, shares rounded or suppressed, km_curves.csv with only steps "
                        "of 11 or more dropouts and no per-day counts (default: on with --mapping, a programme "
                        "export; off for a cohort file, whose outputs are working files for its holder)")
    p.add_argument("--events", default=None, metavar="EVENTS.csv",
                   help="recurrent events (participant_id, day, kind): mean cumulative functions, Ghosh-Lin means "
                        "with death as terminal event, Andersen-Gill, PWP and negative binomial models of the arm "
                        "and --covariates; results under 'recurrent' in results.json")
    p.add_argument("--events-mapping", default=None, metavar="MAP.yaml",
                   help="with --events: which events column is which (peerstudy.data.programme.events); without "
                        "--events, an 'events:' section of the --mapping (file and columns) is used")
    p.add_argument("--events-kinds", default=None, metavar="KIND[,KIND]",
                   help="with --events: analyse only events of these kinds (e.g. reentry, or relapse,overdose); "
                        "default all. A cohort with events_time and events_ending columns (simulated with "
                        "re-entries) has its events followed to those, not to --time")
    return p


def _add_impute_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--impute", default=None, type=int, metavar="M",
                   help="multiple imputation of missing covariates (M completed data sets, chained equations with "
                        "the event and Nelson-Aalen hazard; seed 0): Cox, KM and RMST pooled by Rubin's rules in "
                        "results.json 'imputed'; the main analysis then uses the complete cases. With --outcomes, "
                        "missed 6-month interviews are imputed too (risk differences and ratios pooled in "
                        "'outcomes.imputed')")


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
    cols = [args.time, args.event, args.arm, args.strata, args.cluster, "site", args.ending,
            getattr(args, "frailty", None), getattr(args, "effect_modifier", None),
            *_csv_list(args.covariates),
            *_csv_list(getattr(args, "propensity", "") or ""),
            *(("participant_id", "outcome", "enrolled_on", *_EVENTS_FOLLOW_UP) if getattr(args, "events", None)
              else ())]  # a mapping's events section needs no columns here: a mapped export has them all
    return [c for c in dict.fromkeys(cols) if c and c.lower() != "none"]


#: Cohort columns --outcomes reads: ids, endings, sites, linkage and the covariates that predict the outcomes.
_OUTCOME_COLUMNS = ("participant_id", "outcome", "site", "linkage_time", "linkage_ending", "linkage_day", "homeless",
                    "unemployed")


def _read_columns(path: str, wanted: list[str]):
    """Read only the analysed columns (a 1M-row cohort reads about twice as fast); absent ones are left out
    so that the analysis names them in its missing-column error."""
    from peerstudy.data.schema import read_table

    return read_table(path, columns=wanted)


def _design(df, args: argparse.Namespace, arm: str | None):
    """The design: stated with --design, else the scenario's (FILE.truth.json beside a simulated cohort), else
    observational."""
    if arm is None:
        return None
    from peerstudy.survival.primary import design_of

    if args.design is not None:
        return design_of(df, args.design, args.cluster)
    from pathlib import Path

    sidecar = Path(args.file).with_suffix("").with_suffix(".truth.json")
    if args.mapping is None and sidecar.is_file():
        import json

        try:
            allocation = json.loads(sidecar.read_text(encoding="utf-8"))["scenario"]["allocation"]
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            allocation = None
        if allocation is not None:
            df.attrs["design"] = {"allocation": allocation, "cluster": "site"}
    return design_of(df)


def _read(args: argparse.Namespace):
    if getattr(args, "exclude_invalid", False) and args.mapping is None:
        from peerstudy.exceptions import ParameterError

        raise ParameterError("--exclude-invalid needs --mapping (it applies the mapping's validation rules)")
    if args.mapping is None:
        extra = list(_OUTCOME_COLUMNS) if getattr(args, "outcomes", None) else []
        return _read_columns(args.file, list(dict.fromkeys([*_wanted(args), *extra]))), None
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

        # exact counts here: this line is for the data holder running the command, not an output file
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
    if adjust in ("iptw", "overlap") and not propensity:
        raise ParameterError(f"--adjust {adjust} needs --propensity A,B,... (the covariates of the propensity model)")
    if adjust in ("gformula", "aipw") and not _csv_list(args.covariates):
        raise ParameterError(f"--adjust {adjust} needs --covariates A,B,... (the confounders of the Cox outcome "
                             f"model)")
    if propensity and adjust in (None, "gformula"):
        raise ParameterError("--propensity is only used with --adjust iptw, aipw or overlap")
    df, flow = _read(args)
    arm = None if str(args.arm).lower() == "none" else args.arm
    whole = df
    complete, imputed = _impute(df, args, arm, horizons)
    df = complete if complete is not None else df
    if adjust is not None and arm is None:
        raise ParameterError(f"--adjust {adjust} needs an arm column (--arm COL)")
    import warnings

    target = check_output_dir(args.out)
    if args.permutations < 1:
        raise ParameterError(f"--permutations must be a whole number >= 1; got {args.permutations}")
    design = _design(df, args, arm)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = analyse_cohort(df, time=args.time, event=args.event, arm=arm, covariates=_csv_list(args.covariates),
                             strata=args.strata, cluster=args.cluster if args.design is None else None,
                             ties=args.ties, horizons=horizons, ending=args.ending, cause=args.cause,
                             censored=tuple(_csv_list(args.censored)), design=design,
                             n_permutations=args.permutations, rng=args.seed)
        iptw = _iptw(df, args, arm, propensity, horizons) if adjust == "iptw" else None
        adjusted = _adjusted(df, args, arm, propensity, horizons) if adjust not in (None, "iptw") else None
        frailty = _frailty(df, args, arm) if args.frailty else None
        modification = _modification(df, args, arm) if getattr(args, "effect_modifier", None) else None
        recurrent = _recurrent(df, args, arm) if _events_source(args) is not None else None
        outcomes = _outcomes(whole, args, arm) if getattr(args, "outcomes", None) else None
    import numpy as np

    with np.errstate(over="ignore"):  # exp of a separated coefficient is inf: shown as such, warned about above
        payload = res.to_dict()
        iptw_dict = iptw.to_dict() if iptw is not None else None
    payload["input"] = {"file": str(args.file), "mapping": args.mapping}
    if flow is not None:
        payload["flow"] = flow
    if frailty is not None:
        payload["frailty"] = frailty.to_dict()
    if imputed is not None:
        payload["imputed"] = imputed
    if modification is not None:
        payload["effect_modification"] = modification.to_dict()
    if recurrent is not None:
        source = _events_source(args)
        payload["recurrent"] = {**recurrent[0].to_dict(), "input": {"file": str(source[0]), "mapping": source[2],
                                                                   "flow": recurrent[1].flow}}
    # every warning reaches the user: on stderr now, and in results.json's notes
    said = (list(res.notes) + (list(iptw.notes) if iptw is not None else [])
            + (list(adjusted.notes) if adjusted is not None else []))
    extra = [str(w.message) for w in caught if str(w.message) not in said]
    payload["notes"] = list(dict.fromkeys([*payload.get("notes", []), *extra]))
    with np.errstate(over="ignore"):
        tables = dict(res.tables())
    if iptw is not None:
        payload["iptw"] = iptw_dict
        tables.update(iptw.tables())
    if recurrent is not None:
        tables.update(recurrent[0].tables())
    if modification is not None:
        import pandas as pd

        tables["effect_modification"] = pd.DataFrame([{"stratum": f"{modification.modifier} = {lev}", **v}
                                                      for lev, v in modification.strata.items()])
    if adjusted is not None:
        payload[adjusted.method] = adjusted.to_dict()
        tables.update(adjusted.tables)
    private = args.private if args.private is not None else args.mapping is not None
    if outcomes is not None:
        payload["outcomes"] = {**outcomes.to_dict(), "input": {"file": str(args.outcomes)}}
        tables.update(outcomes.tables())
    if private:
        from peerstudy.present.privacy import private_analysis, private_recurrent

        if imputed is not None and 1 <= len(whole) - len(df) <= 10:
            raise ParameterError("--impute with private outputs: the complete cases differ from the cohort by fewer "
                                 "than 11 people, a count the outputs would reveal; analyse without --impute, or "
                                 "with --no-private on data you hold (and do not share those outputs)")
        rec_doc = payload.pop("recurrent", None)
        rec_tables = {k: tables.pop(k) for k in list(tables) if k.startswith("recurrent_")}
        secondary = {k: payload.pop(k) for k in ("imputed", "outcomes") if k in payload}
        payload, tables = private_analysis(payload, tables, res, df)
        if recurrent is not None:
            payload["recurrent"], safe = private_recurrent(rec_doc, rec_tables, recurrent[0])
            tables.update(safe)
        tables.update(_private_secondary(payload, secondary, whole, args, arm))
        payload["privacy"] = {"small_counts_suppressed": True, "threshold": 11}
    with OutputDir(target, made_by="peerstudy analyse") as build:
        for name, table in tables.items():
            table.to_csv(build / f"{name}.csv", index=False, lineterminator="\n")
        write_json(payload, build / "results.json")
    out = Path(args.out)
    for note in dict.fromkeys(extra):
        print(f"peerstudy analyse: warning: {note}", file=sys.stderr)
    n_lr = f", log-rank p = {res.logrank.p:.3g}" if res.logrank is not None else ""
    if private:
        from peerstudy.present.privacy import format_count

        print(f"analysed {format_count(res.n)} participants, {format_count(res.events)} dropouts{n_lr} "
              f"(private outputs); results in {out / 'results.json'}")
    else:
        print(f"analysed {res.n:,} participants, {res.events:,} dropouts{n_lr}; results in {out / 'results.json'}")
    for note in res.notes:
        print(f"note: {note}")
    if res.primary is not None:
        t = res.primary.term
        test = "randomisation test" if res.primary.permutation is not None else "Wald"
        print(f"primary analysis: {res.primary.label}: HR {t['hr']:.3f} (95% CI {t['ci_lower']:.3f}-"
              f"{t['ci_upper']:.3f}), {test} p = {t['p']:.3g}")
        print(f"  why: {res.primary.reason}")
    if iptw is not None:
        hr = iptw.iptw_cox.to_dict()["terms"][iptw.iptw_cox.terms[0]]
        print(f"IPTW hazard ratio {hr['hr']:.3f} (95% CI {hr['ci_lower']:.3f}-{hr['ci_upper']:.3f}, robust SE); "
              f"effective sample size {iptw.weights.ess:,.1f} of {iptw.weights.n:,}")
        u = iptw.uncertainty["log_hr"]
        print(f"  SE of the log HR: {u['se_naive']:.4f} treating the weights as known, {u['se_stacked']:.4f} "
              f"counting the propensity model (stacked equations)"
              + (f", {u['se_bootstrap']:.4f} by the bootstrap refitting it" if "se_bootstrap" in u else ""))
        for note in iptw.notes:
            print(f"note: {note}")
    if imputed is not None:
        from peerstudy.present.privacy import format_count

        shown = format_count(res.n, suppress=private)
        print(f"imputed: {imputed['imputation']['m']} data sets for {', '.join(imputed['imputation']['imputed'])}; "
              f"the main analysis used the {shown} complete cases; pooled results in results.json 'imputed'")
    if adjusted is not None:
        print(adjusted.summary)
    if recurrent is not None:
        rec = recurrent[0]
        ag = rec.andersen_gill.to_dict()["terms"] if rec.andersen_gill is not None else {}
        first = next(iter(ag), None)
        said = (f"; Andersen-Gill {first} rate ratio {ag[first]['hr']:.3f} (95% CI {ag[first]['ci_lower']:.3f}-"
                f"{ag[first]['ci_upper']:.3f}, robust SE)" if first else "")
        if private:
            shown = payload["recurrent"]
            events, deaths = (v if isinstance(v, str) else f"{v:,}" for v in (shown["events"], shown["deaths"]))
        else:
            events, deaths = f"{rec.events:,}", f"{rec.deaths:,}"
        print(f"recurrent events: {events} events, {deaths} deaths{said}")
    if outcomes is not None:
        _say_outcomes(payload["outcomes"], private)
    if frailty is not None:
        first = next(iter(frailty.terms))
        hr = frailty.terms[first]
        print(f"frailty Cox ({frailty.distribution}, {frailty.clusters} clusters of {args.frailty}): {first} HR "
              f"{hr['hr']:.3f} (95% CI {hr['ci_lower']:.3f}-{hr['ci_upper']:.3f}); frailty variance "
              f"{frailty.variance:.3g}, test of no frailty p = {frailty.lrt_p:.3g}")
    if modification is not None:
        parts = ", ".join(f"{modification.modifier} = {lev}: HR {v['hr']:.3f} (95% CI {v['ci_lower']:.3f}-"
                          f"{v['ci_upper']:.3f})" for lev, v in modification.strata.items())
        print(f"effect modification ({modification.model}): {parts}; test of no interaction p = "
              f"{modification.interaction['p']:.3g}")
    return 0


def _modification(df, args: argparse.Namespace, arm: str | None):
    """The arm's hazard ratio by stratum of --effect-modifier (survival.cox.modification), with the frailty of
    --frailty or else the clusters of --cluster."""
    from peerstudy.exceptions import ParameterError
    from peerstudy.survival.cox.modification import fit_effect_modification

    if arm is None:
        raise ParameterError("--effect-modifier needs an arm column (--arm COL)")
    frailty = args.frailty or None
    return fit_effect_modification(df, args.effect_modifier, arm=arm, covariates=_csv_list(args.covariates),
                                   time=args.time, event=args.event, cluster=None if frailty else args.cluster,
                                   frailty=frailty, distribution=args.frailty_distribution, ties=args.ties)


#: Cohort columns of the follow-up of events when it goes past a dropout (simulated with re-entries).
_EVENTS_FOLLOW_UP = ("events_time", "events_ending")


def _events_source(args: argparse.Namespace):
    """(events file, events mapping, its label) from --events / --events-mapping, else from the ``events:``
    section of the --mapping export mapping; ``None`` without either."""
    if getattr(args, "events", None):
        return args.events, args.events_mapping, args.events_mapping
    if args.mapping is None:
        return None
    from peerstudy.data.programme.mapping import load_mapping

    section = load_mapping(args.mapping)["events"]
    if section is None:
        return None
    mapping = {k: v for k, v in section.items() if k != "file"}
    return section["file"], mapping, f"{args.mapping} (events)"


def _recurrent(df, args: argparse.Namespace, arm: str | None):
    """Recurrent-event analysis (survival.recurrent) of --events, read and checked by data.programme.events."""
    from peerstudy.data.programme.events import read_events
    from peerstudy.survival.recurrent import analyse_recurrent

    if all(c in df.columns for c in _EVENTS_FOLLOW_UP):
        time, ending = _EVENTS_FOLLOW_UP
    else:
        time, ending = args.time, args.ending or ("outcome" if "outcome" in df.columns else None)
    kinds = _csv_list(args.events_kinds) if getattr(args, "events_kinds", None) else None
    file, mapping, _ = _events_source(args)
    events = read_events(file, df, mapping=mapping,
                         invalid_rows="exclude" if getattr(args, "exclude_invalid", False) else None, time=time)
    res = analyse_recurrent(df, events.events, arm=arm, covariates=_csv_list(args.covariates), time=time,
                            ending=ending, ties=args.ties, kinds=kinds)
    return res, events


def _outcomes(df, args: argparse.Namespace, arm: str | None):
    """Secondary outcomes (survival.outcomes) of --outcomes, read and checked by data.programme.readers; with
    --impute M the missed 6-month interviews are imputed (seed 0). Every problem of the interview table is printed
    on its own line before the one-line error."""
    import sys

    from peerstudy.data.programme.readers import read_visits
    from peerstudy.exceptions import AnalysisError, ParameterError, SchemaError
    from peerstudy.survival.outcomes import analyse_outcomes, impute_six_month

    if arm is None:
        raise ParameterError("--outcomes needs an arm column (--arm COL)")
    try:
        visits = read_visits(args.outcomes, df)
    except SchemaError as exc:
        if len(exc.problems) > 1:
            for problem in exc.problems:
                print(f"peerstudy analyse: --outcomes {args.outcomes}: {problem}", file=sys.stderr)
            raise SchemaError(f"the follow-up interviews in {args.outcomes!r} have {len(exc.problems)} problems "
                              f"(each on a line above)", exc.problems) from None
        raise
    res = analyse_outcomes(df, visits, arm=arm, conf_level=0.95)
    if getattr(args, "impute", None) is not None:
        import dataclasses

        try:
            pooled = impute_six_month(df, visits, m=args.impute, covariates=_csv_list(args.covariates), arm=arm,
                                      time=args.time, event=args.event, rng=0)
        except AnalysisError as exc:
            res = dataclasses.replace(res, errors={**res.errors, "imputed": str(exc)})
        else:
            res = dataclasses.replace(res, imputed=pooled)
    return res


def _private_secondary(payload: dict, secondary: dict, whole, args: argparse.Namespace, arm: str | None) -> dict:
    """The imputed and outcomes blocks under the privacy rules (present.outcomes), and their private tables."""
    from peerstudy.present.outcomes import private_imputed, private_outcomes
    from peerstudy.survival.outcomes import outcome_tables

    tables = {}
    if "imputed" in secondary:
        payload["imputed"] = private_imputed(secondary["imputed"], whole, time=args.time, event=args.event, group=arm)
    if "outcomes" in secondary:
        block = secondary["outcomes"]
        payload["outcomes"] = {**private_outcomes(block), "input": block["input"]}
        tables = outcome_tables(payload["outcomes"])
    return tables


def _say_outcomes(doc: dict, private: bool) -> None:
    """One line per secondary outcome on stdout (the private document's numbers when private)."""
    fu = doc.get("follow_up")
    if fu:
        every = next((r for r in fu["rates"] if r["by"] == "all"), None)
        if every is not None and not isinstance(every["rate"], str):
            print(f"6-month follow-up: {every['rate']:.0%} of those due interviewed (target {fu['target']:.0%})")
    for name, r in (doc.get("six_month") or {}).items():
        rd = r["risk_difference"]
        if not isinstance(rd["estimate"], str):
            print(f"{name} at 6 months: risk difference {rd['estimate']:+.3f} (95% CI {rd['ci_lower']:.3f} to "
                  f"{rd['ci_upper']:.3f}), among those interviewed")
    barc = doc.get("barc10")
    if barc:
        d = barc["change"]["difference"]
        print(f"BARC-10: extra change with peer support {d['estimate']:+.2f} points per {barc['per_days']:g} days "
              f"(95% CI {d['ci_lower']:.2f} to {d['ci_upper']:.2f})")
    for part, why in (doc.get("errors") or {}).items():
        print(f"note: outcomes {part}: {why}")
    print("secondary outcomes under 'outcomes' in results.json" + (" (private)" if private else ""))


def _frailty(df, args: argparse.Namespace, arm: str | None):
    """Shared frailty Cox (survival.cox.frailty) on the arm and covariates, frailty per value of --frailty."""
    from peerstudy.exceptions import ParameterError
    from peerstudy.survival.cox.frailty import fit_frailty_cox

    terms = ([arm] if arm is not None else []) + _csv_list(args.covariates)
    if not terms:
        raise ParameterError("--frailty needs an arm or --covariates to model")
    from peerstudy.survival.cox.modification import own_clusters

    df = own_clusters(df, args.frailty, arm=arm)  # usual care without a coach: clusters of one
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


def _impute(df, args: argparse.Namespace, arm: str | None, horizons: tuple[float, ...]):
    """With ``--impute M``: (complete cases, pooled results) from survival.missing; else (None, None)."""
    m = getattr(args, "impute", None)
    if m is None:
        return None, None
    from peerstudy.exceptions import ParameterError
    from peerstudy.survival.missing import impute, pool_cox, pool_km, pool_rmst

    covs = _csv_list(args.covariates)
    if not covs and getattr(args, "outcomes", None):
        return None, None  # only the missed interviews of --outcomes are imputed
    if not covs:
        raise ParameterError("--impute needs --covariates A,B,... (the covariates to impute and model), or "
                             "--outcomes VISITS (missed interviews)")
    imp = impute(df, columns=covs, m=m, time=args.time, event=args.event, predictors=(arm,) if arm else (), rng=0)
    group = arm if arm is not None else None
    terms = ([arm] if arm else []) + covs
    out = {"imputation": imp.to_dict(), "cox": pool_cox(imp, covariates=terms, time=args.time, event=args.event,
                                                         ties=args.ties).to_dict()}
    if group is not None:
        out["km"] = {str(int(h)) if float(h).is_integer() else str(h):
                     pool_km(imp, day=h, time=args.time, event=args.event, group=group).to_dict()["terms"]
                     for h in horizons}
        tau = max(horizons)
        out["rmst"] = pool_rmst(imp, tau=tau, time=args.time, event=args.event, group=group).to_dict()["terms"]
    for key in ("cox",):
        out[key].pop("imputation", None)
    return df.dropna(subset=list(imp.imputed)).reset_index(drop=True), out
def _adjusted(df, args: argparse.Namespace, arm: str, propensity: list[str], horizons: tuple[float, ...]):
    """g-formula, AIPW or weighted (overlap) comparison (survival.observational.adjusted); bootstrap seed 0."""
    import warnings

    from peerstudy.survival.observational.adjusted import adjusted_analysis

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # kept in the result's notes and printed
        return adjusted_analysis(df, args.adjust, covariates=_csv_list(args.covariates), propensity=propensity,
                                 treatment=arm, time=args.time, event=args.event, horizons=horizons, ties=args.ties,
                                 se=args.se, n_boot=args.n_boot, trim=args.trim, estimand=args.estimand, rng=0)
