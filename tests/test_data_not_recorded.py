"""Missing is missing: a covariate an export lacks is NA for everyone, never 0; tables and models say so."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
import yaml

from peerstudy.cli import main
from peerstudy.data.programme import read_export, to_export
from peerstudy.data.schema import COVARIATES, not_recorded, validate_cohort
from peerstudy.exceptions import NotRecordedWarning, SchemaError
from peerstudy.present import tables
from peerstudy.simulation.cohort import simulate_cohort
from peerstudy.survival.analyse import analyse_cohort
from peerstudy.survival.cox.engine import fit_cox

LACKING = ("homeless", "injects", "depression", "prior_treatments")


@pytest.fixture(scope="module")
def half(tmp_path_factory):
    """An export in the canonical layout without half of the covariates, and its mapping."""
    folder = tmp_path_factory.mktemp("half")
    cohort = simulate_cohort("outpatient_default", rng=5, n=120)
    export = folder / "half.csv"
    to_export(cohort).drop(columns=list(LACKING)).to_csv(export, index=False)
    mapping = folder / "half.mapping.yaml"
    mapping.write_text(yaml.safe_dump({"extends": "canonical", "optional": ["coach", "coach_match", *LACKING]}))
    return cohort, export, mapping


def test_an_absent_covariate_is_missing_for_everyone_never_zero(half):
    cohort, export, mapping = half
    data = read_export(export, mapping=mapping)
    assert data.unavailable == LACKING
    for c in LACKING:
        assert data.cohort[c].isna().all(), c
    recorded = [c for c in COVARIATES if c not in LACKING]
    assert data.cohort[recorded].notna().all().all()
    assert (data.cohort["female"].to_numpy() == cohort["female"].to_numpy()).all()
    assert not_recorded(data.cohort) == LACKING
    validate_cohort(data.cohort)  # a column missing for everyone is "not recorded", not invalid


def test_a_covariate_missing_for_some_rows_keeps_its_na_and_a_wrong_value_is_still_invalid():
    from peerstudy.data.schema import missing_values

    cohort = simulate_cohort("outpatient_default", rng=1, n=30)
    gappy = cohort.assign(homeless=np.where(np.arange(30) < 3, np.nan, cohort["homeless"]),
                          age=np.where(np.arange(30) == 5, np.nan, cohort["age"]))
    validate_cohort(gappy)  # missing is missing: analyses leave the rows out or impute them
    assert missing_values(gappy) == {"homeless": 3, "age": 1}
    with pytest.raises(SchemaError, match=r"'homeless' must be 0/1 \(or missing\); 1 value"):
        validate_cohort(gappy.assign(homeless=np.where(np.arange(30) == 10, 2.0, gappy["homeless"])))
    with pytest.raises(SchemaError, match=r"'age' must be a number >= 0 \(or missing\)"):
        validate_cohort(gappy.assign(age=np.where(np.arange(30) == 11, -4.0, gappy["age"])))


def test_teds_without_a_column_leaves_its_covariate_missing(tmp_path):
    from peerstudy.simulation.teds import simulate_teds

    raw, _ = simulate_teds(400, rng=3)
    path = tmp_path / "teds.csv"
    raw.drop(columns=["IDU"]).to_csv(path, index=False)
    data = read_export(path, mapping="teds", invalid_rows="exclude")
    assert {"injects", "depression"} <= set(data.unavailable)
    assert data.cohort["injects"].isna().all() and data.cohort["depression"].isna().all()


def test_table_one_says_not_recorded(half):
    _, export, mapping = half
    df = read_export(export, mapping=mapping).cohort
    t = tables.cohort_table(df, suppress=True)
    assert t.loc["Homeless or unstably housed, n (%)"].tolist() == ["not recorded", "not recorded"]
    assert t.loc["Depression score, mean (SD)"].tolist() == ["not recorded", "not recorded"]
    assert t.loc["Prior treatments, median [IQR]"].tolist() == ["not recorded", "not recorded"]
    assert "not recorded" not in " ".join(t.loc["Female, n (%)"])
    assert not any("0 (0%)" in v for v in t.to_numpy().ravel())
    assert t.attrs["not_recorded"] == list(LACKING)
    line = tables.not_recorded_sentence(df)
    assert line.startswith("Not recorded in these data: homeless, injects, depression, prior treatments")


def test_models_leave_out_what_is_not_recorded_and_say_so(half):
    _, export, mapping = half
    df = read_export(export, mapping=mapping).cohort
    with pytest.warns(NotRecordedWarning, match="'homeless', 'injects', 'depression', 'prior_treatments' not recorded"):
        res = analyse_cohort(df, covariates=COVARIATES)
    assert res.cox.terms == ("arm[peer]", "age", "female", "stimulant_use", "unemployed")
    assert any("not recorded" in n for n in res.notes)
    # the same fit as asking only for what is recorded
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        direct = fit_cox(df, covariates=["arm", "age", "female", "stimulant_use", "unemployed"])
    assert res.cox.to_dict()["terms"]["arm[peer]"]["hr"] == pytest.approx(direct.to_dict()["terms"]["arm[peer]"]["hr"],
                                                                          rel=1e-12)
    with pytest.warns(NotRecordedWarning, match="'homeless'"):
        fit = fit_cox(df, covariates=["arm", "homeless"])
    assert fit.terms == ("arm[peer]",)


def test_cli_analyse_asked_for_a_covariate_the_export_lacks(half, tmp_path, capsys):
    _, export, mapping = half
    out = tmp_path / "res"
    rc = main(["analyse", str(export), "--mapping", str(mapping), "--covariates", "homeless", "--out", str(out)])
    captured = capsys.readouterr()
    assert rc == 0
    assert "covariate(s) 'homeless' not recorded in this data" in captured.out + captured.err
    assert "is constant" not in captured.out + captured.err
    doc = json.loads((out / "results.json").read_text())
    assert list(doc["cox"]["terms"]) == ["arm[peer]"]
    assert any("not recorded" in n for n in doc["notes"])


def test_a_failing_cell_is_named_by_the_line_that_raised():
    from peerstudy.report.runner import _raising_line

    tb = ["\x1b[0;31m---------\x1b[0m", "Cell \x1b[0;32mIn[3], line 9\x1b[0m\n      7 x = 1\n----> 9 res = f()",
          "File /x/y.py:12, in f()", "Cell In[3], line 9"]
    assert _raising_line(tb, 3) == 9
    assert _raising_line(tb, 4) is None


def test_a_report_refuses_covariates_missing_for_some_and_names_them_without_counting(tmp_path):
    from peerstudy.exceptions import DataError
    from peerstudy.report.notebook import check_data

    cohort = simulate_cohort("outpatient_default", rng=1, n=40)
    path = tmp_path / "gappy.csv"
    cohort.assign(injects=np.where(np.arange(40) < 4, np.nan, cohort["injects"])).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"covariate\(s\) injects are missing for some participants") as err:
        check_data(str(path), "")
    assert "4" not in str(err.value).replace("--impute 20", "")
    cohort.to_csv(path, index=False)
    assert check_data(str(path), "")["rows"] == 40
