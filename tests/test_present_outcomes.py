"""The secondary outcomes under the privacy rules (present.outcomes): small cohorts never let a count of 1-10 be read
or worked out, the audit passes; and the tables for people."""

from __future__ import annotations

import doctest
import json
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

from peerstudy.exceptions import AnalysisError
from peerstudy.present import outcomes as present_outcomes
from peerstudy.present.audit import audit_report
from peerstudy.present.outcomes import (barc_table, follow_up_table, linkage_table, outcomes_summary, private_imputed,
                                        private_outcomes, six_month_table)
from peerstudy.present.wording import Design
from peerstudy.survival.outcomes import analyse_outcomes, outcome_tables

ENDINGS = ["dropout", "retained", "lost_to_follow_up", "incarcerated", "died"]


def test_doctests():
    assert doctest.testmod(present_outcomes).failed == 0


def _cohort_and_visits(n: int, seed: int, p_interview: float, p_linked: float, p_peer: float):
    rng = np.random.default_rng(seed)
    arm = np.where(rng.uniform(size=n) < p_peer, "peer", "usual_care")
    arm[0], arm[1] = "peer", "usual_care"
    outcome = rng.choice(ENDINGS, n, p=[0.4, 0.3, 0.1, 0.1, 0.1])
    time = rng.integers(1, 365, n)
    linkage_day = np.where(rng.uniform(size=n) < p_linked, rng.integers(1, 120, n), np.nan)
    cohort = pd.DataFrame({"participant_id": np.arange(1, n + 1) * 7919 + 100000, "site": rng.choice(["A", "B"], n),
                           "arm": arm, "time": time, "outcome": outcome,
                           "event": (outcome == "dropout").astype(int), "linkage_day": linkage_day})
    rows = []
    for pid in cohort["participant_id"]:
        rows.append({"participant_id": pid, "visit": "intake", "day": 0, "barc10": int(rng.integers(10, 61))})
        if rng.uniform() < p_interview:
            rows.append({"participant_id": pid, "visit": "3m", "day": int(rng.integers(76, 107)),
                         "barc10": int(rng.integers(10, 61))})
        if rng.uniform() < p_interview:
            rows.append({"participant_id": pid, "visit": "6m", "day": int(rng.integers(152, 244)),
                         "barc10": int(rng.integers(10, 61)),
                         "housed": rng.choice([0, 1, np.nan], p=[0.3, 0.6, 0.1]),
                         "employed": rng.choice([0, 1, np.nan], p=[0.5, 0.45, 0.05])})
    visits = pd.DataFrame(rows)
    for c in ("housed", "employed"):
        visits[c] = pd.array(visits[c].round(), dtype="Int64") if c in visits else pd.NA
    return cohort, visits


def _value(x):
    """A count as shown: an int, or None when hidden."""
    if isinstance(x, str):
        return int(x.replace(",", "")) if x.replace(",", "").isdigit() else None
    return x


def _known_small(truth: dict[str, int], shown: dict[str, int | None], relations) -> list[str]:
    """Counts of 1-10 a reader can work out: shown ones, then any relation with one unknown, to a fixed point."""
    known = {k: v for k, v in shown.items() if v is not None}
    changed = True
    while changed:
        changed = False
        for total, parts in relations:
            cells = [total, *parts]
            unknown = [c for c in cells if c not in known]
            if len(unknown) == 1:
                u = unknown[0]
                rest = sum(known[p] for p in parts if p != u)
                known[u] = known[total] - rest if u != total else rest
                assert known[u] == truth[u], (u, known[u], truth[u])
                changed = True
    return [k for k, v in known.items() if 1 <= v <= 10]


