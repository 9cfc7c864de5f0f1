"""The privacy rules across a report: linked counts, shares, curves, bins, messages, documents.

The hypothesis test draws small cohorts (11-60 people, any mix of arms and endings), makes every output a
report of real data makes of them (tables, summaries, the flow, results documents, analyse's CSV tables,
figure texts), writes them as a report folder would hold them and checks that no count from 1 to 10 is
visible and that the audit passes.
"""

from __future__ import annotations

import json
import warnings

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

from peerstudy.present import privacy, tables
from peerstudy.present.audit import audit_report
from peerstudy.present.privacy import (COMPLEMENT_LABEL, binned_means, coarsen_share, private_curve,
                                       private_document, private_steps, scrub_text, share_allowed, suppress_flow,
                                       suppress_linked)


def test_60_received_6_excluded_54_analysed_hides_the_total_received():
    shown = suppress_flow({"received": 60, "excluded": {"duplicate id": 2, "unknown reason": 4}, "analysed": 54},
                          {"usual_care": 26, "peer": 28})
    assert shown == {"received": "suppressed", "excluded_total": "<11",
                     "excluded": {"duplicate id": "<11", "unknown reason": "<11"}, "analysed": "54",
                     "arms": {"usual_care": "26", "peer": "28"}}


def test_a_flow_with_one_small_reason_hides_a_second_reason_not_the_totals():
    shown = suppress_flow({"received": 100, "excluded": {"a": 3, "b": 15}, "analysed": 82})
    assert shown["excluded"] == {"a": "<11", "b": "suppressed"}
    assert shown["received"] == "100" and shown["excluded_total"] == "18" and shown["analysed"] == "82"


def test_a_flow_of_large_counts_is_shown_whole():
    assert suppress_flow({"received": 500, "excluded": {"a": 30}, "analysed": 470})["received"] == "500"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 40), min_size=1, max_size=5), st.integers(0, 200), st.integers(1, 3))
def test_no_hidden_flow_count_can_be_solved_from_one_relation(reasons, analysed, n_arms):
    arms = {f"a{i}": analysed // n_arms + (1 if i < analysed % n_arms else 0) for i in range(n_arms)}
    flow = {"received": analysed + sum(reasons), "excluded": {f"r{i}": v for i, v in enumerate(reasons)},
            "analysed": analysed}
    shown = suppress_flow(flow, arms)
    cells = {"received": shown["received"], "excluded_total": shown["excluded_total"], "analysed": shown["analysed"],
             **{f"x{k}": v for k, v in shown["excluded"].items()}, **{f"m{k}": v for k, v in shown["arms"].items()}}
    relations = [("received", ["excluded_total", "analysed"]),
                 ("excluded_total", [f"x{k}" for k in shown["excluded"]]),
                 ("analysed", [f"m{k}" for k in shown["arms"]])]
    for total, parts in relations:
        hidden = [c for c in (total, *parts) if not cells[c].replace(",", "").isdigit()]
        assert len(hidden) != 1, (flow, shown)
    for text in cells.values():
        assert not (text.isdigit() and 1 <= int(text) <= 10)


def test_suppress_linked_refuses_an_unknown_name():
    from peerstudy.exceptions import DataError

    with pytest.raises(DataError, match="relation names 'c'"):
        suppress_linked({"a": 1, "b": 2}, [("a", ["c"])])


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 5000), st.floats(0, 1))
def test_a_coarsened_share_never_pins_a_count_within_ten(n, p):
    q = coarsen_share(p, n)
    if q is None:
        assert n <= 40
        return
    step = next(s for s in privacy.SHARE_STEPS if s > 10 / n + 1e-12)
    # every count k with k / n rounding to q: a range of at least 10 whole numbers (unless cut by 0 or n)
    ks = [k for k in range(n + 1) if abs(round(round(k / n / step) * step, 4) - q) < 1e-9]
    assert ks and (len(ks) >= 10 or ks[0] == 0 or ks[-1] == n)


