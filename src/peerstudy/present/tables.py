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
from peerstudy.present.privacy import (COMPLEMENT_LABEL, THRESHOLD, curve_share, format_count, hidden_label,
                                       share_allowed, suppress_table, suppressed_label, suppression_kinds)
from peerstudy.present.wording import (ENDING_NOUNS, current_design, fine_gray_sentence, format_p, retention_sentence,
                                       rmst_sentence)

__all__ = ["NOT_RECORDED", "not_recorded_sentence", "cohort_table", "endings_table", "scenario_table", "truth_comparison", "retention_difference", "retention_summary", "competing_summary",
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


#: What table 1 shows for a characteristic the data do not record (never a made-up 0).
NOT_RECORDED = "not recorded"


def cohort_table(df: pd.DataFrame, *, arm: str = "arm", suppress: bool = False) -> pd.DataFrame:
    """Table 1: the cohort's make-up by arm (counts with %, means with SD, medians with IQR).

    A yes/no characteristic is a two-row table per arm with a known arm size, so its count is
    hidden when either it or its complement is from 1 to 10 (and then in the other arm too, by
    complementary suppression: shown "suppressed"). A characteristic the data do not record (a
    column missing for everyone, :func:`peerstudy.data.schema.not_recorded`) reads "not recorded";
    ``attrs["not_recorded"]`` lists them. Percentages are whole numbers.
    """
    from peerstudy.data.schema import COVARIATES, not_recorded

    arms = _arms(df, arm)
    groups = {a: df[df[arm].astype(str) == a] for a in arms}
    sizes = np.array([len(groups[a]) for a in arms])
    missing = set(not_recorded(df, COVARIATES))
    rows: dict[str, list[str]] = {}
    size_kind = suppression_kinds(sizes[None, :]) if suppress else np.zeros((1, len(arms)), int)
    rows["People"] = [hidden_label(size_kind[0, i]) if size_kind[0, i] else f"{n:,}" for i, n in enumerate(sizes)]
    if "site" in df.columns:
        rows["Sites"] = [f"{groups[a]['site'].nunique():,}" for a in arms]
    nr = [NOT_RECORDED] * len(arms)
    if "age" in df.columns:
        rows["Age, mean (SD)"] = nr if "age" in missing else [
            f"{g['age'].mean():.1f} ({g['age'].std():.1f})" for g in groups.values()]
    for col, name in _BINARY.items():
        if col not in df.columns:
            continue
        if col in missing:
            rows[f"{name}, n (%)"] = nr
            continue
        yes = np.array([int(groups[a][col].sum()) for a in arms])
        table = np.vstack([yes, sizes - yes])
        kind = suppression_kinds(table) if suppress else np.zeros(table.shape, int)
        rows[f"{name}, n (%)"] = [hidden_label(kind[0, i]) if kind[0, i] else f"{y:,} ({100 * y / max(n, 1):.0f}%)"
                                  for i, (y, n) in enumerate(zip(yes, sizes))]
    if "depression" in df.columns:
        rows["Depression score, mean (SD)"] = nr if "depression" in missing else [
            f"{g['depression'].mean():.1f} ({g['depression'].std():.1f})" for g in groups.values()]
    if "prior_treatments" in df.columns:
        rows["Prior treatments, median [IQR]"] = nr if "prior_treatments" in missing else [
            f"{g['prior_treatments'].median():g} [{g['prior_treatments'].quantile(.25):g}-"
            f"{g['prior_treatments'].quantile(.75):g}]" for g in groups.values()]
    out = pd.DataFrame(rows, index=[_ARM_WORDS.get(a, a).capitalize() for a in arms]).T
    out.attrs["not_recorded"] = [c for c in COVARIATES if c in missing]
    return out


def not_recorded_sentence(df: pd.DataFrame) -> str:
    """One sentence naming the characteristics the data do not record ("" when every one is recorded).

    >>> import pandas as pd
    >>> not_recorded_sentence(pd.DataFrame({"age": [30.0], "female": [float("nan")]}))  # doctest: +ELLIPSIS
    'Not recorded in these data: female, homeless, ...; they are left out of the tables and models.'
    """
    from peerstudy.data.schema import COVARIATES, not_recorded

    missing = not_recorded(df, COVARIATES)
    if not missing:
        return ""
    return (f"Not recorded in these data: {', '.join(c.replace('_', ' ') for c in missing)}; they are left out "
            f"of the tables and models.")


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
    # the row totals are published too: suppress the table with them as one more column, so that no
    # total undoes a hidden cell and no hidden cell is labelled "<11" when it is only a complement
    full = np.column_stack([arr, arr.sum(axis=1)])
    kind = suppression_kinds(full) if suppress else np.zeros(full.shape, int)
    tot = arr.sum(axis=0)
    pct = "{:.0f}%" if suppress else "{:.1f}%"
    text = [[hidden_label(kind[i, j]) if kind[i, j]
             else f"{arr[i, j]:,} ({pct.format(100 * arr[i, j] / max(tot[j], 1))})"
             for j in range(arr.shape[1])] for i in range(arr.shape[0])]
    out = pd.DataFrame(text, index=[o.replace("_", " ") for o in order], columns=arms)
    row_tot = full[:, -1]
    out["all"] = [hidden_label(kind[i, -1]) if kind[i, -1] else f"{n:,}" for i, n in enumerate(row_tot)]
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


def retention_summary(km: Any, rmst: Any | None = None, *, day: float = 90, design: Any = None) -> str:
    """One sentence for programme staff from a KM result (and optionally an RMST result).

    The words follow ``design`` (:class:`peerstudy.present.wording.Design`; :func:`~peerstudy.present.wording.design_of`
    makes one from a scenario): causal verbs ("peer support added 9 days") only for a randomised comparison;
    otherwise "was associated with", naming the adjustment (none: "not adjusted for differences between the groups").
    Without a design, the one declared by :func:`peerstudy.present.wording.use_design` (a report's cohort) is
    used; without either nothing causal is claimed. E.g. "At 90 days, 62% of people with a peer coach were still in
    treatment, against 55% with usual care (difference 7 percentage points, 95% CI 1 to 13); over the first 180 days
    peer support added 9 days in treatment on average (95% CI -0.4 to 18.9)."
    """
    design = design or current_design()
    if not design.randomised:  # Kaplan-Meier and RMST compare the arms as they are: unadjusted
        design = design.adjusted_for(None)
    r = retention_difference(km, day)
    if any(v != v for v in r.values()):
        return f"Retention at {day:g} days cannot be estimated: follow-up ends earlier."
    from peerstudy.present.privacy import is_private

    if is_private() and any(curve_share(km.curves[a], day, r[a]) == COMPLEMENT_LABEL for a in ("usual_care", "peer")):
        return (f"Retention at {day:g} days is not shown: with these numbers of people it would reveal a count "
                f"from 1 to 10.")
    text = retention_sentence(r["peer"], r["usual_care"], r["ci_lower"], r["ci_upper"], day=day, design=design)
    if rmst is not None and getattr(rmst, "difference", None) is not None:
        text += "; " + rmst_sentence(rmst.difference, rmst.ci_lower, rmst.ci_upper, tau=rmst.tau, design=design)
    return text + "."


def competing_summary(cif: Any, fine_gray: Any | None = None, *, day: float = 180, cause: str = "dropout",
                      df: pd.DataFrame | None = None, suppress: bool = False, design: Any = None) -> str:
    """One sentence on how often each arm ended by ``cause`` and by the competing endings, by ``day``.

    With ``suppress`` (real data; needs ``df``), endings that some arm had 1-10 times are left out of the
    sentence, as :func:`cif_table` hides them. The Fine-Gray ratio is described by the cumulative incidence of
    dropout (:func:`peerstudy.present.wording.fine_gray_sentence`), with causal verbs only for a randomised
    ``design``.
    """
    design = design or current_design()
    at = cif.at([day])
    from peerstudy.present.privacy import is_private, share_allowed

    if (suppress or is_private()) and df is not None:
        by_day = _ending_counts(df, ending="outcome", group="arm", time="time", day=day)
        sizes = df["arm"].astype(str).value_counts()
        if any(not share_allowed(int(by_day.loc[cause, g]) if cause in by_day.index and g in by_day.columns else 0,
                                 int(sizes.get(g, 0))) for g in ("usual_care", "peer")):
            return (f"The share who had dropped out by day {day:g} is not shown: with these numbers of people it "
                    f"would reveal a count from 1 to 10.")
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
        parts = ", ".join(f"{ENDING_NOUNS.get(c, c.replace('_', ' '))} {_pct(p(c, 'peer'))} vs {_pct(p(c, 'usual_care'))}"
                          for c in others)
        text += f"; other endings were rarer ({parts})"
    if fine_gray is not None:
        term = fine_gray.to_dict()["terms"].get("arm[peer]")
        if term:
            competing = _and_words([ENDING_NOUNS.get(c, c.replace("_", " ")) for c in cif.causes if c != cause]) \
                or "the other endings"
            text += ". " + fine_gray_sentence(term["hr"], term["ci_lower"], term["ci_upper"], design=design,
                                              competing=competing)
    return text + "."


def _and_words(items: "list[str]") -> str:
    if not items:
        return ""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


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
    return pd.DataFrame(rows, columns=["", "Assumed"]).set_index("")


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
    if suppress:  # n - dropouts (people not known to drop out) is derivable from the two columns
        for i, g in enumerate(groups.values()):
            if 1 <= g["n"] - g["events"] < THRESHOLD and out.iloc[i, 1] == f"{g['events']:,}":
                out.iloc[i, 1] = COMPLEMENT_LABEL
    for day in next(iter(groups.values()))["survival"]:
        out[f"retention day {day}"] = [curve_share(km.curves[name], float(day), g["survival"][day], suppress=suppress)
                                       for name, g in groups.items()]
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


def _hidden_cif_cells(cif: Any, df: pd.DataFrame, *, ending: str, group: str, time: str) -> dict[tuple[str, str, str], str]:
    """(ending, group, day) cells whose estimate could reveal a count from 1 to 10, with their label: "<11 events"
    when the endings are 1-10, "suppressed" when the others of the group are."""
    doc = cif.to_dict()["cif"]
    hidden: dict[tuple[str, str, str], str] = {}
    for cause, by_group in doc.items():
        for g, by_day in by_group.items():
            for day in by_day:
                counts = _ending_counts(df, ending=ending, group=group, time=time, day=float(day))
                k = int(counts.loc[cause, g]) if cause in counts.index and g in counts.columns else 0
                n_g = int((df[group].astype(str) == g).sum())
                if not share_allowed(k, n_g):  # k, or the n_g - k others, from 1 to 10
                    hidden[(cause, g, day)] = f"{suppressed_label()} events" if 1 <= k < THRESHOLD else COMPLEMENT_LABEL
    return hidden


def cif_table(cif: Any, df: pd.DataFrame, *, suppress: bool = False, ending: str = "outcome", group: str = "arm",
              time: str = "time") -> pd.DataFrame:
    """Cumulative incidence by group and ending at the horizons; with ``suppress``, an estimate resting on 1-10
    endings of that kind in that group is hidden (a proportion would let the count be derived)."""
    doc = cif.to_dict()["cif"]
    hidden = _hidden_cif_cells(cif, df, ending=ending, group=group, time=time) if suppress else {}
    rows = []
    for cause, by_group in doc.items():
        for g, by_day in by_group.items():
            row = {"group": g, "ending": cause}
            for day, p in by_day.items():
                row[f"{day} d"] = hidden.get((cause, g, day), round(p, 2 if suppress else 3))
            rows.append(row)
    return pd.DataFrame(rows).set_index(["group", "ending"])


def cif_record(cif: Any, df: pd.DataFrame, *, suppress: bool = False, ending: str = "outcome", group: str = "arm",
               time: str = "time") -> dict:
    """``cif.to_dict()`` for results.json, with the cells :func:`cif_table` hides removed (and their SEs)."""
    doc = cif.to_dict()
    if not suppress:
        return doc
    for (cause, g, day), label in _hidden_cif_cells(cif, df, ending=ending, group=group, time=time).items():
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
            ("Hazard ratio, peer vs usual care", ci), ("p-value", f"{format_p(t['p'])} ({test})")]
    for method, why in primary.not_valid:
        rows.append(("Not valid here", f"{method[0].upper() + method[1:]}: {why}."))
    table = pd.DataFrame({"": [v for _, v in rows]}, index=pd.Index([k for k, _ in rows], name=""))
    return (table.style.set_properties(**{"text-align": "left", "white-space": "normal", "max-width": "60em"})
            .set_table_styles([{"selector": "th", "props": [("text-align", "left"), ("vertical-align", "top")]}]))


