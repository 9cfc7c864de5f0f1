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
            "--dropout-per-year", str(row.dropout_per_year), "--json"]
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
    assert "missing: control_median, follow_up" in err and err.count("\n") == 1
    with pytest.raises(SystemExit) as exc:
        main(["power", "--hr", "0.8", "--power", "0.8", "--events", "100"])
    assert exc.value.code == 2
