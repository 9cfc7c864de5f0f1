"""Small-cell suppression: primary (1-10 -> "<11"), complementary, derived percentages, opt-out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from peerstudy.exceptions import DataError
from peerstudy.present.privacy import (
    format_count,
    is_small,
    suppress_counts,
    suppress_derived,
    suppress_table,
    suppressed_label,
    suppressed_mapping,
    suppression_mask,
)


def test_every_count_from_1_to_10_is_hidden_zero_and_11_are_shown():
    shown = suppress_counts(range(0, 13))
    assert shown[0] == "0"
    assert shown[1:11] == ["<11"] * 10
    assert shown[11:] == ["11", "12"]


def test_opt_out_for_synthetic_data_only_formats():
    assert suppress_counts([3, 1500], suppress=False) == ["3", "1,500"]
    t = pd.DataFrame({"a": [3, 50], "b": [40, 60]})
    assert suppress_table(t, suppress=False).to_numpy().tolist() == [["3", "40"], ["50", "60"]]


def test_other_threshold_and_label():
    assert suppressed_label(5) == "<5"
    assert format_count(4, threshold=5) == "<5"
    assert format_count(5, threshold=5) == "5"


def test_single_small_cell_in_a_row_gets_a_complement():
    # With the row total known, 7 = total - 300 unless another cell of the row is hidden.
    t = pd.DataFrame({"usual_care": [7, 300], "peer": [40, 280], "other": [35, 500]}, index=["died", "dropout"])
    mask = suppression_mask(t)
    # row "died": 7 (primary) and 35 (its smallest visible partner, not 40)
    assert mask[0].tolist() == [True, False, True]
    # columns usual_care and other each had one hidden cell: their dropout cells are hidden too
    assert mask[1].tolist() == [True, False, True]
    out = suppress_table(t)
    assert out.loc["died", "peer"] == "40"
    assert out.loc["died", "usual_care"] == "<11"


def test_two_small_cells_in_a_row_need_no_complement_in_that_row():
    t = pd.DataFrame({"a": [3, 100], "b": [4, 200], "c": [50, 300]})
    mask = suppression_mask(t)
    assert mask[0].tolist() == [True, True, False]
    # but each of columns a, b now has one hidden cell: complements in row 1
    assert mask[1].tolist() == [True, True, False]


def test_zero_is_not_hidden_and_is_used_as_complement_only_as_last_resort():
    t = pd.DataFrame({"a": [5, 0, 90]}).T  # one row: 5, 0, 90
    mask = suppression_mask(t)
    assert mask.tolist() == [[True, False, True]]
    t2 = pd.DataFrame([[5, 0]])
    assert suppression_mask(t2).tolist() == [[True, True]]


def test_margins_false_is_primary_only():
    t = pd.DataFrame([[5, 100], [200, 300]])
    assert suppression_mask(t, margins=False).tolist() == [[True, False], [False, False]]


def test_totals_row_and_column_are_suppressed_too():
    t = pd.DataFrame({"usual_care": [2, 3], "peer": [100, 200]}, index=["died", "incarcerated"])
    out = suppress_table(t, totals=True)
    assert out.loc["Total", "usual_care"] == "<11"  # 2 + 3 = 5
    assert out.loc["Total", "Total"] == "305"
    assert out.loc["died", "Total"] == "102"
    # usual_care column has two hidden cells (2 and 3); rows each have one -> complements in peer, labelled as
    # hidden to protect others (they are 100 and 200, not "<11")
    assert out.loc["died", "peer"] == "suppressed" and out.loc["incarcerated", "peer"] == "suppressed"


def test_percentages_of_hidden_counts_are_hidden():
    counts = pd.DataFrame({"usual_care": [8, 392], "peer": [30, 370]}, index=["died", "alive"])
    pct = 100 * counts / counts.sum()
    out = suppress_derived(pct, counts)
    assert out.loc["died", "usual_care"] == "--"
    assert out.loc["died", "peer"] == "--"  # complement of the row
    assert out.loc["alive", "usual_care"] == "--"  # complement of the column
    opened = suppress_derived(pct, counts, suppress=False)
    assert opened.loc["died", "usual_care"] == "2.0%"


def test_one_way_mapping_with_known_total():
    out = suppressed_mapping({"dropout": 300, "died": 4, "incarcerated": 12, "retained": 84})
    assert out == {"dropout": "300", "died": "<11", "incarcerated": "suppressed", "retained": "84"}


@pytest.mark.parametrize("bad", [-1, 2.5, float("nan")])
def test_bad_counts_are_refused_naming_the_value(bad):
    with pytest.raises(DataError, match="whole counts >= 0"):
        suppress_counts([bad, 3])


def test_bad_threshold_and_shapes():
    with pytest.raises(DataError, match="threshold must be a whole number >= 1; got 0"):
        format_count(3, threshold=0)
    with pytest.raises(DataError, match="two-way table; got 1"):
        suppression_mask(np.array([1, 2, 3]))
    with pytest.raises(DataError, match="same shape"):
        suppress_derived(pd.DataFrame([[1.0]]), pd.DataFrame([[1, 2]]))


def test_is_small():
    assert is_small([0, 1, 10, 11]).tolist() == [False, True, True, False]


@settings(max_examples=200, deadline=None)
@given(arrays(np.int64, st.tuples(st.integers(1, 5), st.integers(1, 5)), elements=st.integers(0, 40)))
def test_no_hidden_cell_can_be_recovered_from_one_row_or_column(table):
    mask = suppression_mask(table)
    # every count 1-10 is hidden
    assert mask[(table >= 1) & (table <= 10)].all()
    # no row or column (of 2+ cells) has exactly one hidden cell
    for axis in (0, 1):
        per_line = mask.sum(axis=axis)
        size = table.shape[axis]
        if size >= 2:
            assert not np.any(per_line == 1)
    # nothing is hidden in a table without small cells
    if not ((table >= 1) & (table <= 10)).any():
        assert not mask.any()
    # the shown text never holds a count from 1 to 10
    shown = suppress_table(pd.DataFrame(table)).to_numpy().ravel()
    assert not any(s.isdigit() and 1 <= int(s) <= 10 for s in shown)


def test_suppress_nested_hides_counts_under_count_keys_only():
    from peerstudy.present.privacy import suppress_nested

    doc = {"n": 800, "events": 7, "km": {"peer": {"n": 5, "events": 0, "survival": {"30": 0.9}}},
           "flow": {"received": 60, "excluded": {"duplicate id": 2, "unknown reason": 12}},
           "cox": {"terms": {"age": {"coef": 3.0, "p": 1.0}}}, "items": [{"observed": 4.0}]}
    out = suppress_nested(doc)
    assert out["n"] == 800 and out["events"] == "<11"
    assert out["km"]["peer"] == {"n": "<11", "events": 0, "survival": {"30": 0.9}}
    assert out["flow"]["excluded"] == {"duplicate id": "<11", "unknown reason": 12}
    assert out["cox"]["terms"]["age"] == {"coef": 3.0, "p": 1.0}  # not counts
    assert out["items"] == [{"observed": "<11"}]
    assert suppress_nested(doc, suppress=False) == doc
    assert doc["events"] == 7  # the input is not modified
