"""``peerstudy power``: events, participants and power for a two-arm retention study."""

from __future__ import annotations

import argparse
import re

HELP = "events, participants and power for a hazard ratio (rpact conventions)"

#: Python parameter -> the flag a user typed, so that messages name what can be changed.
FLAGS = {
    "hazard_ratio": "--hr", "alpha": "--alpha", "power": "--power", "events": "--events", "subjects": "--n",
    "allocation": "--allocation", "method": "--method", "control_median": "--control-median",
    "accrual": "--accrual", "follow_up": "--follow-up", "lost": "--lost", "lost_by": "--by",
    "loss_rate": "--loss-rate", "cluster_size": "--cluster-size", "icc": "--icc", "looks": "--looks",
    "design": "--design", "sided": "--sided", "information_rates": "--information-rates",
    "futility": "--futility", "beta": "--power",
}
_NAME = re.compile(r"(?<![\w-])(" + "|".join(sorted(FLAGS, key=len, reverse=True)) + r")(?=\s+must\b|=|\[)")


def flag_message(message: str) -> str:
    """``message`` with Python parameter names at the start of a rule (``name must ...``, ``name=``) as flags.

    >>> flag_message("control_median must be a finite number > 0; got -1.0")
    '--control-median must be a finite number > 0; got -1.0'
    """
    return _NAME.sub(lambda m: FLAGS[m.group(1)], message)


def _allocation(text: str) -> float:
    """A share allocated to peer support (``0.5``) or a ratio peer:usual care (``2:1``)."""
    if ":" in text:
        a, _, b = text.partition(":")
        try:
            pa, pb = float(a), float(b)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a share like 0.5 or a ratio like 2:1; got {text!r}") from None
        if not (pa > 0 and pb > 0) or pa + pb == float("inf"):
            raise argparse.ArgumentTypeError(f"a ratio must have two numbers > 0; got {text!r}")
        return pa / (pa + pb)
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a share like 0.5 or a ratio like 2:1; got {text!r}") from None


def _rates(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be numbers separated by commas, like 0.5,1; got {text!r}") from None


def _whole(text: str) -> int:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number; got {text!r}") from None
    if not value.is_integer():
        raise argparse.ArgumentTypeError(f"must be a whole number; got {text!r}")
    return int(value)


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("power", help=HELP, description=(
        "Events (Schoenfeld or Freedman) and, with --control-median/--accrual/--follow-up, participants needed "
        "to detect a hazard ratio of dropout; or the power for --events dropouts or --n participants. Times in "
        "days. With --looks K, a group-sequential design with K analyses (interim looks at equally spaced "
        "information unless --information-rates): boundaries on the z and hazard-ratio scales, the maximum and "
        "expected dropouts and participants. Conventions as rpact's getDesignGroupSequential and "
        "getSampleSizeSurvival (see peerstudy.design.power and peerstudy.design.sequential)."))
    p.add_argument("--hr", type=float, required=True, help="hazard ratio of dropout, peer vs usual care")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05, with --sided)")
    p.add_argument("--sided", type=int, choices=(1, 2), default=2,
                   help="1: one-sided test in the direction of --hr; 2: two-sided (default)")
    target = p.add_mutually_exclusive_group()
    target.add_argument("--power", type=float, default=None, help="target power (default 0.8)")
    target.add_argument("--events", type=float, default=None, help="number of dropouts: report the power instead")
    target.add_argument("--n", type=_whole, default=None, metavar="N",
                        help="number of participants: report the power instead (needs the timing)")
    p.add_argument("--allocation", type=_allocation, default=0.5,
                   help="share allocated to peer support (0.5) or a ratio peer:usual care (2:1); default 0.5")
    p.add_argument("--method", choices=("schoenfeld", "freedman"), default="schoenfeld")
    p.add_argument("--control-median", type=float, default=None, metavar="DAYS",
                   help="median retention in usual care (exponential)")
    p.add_argument("--accrual", type=float, default=None, metavar="DAYS", help="uniform enrolment period")
    p.add_argument("--follow-up", type=float, default=None, metavar="DAYS",
                   help="follow-up after enrolment ends (or per participant with --fixed-follow-up)")
    p.add_argument("--fixed-follow-up", action="store_true",
                   help="follow each participant exactly --follow-up days (default: until study end, as rpact)")
    loss = p.add_mutually_exclusive_group()
    loss.add_argument("--lost", type=float, default=0.0, metavar="P",
                      help="proportion lost to follow-up by day --by (default 0)")
    loss.add_argument("--loss-rate", type=float, default=None, metavar="R",
                      help="losses to follow-up per person-year (instead of --lost)")
    p.add_argument("--by", type=float, default=365.25, metavar="DAY",
                   help="the day --lost refers to (default 365.25, a year)")
    p.add_argument("--cluster-size", type=float, default=1.0, metavar="M", help="mean participants per site/coach")
    p.add_argument("--icc", type=float, default=0.0, help="intra-cluster correlation (design effect 1 + (M - 1) ICC)")
    seq = p.add_argument_group("group-sequential design")
    seq.add_argument("--looks", type=_whole, default=1, metavar="K",
                     help="number of analyses including the final one (default 1: a fixed design)")
    seq.add_argument("--design", choices=("OF", "P", "asOF", "asP"), default=None,
                     help="O'Brien-Fleming or Pocock boundaries, or Lan-DeMets alpha spending of their type "
                          "(default asOF with --looks > 1)")
    seq.add_argument("--information-rates", type=_rates, default=None, metavar="T1,...,1",
                     help="information fractions of the analyses, increasing to 1 (default equally spaced)")
    seq.add_argument("--futility", type=_rates, default=None, metavar="Z1,...",
                     help="futility bounds on the z scale at the K - 1 interim looks (one-sided designs)")
    seq.add_argument("--binding-futility", action="store_true",
                     help="futility bounds are binding (the efficacy bounds use them); default non-binding")
    p.add_argument("--json", action="store_true", help="print a JSON object instead of text")
    return p


