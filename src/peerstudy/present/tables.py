"""Report tables and plain-language summaries built from a cohort and its result objects.

Tables are text, ready to show, with counts from 1 to 10 (and the cells that would reveal them)
shown as "<11" when ``suppress=True`` (always for real data; see :mod:`peerstudy.present.privacy`).
Summary sentences take every number from the results: reports never carry hand-written figures.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np
import pandas as pd

from peerstudy.exceptions import DataError
from peerstudy.present.privacy import THRESHOLD, format_count, suppress_table, suppressed_label, suppression_mask

__all__ = ["cohort_table", "endings_table", "scenario_table", "truth_comparison", "retention_difference", "retention_summary", "competing_summary",
           "cohort_summary"]

_ARM_WORDS = {"usual_care": "usual care", "peer": "peer coach"}
_BINARY = {"female": "Female", "homeless": "Homeless or unstably housed", "stimulant_use": "Stimulant co-use",
           "injects": "Injected drugs (last 30 days)", "unemployed": "Unemployed"}


def _arms(df: pd.DataFrame, arm: str) -> list[str]:
    if arm not in df.columns:
        raise DataError(f"column {arm!r} not in the data")
    levels = [a for a in ("usual_care", "peer") if a in set(df[arm].astype(str))]
    others = sorted(set(df[arm].astype(str)) - set(levels))
    return levels + others


def cohort_table(df: pd.DataFrame, *, arm: str = "arm", suppress: bool = False) -> pd.DataFrame:
    """Table 1: the cohort's make-up by arm (counts with %, means with SD, medians with IQR).

    A yes/no characteristic is a two-row table per arm with a known arm size, so its count is
    hidden when either it or its complement is from 1 to 10 (and then in the other arm too, by
    complementary suppression).
    """
    arms = _arms(df, arm)
    groups = {a: df[df[arm].astype(str) == a] for a in arms}
    sizes = np.array([len(groups[a]) for a in arms])
    rows: dict[str, list[str]] = {}
    size_hidden = suppression_mask(sizes[None, :]) if suppress else np.zeros((1, len(arms)), bool)
    rows["People"] = [suppressed_label() if size_hidden[0, i] else f"{n:,}" for i, n in enumerate(sizes)]
    if "site" in df.columns:
        rows["Sites"] = [f"{groups[a]['site'].nunique():,}" for a in arms]
    if "age" in df.columns:
        rows["Age, mean (SD)"] = [f"{g['age'].mean():.1f} ({g['age'].std():.1f})" for g in groups.values()]
    for col, name in _BINARY.items():
        if col not in df.columns:
            continue
        yes = np.array([int(groups[a][col].sum()) for a in arms])
        table = np.vstack([yes, sizes - yes])
        hide = suppression_mask(table) if suppress else np.zeros(table.shape, bool)
        rows[f"{name}, n (%)"] = [suppressed_label() if hide[0, i] else f"{y:,} ({100 * y / max(n, 1):.0f}%)"
                                  for i, (y, n) in enumerate(zip(yes, sizes))]
    if "depression" in df.columns:
        rows["Depression score, mean (SD)"] = [f"{g['depression'].mean():.1f} ({g['depression'].std():.1f})"
                                               for g in groups.values()]
    if "prior_treatments" in df.columns:
        rows["Prior treatments, median [IQR]"] = [
            f"{g['prior_treatments'].median():g} [{g['prior_treatments'].quantile(.25):g}-"
            f"{g['prior_treatments'].quantile(.75):g}]" for g in groups.values()]
    return pd.DataFrame(rows, index=[_ARM_WORDS.get(a, a).capitalize()
                                     for a in arms]).T


def endings_table(df: pd.DataFrame, *, arm: str = "arm", ending: str = "outcome", suppress: bool = False) -> pd.DataFrame:
    """How observation ended, by arm: ``n (%)`` per ending with totals; small cells hidden when ``suppress``."""
    from peerstudy.data.schema import OUTCOMES

    arms = _arms(df, arm)
    if ending not in df.columns:
        raise DataError(f"column {ending!r} not in the data")
    counts = pd.crosstab(df[ending].astype(str), df[arm].astype(str)).reindex(columns=arms, fill_value=0)
    order = [o for o in OUTCOMES if o in counts.index] + [o for o in counts.index if o not in OUTCOMES]
    counts = counts.reindex(order, fill_value=0)
    arr = counts.to_numpy()
    hide = suppression_mask(arr) if suppress else np.zeros(arr.shape, bool)
    tot = arr.sum(axis=0)
    text = [[suppressed_label() if hide[i, j] else f"{arr[i, j]:,} ({100 * arr[i, j] / max(tot[j], 1):.1f}%)"
             for j in range(arr.shape[1])] for i in range(arr.shape[0])]
    out = pd.DataFrame(text, index=[o.replace("_", " ") for o in order], columns=arms)
    row_tot = arr.sum(axis=1)
    row_hide = suppression_mask(row_tot[:, None].T) if suppress else np.zeros((1, len(row_tot)), bool)
    out["all"] = [suppressed_label() if row_hide[0, i] else f"{n:,}" for i, n in enumerate(row_tot)]
    out.loc["total"] = [f"{n:,}" if not (suppress and 1 <= n < 11) else suppressed_label()
                        for n in [*tot, tot.sum()]]
    out.columns = [_ARM_WORDS.get(c, c) for c in out.columns]
    return out


def _surv_and_se(curve: Any, day: float) -> tuple[float, float]:
    t = np.asarray(curve.time, float)
    i = int(np.searchsorted(t, day, side="right") - 1)
    if i < 0:
        return 1.0, 0.0
    if day > t[-1] and curve.survival[-1] > 0:
        return float("nan"), float("nan")
    s = float(curve.survival[i])
    return s, s * float(curve.std_err[i])  # R's std.err is the SE of -log S: delta method


def retention_difference(km: Any, day: float, *, conf_level: float = 0.95) -> dict[str, float]:
    """Peer minus usual-care retention at ``day`` with a Wald interval from Greenwood SEs.

    Returns ``{"usual_care", "peer", "difference", "ci_lower", "ci_upper"}`` (proportions).
    """
    from scipy.stats import norm

    if "peer" not in km.curves or "usual_care" not in km.curves:
        raise DataError(f"retention_difference needs arms 'usual_care' and 'peer'; got {', '.join(km.curves)}")
    s0, se0 = _surv_and_se(km.curves["usual_care"], day)
    s1, se1 = _surv_and_se(km.curves["peer"], day)
    z = float(norm.ppf(0.5 + conf_level / 2))
    d = s1 - s0
    se = math.sqrt(se0 ** 2 + se1 ** 2)
    return {"usual_care": s0, "peer": s1, "difference": d, "ci_lower": d - z * se, "ci_upper": d + z * se}


def _whole(x: float) -> str:
    """A whole number without a negative zero ("-0")."""
    return f"{int(round(x))}"


def _pct(p: float) -> str:
    """A share as a whole percentage; "not estimable" where there is no number (never "nan%")."""
    if p is None or not np.isfinite(p):
        return "not estimable"
    return f"{100 * p:.0f}%"


def retention_summary(km: Any, rmst: Any | None = None, *, day: float = 90) -> str:
    """One sentence for programme staff from a KM result (and optionally an RMST result).

    E.g. "At 90 days, 62% of people with a peer coach were still in treatment, against 55% with
    usual care (difference 7 points, 95% CI 1 to 13); over the first 180 days peer support added
    9 days in treatment on average (95% CI 2 to 16)."
    """
    r = retention_difference(km, day)
    if any(v != v for v in r.values()):
        return f"Retention at {day:g} days cannot be estimated: follow-up ends earlier."
    text = (f"At {day:g} days, {_pct(r['peer'])} of people with a peer coach were still in treatment, "
            f"against {_pct(r['usual_care'])} with usual care (difference {_whole(100 * r['difference'])} points, "
            f"95% CI {_whole(100 * r['ci_lower'])} to {_whole(100 * r['ci_upper'])})")
    if rmst is not None and getattr(rmst, "difference", None) is not None:
        d = rmst.difference
        verb = "added" if d >= 0 else "took away"
        text += (f"; over the first {rmst.tau:g} days peer support {verb} {_whole(abs(d))} days in treatment on average "
                 f"(95% CI {_whole(rmst.ci_lower)} to {_whole(rmst.ci_upper)})")
    return text + "."


def competing_summary(cif: Any, fine_gray: Any | None = None, *, day: float = 180, cause: str = "dropout",
                      df: pd.DataFrame | None = None, suppress: bool = False) -> str:
    """One sentence on how often each arm ended by ``cause`` and by the competing endings, by ``day``.

    With ``suppress`` (real data; needs ``df``), endings that some arm had 1-10 times are left out of the
    sentence, as :func:`cif_table` hides them.
    """
    at = cif.at([day])
    def p(c: str, g: str) -> float:
        sub = at[(at["cause"] == c) & (at["group"] == g)]["cif"]
        return float(sub.iloc[0]) if len(sub) else float("nan")
    others = [c for c in cif.causes if c != cause]
    if suppress:
        if df is None:
            raise DataError("competing_summary(suppress=True) needs the cohort (df=...) to find small counts")
        allowed = set(reportable_endings(df, suppress=True, causes=tuple(cif.causes)))
        others = [c for c in others if c in allowed]
    text = (f"By day {day:g}, {_pct(p(cause, 'peer'))} of people with a peer coach had dropped out, against "
            f"{_pct(p(cause, 'usual_care'))} with usual care")
    if others:
        parts = ", ".join(f"{c.replace('_', ' ')} {_pct(p(c, 'peer'))} vs {_pct(p(c, 'usual_care'))}" for c in others)
        text += f"; other endings were rarer ({parts})"
    if fine_gray is not None:
        term = fine_gray.to_dict()["terms"].get("arm[peer]")
        if term:
            text += (f". Accounting for those endings, peer support multiplied the rate of dropout by "
                     f"{term['hr']:.2f} (95% CI {term['ci_lower']:.2f} to {term['ci_upper']:.2f})")
    return text + "."


def cohort_summary(df: pd.DataFrame, *, label: str, real: bool, arm: str = "arm") -> str:
    """One sentence describing the cohort (size, sites, arms, enrolment period)."""
    n = len(df)
    arms = df[arm].astype(str).value_counts()
    sites = df["site"].nunique() if "site" in df.columns else None
    start = pd.to_datetime(df["enrolled_on"]).min() if "enrolled_on" in df.columns else None
    end = pd.to_datetime(df["enrolled_on"]).max() if "enrolled_on" in df.columns else None
    kind = f"programme data ({label})" if real else f"a simulated cohort (scenario {label})"
    text = f"This report describes {kind}: {format_count(n, suppress=real)} people"
    if sites:
        text += f" at {sites} site{'s' if sites != 1 else ''}"
    if "peer" in arms and "usual_care" in arms:
        text += (f", {format_count(arms['peer'], suppress=real)} with a peer coach and "
                 f"{format_count(arms['usual_care'], suppress=real)} with usual care")
    if start is not None:
        text += f", enrolled from {start:%B %Y} to {end:%B %Y}"
    return text + "."


def scenario_table(scenario: Mapping[str, Any]) -> pd.DataFrame:
    """The main numbers of a (resolved) scenario dict in words, one row each."""
    rows = [
        ("Participants", f"{scenario['n']:,}"),
        ("Sites", f"{scenario['n_sites']}"),
        ("Allocation", f"{scenario['allocation']}, {100 * scenario['peer_fraction']:.0f}% to a peer coach"),
        ("Enrolment period", f"{scenario['enrolment_days']} days from {scenario['start_date']}"),
        ("Follow-up", f"{scenario['follow_up_days']} days"),
        ("Usual-care retention (target)", f"{100 * scenario['target_retention']:.0f}% still in treatment at day "
                                          f"{scenario['target_day']}"),
        ("Effect of a peer coach", f"dropout hazard ratio {scenario['hazard_ratio']:g}"
         + (f" until day {scenario['effect_stops_day']}" if scenario.get("effect_stops_day") else "")),
        ("Shape of dropout over time", f"Weibull shape {scenario['weibull_shape']:g} (below 1: most dropout early)"),
        ("Site differences", f"frailty variance {scenario['frailty_variance']:g}"),
        ("Other endings per person-year", f"incarceration {scenario['incarceration_rate']:g}, "
                                          f"death {scenario['death_rate']:g}"),
        ("Lost to follow-up", f"{100 * scenario['loss_to_follow_up_per_year']:.0f}% a year"),
    ]
    coaches = scenario.get("coaches") or {}
    if coaches.get("enabled"):
        rows[6] = (rows[6][0], rows[6][1] + " for clients not matched with their coach")
        rows.insert(7, ("Coaches", f"{coaches['per_site']} per site, coach frailty variance "
                                   f"{coaches['frailty_variance']:g}; {100 * coaches['match_probability']:.0f}% of "
                                   f"clients matched on {coaches['match_on'].replace('_', ' ')}, match hazard ratio "
                                   f"{coaches['match_hazard_ratio']:g}"))
    return pd.DataFrame(rows, columns=["", "value"]).set_index("")


def truth_comparison(results: Mapping[str, Any], truth: Mapping[str, Any]) -> pd.DataFrame:
    """Estimates beside the simulation truth: retention by arm and day, RMST, and the peer hazard ratio.

    ``results`` is :meth:`AnalysisResults.to_dict`; ``truth`` the cohort's ``attrs["truth"]``.
    Retention is set beside the truth given the sites this cohort drew when the truth has it (what its
    Kaplan-Meier curves estimate), with the superpopulation value in ``truth, all sites``: the gap between
    the two is between-site sampling error, not estimator error. The hazard ratio is the primary analysis's (``results["primary"]``) beside the truth of its own estimand
    (hazard ratios are not collapsible: a model of the arm alone estimates a marginal hazard ratio closer
    to 1 than the conditional one the scenario states); without a primary analysis, the Cox model's beside
    the conditional truth.
    """
    est = truth["estimands"]
    rows = []
    given = est.get("net_survival_given_sites")
    for g, by_day in est["net_survival"].items():
        for day, s in by_day.items():
            if g in results["km"] and day in results["km"][g]["survival"]:
                r = results["km"][g]
                row = {"quantity": f"retention at day {day}, {_ARM_WORDS.get(g, g)}",
                       "truth": given[g][day] if given and g in given else s,
                       "estimate": r["survival"][day], "ci_lower": r["lower"][day], "ci_upper": r["upper"][day]}
                if given:
                    row["truth, all sites"] = s
                rows.append(row)
    for day, by_arm in est["rmst"].items():
        if day in results.get("rmst", {}):
            rr = results["rmst"][day]
            for g, m in by_arm.items():
                if g in rr:
                    e, se = rr[g]["estimate"], rr[g]["se"]
                    rows.append({"quantity": f"mean days in treatment of the first {day}, {_ARM_WORDS.get(g, g)}",
                                 "truth": m, "estimate": e, "ci_lower": e - 1.96 * se, "ci_upper": e + 1.96 * se})
    hr = _hazard_ratio_row(results, truth)
    if hr:
        rows.append(hr)
    out = pd.DataFrame(rows).set_index("quantity")
    out["covered"] = (out["ci_lower"] <= out["truth"]) & (out["truth"] <= out["ci_upper"])
    return out


_ESTIMAND_WORDS = {"conditional": "given site and covariates", "within_site": "within site",
                   "marginal": "population-averaged"}


def _hazard_ratio_row(results: Mapping[str, Any], truth: Mapping[str, Any]) -> dict | None:
    import math

    primary = results.get("primary")
    limits = truth.get("estimands", {}).get("log_hazard_ratio", {})
    if primary:
        key, term = primary.get("estimand_key"), primary["term"]
        if key == "conditional":
            modelled = set(results.get("settings", {}).get("covariates", []))
            affecting = {c for c, b in truth.get("coefficients", {}).items() if b != 0 and c != "arm[peer]"}
            key = key if affecting <= modelled else None
        if key is None or key not in limits:
            return None
        value = math.exp(limits[key])
    else:
        term = results.get("cox", {}).get("terms", {}).get("arm[peer]")
        if not term:
            return None
        key, value = "conditional", truth["hazard_ratio"]
    return {"quantity": f"hazard ratio of dropout, peer vs usual care ({_ESTIMAND_WORDS[key]})", "truth": value,
            "estimate": term["hr"], "ci_lower": term["ci_lower"], "ci_upper": term["ci_upper"]}


def _suppress_columns(counts: pd.DataFrame, suppress: bool) -> pd.DataFrame:
    """Suppress each column of counts on its own: each has a known total (people, dropouts), rows do not."""
    return pd.concat([suppress_table(counts[[c]], suppress=suppress) for c in counts.columns], axis=1)


def km_table(km: Any, *, suppress: bool = False) -> pd.DataFrame:
    """Kaplan-Meier summary by group: people, dropouts (counts 1-10 hidden when ``suppress``),
    retention at the horizons and median days in treatment; what a report shows instead of the raw result."""
    groups = km.to_dict()
    cnt = pd.DataFrame({"people": [g["n"] for g in groups.values()], "dropouts": [g["events"] for g in groups.values()]},
                       index=list(groups))
    out = _suppress_columns(cnt, suppress)
    for day in next(iter(groups.values()))["survival"]:
        out[f"retention day {day}"] = [round(g["survival"][day], 3) for g in groups.values()]
    out["median days"] = [g["median"] for g in groups.values()]
    out.index.name = "group"
    return out


def logrank_table(lr: Any, *, suppress: bool = False) -> pd.DataFrame:
    """Log-rank test by group (people and observed dropouts hidden when 1-10 and ``suppress``), with the
    statistic, degrees of freedom and p-value in the frame's ``attrs`` and caption."""
    doc = lr.to_dict()
    groups = doc["groups"]
    cnt = pd.DataFrame({"people": [g["n"] for g in groups.values()],
                        "observed dropouts": [int(round(g["observed"])) for g in groups.values()]}, index=list(groups))
    out = _suppress_columns(cnt, suppress)
    out["expected dropouts"] = [round(g["expected"], 1) for g in groups.values()]
    out.index.name = "group"
    out.attrs["test"] = {k: doc[k] for k in ("statistic", "df", "p")}
    return out


