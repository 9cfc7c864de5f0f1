"""peerstudy.design.power against rpact (tests/reference/design_rpact.R -> design_rpact_*.csv)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from peerstudy.design import power as pw
from peerstudy.exceptions import ParameterError

REF = Path(__file__).parent / "reference"


@pytest.fixture(scope="module")
def rpact_sizes() -> pd.DataFrame:
    return pd.read_csv(REF / "design_rpact_samplesize.csv")


@pytest.fixture(scope="module")
def rpact_power() -> pd.DataFrame:
    return pd.read_csv(REF / "design_rpact_power.csv")


def _size(row) -> pw.SampleSize:
    return pw.sample_size(
        row.hazard_ratio, alpha=row.alpha, power=row.power, allocation=row.allocation, method=row.method,
        control_median=row.control_median, accrual=row.accrual, follow_up=row.follow_up,
        lost=row.dropout_per_year,
    )


def test_sample_size_grid_matches_rpact(rpact_sizes):
    assert len(rpact_sizes) >= 100
    assert set(rpact_sizes.method) == {"schoenfeld", "freedman"}
    for row in rpact_sizes.itertuples():
        s = _size(row)
        assert s.events_exact == pytest.approx(row.events, rel=1e-9), row
        assert s.subjects_exact == pytest.approx(row.subjects, rel=1e-9), row
        # the rounded design is within one event and one participant of rpact's unrounded figures
        assert 0 <= s.events - row.events < 1
        assert 0 <= s.subjects - row.subjects < 1
        assert s.subjects_peer + s.subjects_usual_care == s.subjects


def test_per_arm_expected_events_match_rpact_split(rpact_sizes):
    row = rpact_sizes[(rpact_sizes.allocation > 0.6)].iloc[0]
    s = _size(row)
    assert s.subjects_exact * s.allocation == pytest.approx(row.subjects_peer, rel=1e-9)


def test_power_grid_matches_rpact(rpact_power):
    for row in rpact_power.itertuples():
        got = pw.power_for_events(row.hazard_ratio, row.events, alpha=row.alpha, allocation=row.allocation,
                                  method=row.method)
        assert got == pytest.approx(row.power, abs=1e-10), row


def test_power_and_events_are_inverse():
    d = pw.events_required(0.75, alpha=0.05, power=0.9, allocation=0.6, method="freedman")
    got = pw.power_for_events(0.75, d, alpha=0.05, allocation=0.6, method="freedman")
    # the sample size ignores the far tail, so the power is a hair above target
    assert 0.9 <= got < 0.9 + 1e-6


def test_power_for_subjects_uses_expected_events(rpact_sizes):
    # an even allocation of an even number: the exact counts are the planned shares, so rpact's figures hold
    row = rpact_sizes[rpact_sizes.allocation == 0.5].iloc[3]
    n = 2 * math.ceil(row.subjects / 2)
    res = pw.power_survival(row.hazard_ratio, subjects=n, alpha=row.alpha, allocation=row.allocation,
                            method=row.method, control_median=row.control_median, accrual=row.accrual,
                            follow_up=row.follow_up, lost=row.dropout_per_year)
    assert res.events_exact == pytest.approx(row.events * n / row.subjects, rel=1e-9)
    assert res.subjects_peer == res.subjects_usual_care == n // 2
    assert res.power >= row.power - 1e-9


@pytest.fixture(scope="module")
def rpact_fixed_power() -> list[dict]:
    import json

    return json.loads((REF / "design_sequential.json").read_text())["fixed_power"]


def test_power_for_participants_with_exact_counts_matches_rpact(rpact_fixed_power):
    assert len(rpact_fixed_power) >= 16
    for row in rpact_fixed_power:
        res = pw.power_survival(row["hazard_ratio"], subjects=row["subjects"], allocation=row["allocation"],
                                control_median=row["control_median"], accrual=row["accrual"],
                                follow_up=row["follow_up"], lost=row["lost"], lost_by=row["lost_by"])
        assert (res.subjects_peer, res.subjects_usual_care) == (row["subjects_peer"], row["subjects_usual_care"])
        assert res.events_exact == pytest.approx(row["events"], rel=1e-9), row
        assert res.power == pytest.approx(row["power"], abs=1e-9), row


def test_loss_to_follow_up_by_a_day_or_as_a_rate():
    assert pw.loss_hazard(lost=0.2, lost_by=365) == pytest.approx(-math.log(0.8) / 365, rel=1e-15)
    assert pw.loss_hazard(loss_rate=0.3) == pytest.approx(0.3 / 365.25, rel=1e-15)
    # the same hazard given three ways gives the same design
    kw = dict(control_median=90, accrual=365, follow_up=180)
    by_day = pw.sample_size(0.8, lost=0.2, lost_by=180, **kw)
    rate = pw.sample_size(0.8, loss_rate=-math.log(0.8) / 180 * 365.25, **kw)
    assert by_day.subjects_exact == pytest.approx(rate.subjects_exact, rel=1e-12)
    assert rate.lost_by == 365.25 and rate.lost == pytest.approx(1 - 0.8 ** (365.25 / 180), rel=1e-12)
    old = pw.sample_size(0.8, dropout_per_year=0.1, **kw)  # the former name still works
    assert old.subjects_exact == pytest.approx(pw.sample_size(0.8, lost=0.1, **kw).subjects_exact, rel=1e-15)
    with pytest.raises(ParameterError, match="give lost or loss_rate, not both"):
        pw.loss_hazard(lost=0.1, loss_rate=0.1)
    with pytest.raises(ParameterError, match=r"loss_rate must be a finite number >= 0; got -1"):
        pw.sample_size(0.8, loss_rate=-1, **kw)
    with pytest.raises(ParameterError, match=r"lost_by must be a finite number > 0; got 0"):
        pw.sample_size(0.8, lost=0.1, lost_by=0, **kw)


def test_arm_counts_are_whole_and_add_up():
    for n in (2, 3, 301, 800, 1001):
        for a in (0.5, 1 / 3, 2 / 3, 0.6):
            peer, uc = pw.arm_counts(n, a)
            assert peer + uc == n and peer == round(n * a)
    with pytest.raises(ParameterError, match="subjects must be a whole number >= 2; got 800.5"):
        pw.power_survival(0.8, subjects=800.5, control_median=90, accrual=365, follow_up=180)


def test_design_effect_inflates_events_and_deflates_power():
    base = pw.sample_size(0.8)
    clustered = pw.sample_size(0.8, cluster_size=50, icc=0.02)
    assert pw.design_effect(50, 0.02) == pytest.approx(1.98)
    assert clustered.events_exact == pytest.approx(base.events_exact * 1.98)
    same_events = pw.power_survival(0.8, events=base.events, cluster_size=50, icc=0.02)
    assert same_events.power < base.power
    assert same_events.power == pytest.approx(pw.power_for_events(0.8, base.events / 1.98))


def test_fixed_follow_up_event_probability_is_closed_form():
    lam, g, f = math.log(2) / 90, -math.log(0.9) / 365.25, 180
    p = pw.event_probability(lam, accrual=365, follow_up=f, loss_hazard=g, follow_up_type="fixed")
    # check by numerical integration of the sub-density lam * exp(-(lam + g) t) on [0, f]
    t = np.linspace(0, f, 200001)
    assert p == pytest.approx(np.trapezoid(lam * np.exp(-(lam + g) * t), t), rel=1e-8)
    # study_end follows everyone at least as long, so more events are seen
    assert pw.event_probability(lam, accrual=365, follow_up=f, loss_hazard=g) > p


def test_to_dict_is_json_ready_and_html():
    import json

    s = pw.sample_size(0.8, control_median=90, accrual=548, follow_up=180, lost=0.1)
    d = json.loads(json.dumps(s.to_dict()))
    assert d["events"] == 631 and d["subjects"] == s.subjects and d["method"] == "schoenfeld"
    assert "<table>" in s._repr_html_()
    assert "participants needed" in s.summary()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(hazard_ratio=1.0), "hazard_ratio must differ from 1"),
        (dict(hazard_ratio=-0.5), "hazard_ratio must be a finite number > 0; got -0.5"),
        (dict(hazard_ratio=0.8, alpha=1.5), r"alpha must be in \(0, 1\); got 1.5"),
        (dict(hazard_ratio=0.8, power=0), r"power must be in \(0, 1\); got 0"),
        (dict(hazard_ratio=0.8, allocation=1), r"allocation must be in \(0, 1\); got 1"),
        (dict(hazard_ratio=0.8, method="lakatos"), "method must be 'schoenfeld' or 'freedman'; got 'lakatos'"),
        (dict(hazard_ratio=0.8, accrual=365), "missing: control_median, follow_up"),
        (dict(hazard_ratio=0.8, control_median=90, accrual=365, follow_up=180, lost=1.2),
         r"lost must be in \[0, 1\); got 1.2"),
        (dict(hazard_ratio=0.8, icc=2), r"icc must be in \[0, 1\]; got 2"),
        (dict(hazard_ratio=0.8, cluster_size=0.5), "cluster_size must be >= 1; got 0.5"),
    ],
)
def test_sample_size_errors(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        pw.sample_size(**kwargs)


def test_power_errors():
    with pytest.raises(ParameterError, match="exactly one of events and subjects"):
        pw.power_survival(0.8)
    with pytest.raises(ParameterError, match="needs control_median, accrual and follow_up"):
        pw.power_survival(0.8, subjects=500)
    with pytest.raises(ParameterError, match="follow_up_type must be 'study_end' or 'fixed'; got 'x'"):
        pw.event_probability(0.01, accrual=1, follow_up=1, follow_up_type="x")
