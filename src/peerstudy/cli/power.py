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
    "futility": "--futility", "beta": "--power", "cluster_cv": "--cluster-cv",
    "frailty_variance": "--frailty-variance", "frailty_distribution": "--frailty-distribution",
    "sites_per_arm": "--sites-per-arm", "tau": "--tau", "n": "--n",
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
        "getSampleSizeSurvival (see peerstudy.design.power and peerstudy.design.sequential). Sites randomised "
        "whole, effects that are not proportional and competing endings have their own options below; "
        "--json keys are listed in the design page of the documentation."))
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
    p.add_argument("--method", choices=("schoenfeld", "freedman"), default=None, help="default schoenfeld")
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
    p.add_argument("--cluster-size", type=float, default=None, metavar="M", help="mean participants per site/coach")
    p.add_argument("--icc", type=float, default=None,
                   help="intra-cluster correlation (design effect 1 + (M - 1) ICC; with sites randomised, "
                        "1 + ((CV^2 + 1) M - 1) ICC)")
    crt = p.add_argument_group(
        "cluster-randomised design (whole sites randomised 1:1; see peerstudy.design.cluster)",
        "Any of these options sizes a design whose sites are randomised: sites and participants per arm, "
        "dropouts and the design effect for unequal site sizes (Eldridge, Ashby & Kerry 2006). Needs "
        "--cluster-size, the timing and one of --icc and --frailty-variance. --hr is population-averaged.")
    crt.add_argument("--cluster-randomised", action="store_true",
                     help="sites, not people, are randomised: report sites per arm")
    crt.add_argument("--sites-per-arm", type=_whole, default=None, metavar="K",
                     help="sites in each arm: report the power instead")
    crt.add_argument("--cluster-cv", type=float, default=None, metavar="CV",
                     help="coefficient of variation (SD / mean) of the site sizes (default 0: equal sizes)")
    crt.add_argument("--frailty-variance", type=float, default=None, metavar="V",
                     help="variance of a mean-one site frailty on the dropout hazard, instead of --icc (the ICC "
                          "of the dropout indicator it implies is used)")
    crt.add_argument("--frailty-distribution", choices=("gamma", "lognormal"), default="gamma",
                     help="law of the site frailty (default gamma)")
    crt.add_argument("--normal-reference", action="store_true",
                     help="power from the normal distribution instead of the t on (sites - 1) df that the "
                          "design's primary analysis uses")
    crt.add_argument("--stepped-wedge", action="store_true",
                     help="a stepped-wedge design: not offered for time to dropout (the error says why)")
    nph = p.add_argument_group(
        "effects that are not proportional (see peerstudy.design.nonph)",
        "Any of these options computes the power (with --n) or the participants (with --power) of --test "
        "under piecewise-constant hazard ratios: --hr until the first --hr-until day, then each --hr-after. "
        "Exponential usual-care retention (--control-median), each participant followed --follow-up days; "
        "loss to follow-up and --competing-rate end observation.")
    nph.add_argument("--hr-until", type=_rates, default=None, metavar="DAY[,DAY...]",
                     help="days at which the hazard ratio changes (e.g. 90: the effect stops at a coaching cap)")
    nph.add_argument("--hr-after", type=_rates, default=None, metavar="HR[,HR...]",
                     help="hazard ratios after each --hr-until day (default 1: no effect after)")
    nph.add_argument("--test", choices=("logrank", "average_hr", "fh", "maxcombo", "rmst"), default=None,
                     help="the test to size (default logrank); the power of every test is in --json output")
    nph.add_argument("--tau", type=_whole, default=None, metavar="DAYS",
                     help="horizon of the RMST test (default --follow-up)")
    nph.add_argument("--fh", type=_rates, default=None, metavar="RHO,GAMMA",
                     help="weights of the Fleming-Harrington test (default 0,1)")
    cmp_ = p.add_argument_group(
        "competing endings (see peerstudy.design.competing)",
        "Incarceration and death end follow-up before dropout can be seen. Gives participants for --power; "
        "each participant followed --follow-up days.")
    cmp_.add_argument("--competing-rate", type=float, default=None, metavar="R",
                      help="incarceration and death together, per person-year (a constant hazard)")
    cmp_.add_argument("--subdistribution", action="store_true",
                      help="--hr is a subdistribution (Fine-Gray) hazard ratio (Latouche's formula); default "
                           "cause-specific")
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