def _reader_view(cohort: pd.DataFrame, doc: dict, priv: dict):
    """The true counts, what the private document shows of them, and the sums a reader knows tie them."""
    truth, shown, rel = {}, {}, []
    arms = cohort["arm"].value_counts().to_dict()
    for a, v in arms.items():  # published by the retention analysis, unless 1-10
        truth[f"n:{a}"] = int(v)
        shown[f"n:{a}"] = None if 1 <= v <= 10 else int(v)
    truth["n"] = shown["n"] = len(cohort)
    for r, p in zip(doc["follow_up"]["rates"], priv["follow_up"]["rates"]):
        key = f"{r['by']}:{r['level']}"
        truth[f"due:{key}"], truth[f"done:{key}"] = r["due"], r["done"]
        truth[f"missed:{key}"] = r["due"] - r["done"]
        shown[f"due:{key}"], shown[f"done:{key}"] = _value(p["due"]), _value(p["done"])
        rel.append((f"due:{key}", [f"done:{key}", f"missed:{key}"]))
        if r["by"] in ("arm", "all"):
            size = "n" if r["by"] == "all" else f"n:{r['level']}"
            truth[f"not_due:{key}"] = truth[size] - r["due"]
            rel.append((size, [f"due:{key}", f"not_due:{key}"]))
    for what in ("due", "done", "missed"):
        for by in ("arm", "site"):
            parts = [f"{what}:{r['by']}:{r['level']}" for r in doc["follow_up"]["rates"] if r["by"] == by]
            rel.append((f"{what}:all:all", parts))
    for name, cells in doc["counts"]["six_month"].items():
        p = priv.get("six_month", {}).get(name)
        for a, c in cells.items():
            truth[f"{name}:rec:{a}"], truth[f"{name}:yes:{a}"] = c["recorded"], c["yes"]
            truth[f"{name}:no:{a}"], truth[f"{name}:unrec:{a}"] = c["no"], c["interviewed"] - c["recorded"]
            rel += [(f"done:arm:{a}", [f"{name}:rec:{a}", f"{name}:unrec:{a}"]),
                    (f"{name}:rec:{a}", [f"{name}:yes:{a}", f"{name}:no:{a}"])]
            if p is not None:
                shown[f"{name}:rec:{a}"], shown[f"{name}:yes:{a}"] = _value(p["n"][a]), _value(p["events"][a])
    for a, c in doc["counts"].get("linkage", {}).items():
        p = priv["linkage"]["by_arm"][a]
        truth[f"link:{a}"], truth[f"nolink:{a}"] = c["linked"], c["n"] - c["linked"]
        shown[f"link:{a}"] = _value(p["linked"])
        rel.append((f"n:{a}", [f"link:{a}", f"nolink:{a}"]))
        days = sorted(c["by_day"], key=int)
        for i, d in enumerate(days):
            truth[f"link:{a}:{d}"], truth[f"nolink:{a}:{d}"] = c["by_day"][d], c["n"] - c["by_day"][d]
            shown[f"link:{a}:{d}"] = _value(p["cif"][d]["linked"])
            rel.append((f"n:{a}", [f"link:{a}:{d}", f"nolink:{a}:{d}"]))
            before = f"link:{a}:{days[i - 1]}" if i else None
            if before:
                truth[f"new:{a}:{d}"] = c["by_day"][d] - c["by_day"][days[i - 1]]
                rel.append((f"link:{a}:{d}", [before, f"new:{a}:{d}"]))
        truth[f"after:{a}"] = c["linked"] - c["by_day"][days[-1]]
        rel.append((f"link:{a}", [f"link:{a}:{days[-1]}", f"after:{a}"]))
    if "barc10" in priv:
        b = doc["counts"]["barc10"]
        truth["barc"], truth["nobarc"] = b["participants"], len(cohort) - b["participants"]
        shown["barc"] = _value(priv["barc10"]["n_groups"])
        rel.append(("n", ["barc", "nobarc"]))
    return truth, shown, rel


@st.composite
def small_cases(draw):
    return (draw(st.integers(11, 70)), draw(st.integers(0, 2**31 - 1)), draw(st.floats(0.3, 1.0)),
            draw(st.floats(0.0, 1.0)), draw(st.floats(0.15, 0.85)))