def _ending_counts(df: pd.DataFrame, *, ending: str, group: str, time: str, day: float) -> pd.DataFrame:
    """Number of each ending by group up to ``day`` (rows: endings, columns: groups)."""
    sub = df[df[time] <= day]
    return pd.crosstab(sub[ending].astype(str), sub[group].astype(str))


def _hidden_cif_cells(cif: Any, df: pd.DataFrame, *, ending: str, group: str, time: str) -> set[tuple[str, str, str]]:
    """(ending, group, day) cells whose estimate could reveal a count from 1 to 10."""
    doc = cif.to_dict()["cif"]
    hidden = set()
    for cause, by_group in doc.items():
        for g, by_day in by_group.items():
            for day in by_day:
                counts = _ending_counts(df, ending=ending, group=group, time=time, day=float(day))
                k = int(counts.loc[cause, g]) if cause in counts.index and g in counts.columns else 0
                if 1 <= k < THRESHOLD:
                    hidden.add((cause, g, day))
    return hidden


def cif_table(cif: Any, df: pd.DataFrame, *, suppress: bool = False, ending: str = "outcome", group: str = "arm",
              time: str = "time") -> pd.DataFrame:
    """Cumulative incidence by group and ending at the horizons; with ``suppress``, an estimate resting on 1-10
    endings of that kind in that group is hidden (a proportion would let the count be derived)."""
    doc = cif.to_dict()["cif"]
    hidden = _hidden_cif_cells(cif, df, ending=ending, group=group, time=time) if suppress else set()
    label = f"{suppressed_label()} events"
    rows = []
    for cause, by_group in doc.items():
        for g, by_day in by_group.items():
            row = {"group": g, "ending": cause}
            for day, p in by_day.items():
                row[f"{day} d"] = label if (cause, g, day) in hidden else round(p, 3)
            rows.append(row)
    return pd.DataFrame(rows).set_index(["group", "ending"])


