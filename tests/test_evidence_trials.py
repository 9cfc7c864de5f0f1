"""The curated evidence table: every row internally consistent, sourced, and turned into effects correctly.

Consistency is checked against the numbers printed in each source, as the table stores them: counts reproduce
the printed percentages to the printed precision, a stated interval brackets its estimate, the crude ratio
from the counts rounds to the stated one when the source states a ratio, and counts said to be derived from
percentages are the only whole numbers that give them.
"""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from peerstudy.evidence import (DESIGNS, SETTINGS, hazard_ratio_from_odds_ratio, implied_hazard_ratio,
                                load_peer_trials, trial_effects)
from peerstudy.exceptions import DataError, ParameterError

RAW = pd.read_csv(__import__("importlib.resources", fromlist=["files"]).files("peerstudy")
                  .joinpath("evidence", "peer_trials.csv").open("rb"), dtype=str, keep_default_na=False)
ROWS = [r for _, r in RAW.iterrows()]
IDS = [r["study_id"] for r in ROWS]


def _decimals(text: str) -> int:
    return max(0, -Decimal(text).as_tuple().exponent)


def _rounds_to(value: float, printed: str) -> bool:
    d = _decimals(printed)
    return abs(value - float(printed)) <= 0.5 * 10**-d + 1e-12


def test_table_loads_with_the_documented_columns():
    t = load_peer_trials()
    assert t["study_id"].is_unique and len(t) >= 3
    for col in ("design", "setting", "n_peer", "n_control", "outcome", "events_peer", "events_control",
                "citation", "url", "where_found"):
        assert t[col].notna().all(), col
    assert set(t["design"]) <= set(DESIGNS) and set(t["setting"]) <= set(SETTINGS)
    assert set(t["outcome_direction"]) <= {"higher_is_better", "lower_is_better"}
    assert set(t["counts_from"]) <= {"reported", "percentages"}
    assert all(s.endswith(f"_{y}") for s, y in zip(t["study_id"], t["year"]))
    assert not t.duplicated(["citation"]).any()  # one outcome per study: no study is pooled twice


def test_the_table_has_randomised_and_other_designs_with_their_outcomes_sourced():
    t = load_peer_trials()
    assert (t["design"] == "rct").sum() >= 4 and t["design"].nunique() >= 2
    for _, r in t.iterrows():  # the counts used are printed in the passage named
        assert str(r["events_peer"]) in r["where_found"] and str(r["events_control"]) in r["where_found"], r["study_id"]
        assert str(r["n_peer"]) in r["where_found"] and str(r["n_control"]) in r["where_found"], r["study_id"]


@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_every_row_has_a_source_a_reader_can_open(row):
    assert row["url"].startswith("https://"), row["url"]
    assert row["retrieved_from"].startswith("https://"), row["retrieved_from"]
    assert row["doi"] == "" or (row["doi"].startswith("10.") and "/" in row["doi"])
    assert len(row["citation"]) > 40 and row["year"] in row["citation"]
    assert row["where_found"]


@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_counts_are_possible_and_reproduce_the_printed_percentages(row):
    for arm in ("peer", "control"):
        n, e = int(row[f"n_{arm}"]), int(row[f"events_{arm}"])
        assert 0 <= e <= n and n > 0
        printed = row[f"reported_pct_{arm}"]
        if printed:
            assert _rounds_to(100 * e / n, printed), (arm, e, n, printed)
            if row["counts_from"] == "percentages":  # derived counts must be the only ones that fit
                fits = [k for k in range(n + 1) if _rounds_to(100 * k / n, printed)]
                assert fits == [e], (arm, fits)
    if row["counts_from"] == "percentages":
        assert row["reported_pct_peer"] and row["reported_pct_control"]


@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_a_stated_effect_is_bracketed_by_its_interval_and_matches_the_counts(row):
    if not row["reported_measure"]:
        assert not row["reported_estimate"]
        return
    est, lo, hi = (float(row[c]) for c in ("reported_estimate", "reported_ci_lower", "reported_ci_upper"))
    assert lo <= est <= hi
    p1 = int(row["events_peer"]) / int(row["n_peer"])
    p0 = int(row["events_control"]) / int(row["n_control"])
    crude = {"RR": p1 / p0, "OR": p1 / (1 - p1) / (p0 / (1 - p0)), "RD": p1 - p0}[row["reported_measure"]]
    assert _rounds_to(crude, row["reported_estimate"]), (crude, row["reported_estimate"])


@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_a_stated_p_value_agrees_with_the_counts(row):
    """A chi-squared test on the counts gives the printed p-value's side of 0.05 (a sanity check of the counts)."""
    from scipy.stats import chi2_contingency

    if not row["reported_p"]:
        return
    e1, n1, e0, n0 = (int(row[c]) for c in ("events_peer", "n_peer", "events_control", "n_control"))
    p = chi2_contingency([[e1, n1 - e1], [e0, n0 - e0]], correction=False)[1]
    assert (p < 0.05) == (float(row["reported_p"]) < 0.05), (p, row["reported_p"])


def test_effects_count_the_unfavourable_outcome():
    eff = trial_effects(measure="OR").set_index("study_id")
    nav, pilot = eff.loc["navigator_2024"], eff.loc["suzuki_2023"]
    assert (nav.unfavourable_peer, nav.unfavourable_control) == (81, 95)  # overdoses are the harm
    assert (pilot.unfavourable_peer, pilot.unfavourable_control) == (13 - 5, 12 - 5)  # not retained
    assert pilot.yi == pytest.approx(math.log((8 / 5) / (7 / 5)))
    rr = trial_effects(measure="RR").set_index("study_id")
    assert rr.loc["navigator_2024", "yi"] == pytest.approx(math.log((81 / 323) / (95 / 325)))


def test_odds_ratio_of_the_complement_is_the_reciprocal():
    t = load_peer_trials()
    flipped = t.assign(outcome_direction=np.where(t["outcome_direction"] == "higher_is_better", "lower_is_better",
                                                  "higher_is_better"))
    np.testing.assert_allclose(trial_effects(flipped)["yi"], -trial_effects(t)["yi"], rtol=1e-12)


def test_hazard_ratio_conversions_invert_each_other():
    p0 = 0.3
    hr = hazard_ratio_from_odds_ratio(0.7, p0)
    p1 = 0.7 * p0 / (1 - p0 + 0.7 * p0)
    assert implied_hazard_ratio(1 - p1, 1 - p0) == pytest.approx(hr, rel=1e-12)
    assert hazard_ratio_from_odds_ratio(1.0, p0) == pytest.approx(1.0)


@pytest.mark.parametrize("call,error,match", [
    (lambda: hazard_ratio_from_odds_ratio(0.0, 0.3), ParameterError, "odds_ratio must be > 0"),
    (lambda: hazard_ratio_from_odds_ratio(0.5, 1.0), ParameterError, "control_risk must be in"),
    (lambda: implied_hazard_ratio(0.5, 0), ParameterError, "event_free_control must be in"),
    (lambda: trial_effects(load_peer_trials().drop(columns="n_peer")), DataError, "n_peer"),
    (lambda: trial_effects(load_peer_trials().assign(outcome_direction="up")), DataError, "outcome_direction"),
])
def test_bad_input_names_the_field(call, error, match):
    with pytest.raises(error, match=match):
        call()