def _mode(args: argparse.Namespace) -> str:
    """Which design the options ask for: fixed, sequential, cluster, nonph or competing (refusing mixtures)."""
    from peerstudy.exceptions import ParameterError

    if args.stepped_wedge:
        from peerstudy.design.cluster import stepped_wedge_not_offered

        raise stepped_wedge_not_offered()
    asked = {
        "cluster": [f for f, v in (("--cluster-randomised", args.cluster_randomised),
                                   ("--sites-per-arm", args.sites_per_arm), ("--cluster-cv", args.cluster_cv),
                                   ("--frailty-variance", args.frailty_variance),
                                   ("--normal-reference", args.normal_reference)) if v is not None and v is not False],
        "nonph": [f for f, v in (("--hr-until", args.hr_until), ("--hr-after", args.hr_after),
                                 ("--test", args.test), ("--tau", args.tau), ("--fh", args.fh)) if v is not None],
        "competing": [f for f, v in (("--competing-rate", args.competing_rate),
                                     ("--subdistribution", args.subdistribution)) if v is not None and v is not False],
        "sequential": [f for f, v in (("--looks", args.looks if args.looks != 1 else None),
                                      ("--sided 1", args.sided if args.sided == 1 else None)) if v is not None],
    }
    on = [k for k, v in asked.items() if v]
    if "nonph" in on and "competing" in on and not args.subdistribution:
        on.remove("competing")  # the competing hazard ends observation in the non-PH curves
    if len(on) > 1:
        a, b = (asked[k][0] for k in on[:2])
        raise ParameterError(f"{a} and {b} cannot be combined: they ask for different designs")
    return on[0] if on else "fixed"


def _check(args: argparse.Namespace, mode: str) -> None:
    from peerstudy.exceptions import ParameterError

    timing = {"--control-median": args.control_median, "--accrual": args.accrual, "--follow-up": args.follow_up}
    if mode in ("nonph", "competing"):
        flag = asked_flag(args, mode)
        need = [k for k in ("--control-median", "--follow-up") if timing[k] is None]
        if need:
            raise ParameterError(f"{flag} needs --control-median and --follow-up; missing: {', '.join(need)}")
        if args.accrual is not None:
            raise ParameterError(f"{flag} follows each participant --follow-up days: --accrual is not used, "
                                 "leave it out")
        for other, value in (("--events", args.events), ("--fixed-follow-up", args.fixed_follow_up or None),
                             ("--cluster-size", args.cluster_size), ("--icc", args.icc)):
            if value is not None:
                raise ParameterError(f"{other} cannot be combined with {flag}")
        if mode == "competing" and args.n is not None:
            raise ParameterError(f"{flag} gives the participants for a target power: use --power, not --n")
        if mode == "nonph" and args.method is not None:
            raise ParameterError(f"--method cannot be combined with {flag}: choose the test with --test")
        return
    missing = [k for k, v in timing.items() if v is None]
    if 0 < len(missing) < 3:
        raise ParameterError(f"give --control-median, --accrual and --follow-up together; missing: {', '.join(missing)}")
    if args.n is not None and missing:
        raise ParameterError("--n needs the timing: --control-median, --accrual and --follow-up")
    if mode == "cluster":
        flag = asked_flag(args, mode)
        if missing:
            raise ParameterError(f"{flag} needs the timing: --control-median, --accrual and --follow-up")
        if args.cluster_size is None:
            raise ParameterError(f"{flag} needs --cluster-size, the mean participants per site")
        if (args.icc is None) == (args.frailty_variance is None):
            raise ParameterError(f"{flag} needs exactly one of --icc and --frailty-variance")
        for other, value in (("--events", args.events), ("--n", args.n)):
            if value is not None:
                raise ParameterError(f"{other} cannot be combined with {flag}: give --sites-per-arm for the power")
        if args.sites_per_arm is not None and args.power is not None:
            raise ParameterError("give --power (to find the sites) or --sites-per-arm (for its power), not both")
        if args.allocation != 0.5:
            raise ParameterError(f"--allocation must be 0.5 with {flag} (sites are randomised 1:1); "
                                 f"got {args.allocation:g}")
        return
    if args.looks > 1 and args.events is not None:
        raise ParameterError("--events with --looks is not supported: give --n or --power")
    for flag, value in (("--information-rates", args.information_rates), ("--futility", args.futility),
                        ("--design", args.design)):
        if value is not None and args.looks == 1:
            raise ParameterError(f"{flag} needs --looks K with K >= 2")
    if args.binding_futility and args.futility is None:
        raise ParameterError("--binding-futility needs --futility")


