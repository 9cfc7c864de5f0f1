"""Programme events tables (peerstudy.data.programme.events): joined to the cohort, every problem at once."""

from __future__ import annotations

import pandas as pd
import pytest

from peerstudy.data.programme.events import load_events_mapping, read_events
from peerstudy.exceptions import DataError, SchemaError

COHORT = pd.DataFrame({"participant_id": ["A1", "A2", "A3"], "time": [100, 50, 80],
                       "enrolled_on": pd.to_datetime(["2025-01-10", "2025-02-01", "2025-03-01"])})


def test_canonical_table_reads_and_keeps_the_cohort_ids():
    t = pd.DataFrame({"participant_id": ["A1", "A1", "A3"], "day": ["5", "40.5", "80"], "kind": ["overdose"] * 3})
    got = read_events(t, COHORT)
    assert got.events.values.tolist() == [["A1", 5.0, "overdose"], ["A1", 40.5, "overdose"], ["A3", 80.0, "overdose"]]
    assert got.flow == {"received": 3, "excluded": {}, "analysed": 3} and not got.problems


def test_every_problem_is_listed_with_rows():
    t = pd.DataFrame({"participant_id": ["A1", "B9", "A2", "A2", "A2", None, "A3"],
                      "day": [5, 6, 51, 10, 10, 3, 0], "kind": ["od"] * 7})
    with pytest.raises(SchemaError) as err:
        read_events(t, COHORT)
    text = str(err.value)
    for rule in ("participant id not in the cohort at row 3", "after the end of follow-up (the cohort's time) at row 4",
                 "same participant, day and kind as an earlier row at row 6", "(participant id) is empty at row 7",
                 "event at or before enrolment at row 8"):
        assert rule in text, rule
    got = read_events(t, COHORT, invalid_rows="exclude")
    assert got.flow["excluded"] == {"unknown_id": 1, "after_follow_up": 1, "duplicate": 1, "missing_id": 1,
                                    "before_follow_up": 1}
    assert got.events.values.tolist() == [["A1", 5.0, "od"], ["A2", 10.0, "od"]]
    assert all("B9" not in p.message for p in got.problems)  # row numbers, never contents


def test_dated_events_through_a_mapping_file(tmp_path):
    (tmp_path / "ed.yaml").write_text(
        "name: ed\ncolumns: {participant_id: client, date: visit, kind: type}\n"
        "values:\n  kind: {OD: overdose, ED: ed_visit}\ndate_format: '%d/%m/%Y'\n")
    (tmp_path / "ed.csv").write_text("client,visit,type\nA1,20/01/2025,OD\nA2,03/02/2025,ED\nA3,02/03/2025,XX\n")
    with pytest.raises(SchemaError, match=r"kind not listed in the mapping's values.kind \(ed, od\) at row 4"):
        read_events(tmp_path / "ed.csv", COHORT, mapping=tmp_path / "ed.yaml")
    got = read_events(tmp_path / "ed.csv", COHORT, mapping=tmp_path / "ed.yaml", invalid_rows="exclude")
    assert got.events.values.tolist() == [["A1", 10.0, "overdose"], ["A2", 2.0, "ed_visit"]]


def test_missing_columns_and_bad_mappings():
    with pytest.raises(SchemaError, match=r"column 'day' is missing \(did you mean 'Day'\?\)"):
        read_events(pd.DataFrame({"participant_id": ["A1"], "Day": [3]}), COHORT, invalid_rows="exclude")
    with pytest.raises(SchemaError, match="exactly one of day"):
        load_events_mapping({"columns": {"participant_id": "id"}})
    with pytest.raises(SchemaError, match=r"unknown field\(s\) 'visit'"):
        load_events_mapping({"columns": {"participant_id": "id", "day": "d", "visit": "v"}})
    with pytest.raises(SchemaError, match="unknown events mapping key 'colums'"):
        load_events_mapping({"colums": {}})
    with pytest.raises(DataError, match="events mapping file not found"):
        load_events_mapping("nope.yaml")
    with pytest.raises(DataError, match="events file not found"):
        read_events("nope.csv", COHORT)


# ----- an events section in the export mapping ----------------------------------------------------------------
def test_an_export_mapping_names_its_events_table_beside_it(tmp_path):
    from peerstudy.data.programme.mapping import load_mapping

    (tmp_path / "ed.csv").write_text("client,visit\nA1,20/01/2025\n")
    (tmp_path / "m.yaml").write_text(
        "name: programme\nextends: canonical\nevents:\n  file: ed.csv\n"
        "  columns: {participant_id: client, date: visit}\n  date_format: '%d/%m/%Y'\n")
    m = load_mapping(tmp_path / "m.yaml")
    assert m["events"]["file"] == str(tmp_path / "ed.csv") and m["events"]["columns"]["date"] == "visit"
    got = read_events(m["events"]["file"], COHORT, mapping={k: v for k, v in m["events"].items() if k != "file"})
    assert got.events.values.tolist() == [["A1", 10.0, "event"]]
    assert load_mapping("canonical")["events"] is None


def test_every_problem_of_the_mapping_and_its_events_section_is_listed_at_once(tmp_path):
    from peerstudy.data.programme.mapping import load_mapping

    (tmp_path / "m.yaml").write_text(
        "name: programme\nextends: canonical\nlayout: sideways\nevents:\n  file: missing.csv\n"
        "  columns: {participant_id: client, day: d, date: visit, where: w}\n  invalid_rows: skip\n  colour: red\n")
    with pytest.raises(SchemaError) as err:
        load_mapping(tmp_path / "m.yaml")
    problems = err.value.problems
    text = str(err.value)
    for part in ("mapping 'layout' must be 'dates' or 'teds_d'", "unknown mapping 'events' key 'colour'",
                 "mapping 'events' 'columns' has unknown field(s) 'where'", "exactly one of day",
                 "mapping 'events' 'invalid_rows' must be 'raise' or 'exclude'; got 'skip'",
                 "mapping 'events.file': file not found"):
        assert part in text, part
    assert "has 6 problem(s)" in text and len(problems) == 6
    with pytest.raises(SchemaError, match=r"mapping 'events' must be a table"):
        load_mapping({"extends": "canonical", "events": "ed.csv"})
    with pytest.raises(SchemaError, match=r"mapping 'events.file' must name the events table"):
        load_mapping({"extends": "canonical", "events": {"columns": {"participant_id": "id", "day": "d"}}})
