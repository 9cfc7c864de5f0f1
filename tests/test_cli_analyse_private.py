"""``peerstudy analyse --private``: the outputs follow the rules of a report of real data (default for exports)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from peerstudy.cli import main
from peerstudy.present.audit import audit_report

SYN = Path(__file__).resolve().parents[1] / "data" / "synthetic"
EXPORT, MAPPING = SYN / "messy_export.csv", SYN / "messy_export.mapping.yaml"
COHORT = Path(__file__).parent / "reference" / "survival_core_cohort.csv"


def test_a_programme_export_is_analysed_privately_by_default(tmp_path, capsys):
    out = tmp_path / "a"
    assert main(["analyse", str(EXPORT), "--mapping", str(MAPPING), "--exclude-invalid", "--ending", "outcome",
                 "--out", str(out)]) == 0
    assert "(private outputs)" in capsys.readouterr().out
    doc = json.loads((out / "results.json").read_text())
    assert doc["privacy"]["small_counts_suppressed"] is True
    assert doc["flow"]["received"] == "suppressed" and doc["flow"]["excluded_total"] == "<11"
    curves = pd.read_csv(out / "km_curves.csv")
    assert list(curves.columns) == ["group", "time", "survival", "lower", "upper"]  # no per-day counts
    audit = audit_report(out, private=True, ids=pd.read_csv(EXPORT, dtype=str)["Client ID"])
    assert audit.passed, audit.summary(10)


def test_no_private_keeps_exact_counts_and_private_can_be_asked_for_a_cohort_file(tmp_path):
    open_out, private_out = tmp_path / "open", tmp_path / "private"
    assert main(["analyse", str(EXPORT), "--mapping", str(MAPPING), "--exclude-invalid", "--no-private",
                 "--out", str(open_out)]) == 0
    doc = json.loads((open_out / "results.json").read_text())
    assert doc["flow"]["received"] == 60 and "n_event" in pd.read_csv(open_out / "km_curves.csv").columns
    assert not audit_report(open_out, private=True).passed  # exact per-day counts: the audit says so
    assert main(["analyse", str(COHORT), "--private", "--out", str(private_out)]) == 0
    curves = pd.read_csv(private_out / "km_curves.csv")
    steps = curves.dropna()
    assert len(steps) > 0 and "n_event" not in curves.columns
    assert audit_report(private_out, private=True).passed


@pytest.mark.parametrize("k", [3, 6, 10])
def test_an_arm_of_1_to_10_is_not_the_total_less_the_other_arm(tmp_path, k):
    """With one arm's size hidden, the other arm's is hidden too: the total would give it away."""
    import json

    import peerstudy as ps
    from peerstudy.cli import main

    c = ps.simulate_cohort(ps.preset("outpatient_default"), rng=3, n=80)
    uc = c.index[c["arm"] == "usual_care"][:k]
    path = tmp_path / "small_arm.csv"
    c[(c["arm"] == "peer") | c.index.isin(uc)].to_csv(path, index=False)
    assert main(["analyse", str(path), "--private", "--out", str(tmp_path / "out")]) == 0
    doc = json.loads((tmp_path / "out" / "results.json").read_text())
    for groups in (doc["km"], doc["logrank"]["groups"]):
        assert groups["usual_care"]["n"] == "<11" and groups["peer"]["n"] == "suppressed"
    assert doc["km"]["peer"]["events"] in ("suppressed", "<11")
    # a median of 1-10 people is one person's day: hidden in results.json and km_medians.csv
    assert doc["km"]["usual_care"]["median"] == "suppressed"
    medians = pd.read_csv(tmp_path / "out" / "km_medians.csv").set_index("group")
    assert (medians.loc["usual_care"] == "suppressed").all()