def test_share_allowed_needs_both_sides_zero_or_eleven():
    assert not share_allowed(4, 17) and not share_allowed(13, 17) and share_allowed(11, 22) and share_allowed(0, 15) \
        and not share_allowed(0, 5)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 30), st.integers(0, 4)), min_size=1, max_size=40))
def test_a_private_curve_has_no_step_of_fewer_than_eleven_and_eleven_at_risk(steps):
    # a curve built from (censored, events) per distinct time
    n = sum(c + e for c, e in steps) + 5
    risk, time, events, surv = [], [], [], []
    left, s = n, 1.0
    for i, (c, e) in enumerate(steps):
        risk.append(left)
        time.append(float(i + 1))
        events.append(e)
        s *= 1 - e / left
        surv.append(s)
        left -= c + e
    keep, end = private_steps(np.array(time), np.array(risk), np.array(events))
    t, y, _ = private_curve(np.array(time), np.array(surv), np.array(risk), np.array(events), start=1.0)
    kept = np.flatnonzero(keep)
    prev = -1
    for i in kept:
        assert sum(events[prev + 1: i + 1]) >= 11  # every drawn drop pools at least 11 events
        assert risk[i] >= 11
        prev = i
    assert t[0] == 0 and y[0] == 1 and len(t) == len(kept) + 1
    assert all(ti <= end for ti in t[1:])


def test_binned_means_hold_at_least_eleven_points_each():
    rng = np.random.default_rng(1)
    x, y = rng.uniform(0, 100, 57), rng.normal(size=57)
    bx, by = binned_means(x, y)
    assert len(bx) == 57 // 11
    edges = np.linspace(0, 57, len(bx) + 1).astype(int)
    assert (np.diff(edges) >= 11).all()
    assert by.mean() == pytest.approx(y.mean(), abs=0.2)
    assert len(binned_means(x[:10], y[:10])[0]) == 0


def test_scrub_text_keeps_large_numbers_and_decimals():
    assert scrub_text("too few events: 6 event(s); p = 0.5; 2.5 days; 12 people; In [3]") == \
        "too few events: <11 event(s); p = 0.5; 2.5 days; 12 people; In [<11]"


def test_private_document_rounds_shares_for_each_group_and_hides_derivable_events():
    doc = {"km": {"usual_care": {"n": 17, "events": 4, "survival": {"90": 0.7647058823529411}},
                  "peer": {"n": 800, "events": 300, "survival": {"90": 0.7647058823529411}}},
           "logrank": {"p": 0.123456, "statistic": 1.23456789}, "notes": ["6 rows excluded"]}
    out = private_document(doc)
    assert out["km"]["usual_care"] == {"n": 17, "events": "<11", "survival": {"90": COMPLEMENT_LABEL}}
    assert out["km"]["peer"]["survival"]["90"] == 0.76
    assert out["logrank"] == {"p": 0.12, "statistic": 1.23}
    assert out["notes"] == ["<11 rows excluded"]
    assert private_document({"g": {"n": 30, "events": 25}})["g"]["events"] == COMPLEMENT_LABEL  # 5 did not drop out


# ----- hypothesis: small cohorts never pass a count 1-10 into any output ---------------------------------------

