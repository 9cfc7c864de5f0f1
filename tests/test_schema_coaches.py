"""The optional coach columns: schema validation, programme mappings naming them, and the export round trip."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from peerstudy.data.programme import load_mapping, read_export, to_export
from peerstudy.data.schema import OPTIONAL_COLUMNS, read_cohort, validate_cohort, write_cohort
from peerstudy.exceptions import SchemaError
from peerstudy.simulation.cohort import simulate_cohort


@pytest.fixture(scope="module")
def cohort():
    return simulate_cohort("coach_clustered", rng=8, n=120)


def test_coach_columns_are_optional_and_round_trip_through_files(cohort, tmp_path):
    assert OPTIONAL_COLUMNS[:2] == ("coach", "coach_match") and "linkage_time" in OPTIONAL_COLUMNS
    validate_cohort(cohort)
    validate_cohort(cohort.drop(columns=["coach", "coach_match"]))
    validate_cohort(cohort.drop(columns=["coach_match"]))
    for suffix in (".csv", ".parquet"):
        path = tmp_path / f"c{suffix}"
        write_cohort(cohort, path)
        back = read_cohort(path)
        assert back["coach"].isna().sum() == (cohort["arm"] == "usual_care").sum()
        np.testing.assert_array_equal(back["coach_match"].astype("Float64").to_numpy(na_value=np.nan),
                                      cohort["coach_match"].astype("Float64").to_numpy(na_value=np.nan))


@pytest.mark.parametrize("change, message", [
    (lambda d: d.assign(coach=d["coach"].astype(object).where(d["arm"] == "usual_care")),
     r"column 'coach' has missing values in the peer arm at participant_id"),
    (lambda d: d.assign(coach_match=d["coach_match"].fillna(0)),
     r"column 'coach_match' is given without a coach at participant_id"),
    (lambda d: d.assign(coach_match=d["coach_match"].astype("Float64") * 2),
     r"column 'coach_match' must be 0/1 or missing; \d+ value\(s\) are not \(e.g. 2.0\)"),
    (lambda d: d.assign(coach_match=np.where(d["arm"] == "peer", "yes", None)),
     r"column 'coach_match' must be 0/1 or missing; got type object"),
    (lambda d: d.drop(columns=["coach"]),
     r"column 'coach_match' needs the 'coach' column"),
    (lambda d: d.assign(coach=np.where(d["arm"] == "peer", " ", None)),
     r"column 'coach' must hold coach labels \(text or whole numbers\); \d+ value\(s\) are not \(e.g. ' '\)"),
    (lambda d: d.assign(coach=np.where(d["arm"] == "peer", 1.5, np.nan)),
     r"column 'coach' must hold coach labels"),
])
def test_coach_problems_are_named(cohort, change, message):
    with pytest.raises(SchemaError, match=message):
        validate_cohort(change(cohort.copy()))


def test_integer_coach_ids_are_labels(cohort):
    codes = cohort["coach"].cat.codes.astype(float).where(cohort["coach"].notna())
    validate_cohort(cohort.assign(coach=codes))  # whole-number floats (as read from a CSV) are fine


def test_canonical_mapping_round_trips_coaches(cohort, tmp_path):
    assert {"coach", "coach_match"} <= set(load_mapping("canonical")["optional"])
    ex = to_export(cohort)
    path = tmp_path / "e.csv"
    ex.to_csv(path, index=False)
    back = read_export(path, mapping="canonical").cohort
    assert list(back["coach"].fillna("-")) == list(cohort["coach"].astype(object).fillna("-"))
    assert back["coach_match"].dtype == "Int8"
    pd.testing.assert_series_equal(back["coach_match"], cohort["coach_match"].reset_index(drop=True),
                                   check_names=False)


def _export(cohort):
    ex = to_export(cohort).rename(columns={"coach": "Coach", "coach_match": "Same substance"})
    ex["Same substance"] = ex["Same substance"].map({1: "Yes", 0: "No"})
    return ex


MAPPING = {"extends": "canonical", "columns": {"coach": "Coach", "coach_match": "Same substance"},
           "values": {"coach_match": {"Yes": 1, "No": 0}}}


def test_a_mapping_names_the_coach_and_match_columns(cohort, tmp_path):
    path = tmp_path / "prog.csv"
    _export(cohort).to_csv(path, index=False)
    back = read_export(path, mapping=MAPPING).cohort
    peer = (back["arm"] == "peer").to_numpy()
    assert back.loc[peer, "coach"].notna().all() and back.loc[~peer, "coach_match"].isna().all()
    np.testing.assert_array_equal(back.loc[peer, "coach_match"].to_numpy(dtype=int),
                                  cohort.loc[peer, "coach_match"].to_numpy(dtype=int))


def test_mapping_problems_with_the_match_column_are_rows(cohort, tmp_path):
    ex = _export(cohort)
    first_peer = int(np.flatnonzero(ex["arm"] == "peer")[0])
    first_uc = int(np.flatnonzero(ex["arm"] == "usual_care")[0])
    ex.loc[first_peer, "Same substance"] = "Maybe"
    ex.loc[first_uc, "Same substance"] = "Yes"
    path = tmp_path / "bad.csv"
    ex.to_csv(path, index=False)
    with pytest.raises(SchemaError) as err:
        read_export(path, mapping=MAPPING)
    text = str(err.value)
    assert "column 'Same substance' (coach_match) must be 0/1, empty or a value in the mapping" in text
    assert "column 'Same substance' (coach_match) is given where 'Coach' (coach) is empty" in text
    kept = read_export(path, mapping=MAPPING, invalid_rows="exclude")
    assert kept.flow["analysed"] == len(ex) - 2