@settings(max_examples=25, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(small_cases())
def test_small_cohorts_never_let_a_count_of_one_to_ten_be_read_or_worked_out(tmp_path_factory, case):
    cohort, visits = _cohort_and_visits(*case)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            res = analyse_outcomes(cohort, visits)
        except AnalysisError:
            assume(False)
    doc = json.loads(json.dumps(res.to_dict(), default=float))
    priv = private_outcomes(doc)
    truth, shown, rel = _reader_view(cohort, doc, priv)
    assert _known_small(truth, shown, rel) == []
    # an estimate is shown only with the counts it rests on
    for r in priv["follow_up"]["rates"]:
        if not isinstance(r["ci_lower"], str):
            assert _value(r["done"]) is not None and _value(r["due"]) is not None
    for name, r in priv.get("six_month", {}).items():
        if not isinstance(r["risk_difference"]["estimate"], str):
            assert all(_value(r["events"][a]) is not None and _value(r["n"][a]) is not None for a in r["n"])
    folder = tmp_path_factory.mktemp("out")
    (folder / "results.json").write_text(json.dumps({"outcomes": priv}))
    for name, table in outcome_tables(priv).items():
        table.to_csv(folder / f"{name}.csv", index=False)
    pages = [follow_up_table(priv)] + ([linkage_table(priv)] if "linkage" in priv else []) + \
        ([six_month_table(priv)] if priv.get("six_month") else [])
    (folder / "page.html").write_text("".join(f'<div class="jp-Cell">{t.to_html(index=False)}</div>' for t in pages)
                                      + f'<div class="jp-Cell"><p>{outcomes_summary(priv)}</p></div>')
    audit = audit_report(folder, private=True, ids=cohort["participant_id"])
    assert audit.passed, audit.summary(10)


@pytest.mark.parametrize("missing", [0, 3, 9, 40])
def test_private_imputed_hides_small_numbers_missing_and_the_degrees_of_freedom(missing):
    rng = np.random.default_rng(missing)
    df = pd.DataFrame({"arm": ["peer", "usual_care"] * 25, "time": rng.integers(1, 200, 50),
                       "event": rng.integers(0, 2, 50)})
    block = {"imputation": {"m": 5, "n_missing": {"homeless": missing, "depression": 50 - missing}},
             "cox": {"terms": {"homeless": {"estimate": 0.123456, "se": 0.1, "ci_lower": -0.07, "ci_upper": 0.32,
                                            "p": 0.21, "dfcom": 17.0, "df": 15.3, "fmi": 0.2}}},
             "km": {"90": {"survival[peer]": {"estimate": 0.5123, "ci_lower": 0.4, "ci_upper": 0.6, "fmi": 0.0}}}}
    out = private_imputed(block, df)
    shown = out["imputation"]["n_missing"]
    small = 1 <= missing <= 10 or 1 <= 50 - missing <= 10
    assert (shown["homeless"] in ("<11", "suppressed")) == small
    assert set(out["cox"]["terms"]["homeless"]) == {"estimate", "se", "ci_lower", "ci_upper", "p", "fmi"}
    peer = df[df["arm"] == "peer"]
    events = int(((peer["time"] <= 90) & (peer["event"] == 1)).sum())
    ok = not (1 <= events <= 10) and not (1 <= len(peer) - events <= 10)
    assert (out["km"]["90"]["survival[peer]"]["estimate"] == 0.51) == ok


def test_tables_for_people_have_labels_units_and_no_missing_values():
    cohort, visits = _cohort_and_visits(400, 3, 0.8, 0.7, 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        doc = analyse_outcomes(cohort, visits).to_dict()
    fu = follow_up_table(doc)
    assert list(fu.columns) == ["Group", "Due an interview", "Interviewed", "Follow-up rate", "95% CI",
                                "Meets the 80% target"]
    assert fu["Group"].tolist()[:3] == ["Everyone", "Usual care", "Peer coach"]
    assert all(v.endswith("%") for v in fu["Follow-up rate"]) and fu.notna().all().all()
    link = linkage_table(doc, truth={"peer": {"7": 0.1, "30": 0.3, "90": 0.5}, "usual_care": {}})
    assert link["Simulated truth"].tolist().count("–") == 3 and "Linked to care" in link.columns
    six = six_month_table(doc)
    assert {"Usual care", "Peer coach", "Difference (percentage points)", "Risk ratio"} <= set(six.columns)
    assert six["Outcome"].tolist() == ["Housed at 6 months", "Employed at 6 months"]
    barc = barc_table(doc)
    assert barc.columns[1] == "Change in BARC-10 per 180 days (points)"
    for table in (fu, link, six, barc):
        assert not table.astype(str).isin(["nan", "None", "<NA>"]).any().any()
    said = outcomes_summary(doc, design=Design("observational"))
    assert "was associated with" in said and said.endswith(".")
    assert "peer support raised" in outcomes_summary(doc, design=Design("individual")) or \
        "peer support lowered" in outcomes_summary(doc, design=Design("individual"))
    # the private form reads the same way, with a dash for what is hidden
    priv = private_outcomes(doc)
    assert list(follow_up_table(priv).columns) == list(fu.columns)