def asked_flag(args: argparse.Namespace, mode: str) -> str:
    """The first option given that asked for ``mode`` (for messages)."""
    order = {"cluster": (("--sites-per-arm", args.sites_per_arm), ("--frailty-variance", args.frailty_variance),
                         ("--cluster-cv", args.cluster_cv), ("--cluster-randomised", args.cluster_randomised),
                         ("--normal-reference", args.normal_reference)),
             "nonph": (("--hr-until", args.hr_until), ("--test", args.test), ("--hr-after", args.hr_after),
                       ("--tau", args.tau), ("--fh", args.fh)),
             "competing": (("--competing-rate", args.competing_rate), ("--subdistribution", args.subdistribution))}
    return next(f for f, v in order[mode] if v is not None and v is not False)


def _rate_per_day(flag: str, value: float | None) -> float:
    import math

    from peerstudy.design.power import DAYS_PER_YEAR
    from peerstudy.exceptions import ParameterError

    if value is None:
        return 0.0
    if not (math.isfinite(value) and value >= 0):
        raise ParameterError(f"{flag} must be a finite number >= 0 per person-year; got {value!r}")
    return value / DAYS_PER_YEAR


def _loss_per_day(args: argparse.Namespace) -> float:
    from peerstudy.design.power import loss_hazard

    return loss_hazard(lost=args.lost, lost_by=args.by, loss_rate=args.loss_rate)


def _cluster(args: argparse.Namespace):
    from peerstudy.design import cluster as cl

    kw = dict(cluster_size=args.cluster_size, icc=args.icc, frailty_variance=args.frailty_variance,
              frailty_distribution=args.frailty_distribution,
              cluster_cv=0.0 if args.cluster_cv is None else args.cluster_cv, control_median=args.control_median,
              accrual=args.accrual, follow_up=args.follow_up, alpha=args.alpha, method=args.method or "schoenfeld",
              lost=args.lost, lost_by=args.by, loss_rate=args.loss_rate,
              follow_up_type="fixed" if args.fixed_follow_up else "study_end",
              small_sample=not args.normal_reference)
    if args.sites_per_arm is not None:
        result = cl.power_cluster(args.hr, sites_per_arm=args.sites_per_arm, **kw)
    else:
        result = cl.sample_size_cluster(args.hr, power=0.8 if args.power is None else args.power, **kw)
    return {"design": "cluster_randomised", **result.to_dict()}, result.summary()


#: participants searched for a non-PH sample size
_MAX_N = 20_000_000


def _nonph(args: argparse.Namespace):
    import math

    from peerstudy.design import nonph
    from peerstudy.design.power import _check_open_unit, _check_positive, arm_counts
    from peerstudy.exceptions import ParameterError

    follow = args.follow_up
    if not (math.isfinite(follow) and follow >= 1 and follow == int(follow)):
        raise ParameterError(f"--follow-up must be a whole number of days >= 1 with {asked_flag(args, 'nonph')}; "
                             f"got {follow!r}")
    _check_positive("hazard_ratio", args.hr)
    breaks = tuple(args.hr_until or ())
    after = tuple(args.hr_after) if args.hr_after is not None else (1.0,) * len(breaks)
    if len(after) != len(breaks):
        raise ParameterError(f"--hr-after must give one hazard ratio per --hr-until day ({len(breaks)}); "
                             f"got {len(after)}")
    if any(not (math.isfinite(h) and h > 0) for h in after):
        raise ParameterError(f"--hr-after must be numbers > 0; got {','.join(f'{h:g}' for h in after)}")
    if any(not (0 < b < follow) for b in breaks) or list(breaks) != sorted(set(breaks)):
        raise ParameterError(f"--hr-until must be increasing days between 0 and --follow-up ({follow:g}); "
                             f"got {','.join(f'{b:g}' for b in breaks)}")
    if args.fh is not None and len(args.fh) != 2:
        raise ParameterError(f"--fh must be two numbers RHO,GAMMA; got {','.join(f'{x:g}' for x in args.fh)}")
    fh = tuple(args.fh) if args.fh is not None else (0.0, 1.0)
    if any(not (math.isfinite(x) and x >= 0) for x in fh):
        raise ParameterError(f"--fh must be numbers >= 0; got {fh[0]:g},{fh[1]:g}")
    alpha = _check_open_unit("alpha", args.alpha)
    other = _loss_per_day(args) + _rate_per_day("--competing-rate", args.competing_rate)
    curves = nonph.piecewise_curves(control_median=args.control_median, hazard_ratios=(args.hr, *after),
                                    breaks=breaks, follow_up=int(follow), other_hazard=other,
                                    allocation=_check_open_unit("allocation", args.allocation))
    test = args.test or "logrank"
    tau = int(follow) if args.tau is None else args.tau

    def at(n):
        return nonph.power_nonph(curves, n, alpha=alpha, tau=tau, fh=fh)

    if args.n is not None:
        result, target = at(args.n), None
    else:
        target = _check_open_unit("power", 0.8 if args.power is None else args.power)
        lo, hi = 2, 4
        while at(hi).power[test] < target:
            lo, hi = hi, hi * 2
            if hi > _MAX_N:
                raise ParameterError(f"--power {target:g} is not reached by --test {test} with up to {_MAX_N:,} "
                                     "participants")
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if at(mid).power[test] >= target else (mid, hi)
        result = at(hi)
    peer, uc = arm_counts(result.n, args.allocation)
    doc = {"design": "non_proportional", "test": test, "power": result.power[test], "target_power": target,
           "subjects": result.n, "subjects_peer": peer, "subjects_usual_care": uc, "alpha": alpha,
           "hazard_ratios": [float(args.hr), *map(float, after)], "hr_until": list(map(float, breaks)),
           "control_median": float(args.control_median), "follow_up": float(follow),
           "other_hazard": other, "allocation": float(args.allocation), "tau": result.tau, "fh": list(result.fh),
           "powers": result.power, "expected_dropouts": result.details["expected_dropouts"],
           "average_hazard_ratio": result.details["average_hazard_ratio"],
           "rmst_difference": result.details["rmst_difference"],
           "maxcombo_critical_value": result.details["maxcombo_critical_value"]}
    pieces = " then ".join([f"{args.hr:g}"] + [f"{h:g} from day {b:g}" for b, h in zip(breaks, after)])
    lines = [f"Hazard ratio {pieces}; two-sided alpha {alpha:g}; each participant followed {follow:g} days:",
             f"  participants{' needed' if target is not None else ''} for the {test} test: {result.n} "
             f"({peer} peer, {uc} usual care); expected dropouts {doc['expected_dropouts']:.1f}",
             "  power: " + ", ".join(f"{k} {v:.3f}" for k, v in result.power.items()),
             f"  average hazard ratio {doc['average_hazard_ratio']:.3f}; RMST difference to day {result.tau}: "
             f"{doc['rmst_difference']:.1f} days"]
    return doc, "\n".join(lines)


