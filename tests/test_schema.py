import numpy as np
import pandas as pd
import pytest

from peerstudy.exceptions import DataError, SchemaError
from peerstudy.data.schema import COLUMNS, read_cohort, validate_cohort, write_cohort
from peerstudy.simulation.cohort import simulate_cohort


@pytest.fixture(scope="module")
def cohort():
    return simulate_cohort("outpatient_default", rng=7, n=60)


def test_valid_cohort_passes(cohort):
    assert validate_cohort(cohort) is cohort


def test_every_problem_reported_at_once(cohort):
    bad = cohort.copy()
    bad["outcome"] = bad["outcome"].astype(str)
    bad.loc[[0, 1], "time"] = [0, -3]
    bad.loc[2, "outcome"] = "relapsed"
    bad.loc[3, "participant_id"] = bad.loc[4, "participant_id"]
    bad["event"] = bad["event"].astype(int)
    bad.loc[5, "event"] = 1 - bad.loc[5, "event"]
    bad["arm"] = bad["arm"].astype(str)
    bad.loc[6, "arm"] = "coach"
    bad = bad.drop(columns=["homeless"]).assign(extra=1)
    with pytest.raises(SchemaError) as err:
        validate_cohort(bad)
    text = " | ".join(err.value.problems)
    assert "missing column(s): homeless" in text
    assert "unexpected column(s): extra" in text
    assert "column 'time' must be a finite number of days >= 1; 2 value(s) are not (e.g. 0) at participant_id 1, 2" in text
    assert "column 'outcome' must be one of dropout, retained, lost_to_follow_up, incarcerated, died; got 'relapsed' at participant_id 3" in text
    assert "duplicate ids: participant_id 5, 5" in text
    assert "column 'arm' must be one of usual_care, peer; got 'coach' at participant_id 7" in text
    # a flipped event is reported even beside an unknown outcome elsewhere
    assert "column 'event' must be 1 exactly when outcome is 'dropout'; 1 row(s) disagree, at participant_id 6" in text
    assert len(err.value.problems) == 7


def test_event_inconsistent_with_outcome(cohort):
    bad = cohort.copy()
    bad.loc[[0, 1, 2, 3, 4, 5, 6], "event"] = 1 - bad.loc[[0, 1, 2, 3, 4, 5, 6], "event"]
    with pytest.raises(SchemaError, match=r"'event' must be 1 exactly when outcome is 'dropout'; 7 row\(s\) disagree, "
                                          r"at participant_id 1, 2, 3, 4, 5 and 2 more"):
        validate_cohort(bad)


def test_types_are_checked(cohort):
    bad = cohort.copy()
    bad["time"] = bad["time"].astype(str)
    bad["female"] = 2
    with pytest.raises(SchemaError) as err:
        validate_cohort(bad)
    assert any("column 'time' must be whole days" in p for p in err.value.problems)
    assert any("column 'female' must be 0/1 (or missing); 60 value(s) are not (e.g. 2)" in p for p in err.value.problems)
    with pytest.raises(SchemaError, match="a cohort must be a pandas DataFrame; got list"):
        validate_cohort([1, 2])


def test_round_trip_csv_and_parquet(cohort, tmp_path):
    for suffix in ("csv", "parquet"):
        path = tmp_path / f"c.{suffix}"
        write_cohort(cohort, path)
        back = read_cohort(path)
        assert list(back.columns) == list(COLUMNS)
        for col in ("participant_id", "time", "event", "age"):
            np.testing.assert_array_equal(back[col].to_numpy(), cohort[col].to_numpy())
        assert (pd.to_datetime(back["enrolled_on"]) == cohort["enrolled_on"]).all()
        assert (back["outcome"].astype(str) == cohort["outcome"].astype(str)).all()


def test_io_errors(tmp_path, cohort):
    with pytest.raises(DataError, match="data file not found"):
        read_cohort(tmp_path / "nope.csv")
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(DataError, match=r"must be .csv or .parquet"):
        read_cohort(tmp_path / "x.json")
    with pytest.raises(DataError, match="output folder does not exist"):
        write_cohort(cohort, tmp_path / "no" / "c.csv")
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataError, match="cannot read"):
        read_cohort(tmp_path / "broken.parquet")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.parquet", "x.json"]


def test_infinite_time_is_refused(cohort):
    bad = cohort.copy()
    bad["time"] = bad["time"].astype(float)
    bad.loc[0, "time"] = float("inf")
    with pytest.raises(SchemaError, match=r"column 'time' must be a finite number of days >= 1; 1 value\(s\)"):
        validate_cohort(bad)
