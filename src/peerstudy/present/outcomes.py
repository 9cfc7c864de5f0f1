"""The secondary outcomes for people and under the privacy rules: linkage, 6-month risks, follow-up, BARC-10.

:func:`outcomes_document` turns the document of :meth:`peerstudy.survival.outcomes.OutcomesResult.to_dict` into
what ``results.json`` holds; with ``suppress`` (real data, ``peerstudy analyse --private``) every count goes
through one set of linked suppressions (:func:`peerstudy.present.privacy.suppress_linked`), because the counts of
the secondary outcomes are tied by sums that a reader could use:

* each group's people = those due a follow-up interview + those not due (who died first); due = interviewed + not;
  the whole cohort's counts = the sum over arms = the sum over sites;
* interviewed = outcome recorded + not recorded; recorded = yes + no (the cells of each 6-month outcome);
* an arm's people = linked + not linked, by each day and in all, and linked by a later day = linked by an earlier
  day + linked in between;
* everyone = those with a BARC-10 total + those without.

Whenever one count of a relation is 1-10, another is hidden too, so none can be solved back. Then an estimate is
shown only where the counts it rests on are shown: a cumulative incidence of linkage (to 2 decimals) where the
people linked by that day and those not are both shown and 0 or at least 11; a 6-month risk, risk difference and
risk ratio where all four cells of the outcome are shown; a follow-up rate exactly where its counts are shown,
else rounded to a step of at least 10/n (:func:`peerstudy.present.privacy.coarsen_share`) or "suppressed". The
mixed model's coefficients (means of many scores) keep 3 significant digits.

The table helpers (:func:`follow_up_table`, :func:`linkage_table`, :func:`six_month_table`, :func:`barc_table`)
read either form and give tables for people: labels as headers, percentages and intervals formatted, no index,
a dash for what is not shown. :func:`outcomes_summary` says the main numbers in sentences.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

import pandas as pd

from peerstudy.present.privacy import (COMPLEMENT_LABEL, THRESHOLD, coarsen_share, scrub_text, share_allowed,
                                       suppress_linked)
from peerstudy.present.wording import Design, current_design, format_interval, label

__all__ = ["outcomes_document", "private_outcomes", "private_imputed", "follow_up_table", "linkage_table",
           "six_month_table", "barc_table", "outcomes_summary"]

_DASH = "–"
_POOLED_KEYS = ("estimate", "se", "ci_lower", "ci_upper", "p", "fmi")


def _sig(x: Any, digits: int = 3) -> Any:
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(float(x)):
        return x
    return float(f"{float(x):.{digits}g}")


def _shown(text: str) -> bool:
    return text not in (COMPLEMENT_LABEL,) and not text.startswith("<")


# ----- the counts and their relations ------------------------------------------------------------------------------
def _relations(doc: Mapping[str, Any]) -> tuple[dict[str, int], list[tuple[str, list[str]]], list[str]]:
    """Every count of an outcomes document by name, the sums that tie them and those published elsewhere."""
    counts: dict[str, int] = {}
    rel: list[tuple[str, list[str]]] = []
    c = doc.get("counts", {})
    arms = {str(k): int(v) for k, v in c.get("arms", {}).items()}
    for a, v in arms.items():
        counts[f"arm:{a}"] = v
    counts["all"] = sum(arms.values())
    # the analysis of retention shows these (as its own privacy rules allow): the counts tied to them are hidden
    # in their place, and their own sum is that analysis's concern
    published = ["all", *(f"arm:{a}" for a in arms)]

    rows = (doc.get("follow_up") or {}).get("rates", [])
    parts: dict[str, dict[str, list[str]]] = {}
    for r in rows:
        key = f"fu:{r['by']}:{r['level']}"
        due, done = int(r["due"]), int(r["done"])
        counts[f"{key}:due"], counts[f"{key}:done"], counts[f"{key}:missed"] = due, done, due - done
        rel.append((f"{key}:due", [f"{key}:done", f"{key}:missed"]))
        size = counts["all"] if r["by"] == "all" else arms.get(str(r["level"])) if r["by"] == "arm" else None
        if size is not None:
            counts[f"{key}:not_due"] = size - due
            rel.append(("all" if r["by"] == "all" else f"arm:{r['level']}", [f"{key}:due", f"{key}:not_due"]))
        if r["by"] != "all":
            for what in ("due", "done", "missed"):
                parts.setdefault(r["by"], {}).setdefault(what, []).append(f"{key}:{what}")
    if any(r["by"] == "all" for r in rows):
        for by, whats in parts.items():
            for what, names in whats.items():
                rel.append((f"fu:all:all:{what}", names))

    for name, cells in c.get("six_month", {}).items():
        for a, v in cells.items():
            key = f"six:{name}:{a}"
            done = f"fu:arm:{a}:done" if f"fu:arm:{a}:done" in counts else f"{key}:interviewed"
            counts.setdefault(done, int(v["interviewed"]))
            for what in ("recorded", "yes", "no"):
                counts[f"{key}:{what}"] = int(v[what])
            counts[f"{key}:unrecorded"] = int(v["interviewed"]) - int(v["recorded"])
            rel.append((done, [f"{key}:recorded", f"{key}:unrecorded"]))
            rel.append((f"{key}:recorded", [f"{key}:yes", f"{key}:no"]))

    for a, v in c.get("linkage", {}).items():
        size = f"arm:{a}" if f"arm:{a}" in counts else f"link:{a}:n"
        counts.setdefault(size, int(v["n"]))
        counts[f"link:{a}:linked"] = int(v["linked"])
        counts[f"link:{a}:not"] = int(v["n"]) - int(v["linked"])
        rel.append((size, [f"link:{a}:linked", f"link:{a}:not"]))
        days = sorted(v["by_day"], key=float)
        previous = None
        for d in days:
            k = int(v["by_day"][d])
            counts[f"link:{a}:d{d}"] = k
            counts[f"link:{a}:d{d}:not"] = int(v["n"]) - k
            rel.append((size, [f"link:{a}:d{d}", f"link:{a}:d{d}:not"]))
            if previous is not None:
                counts[f"link:{a}:d{d}:new"] = k - int(v["by_day"][previous])
                rel.append((f"link:{a}:d{d}", [f"link:{a}:d{previous}", f"link:{a}:d{d}:new"]))
            previous = d
        if previous is not None:
            counts[f"link:{a}:after"] = int(v["linked"]) - int(v["by_day"][previous])
            rel.append((f"link:{a}:linked", [f"link:{a}:d{previous}", f"link:{a}:after"]))

    barc = c.get("barc10")
    if barc:
        counts["barc:participants"] = int(barc["participants"])
        counts["barc:none"] = int(barc["n"]) - int(barc["participants"])
        rel.append(("all", ["barc:participants", "barc:none"]))
        visits = {str(k): int(v) for k, v in barc.get("by_visit", {}).items()}
        for v, k in visits.items():
            counts[f"barc:visit:{v}"] = k
        if visits:
            counts["barc:scores"] = sum(visits.values())
            rel.append(("barc:scores", [f"barc:visit:{v}" for v in visits]))
    return counts, rel, published


# ----- the document ------------------------------------------------------------------------------------------------
def outcomes_document(doc: Mapping[str, Any], *, suppress: bool = False, threshold: int = THRESHOLD) -> dict[str, Any]:
    """What ``results.json`` holds under ``outcomes``: the exact document, or with ``suppress`` its private form
    (:func:`private_outcomes`)."""
    return private_outcomes(doc, threshold=threshold) if suppress else dict(doc)


def private_outcomes(doc: Mapping[str, Any], *, threshold: int = THRESHOLD) -> dict[str, Any]:
    """An outcomes document (:meth:`~peerstudy.survival.outcomes.OutcomesResult.to_dict`) under the privacy rules.

    Counts are text (``"1,204"``, ``"<11"``, ``"suppressed"``), suppressed together across every relation listed
    in the module docstring; estimates are shown only where their counts are (see there). The ``counts`` block is
    left out (its counts are shown where they belong).

    Examples
    --------
    >>> doc = {"counts": {"arms": {"usual_care": 40, "peer": 45}},
    ...        "follow_up": {"target": 0.8, "window": [152, 243], "rates": [
    ...            {"by": "arm", "level": "usual_care", "due": 40, "done": 34, "rate": 0.85, "ci_lower": 0.71,
    ...             "ci_upper": 0.93, "meets_target": True},
    ...            {"by": "arm", "level": "peer", "due": 45, "done": 30, "rate": 0.6667, "ci_lower": 0.52,
    ...             "ci_upper": 0.79, "meets_target": False}]}}
    >>> [(r["due"], r["done"], r["rate"]) for r in private_outcomes(doc)["follow_up"]["rates"]]
    [('40', 'suppressed', 'suppressed'), ('45', '30', 0.667)]

    Six people of usual care were not interviewed, so the number interviewed is hidden with them and the rate
    (0.85) is shown only to the nearest 0.25 (a step of at least 10/40).
    """
    counts, rel, published = _relations(doc)
    shown = suppress_linked(counts, rel, published=published, threshold=threshold)
    out: dict[str, Any] = {"conf_level": doc.get("conf_level")}
    if "linkage" in doc:
        out["linkage"] = _private_linkage(doc["linkage"], shown, counts, threshold)
    if "six_month" in doc:
        out["six_month"] = {k: _private_risk(k, v, shown, threshold) for k, v in doc["six_month"].items()}
    if "follow_up" in doc:
        out["follow_up"] = _private_follow_up(doc["follow_up"], shown, counts, threshold)
    if "barc10" in doc:
        out["barc10"] = _private_barc(doc["barc10"], shown)
    if "imputed" in doc:
        out["imputed"] = _private_outcome_imputation(doc["imputed"], doc.get("six_month", {}), shown)
    if doc.get("errors"):
        out["errors"] = {k: scrub_text(str(v), threshold=threshold) for k, v in doc["errors"].items()}
    return out


def _private_linkage(link: Mapping[str, Any], shown: Mapping[str, str], counts: Mapping[str, int],
                     threshold: int) -> dict[str, Any]:
    arms = {}
    for a, v in link["by_arm"].items():
        size = shown.get(f"arm:{a}", shown.get(f"link:{a}:n"))
        cif = {}
        for d, e in v["cif"].items():
            k, n = counts[f"link:{a}:d{d}"], counts[f"link:{a}:d{d}"] + counts[f"link:{a}:d{d}:not"]
            ok = _shown(shown[f"link:{a}:d{d}"]) and _shown(shown[f"link:{a}:d{d}:not"]) and \
                share_allowed(k, n, threshold=threshold)
            cif[d] = ({"estimate": round(float(e["estimate"]), 2), "ci_lower": round(float(e["ci_lower"]), 2),
                       "ci_upper": round(float(e["ci_upper"]), 2), "linked": shown[f"link:{a}:d{d}"]} if ok else
                      {"estimate": COMPLEMENT_LABEL, "ci_lower": COMPLEMENT_LABEL, "ci_upper": COMPLEMENT_LABEL,
                       "linked": shown[f"link:{a}:d{d}"]})
        arms[a] = {"n": size, "linked": shown[f"link:{a}:linked"], "cif": cif}
    return {k: v for k, v in link.items() if k != "by_arm"} | {"by_arm": arms}


def _cells_shown(name: str, groups: Iterable[str], shown: Mapping[str, str]) -> bool:
    return all(_shown(shown.get(f"six:{name}:{a}:{w}", COMPLEMENT_LABEL)) for a in groups for w in ("yes", "no"))


def _hidden_contrast() -> dict[str, str]:
    return {"estimate": COMPLEMENT_LABEL, "ci_lower": COMPLEMENT_LABEL, "ci_upper": COMPLEMENT_LABEL,
            "p": COMPLEMENT_LABEL}


def _private_risk(name: str, r: Mapping[str, Any], shown: Mapping[str, str], threshold: int) -> dict[str, Any]:
    groups = (r["reference"], r["treated"])
    ok = _cells_shown(name, groups, shown)
    out = {"outcome": r["outcome"], "reference": r["reference"], "treated": r["treated"],
           "n": {a: shown[f"six:{name}:{a}:recorded"] for a in groups},
           "events": {a: shown[f"six:{name}:{a}:yes"] for a in groups},
           "risk": {a: (round(float(r["risk"][a]), 2) if ok else COMPLEMENT_LABEL) for a in groups},
           "conf_level": r.get("conf_level")}
    for key in ("risk_difference", "risk_ratio"):
        out[key] = ({k: _sig(r[key][k], 2 if k == "p" else 3) for k in ("estimate", "ci_lower", "ci_upper", "p")}
                    if ok else _hidden_contrast())
    return out


def _private_follow_up(fu: Mapping[str, Any], shown: Mapping[str, str], counts: Mapping[str, int],
                       threshold: int) -> dict[str, Any]:
    rates = []
    for r in fu["rates"]:
        key = f"fu:{r['by']}:{r['level']}"
        due, done, missed = (shown[f"{key}:{w}"] for w in ("due", "done", "missed"))
        row = {"by": r["by"], "level": r["level"], "due": due, "done": done}
        if _shown(done) and _shown(missed):
            row.update(rate=_sig(r["rate"]), ci_lower=_sig(r["ci_lower"]), ci_upper=_sig(r["ci_upper"]),
                       meets_target=bool(r["meets_target"]))
        else:
            q = coarsen_share(float(r["rate"]), counts[f"{key}:due"], threshold=threshold) if _shown(due) else None
            row.update(rate=COMPLEMENT_LABEL if q is None else q, ci_lower=COMPLEMENT_LABEL,
                       ci_upper=COMPLEMENT_LABEL, meets_target=COMPLEMENT_LABEL)
        rates.append(row)
    return {"target": fu["target"], "window": list(fu["window"]), "rates": rates}


def _private_barc(barc: Mapping[str, Any], shown: Mapping[str, str]) -> dict[str, Any]:
    return {"terms": {t: {k: _sig(v) for k, v in d.items()} for t, d in barc["terms"].items()},
            "group_var": _sig(barc["group_var"]), "resid_var": _sig(barc["resid_var"]),
            "per_days": barc["per_days"], "change": {a: {k: _sig(v) for k, v in d.items()}
                                                     for a, d in barc["change"].items()},
            "n_obs": shown.get("barc:scores", COMPLEMENT_LABEL),
            "n_groups": shown.get("barc:participants", COMPLEMENT_LABEL)}


def _private_outcome_imputation(imp: Mapping[str, Any], six: Mapping[str, Any],
                                shown: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {"m": imp.get("m"), "seed": imp.get("seed"), "method": imp.get("method"),
                           "predictors": imp.get("predictors")}
    for name, pooled in imp.get("pooled", {}).items():
        r = six.get(name)
        ok = r is not None and _cells_shown(name, (r["reference"], r["treated"]), shown)
        out.setdefault("pooled", {})[name] = {
            key: ({k: _sig(v, 2 if k == "p" else 3) for k, v in term.items() if k in _POOLED_KEYS} if ok else
                  _hidden_contrast()) for key, term in pooled.items()}
    return out


def private_imputed(block: Mapping[str, Any], df: pd.DataFrame, *, time: str = "time", event: str = "event",
                    group: str | None = "arm", threshold: int = THRESHOLD) -> dict[str, Any]:
    """The ``imputed`` block of ``peerstudy analyse --impute`` under the privacy rules.

    ``df`` is the whole cohort the imputations were made of. The numbers missing per column are counts (tied to the
    cohort's size: hidden when they or the rest are 1-10); pooled terms keep their estimate, SE, CI, p-value and
    fraction of missing information to 3 significant digits (not the complete-data degrees of freedom, which are
    the number of dropouts minus the terms); a pooled Kaplan-Meier survival at a day (the same in every completed
    data set: KM does not use the covariates) is shown to 2 decimals only where the dropouts by that day and the
    others of the group are each 0 or at least 11, as in ``km_horizons.csv``.
    """
    n = int(len(df))
    imp = dict(block.get("imputation", {}))
    missing = {str(k): int(v) for k, v in imp.get("n_missing", {}).items()}
    counts = {"n": n, **{f"missing:{k}": v for k, v in missing.items()},
          **{f"observed:{k}": n - v for k, v in missing.items()}}
    rel = [("n", [f"missing:{k}", f"observed:{k}"]) for k in missing]
    shown = suppress_linked(counts, rel, published=["n"], threshold=threshold)
    imp["n_missing"] = {k: shown[f"missing:{k}"] for k in missing}
    out: dict[str, Any] = {"imputation": imp}
    if "cox" in block:
        cox = dict(block["cox"])
        cox["terms"] = {t: {k: _sig(v, 2 if k == "p" else 3) for k, v in d.items() if k in _POOLED_KEYS}
                        for t, d in cox.get("terms", {}).items()}
        out["cox"] = cox
    if "rmst" in block:
        out["rmst"] = {t: {k: _sig(v, 2 if k == "p" else 3) for k, v in d.items() if k in _POOLED_KEYS}
                       for t, d in block["rmst"].items()}
    if "km" in block:
        g = df[group].astype(str).to_numpy() if group is not None and group in df.columns else None
        t = df[time].to_numpy(dtype=float)
        e = df[event].to_numpy(dtype=float)
        km = {}
        for day, terms in block["km"].items():
            km[day] = {}
            for term, d in terms.items():
                lab = term[len("survival["):-1] if term.startswith("survival[") else None
                m = (g == lab) if g is not None and lab is not None else slice(None)
                events = int(((t[m] <= float(day)) & (e[m] == 1)).sum())
                ok = share_allowed(events, int(len(t[m])), threshold=threshold)
                km[day][term] = ({"estimate": round(float(d["estimate"]), 2), "ci_lower": round(float(d["ci_lower"]), 2),
                                  "ci_upper": round(float(d["ci_upper"]), 2), "fmi": _sig(d.get("fmi"))} if ok else
                                 {"estimate": COMPLEMENT_LABEL, "ci_lower": COMPLEMENT_LABEL,
                                  "ci_upper": COMPLEMENT_LABEL})
        out["km"] = km
    return out


# ----- tables and sentences for people -----------------------------------------------------------------------------
def _pct(x: Any, digits: int = 0) -> str:
    if isinstance(x, str) or x is None or (isinstance(x, float) and not math.isfinite(x)):
        return _DASH
    return f"{100 * float(x):.{digits}f}%"


def _count(x: Any) -> str:
    if isinstance(x, str):
        return x
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return _DASH
    return f"{int(x):,}"


def _interval(lo: Any, hi: Any, *, decimals: int, null: float, scale: float = 1.0, unit: str = "") -> str:
    if isinstance(lo, str) or isinstance(hi, str) or lo is None or hi is None:
        return _DASH
    text = format_interval(scale * float(lo), scale * float(hi), decimals=decimals, null=null * scale)
    return text if text == "not estimable" else f"{text}{unit}"


def follow_up_table(doc: Mapping[str, Any]) -> pd.DataFrame:
    """Follow-up interviews done among those due, by group, against the target: one row per group.

    Columns: ``Group``, ``Due an interview``, ``Interviewed``, ``Follow-up rate``, ``95% CI``, ``Meets the 80%
    target`` (the target as the document states it).
    """
    fu = doc["follow_up"]
    target = f"Meets the {100 * float(fu['target']):.0f}% target"
    rows = []
    for r in fu["rates"]:
        group = "Everyone" if r["by"] == "all" else label(r["level"]) if r["by"] == "arm" else f"Site {r['level']}"
        meets = r["meets_target"]
        rows.append({"Group": group, "Due an interview": _count(r["due"]), "Interviewed": _count(r["done"]),
                     "Follow-up rate": _pct(r["rate"]),
                     "95% CI": _interval(r["ci_lower"], r["ci_upper"], decimals=0, null=float("nan"), scale=100,
                                         unit="%"),
                     target: meets if isinstance(meets, str) else ("yes" if meets else "no")})
    return pd.DataFrame(rows)


def linkage_table(doc: Mapping[str, Any], truth: Mapping[str, Mapping[str, float]] | None = None) -> pd.DataFrame:
    """The cumulative incidence of linkage by day and arm, as percentages with 95% CIs (and the truth if given:
    ``{arm: {"7": p, ...}}``)."""
    rows = []
    for arm, a in doc["linkage"]["by_arm"].items():
        for day, e in a["cif"].items():
            row = {"Arm": label(arm), "By day": int(day), "Linked to care": _pct(e["estimate"]),
                   "95% CI": _interval(e["ci_lower"], e["ci_upper"], decimals=0, null=float("nan"), scale=100,
                                       unit="%")}
            if truth is not None:
                row["Simulated truth"] = _pct(truth.get(arm, {}).get(str(day)))
            rows.append(row)
    return pd.DataFrame(rows)


_OUTCOME_WORDS = {"housed": "Housed at 6 months", "employed": "Employed at 6 months"}


def six_month_table(doc: Mapping[str, Any], truth: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Each 6-month outcome: the share in each arm, the risk difference (percentage points) and the risk ratio with
    95% CIs, among those interviewed (and the truth for the whole cohort if given: ``{"housed": {"risk":
    {...}, "risk_difference": d, "risk_ratio": r}}``)."""
    rows = []
    for name, r in doc["six_month"].items():
        ref, trt = r["reference"], r["treated"]
        rd, rr = r["risk_difference"], r["risk_ratio"]
        row = {"Outcome": _OUTCOME_WORDS.get(name, label(name)), label(ref): _pct(r["risk"][ref]),
               label(trt): _pct(r["risk"][trt]),
               "Difference (percentage points)": _DASH if isinstance(rd["estimate"], str) else
               f"{100 * float(rd['estimate']):+.1f}",
               "95% CI of the difference": _interval(rd["ci_lower"], rd["ci_upper"], decimals=1, null=0.0, scale=100),
               "Risk ratio": _DASH if isinstance(rr["estimate"], str) else f"{float(rr['estimate']):.2f}",
               "95% CI of the ratio": _interval(rr["ci_lower"], rr["ci_upper"], decimals=2, null=1.0)}
        if truth is not None and name in truth:
            t = truth[name]
            row["Simulated difference"] = f"{100 * float(t['risk_difference']):+.1f}"
            row["Simulated ratio"] = f"{float(t['risk_ratio']):.2f}"
        rows.append(row)
    return pd.DataFrame(rows)


def barc_table(doc: Mapping[str, Any], truth: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Change in BARC-10 total from intake per 180 days, by arm and the difference, with 95% CIs (points), from
    the mixed model (and the simulated truth if given: ``{"usual_care": x, "peer": y, "difference": z}``)."""
    barc = doc["barc10"]
    per = float(barc.get("per_days", 180))
    rows = []
    for arm, c in barc["change"].items():
        row = {"Arm": "Difference (peer coach − usual care)" if arm == "difference" else label(arm),
               f"Change in BARC-10 per {per:g} days (points)": f"{float(c['estimate']):+.1f}",
               "95% CI": _interval(c["ci_lower"], c["ci_upper"], decimals=1, null=0.0)}
        if truth is not None:
            row["Simulated truth"] = f"{float(truth[arm]):+.1f}"
        rows.append(row)
    return pd.DataFrame(rows)


def outcomes_summary(doc: Mapping[str, Any], *, design: Design | None = None, day: int = 90) -> str:
    """Sentences on the main numbers: linkage by ``day`` by arm, the 6-month follow-up against its target, and
    the housed risk difference (causal words only for a randomised design)."""
    design = design or current_design()
    parts = []
    link = doc.get("linkage")
    if link:
        by = {a: v["cif"].get(str(day), {}).get("estimate") for a, v in link["by_arm"].items()}
        if all(isinstance(by.get(a), float) for a in ("peer", "usual_care")):
            parts.append(f"By day {day}, {_pct(by['peer'])} of people with a peer coach had been linked to care, "
                         f"against {_pct(by['usual_care'])} with usual care")
    fu = doc.get("follow_up")
    if fu:
        every = next((r for r in fu["rates"] if r["by"] == "all"), None)
        if every is not None and not isinstance(every["rate"], str):
            verb = "met" if float(every["rate"]) >= float(fu["target"]) else "fell short of"
            parts.append(f"the 6-month follow-up reached {_pct(every['rate'])} of those due, which {verb} the "
                         f"{_pct(fu['target'])} target")
    housed = (doc.get("six_month") or {}).get("housed")
    if housed and not isinstance(housed["risk_difference"]["estimate"], str):
        rd = housed["risk_difference"]
        diff = 100 * float(rd["estimate"])
        ci = _interval(rd["ci_lower"], rd["ci_upper"], decimals=1, null=0.0, scale=100)
        size = f"{abs(diff):.1f} percentage points"
        if design.randomised:
            verb = "raised" if diff > 0 else "lowered" if diff < 0 else "did not change"
            text = (f"peer support {verb} the share housed at 6 months by {size} (95% CI {ci}) among those "
                    f"interviewed")
        else:
            way = "higher" if diff > 0 else "lower"
            text = (f"having a peer coach was associated with a share housed at 6 months {size} {way} (95% CI {ci}; "
                    f"{design.caveat}) among those interviewed")
        parts.append(text)
    if not parts:
        return "The secondary outcomes could not be shown for these data."
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + "."
