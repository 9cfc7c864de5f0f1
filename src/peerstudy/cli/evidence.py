"""``peerstudy evidence``: pool the shipped table of published comparisons of peer recovery support."""

from __future__ import annotations

import argparse

MEASURES = ("OR", "RR", "RD")
METHODS = ("REML", "DL", "FE")


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "evidence", help="pool the published comparisons of peer recovery support",
        description="Meta-analysis of the evidence table shipped with peerstudy (peerstudy.load_peer_trials): each "
                    "study's effect on the unfavourable outcome (an overdose; not staying on medication; not "
                    "entering treatment; an acute care visit; not being referred), the pooled effect, its "
                    "prediction interval and heterogeneity. Below 1 (ratios) or 0 (RD) favours peer support.")
    p.add_argument("--measure", type=str.upper, choices=MEASURES, default="OR",
                   help="odds ratio (default; does not depend on which of an outcome and its opposite is counted), "
                        "risk ratio or risk difference of the unfavourable outcome")
    p.add_argument("--method", type=str.upper, choices=METHODS, default="REML",
                   help="between-study variance: REML (default), DL (DerSimonian-Laird) or FE (one common effect)")
    p.add_argument("--hartung-knapp", action="store_true",
                   help="Hartung-Knapp interval (t on k - 1 df) instead of the normal one")
    p.add_argument("--json", action="store_true", help="print the studies and the pooled result as JSON")
    return p


def run(args: argparse.Namespace) -> int:
    import json
    import math

    from peerstudy.evidence import DESIGNS, MEASURES as NAMES, meta_analysis, trial_effects

    eff = trial_effects(measure=args.measure)
    test = "knha" if args.hartung_knapp else "z"
    res = meta_analysis(eff["yi"], eff["vi"], labels=eff["label"], measure=args.measure, method=args.method, test=test)
    studies = res.studies().assign(study_id=list(eff["study_id"]), design=list(eff["design"]),
                                   n_peer=list(eff["n_peer"]), n_control=list(eff["n_control"]),
                                   unfavourable_peer=list(eff["unfavourable_peer"]),
                                   unfavourable_control=list(eff["unfavourable_control"]), url=list(eff["url"]))
    f = res.exp
    if args.json:
        pooled = {k: v for k, v in res.to_dict().items() if k not in ("labels", "yi", "vi", "weights")}
        pooled.update(estimate_reported=f(res.estimate), ci_lower_reported=f(res.ci_lower),
                      ci_upper_reported=f(res.ci_upper), pi_lower_reported=f(res.pi_lower),
                      pi_upper_reported=f(res.pi_upper))
        print(json.dumps({"measure": args.measure, "method": args.method, "test": test,
                          "studies": studies.to_dict("records"), "pooled": pooled}, indent=2, allow_nan=False))
        return 0
    digits = ".3f" if args.measure == "RD" else ".2f"
    width = max(len(s) for s in studies["study"])
    print(f"{NAMES[args.measure]} of the unfavourable outcome, peer support vs comparison "
          f"({'below 0' if args.measure == 'RD' else 'below 1'} favours peer support)")
    print(f"{'study':<{width}}  {'design':<30}  {'peer':>9}  {'comparison':>10}  {'estimate':>8}  {'95% CI':>17}  weight")
    for r in studies.itertuples():
        print(f"{r.study:<{width}}  {DESIGNS[r.design]:<30}  {f'{r.unfavourable_peer}/{r.n_peer}':>9}  "
              f"{f'{r.unfavourable_control}/{r.n_control}':>10}  {r.estimate:>8{digits}}  "
              f"{f'{r.ci_lower:{digits}} to {r.ci_upper:{digits}}':>17}  {r.weight:5.1f}%")
    label = f"pooled ({args.method}{', Hartung-Knapp' if test == 'knha' else ''})"
    print(f"{label:<{width}}  {'':<30}  {'':>9}  {'':>10}  {f(res.estimate):>8{digits}}  "
          f"{f'{f(res.ci_lower):{digits}} to {f(res.ci_upper):{digits}}':>17}  100.0%")
    if args.method != "FE":
        print(f"prediction interval for a new study: {f(res.pi_lower):{digits}} to {f(res.pi_upper):{digits}}")
    print(f"heterogeneity: Q = {res.q:.2f} on {res.q_df} df (p = {res.q_pvalue:.3g}), tau2 = {res.tau2:.4f} "
          f"({res.tau2_ci[0]:.4f} to {res.tau2_ci[1]:.4f}), I2 = {res.i2:.1f}%"
          + ("" if math.isnan(res.i2_ci[0]) else f" ({res.i2_ci[0]:.1f}% to {res.i2_ci[1]:.1f}%)"))
    print(f"p = {res.pvalue:.3g} for no pooled effect; {res.k} studies; sources: peerstudy.load_peer_trials() "
          "(columns url, doi, where_found)")
    return 0
