"""Recurrent-episode outputs under the privacy rules: ``analyse --events --private`` and ``private_recurrent``."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from peerstudy.cli import main
from peerstudy.present.audit import audit_report
from peerstudy.present.privacy import COMPLEMENT_LABEL, private_recurrent
from peerstudy.scenario import Recurrent, preset
from peerstudy.simulation.cohort import simulate_with_events
from peerstudy.survival.recurrent import analyse_recurrent


def _small(n: int, rate: float, seed: int):
    s = preset("outpatient_default").replace(follow_up_days=365, recurrent=Recurrent(
        enabled=True, rate_per_year=rate, frailty_variance=1.0, reentry_rate_per_year=1.0))
    return simulate_with_events(s, rng=seed, n=n)


def _events_by(events: pd.DataFrame, cohort: pd.DataFrame, arm: str, day: float) -> int:
    ids = cohort.participant_id[cohort.arm == arm]
    ev = events.drop_duplicates(["participant_id", "day"])
    return int((ev.participant_id.isin(ids) & (ev.day <= day)).sum())


def _at_risk(cohort: pd.DataFrame, arm: str, day: float) -> int:
    return int(((cohort.arm == arm) & (cohort.events_time >= day)).sum())


@pytest.mark.parametrize("n, rate, seed", [(24, 0.5, 1), (30, 1.0, 2), (40, 0.3, 3), (60, 2.0, 4), (90, 0.5, 5),
                                           (120, 1.5, 6), (200, 0.2, 7), (400, 1.0, 8)])
def test_no_count_of_1_to_10_is_shown_or_follows_from_what_is_shown(n, rate, seed, tmp_path):
    cohort, events = _small(n, rate, seed)
    res = analyse_recurrent(cohort, events, time="events_time", ending="events_ending")
    doc, tables = private_recurrent(res.to_dict(), res.tables(), res)
    for method in ("mcf", "ghosh_lin"):
        for arm, values in doc[method].items():
            last = 0
            for h in sorted(values, key=float):
                if values[h]["estimate"] == COMPLEMENT_LABEL:
                    continue
                e = _events_by(events, cohort, arm, float(h))
                assert e - last == 0 or e - last >= 11, (method, arm, h, e, last)
                assert _at_risk(cohort, arm, float(h)) >= 11
                last = e
        steps = tables[f"recurrent_{method}"]
        assert list(steps.columns) == ["group", "time", "estimate", "se", "ci_lower", "ci_upper"]
        for arm in ("usual_care", "peer"):
            # every value shown (table steps and horizons together): no two differ by 1-10 events
            days = list(steps.time[steps.group == arm]) + [float(h) for h, v in doc[method][arm].items()
                                                            if v["estimate"] != COMPLEMENT_LABEL]
            counts = sorted({_events_by(events, cohort, arm, t) for t in days})
            gaps = np.diff([0] + counts)
            assert not ((gaps >= 1) & (gaps <= 10)).any(), (method, arm, counts)
    if isinstance(doc["events"], int):
        totals = [_events_by(events, cohort, a, np.inf) for a in ("usual_care", "peer")]
        assert all(t == 0 or t >= 11 for t in totals) and not 1 <= n - doc["events"] <= 10
    (tmp_path / "results.json").write_text(json.dumps({"recurrent": doc}))
    for name, t in tables.items():
        t.to_csv(tmp_path / f"{name}.csv", index=False)
    audit = audit_report(tmp_path, private=True)
    assert audit.passed, audit.summary(10)


def test_a_group_total_of_1_to_10_hides_every_event_count():
    cohort, events = _small(400, 1.0, 8)
    few = events[~events.participant_id.isin(cohort.participant_id[cohort.arm == "peer"]) |
                 events.index.isin(events.index[events.participant_id.isin(
                     cohort.participant_id[cohort.arm == "peer"])][:4])]
    res = analyse_recurrent(cohort, few, time="events_time", ending="events_ending")
    doc, tables = private_recurrent(res.to_dict(), res.tables(), res)
    assert doc["events"] == COMPLEMENT_LABEL and doc["andersen_gill"]["events"] == COMPLEMENT_LABEL
    assert doc["negative_binomial"]["events"] == COMPLEMENT_LABEL
    assert all(v["estimate"] == COMPLEMENT_LABEL for v in doc["mcf"]["peer"].values())
    assert tables["recurrent_mcf"].query("group == 'peer'").empty


def test_analyse_events_private_passes_the_audit(tmp_path, capsys):
    rc = main(["simulate", "--scenario", "outpatient_default", "--set", "recurrent.enabled=true", "--set",
               "follow_up_days=365", "--set", "recurrent.reentry_rate_per_year=2", "--n", "300", "--seed", "3",
               "--out", str(tmp_path / "c.csv")])
    assert rc == 0
    out = tmp_path / "res"
    rc = main(["analyse", str(tmp_path / "c.csv"), "--events", str(tmp_path / "c.events.csv"), "--private",
               "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    doc = json.loads((out / "results.json").read_text())
    assert doc["privacy"]["small_counts_suppressed"] and "recurrent" in doc
    assert "at_risk" not in pd.read_csv(out / "recurrent_mcf.csv").columns
    assert "hr" in doc["recurrent"]["andersen_gill"]["terms"]["arm[peer]"]
    audit = audit_report(out, private=True)
    assert audit.passed, audit.summary(10)