def cif_record(cif: Any, df: pd.DataFrame, *, suppress: bool = False, ending: str = "outcome", group: str = "arm",
               time: str = "time") -> dict:
    """``cif.to_dict()`` for results.json, with the cells :func:`cif_table` hides removed (and their SEs)."""
    doc = cif.to_dict()
    if not suppress:
        return doc
    label = f"{suppressed_label()} events"
    for cause, g, day in _hidden_cif_cells(cif, df, ending=ending, group=group, time=time):
        for key in ("cif", "se"):
            if key in doc and cause in doc[key] and g in doc[key][cause]:
                doc[key][cause][g][day] = label
    return doc


def reportable_endings(df: pd.DataFrame, *, suppress: bool = False, ending: str = "outcome", group: str = "arm",
                       causes: "tuple[str, ...]" = ("dropout", "incarcerated", "died")) -> list[str]:
    """Endings whose curves may be drawn: those that occur at all; for real data, only those with no group
    holding 1-10 of them (a curve's steps would reveal such counts)."""
    counts = pd.crosstab(df[ending].astype(str), df[group].astype(str))
    keep = []
    for cause in causes:
        k = counts.loc[cause].to_numpy() if cause in counts.index else np.zeros(1)
        if k.sum() == 0:
            continue  # no such ending in this cohort: there is no curve to draw
        if suppress and ((k >= 1) & (k < THRESHOLD)).any():
            continue
        keep.append(cause)
    return keep