def _competing(args: argparse.Namespace):
    import math

    from peerstudy.design.competing import sample_size_competing
    from peerstudy.design.power import _check_positive

    median = _check_positive("control_median", args.control_median)
    follow = _check_positive("follow_up", args.follow_up)
    lam = math.log(2) / median
    other = _loss_per_day(args) + _rate_per_day("--competing-rate", args.competing_rate)
    common = dict(alpha=args.alpha, power=0.8 if args.power is None else args.power, allocation=args.allocation)
    if args.subdistribution:
        total = lam + other
        cif = lam / total * -math.expm1(-total * follow)
        result = sample_size_competing(args.hr, kind="subdistribution", cif_usual_care=cif, **common)
    else:
        result = sample_size_competing(args.hr, kind="cause_specific", control_hazard=lam, competing_hazard=other,
                                       follow_up=follow, **common)
    doc = {"design": "competing", **result.to_dict(), "control_median": median, "follow_up": follow,
           "other_hazard": other}
    kind = "subdistribution" if args.subdistribution else "cause-specific"
    lines = [f"{kind.capitalize()} hazard ratio {args.hr:g} of dropout, two-sided alpha {result.alpha:g}, "
             f"each participant followed {follow:g} days:",
             f"  dropouts (events) needed: {result.events}",
             f"  participants needed: {result.subjects} ({result.subjects_peer} peer, {result.subjects_usual_care} "
             f"usual care), P(observed dropout) = {result.event_probability:.3f}",
             f"  cumulative incidence of dropout by day {follow:g}: usual care {result.cif_usual_care:.3f}, "
             f"peer {result.cif_peer:.3f}"]
    return doc, "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from peerstudy._io import dumps_json
    from peerstudy.design import power as pw
    from peerstudy.exceptions import ParameterError

    try:
        mode = _mode(args)
        _check(args, mode)
        if mode in ("cluster", "nonph", "competing"):
            doc, text = {"cluster": _cluster, "nonph": _nonph, "competing": _competing}[mode](args)
            print(dumps_json(doc), end="") if args.json else print(text)
            return 0
        common = dict(
            alpha=args.alpha, allocation=args.allocation, method=args.method or "schoenfeld",
            control_median=args.control_median, accrual=args.accrual, follow_up=args.follow_up, lost=args.lost,
            lost_by=args.by, loss_rate=args.loss_rate, follow_up_type="fixed" if args.fixed_follow_up else "study_end",
            cluster_size=1.0 if args.cluster_size is None else args.cluster_size,
            icc=0.0 if args.icc is None else args.icc,
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
