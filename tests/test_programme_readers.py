"""SAS, SPSS and Stata exports read to the same cohort as the CSV of the same data; interview tables linked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from peerstudy.data.programme.export import read_export
from peerstudy.data.programme.readers import link_visits, read_redcap, read_statistical_file
from peerstudy.exceptions import DataError, SchemaError

REF = Path(__file__).parent / "reference"
CSV = REF / "outcomes_export.csv"
ARMS = {0: "usual_care", 1: "peer"}
REASONS = {1: "dropout", 2: "retained", 3: "lost_to_follow_up", 4: "incarcerated", 5: "died"}


def _coded(df: pd.DataFrame) -> pd.DataFrame:
    """The export with arm and reason stored as numbers carrying value labels, as SPSS/Stata files usually are."""
    out = df.copy()
    out["arm"] = out["arm"].map({v: k for k, v in ARMS.items()})
    out["discharge_reason"] = out["discharge_reason"].map({v: k for k, v in REASONS.items()})
    return out


@pytest.fixture(scope="module")
def expected() -> pd.DataFrame:
    return read_export(CSV, mapping="canonical").cohort


@pytest.mark.parametrize("suffix, writer", [(".sav", "write_sav"), (".dta", "write_dta"), (".zsav", "write_sav")])
def test_labelled_files_give_the_csv_cohort(tmp_path, expected, suffix, writer):
    import pyreadstat

    df = pd.read_csv(CSV, dtype={"enrolled_on": str, "discharged_on": str})
    path = tmp_path / f"export{suffix}"
    kwargs = {"compress": True} if suffix == ".zsav" else {}
    getattr(pyreadstat, writer)(_coded(df), str(path), variable_value_labels={"arm": ARMS, "discharge_reason": REASONS},
                                column_labels={"arm": "Randomised arm"}, **kwargs)
    raw = read_statistical_file(path)
    assert raw["arm"].dropna().isin(ARMS.values()).all()
    assert raw.attrs["column_labels"]["arm"] == "Randomised arm"
    pd.testing.assert_frame_equal(read_export(path, mapping="canonical").cohort, expected, check_dtype=False)


def test_sas_transport_and_sas7bdat_give_the_csv_cohort(tmp_path, expected):
    import pyreadstat

    df = pd.read_csv(CSV, dtype={"enrolled_on": str, "discharged_on": str})
    xpt = tmp_path / "export.xpt"
    pyreadstat.write_xport(df, str(xpt), file_format_version=8)  # version 8 transport keeps long names
    pd.testing.assert_frame_equal(read_export(xpt, mapping="canonical").cohort, expected, check_dtype=False)
    sas = REF / "outcomes_export.sas7bdat"  # written by tests/reference/outcomes.R (haven::write_sas)
    pd.testing.assert_frame_equal(read_export(sas, mapping="canonical").cohort, expected, check_dtype=False)


def test_bad_files_give_one_line(tmp_path):
    bad = tmp_path / "broken.sav"
    bad.write_bytes(b"this is not an SPSS file\n" * 10)
    with pytest.raises(DataError, match=r"cannot read '.*broken.sav' as a .sav file") as err:
        read_statistical_file(bad)
    assert "\n" not in str(err.value)
    with pytest.raises(DataError, match="file not found"):
        read_statistical_file(tmp_path / "absent.dta")
    with pytest.raises(DataError, match="must end in"):
        read_statistical_file(tmp_path / "x.sps")
    proc = subprocess.run([sys.executable, "-m", "peerstudy", "validate", str(bad), "--mapping", "canonical"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "broken.sav" in lines[0] and "Traceback" not in proc.stderr


def test_link_visits_checks_ids_repeats_and_days():
    cohort = pd.DataFrame({"participant_id": [1, 2, 3]})
    visits = pd.DataFrame({"participant_id": ["2", "1", "1"], "visit": ["6m", "intake", "6m"], "day": [180, 0, 190.0]})
    out = link_visits(visits, cohort)
    assert out["participant_id"].tolist() == [1, 1, 2] and out["day"].dtype == np.int64
    bad = pd.DataFrame({"participant_id": [1, 1, 9, 2], "visit": ["6m", "6m", "6m", "3m"], "day": [180, 181, 10, -1]})
    with pytest.raises(SchemaError, match=r"not in the cohort: 9; 2 rows repeat a participant's 'visit': 1; "
                                          r"column 'day' must hold whole days >= 0; bad for participant\(s\) 2"):
        link_visits(bad, cohort)
    with pytest.raises(SchemaError, match="lacks column"):
        link_visits(bad.drop(columns="day"), cohort)


def _redcap(tmp_path: Path) -> tuple[Path, Path, pd.DataFrame]:
    """A REDCap project holding the export: coded arm and reason, a checkbox, a repeating follow-up instrument."""
    df = pd.read_csv(CSV, dtype=str)
    text = ["participant_id", "site", "enrolled_on", "discharged_on", "age", "depression", "prior_treatments"]
    rows = []
    for col in df.columns:
        kind, choices = ("text", "")
        if col == "arm":
            kind, choices = "radio", " | ".join(f"{k + 1}, {v}" for k, v in ARMS.items())
        elif col == "discharge_reason":
            kind, choices = "dropdown", " | ".join(f"{k}, {v}" for k, v in REASONS.items())
        elif col not in text:
            kind = "yesno"
        rows.append({"Variable / Field Name": col, "Form Name": "enrolment", "Field Type": kind,
                     "Choices, Calculations, OR Slider Labels": choices})
    rows.append({"Variable / Field Name": "supports", "Form Name": "enrolment", "Field Type": "checkbox",
                 "Choices, Calculations, OR Slider Labels": "1, Housing help | 2, Job search"})
    for col in ("visit_day", "barc10"):
        rows.append({"Variable / Field Name": col, "Form Name": "follow_up", "Field Type": "text",
                     "Choices, Calculations, OR Slider Labels": ""})
    dictionary = tmp_path / "dictionary.csv"
    pd.DataFrame(rows).to_csv(dictionary, index=False)
    records = df.copy()
    records["arm"] = records["arm"].map({v: str(k + 1) for k, v in ARMS.items()})
    records["discharge_reason"] = records["discharge_reason"].map({v: str(k) for k, v in REASONS.items()})
    records["supports___1"] = (np.arange(len(df)) % 2).astype(str)
    records["supports___2"] = "0"
    records["redcap_repeat_instrument"] = ""
    records["redcap_repeat_instance"] = ""
    follow = pd.DataFrame({"participant_id": np.repeat(df["participant_id"].iloc[:3].to_numpy(), 2),
                           "redcap_repeat_instrument": "follow_up", "redcap_repeat_instance": ["1", "2"] * 3,
                           "visit_day": ["90", "180"] * 3, "barc10": ["30", "35", "40", "41", "22", "28"]})
    export = pd.concat([records, follow], ignore_index=True).fillna("")
    data = tmp_path / "redcap.csv"
    export.to_csv(data, index=False)
    return data, dictionary, df


def test_redcap_export_gives_the_csv_cohort_and_its_visits(tmp_path, expected):
    data, dictionary, df = _redcap(tmp_path)
    red = read_redcap(data, dictionary)
    assert red.checkboxes == {"supports": {"1": "Housing help", "2": "Job search"}}
    assert red.participants["supports__housing_help"].tolist() == (np.arange(len(df)) % 2).tolist()
    assert set(red.participants["arm"]) == set(ARMS.values())
    path = tmp_path / "participants.csv"
    red.participants.drop(columns=["supports__housing_help", "supports__job_search"]).to_csv(path, index=False)
    pd.testing.assert_frame_equal(read_export(path, mapping="canonical").cohort, expected, check_dtype=False)
    follow = red.repeats["follow_up"]
    assert list(follow.columns) == ["participant_id", "redcap_repeat_instance", "visit_day", "barc10"]
    linked = link_visits(follow, expected, visit="redcap_repeat_instance", day="visit_day")
    assert len(linked) == 6 and linked["barc10"].tolist()[:2] == [30, 35]


def test_redcap_bad_input_names_the_problem(tmp_path):
    data, dictionary, _ = _redcap(tmp_path)
    raw = pd.read_csv(data, dtype=str, keep_default_na=False)
    raw.loc[0, "arm"] = "7"
    raw.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(SchemaError, match=r"field 'arm': code '7' \(record 1\) is not among its choices 1, 2"):
        read_redcap(tmp_path / "bad.csv", dictionary)
    with pytest.raises(DataError, match="data dictionary not found"):
        read_redcap(data, tmp_path / "none.csv")
    pd.DataFrame({"field": ["x"]}).to_csv(tmp_path / "dd.csv", index=False)
    with pytest.raises(SchemaError, match="lacks column"):
        read_redcap(data, tmp_path / "dd.csv")


def test_link_visits_with_windows_and_measures_lists_every_problem():
    from peerstudy.data.programme.readers import FOLLOW_UP_WINDOWS, MEASURES

    cohort = pd.DataFrame({"participant_id": [1, 2, 3]})
    visits = pd.DataFrame({"participant_id": [1, 1, 2, 3, 3], "visit": ["intake", "6m", "3m", "12m", "intake"],
                           "day": [0, 260, 90, 365, 2], "barc10": [30, 61, 20, 40, None],
                           "housed": [None, 2, None, None, None]})
    with pytest.raises(SchemaError) as err:
        link_visits(visits, cohort, windows=FOLLOW_UP_WINDOWS, measures=MEASURES)
    problems = err.value.problems
    assert problems == [
        "1 interview(s) with an unknown 'visit' ('12m'; known: intake, 3m, 6m): participant(s) 3",
        "1 'intake' interview(s) outside its window (day 0): participant(s) 3",
        "1 '6m' interview(s) outside its window (days 152-243): participant(s) 1",
        "column 'barc10' must hold whole numbers from 10 to 60 (or be empty); got 61 for participant(s) 1",
        "column 'housed' must hold whole numbers from 0 to 1 (or be empty); got 2 for participant(s) 1"]
    ok = visits.iloc[[0, 2]].assign(housed=[None, 1])
    out = link_visits(ok, cohort, windows=FOLLOW_UP_WINDOWS, measures=MEASURES)
    assert str(out["barc10"].dtype) == "Int64" and out["housed"].isna().tolist() == [True, False]


@pytest.mark.parametrize("suffix", [".csv", ".sav", ".parquet"])
def test_read_visits_reads_each_format_and_links(tmp_path, suffix):
    from peerstudy.data.programme.readers import read_visits

    cohort = pd.DataFrame({"participant_id": [1, 2]})
    visits = pd.DataFrame({"participant_id": [1, 2, 2], "visit": ["intake", "intake", "6m"], "day": [0, 0, 200],
                           "barc10": [30.0, 25.0, 41.0], "housed": [np.nan, np.nan, 1.0]})
    path = tmp_path / f"v{suffix}"
    if suffix == ".csv":
        visits.to_csv(path, index=False)
    elif suffix == ".parquet":
        visits.to_parquet(path, index=False)
    else:
        import pyreadstat

        pyreadstat.write_sav(visits, str(path))
    out = read_visits(path, cohort)
    assert out["participant_id"].tolist() == [1, 2, 2] and out["barc10"].tolist() == [30, 25, 41]
    with pytest.raises(DataError, match="not found"):
        read_visits(tmp_path / "none.csv", cohort)
