"""``peerstudy power`` end to end (numbers checked against rpact's stored output)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from peerstudy.cli import main

REF = Path(__file__).parent / "reference"


def test_power_json_matches_rpact_row(capsys):
    ref = pd.read_csv(REF / "design_rpact_samplesize.csv")
    row = ref[(ref.method == "schoenfeld") & (ref.dropout_per_year > 0)].iloc[0]
    argv = ["power", "--hr", str(row.hazard_ratio), "--alpha", str(row.alpha), "--power", str(row.power),
            "--allocation", repr(float(row.allocation)), "--control-median", str(row.control_median),
            "--accrual", str(row.accrual), "--follow-up", str(row.follow_up),
            "--lost", str(row.dropout_per_year), "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"events", "subjects", "power", "method"} <= set(out)
    assert 0 <= out["events"] - row.events < 1
    assert 0 <= out["subjects"] - row.subjects < 1
    assert out["method"] == "schoenfeld" and out["power"] >= row.power


def test_power_for_events_text_and_json(capsys):
    ref = pd.read_csv(REF / "design_rpact_power.csv")
    row = ref[(ref.method == "freedman") & (ref.allocation == 0.5)].iloc[5]
    assert main(["power", "--hr", str(row.hazard_ratio), "--alpha", str(row.alpha), "--events", str(row.events),
                 "--method", "freedman", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["power"] == pytest.approx(row.power, abs=1e-10)
    assert out["subjects"] is None
    assert main(["power", "--hr", "0.8", "--events", "300"]) == 0
    text = capsys.readouterr().out
    assert "power: 0.489" in text and "Schoenfeld" in text


def test_power_cluster_design_effect(capsys):
    assert main(["power", "--hr", "0.8", "--cluster-size", "11", "--icc", "0.05", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["design_effect"] == pytest.approx(1.5)
    assert main(["power", "--hr", "0.8", "--json"]) == 0
    base = json.loads(capsys.readouterr().out)
    assert out["events_exact"] == pytest.approx(1.5 * base["events_exact"])


def test_power_bad_input_exits_2(capsys):
    assert main(["power", "--hr", "0.8", "--accrual", "365"]) == 2
    err = capsys.readouterr().err
    assert "missing: --control-median, --follow-up" in err and err.count("\n") == 1
    with pytest.raises(SystemExit) as exc:
        main(["power", "--hr", "0.8", "--power", "0.8", "--events", "100"])
    assert exc.value.code == 2


def test_power_for_participants_with_lost_by_a_day(capsys):
    import json as _json

    row = _json.loads((REF / "design_sequential.json").read_text())["fixed_power"][-1]
    argv = ["power", "--hr", str(row["hazard_ratio"]), "--n", str(row["subjects"]), "--allocation",
            repr(row["allocation"]), "--control-median", str(row["control_median"]), "--accrual", str(row["accrual"]),
            "--follow-up", str(row["follow_up"]), "--lost", str(row["lost"]), "--by", str(row["lost_by"]), "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["power"] == pytest.approx(row["power"], abs=1e-9)
    assert (out["subjects_peer"], out["subjects_usual_care"]) == (row["subjects_peer"], row["subjects_usual_care"])
    assert out["lost"] == row["lost"] and out["lost_by"] == row["lost_by"]


def test_allocation_as_a_ratio_and_loss_as_a_rate(capsys):
    timing = ["--control-median", "90", "--accrual", "365", "--follow-up", "180"]
    assert main(["power", "--hr", "0.8", "--n", "800", "--allocation", "2:1", "--loss-rate", "0.25", *timing,
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["subjects_peer"], out["subjects_usual_care"]) == (533, 267)
    assert out["loss_rate"] == pytest.approx(0.25)
    assert main(["power", "--hr", "0.8", "--n", "800", "--allocation", "2:1", "--loss-rate", "0.25", *timing]) == 0
    text = capsys.readouterr().out
    assert "533 peer, 267 usual care" in text and "lost to follow-up by day 365.25" in text


@pytest.mark.parametrize("argv, message", [
    (["--n", "800"], "--n needs the timing: --control-median, --accrual and --follow-up"),
    (["--n", "800", "--control-median", "90", "--accrual", "365", "--follow-up", "180", "--lost", "1.5"],
     r"--lost must be in \[0, 1\); got 1.5"),
    (["--control-median", "-3", "--accrual", "365", "--follow-up", "180"],
     "--control-median must be a finite number > 0; got -3.0"),
    (["--n", "1", "--control-median", "90", "--accrual", "365", "--follow-up", "180"],
     "--n must be a whole number >= 2; got 1"),
    (["--lost", "0.1", "--by", "0", "--control-median", "90", "--accrual", "365", "--follow-up", "180"],
     "--by must be a finite number > 0; got 0.0"),
])
def test_messages_name_the_flags(capsys, argv, message):
    import re

    assert main(["power", "--hr", "0.8", *argv]) == 2
    err = capsys.readouterr().err
    assert re.search(message, err) and err.count("\n") == 1, err
    assert "control_median" not in err and "subjects" not in err


def test_sequential_contract_matches_rpact(capsys):
    import json as _json

    designs = _json.loads((REF / "design_sequential.json").read_text())["designs"]
    row = next(r for r in designs if r["sided"] == 1 and r["futility"] == "none" and r["rates"] == "equal"
               and r["method"] == "schoenfeld")
    argv = ["power", "--hr", str(row["hazard_ratio"]), "--alpha", str(row["alpha"]), "--power", str(row["power"]),
            "--allocation", repr(row["allocation"]), "--looks", str(row["looks"]), "--design", row["design"],
            "--sided", "1", "--control-median", str(row["control_median"]), "--accrual", str(row["accrual"]),
            "--follow-up", str(row["follow_up"]), "--lost", str(row["lost"]), "--by", str(row["lost_by"]), "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["critical_values"]) == row["looks"]
    assert out["critical_values"] == pytest.approx(row["critical_values"], abs=1e-6)
    assert 0 <= out["max_events"] - row["max_events"] < 1
    assert 0 <= out["max_subjects"] - row["max_subjects"] < 1


def test_sequential_two_sided_with_n_and_futility_text(capsys):
    timing = ["--control-median", "90", "--accrual", "365", "--follow-up", "180"]
    assert main(["power", "--hr", "0.8", "--looks", "3", "--design", "P", "--n", "900", *timing, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["sided"] == 2 and len(out["critical_values"]) == 3 and out["max_subjects"] == 900
    assert 0 < out["power"] < 1 and out["target_power"] is None
    assert main(["power", "--hr", "0.8", "--looks", "2", "--sided", "1", "--alpha", "0.025", "--futility", "0",
                 "--binding-futility", *timing]) == 0
    text = capsys.readouterr().out
    assert "binding futility" in text and "look 2" in text


@pytest.mark.parametrize("argv, message", [
    (["--looks", "3", "--sided", "2", "--futility", "0,0"], "futility bounds need a one-sided design"),
    (["--looks", "3", "--information-rates", "0.5,1"], "--information-rates must give 3 fractions"),
    (["--design", "OF"], "--design needs --looks K with K >= 2"),
    (["--looks", "3", "--events", "300"], "--events with --looks is not supported"),
    (["--looks", "0"], "--looks must be a whole number from 1 to 10; got 0"),
])
def test_sequential_messages_name_flags(capsys, argv, message):
    assert main(["power", "--hr", "0.8", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_power_text_for_given_participants_or_dropouts(capsys):
    timing = ["--control-median", "90", "--accrual", "365", "--follow-up", "180"]
    assert main(["power", "--hr", "0.8", "--n", "800", *timing]) == 0
    text = capsys.readouterr().out
    assert "needed" not in text and "participants: 800 (400 peer, 400 usual care)" in text and "expected" in text
    assert main(["power", "--hr", "0.8", "--events", "300", *timing]) == 0
    text = capsys.readouterr().out
    assert "None" not in text and "(to see these dropouts)" in text
