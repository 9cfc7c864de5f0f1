"""``peerstudy power``: events, participants and power for a two-arm retention study."""

from __future__ import annotations

import argparse

HELP = "events, participants and power for a hazard ratio (rpact conventions)"


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("power", help=HELP, description=(
        "Events (Schoenfeld or Freedman) and, with --control-median/--accrual/--follow-up, participants needed "
        "to detect a hazard ratio of dropout with a two-sided test; or the power for --events. Times in days. "
        "Conventions as rpact's getSampleSizeSurvival (see peerstudy.design.power)."))
    p.add_argument("--hr", type=float, required=True, help="hazard ratio of dropout, peer vs usual care")
    p.add_argument("--alpha", type=float, default=0.05, help="two-sided significance level (default 0.05)")
    target = p.add_mutually_exclusive_group()
    target.add_argument("--power", type=float, default=None, help="target power (default 0.8)")
    target.add_argument("--events", type=float, default=None, help="number of dropouts: report the power instead")
    p.add_argument("--allocation", type=float, default=0.5, help="share allocated to peer support (default 0.5)")
    p.add_argument("--method", choices=("schoenfeld", "freedman"), default="schoenfeld")
    p.add_argument("--control-median", type=float, default=None, metavar="DAYS",
                   help="median retention in usual care (exponential)")
    p.add_argument("--accrual", type=float, default=None, metavar="DAYS", help="uniform enrolment period")
    p.add_argument("--follow-up", type=float, default=None, metavar="DAYS",
                   help="follow-up after enrolment ends (or per participant with --fixed-follow-up)")
    p.add_argument("--fixed-follow-up", action="store_true",
                   help="follow each participant exactly --follow-up days (default: until study end, as rpact)")
    p.add_argument("--dropout-per-year", type=float, default=0.0, metavar="P",
                   help="proportion lost to follow-up per year (default 0)")
    p.add_argument("--cluster-size", type=float, default=1.0, metavar="M", help="mean participants per site/coach")
    p.add_argument("--icc", type=float, default=0.0, help="intra-cluster correlation (design effect 1 + (M - 1) ICC)")
    p.add_argument("--json", action="store_true", help="print a JSON object instead of text")
    return p


def run(args: argparse.Namespace) -> int:
    from peerstudy._io import dumps_json
    from peerstudy.design import power as pw

    common = dict(
        alpha=args.alpha, allocation=args.allocation, method=args.method, control_median=args.control_median,
        accrual=args.accrual, follow_up=args.follow_up, dropout_per_year=args.dropout_per_year,
        follow_up_type="fixed" if args.fixed_follow_up else "study_end", cluster_size=args.cluster_size, icc=args.icc,
    )
    if args.events is not None:
        result = pw.power_survival(args.hr, events=args.events, **common)
    else:
        result = pw.sample_size(args.hr, power=0.8 if args.power is None else args.power, **common)
    if args.json:
        print(dumps_json(result.to_dict()), end="")
    else:
        print(result.summary())
    return 0