_METHOD_WORDS = {"logrank": "log-rank test", "cox": "Cox model, model SE", "cox_adjusted": "adjusted Cox model",
                 "cox_robust": "Cox model, plain site cluster-robust SE",
                 "cox_stratified": "Cox model stratified by site",
                 "cox_robust_small_sample": "Cox model, small-sample site sandwich (t on G - 1 df)",
                 "frailty": "shared frailty Cox model", "permutation": "randomisation test (log-rank)",
                 "primary": "primary analysis for this design", "rmst": "RMST difference"}


def operating_table(oc: pd.DataFrame) -> Any:
    """Operating characteristics for people (from :func:`peerstudy.design.study.operating_characteristics`): type I
    error, coverage and power with Monte Carlo SEs, and whether each analysis holds its level; a ``Styler``."""
    def pct(v: float, se: float) -> str:
        return "not estimable" if v != v else f"{v:.1%} ({se:.1%})"

    reps = int(oc["reps"].iloc[0])
    table = pd.DataFrame({
        "analysis": [_METHOD_WORDS.get(m, m) for m in oc["method"]],
        "estimand": oc["estimand"].map({"marginal": "population-averaged HR", "within_site": "HR within site",
                                        "conditional": "HR given site and covariates", "none": "(a test only)"}),
        "type I error (MCSE)": [pct(v, s) for v, s in zip(oc["type_i_error"], oc["type_i_mcse"])],
        "95% CI coverage (MCSE)": [pct(v, s) if v == v else "no interval" for v, s in zip(oc["coverage"], oc["coverage_mcse"])],
        "power (MCSE)": [pct(v, s) for v, s in zip(oc["power"], oc["power_mcse"])],
        "holds its level": ["yes" if h else "no" for h in oc["holds"]],
    })
    caption = (f"{reps:,} simulated trials under no effect and {reps:,} under the designed effect "
               f"({oc['allocation'].iloc[0]} allocation); Monte Carlo SE in brackets")
    return (table.style.hide(axis="index").set_caption(caption)
            .apply(lambda r: ["font-weight: bold" if oc["primary"].iloc[r.name] else "" for _ in r], axis=1))