def _check(args: argparse.Namespace) -> None:
    from peerstudy.exceptions import ParameterError

    timing = {"--control-median": args.control_median, "--accrual": args.accrual, "--follow-up": args.follow_up}
    missing = [k for k, v in timing.items() if v is None]
    if 0 < len(missing) < 3:
        raise ParameterError(f"give --control-median, --accrual and --follow-up together; missing: {', '.join(missing)}")
    if args.n is not None and missing:
        raise ParameterError("--n needs the timing: --control-median, --accrual and --follow-up")
    if args.looks > 1 and args.events is not None:
        raise ParameterError("--events with --looks is not supported: give --n or --power")
    for flag, value in (("--information-rates", args.information_rates), ("--futility", args.futility),
                        ("--design", args.design)):
        if value is not None and args.looks == 1:
            raise ParameterError(f"{flag} needs --looks K with K >= 2")
    if args.binding_futility and args.futility is None:
        raise ParameterError("--binding-futility needs --futility")


def run(args: argparse.Namespace) -> int:
    from peerstudy._io import dumps_json
    from peerstudy.design import power as pw
    from peerstudy.exceptions import ParameterError

    try:
        _check(args)
        common = dict(
            alpha=args.alpha, allocation=args.allocation, method=args.method, control_median=args.control_median,
            accrual=args.accrual, follow_up=args.follow_up, lost=args.lost, lost_by=args.by,
            loss_rate=args.loss_rate, follow_up_type="fixed" if args.fixed_follow_up else "study_end",
            cluster_size=args.cluster_size, icc=args.icc,
        )
        if args.looks != 1 or args.sided == 1:
            from peerstudy.design import sequential as sq

            design = sq.group_sequential_design(
                looks=args.looks, design=args.design or ("asOF" if args.looks > 1 else "OF"), alpha=args.alpha,
                sided=args.sided, beta=1 - (0.8 if args.power is None else args.power),
                information_rates=args.information_rates, futility=args.futility, binding=args.binding_futility)
            common.pop("alpha")
            if args.n is not None or args.events is not None:
                result = sq.power_sequential(design, args.hr, subjects=args.n, events=args.events, **common)
            else:
                result = sq.sample_size_sequential(design, args.hr, **common)
        elif args.events is not None:
            result = pw.power_survival(args.hr, events=args.events, **common)
        elif args.n is not None:
            result = pw.power_survival(args.hr, subjects=args.n, **common)
        else:
            result = pw.sample_size(args.hr, power=0.8 if args.power is None else args.power, **common)
    except ParameterError as exc:
        raise ParameterError(flag_message(str(exc))) from None
    if args.json:
        print(dumps_json(result.to_dict()), end="")
    else:
        print(result.summary())
    return 0
