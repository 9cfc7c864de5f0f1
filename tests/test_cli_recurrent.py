"""``peerstudy simulate`` with recurrent episodes and ``peerstudy analyse --events``."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from peerstudy.cli import main


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rec")
    rc = main(["simulate", "--scenario", "outpatient_default", "--set", "recurrent.enabled=true", "--set",
               "follow_up_days=365", "--set", "contacts.enabled=true", "--n", "600", "--seed", "4",
               "--out", str(folder / "c.csv")])
    assert rc == 0
    return folder


def test_simulate_writes_the_events_beside_the_cohort(simulated):
    events = pd.read_csv(simulated / "c.events.csv")
    cohort = pd.read_csv(simulated / "c.csv")
    assert list(events.columns) == ["participant_id", "day", "kind"] and len(events) > 100
    assert (simulated / "c.contacts.csv").exists()
    truth = json.loads((simulated / "c.truth.json").read_text())
    assert set(truth["recurrent"]["mean_events"]["peer"]) == {"90", "180", "365"}
    assert events.participant_id.isin(cohort.participant_id).all()


def test_analyse_with_events_adds_recurrent(simulated, capsys):
    out = simulated / "res"
    rc = main(["analyse", str(simulated / "c.csv"), "--events", str(simulated / "c.events.csv"), "--covariates",
               "age", "--out", str(out)])
    assert rc == 0 and "recurrent events:" in capsys.readouterr().out
    d = json.loads((out / "results.json").read_text())["recurrent"]
    for key in ("mcf", "ghosh_lin", "andersen_gill", "pwp_total", "pwp_gap", "negative_binomial"):
        assert key in d
    assert set(d["ghosh_lin"]) == {"usual_care", "peer"}
    assert {"estimate", "ci_lower", "ci_upper"} <= set(d["ghosh_lin"]["peer"]["180"])
    for model in ("andersen_gill", "pwp_total", "pwp_gap"):
        assert {"coef", "robust_se"} <= set(d[model]["terms"]["arm[peer]"]) and "age" in d[model]["terms"]
    assert "alpha" in d["negative_binomial"] and "theta" in d["negative_binomial"]
    assert len(pd.read_csv(out / "recurrent_models.csv")) == 4 * 2 + 1


def test_bad_events_exit_2_with_one_line(simulated, capsys):
    bad = simulated / "bad.events.csv"
    bad.write_text("participant_id,day,kind\n99999,3,relapse\n1,0,relapse\n")
    out = simulated / "bad"
    assert main(["analyse", str(simulated / "c.csv"), "--events", str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "participant id not in the cohort at row 2" in err
    assert not out.exists()


def test_analyse_events_of_one_kind_follows_them_past_a_dropout(tmp_path, capsys):
    rc = main(["simulate", "--scenario", "outpatient_default", "--set", "recurrent.enabled=true", "--set",
               "follow_up_days=365", "--set", "recurrent.reentry_rate_per_year=3", "--n", "800", "--seed", "5",
               "--out", str(tmp_path / "c.csv")])
    assert rc == 0
    cohort = pd.read_csv(tmp_path / "c.csv")
    events = pd.read_csv(tmp_path / "c.events.csv")
    assert {"events_time", "events_ending"} <= set(cohort.columns) and (events.kind == "reentry").sum() > 50
    late = events.merge(cohort, on="participant_id").eval("day > time").sum()
    assert late > 50  # events after a dropout: read against events_time, not refused as after follow-up
    out = tmp_path / "res"
    rc = main(["analyse", str(tmp_path / "c.csv"), "--events", str(tmp_path / "c.events.csv"), "--events-kinds",
               "reentry", "--out", str(out)])
    assert rc == 0
    d = json.loads((out / "results.json").read_text())["recurrent"]
    assert d["settings"]["kinds"] == ["reentry"] and d["settings"]["time"] == "events_time"
    assert d["events"] == (events.kind == "reentry").sum()
    rc = main(["analyse", str(tmp_path / "c.csv"), "--events", str(tmp_path / "c.events.csv"), "--events-kinds",
               "readmission", "--out", str(tmp_path / "none")])
    assert rc == 2 and "no events of kind(s) 'readmission'" in capsys.readouterr().err
    assert not (tmp_path / "none").exists()


def test_analyse_reads_the_events_named_in_the_export_mapping(simulated, tmp_path, capsys):
    from peerstudy.data.programme import to_export

    cohort = pd.read_csv(simulated / "c.csv", parse_dates=["enrolled_on"])
    to_export(cohort).to_csv(tmp_path / "export.csv", index=False)
    pd.read_csv(simulated / "c.events.csv").rename(columns={"participant_id": "client"}).to_csv(
        tmp_path / "visits.csv", index=False)
    (tmp_path / "m.yaml").write_text("name: programme\nextends: canonical\nevents:\n  file: visits.csv\n"
                                     "  columns: {participant_id: client, day: day, kind: kind}\n")
    out = tmp_path / "res"
    rc = main(["analyse", str(tmp_path / "export.csv"), "--mapping", str(tmp_path / "m.yaml"), "--no-private",
               "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    d = json.loads((out / "results.json").read_text())["recurrent"]
    assert d["events"] == len(pd.read_csv(simulated / "c.events.csv").drop_duplicates(["participant_id", "day"]))
    assert d["input"]["file"] == str(tmp_path / "visits.csv")