def hazard_ratio_table(fit: Any) -> pd.DataFrame:
    """Hazard ratios of a Cox-type fit for people: term, hazard ratio with its 95% CI, p-value.

    No numbers of people or events (which could be small counts); the CI uses the fit's own variance and reference
    distribution (robust, small-sample t, ...), as its ``to_dict()`` does.
    """
    from peerstudy.present.wording import format_interval, label

    terms = fit.to_dict()["terms"]
    rows = [{"term": label(t), "hazard ratio": f"{v['hr']:.2f}",
             "95% CI": format_interval(v["ci_lower"], v["ci_upper"], decimals=2, null=1.0),
             "p-value": format_p(v["p"])} for t, v in terms.items()]
    return pd.DataFrame(rows).set_index("term")


def rmst_people_table(rmst: Mapping[str, Any]) -> pd.DataFrame:
    """Restricted mean days in treatment by horizon for people: each arm's mean and the difference with its 95% CI
    (``rmst``: horizon key -> :class:`~peerstudy.survival.rmst.RMSTResult`). Days to one decimal, signs kept."""
    from peerstudy.present.wording import format_interval

    rows = []
    for h, r in rmst.items():
        d = r.to_dict()
        row = {"first days": int(float(h))}
        for arm in ("usual_care", "peer"):
            if arm in d:
                row[f"mean days, {_ARM_WORDS[arm]}"] = f"{d[arm]['estimate']:.1f}"
        diff = d.get("difference")
        if diff:
            row["difference (peer - usual care)"] = f"{diff['estimate']:+.1f}"
            row["95% CI"] = format_interval(diff["ci_lower"], diff["ci_upper"], decimals=1)
        rows.append(row)
    return pd.DataFrame(rows).set_index("first days")