@st.composite
def small_cohorts(draw):
    n = draw(st.integers(11, 60))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    p_peer = draw(st.floats(0.2, 0.8))
    arm = np.where(rng.uniform(size=n) < p_peer, "peer", "usual_care")
    if len(set(arm)) < 2:
        arm[0], arm[1] = "peer", "usual_care"
    weights = np.array(draw(st.lists(st.floats(0.01, 1), min_size=5, max_size=5)))
    outcome = rng.choice(["dropout", "retained", "lost_to_follow_up", "incarcerated", "died"], n,
                         p=weights / weights.sum())
    outcome[:2] = "dropout"
    time = rng.integers(1, 200, n)
    df = pd.DataFrame({"participant_id": [f"P{seed % 1000:03d}{i:03d}" for i in range(n)],
                       "site": rng.choice(["A", "B", "C"], n), "arm": arm, "enrolled_on": pd.Timestamp("2024-01-01"),
                       "age": rng.integers(18, 70, n).astype(float), "female": rng.integers(0, 2, n),
                       "homeless": rng.integers(0, 2, n), "stimulant_use": np.nan, "injects": rng.integers(0, 2, n),
                       "unemployed": rng.integers(0, 2, n), "depression": rng.integers(0, 40, n).astype(float),
                       "prior_treatments": rng.integers(0, 5, n), "time": time, "outcome": outcome,
                       "event": (outcome == "dropout").astype(int)})
    excluded = {"duplicate id": draw(st.integers(0, 12)), "missing date": draw(st.integers(0, 3))}
    flow = {"received": n + sum(excluded.values()), "excluded": excluded, "analysed": n}
    return df, flow


def _visible_small(text: str) -> bool:
    return bool(text.strip().isdigit() and 1 <= int(text) <= 10)


# bounded: a dozen cohorts (about 45 s), no shrinking (a failure prints its cohort in full)
@pytest.mark.slow
@settings(max_examples=12, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(small_cohorts())
def test_small_cohorts_never_pass_a_count_of_one_to_ten_into_an_output(tmp_path_factory, case):
    import peerstudy as ps
    from peerstudy import plots
    from peerstudy.exceptions import AnalysisError
    from peerstudy.present.plots._axes import alt_text

    df, flow = case
    folder = tmp_path_factory.mktemp("out")
    privacy.set_private(True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                res = ps.analyse_cohort(df, horizons=(30, 90, 180), ending="outcome")
            except AnalysisError:  # a cohort no model can be fitted to makes no report
                assume(False)
            cif = ps.cumulative_incidence(df, ending="outcome", group="arm", horizons=(30, 90, 180))
            arms = df["arm"].value_counts().to_dict()
            frames = {"t1": tables.cohort_table(df, suppress=True), "endings": tables.endings_table(df, suppress=True),
                      "km": tables.km_table(res.km, suppress=True), "cif": tables.cif_table(cif, df, suppress=True),
                      "logrank": tables.logrank_table(res.logrank, suppress=True)}
            fig_texts: list[str] = []
            texts = [tables.retention_summary(res.km, None, day=90),
                     tables.competing_summary(cif, None, day=180, df=df, suppress=True)]
            for draw in (lambda: plots.plot_km(res.km), lambda: plots.plot_cif(cif),
                         lambda: plots.plot_flow(flow, arms=arms, suppress=True)):
                ax = draw()
                texts.append(alt_text(ax.figure))
                fig_texts += [t.get_text() for t in ax.texts]
                matplotlib.pyplot.close(ax.figure)
            doc, csvs = privacy.private_analysis({**res.to_dict(), "flow": flow}, dict(res.tables()), res, df)
    finally:
        privacy.set_private(False)
    texts += fig_texts
    for text in fig_texts:  # figure texts: number-at-risk rows, flow boxes
        for word in str(text).replace("\n", " ").split(" "):
            assert not _visible_small(word.strip(",;:()")), (text, word)
    for name, frame in frames.items():
        shown = frame.drop(index=[r for r in ("Sites",) if r in frame.index])  # sites are not people
        for v in shown.astype(str).to_numpy().ravel():
            assert not _visible_small(v.split(" (")[0]), (name, v)
    page = "".join(f"<div class=\"jp-Cell\"><p>{t}</p>{f.to_html()}</div>" for t, f in zip(texts + [""] * 5,
                                                                                        frames.values()))
    page += "".join(f"<div class=\"jp-Cell\"><p>{t}</p></div>" for t in texts[5:])
    (folder / "page.html").write_text(page)
    (folder / "results.json").write_text(json.dumps(doc, default=str))
    for name, t in csvs.items():
        t.to_csv(folder / f"{name}.csv", index=False)
    audit = audit_report(folder, private=True)
    assert audit.passed, audit.summary(10)