def _p_text(p: float) -> str:
    if p != p:
        return "not estimable"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def primary_table(primary: Any) -> Any:
    """The primary analysis for people: design, analysis, why, estimand, hazard ratio and p-value, and the
    analyses that are not valid for this design (a :class:`~peerstudy.survival.primary.PrimaryAnalysis`), as a
    pandas ``Styler`` that shows the sentences whole (``.data`` is the table)."""
    if primary is None:
        raise DataError("no primary analysis: analyse_cohort(..., design=...) adds it")
    t = primary.term
    test = ("randomisation test, " + (f"all {primary.permutation.n_permutations:,} allocations" if primary.permutation.exact
                                      else f"{primary.permutation.n_permutations:,} re-randomisations")
            if primary.permutation is not None else
            (f"Wald test, t on {t['df']} df" if "df" in t else "Wald test"))
    ci = f"{t['hr']:.2f} (95% CI {t['ci_lower']:.2f} to {t['ci_upper']:.2f})"
    rows = [("Design", primary.design.describe()), ("Analysis", primary.label[0].upper() + primary.label[1:]),
            ("Why", primary.reason), ("What it estimates", primary.estimand[0].upper() + primary.estimand[1:]),
            ("Hazard ratio, peer vs usual care", ci), ("p-value", f"{_p_text(t['p'])} ({test})")]
    for method, why in primary.not_valid:
        rows.append(("Not valid here", f"{method[0].upper() + method[1:]}: {why}."))
    table = pd.DataFrame({"": [v for _, v in rows]}, index=pd.Index([k for k, _ in rows], name=""))
    return (table.style.set_properties(**{"text-align": "left", "white-space": "normal", "max-width": "60em"})
            .set_table_styles([{"selector": "th", "props": [("text-align", "left"), ("vertical-align", "top")]}]))
