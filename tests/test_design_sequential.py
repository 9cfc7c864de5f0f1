"""peerstudy.design.sequential and .boundaries against rpact (tests/reference/design_sequential.R -> .json)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from peerstudy.design import boundaries as bd
from peerstudy.design import power as pw
from peerstudy.design import sequential as sq
from peerstudy.exceptions import ParameterError

REF = Path(__file__).parent / "reference"


@pytest.fixture(scope="module")
def rpact_designs() -> list[dict]:
    return json.loads((REF / "design_sequential.json").read_text())["designs"]


def _design(row) -> sq.GroupSequentialDesign:
    return sq.group_sequential_design(
        looks=row["looks"], design=row["design"], alpha=row["alpha"], sided=row["sided"], beta=1 - row["power"],
        information_rates=row["information_rates"], futility=row["futility_bounds"],
        binding=row["futility"] == "binding")


def _timing(row) -> dict:
    return dict(allocation=row["allocation"], method=row["method"], control_median=row["control_median"],
                accrual=row["accrual"], follow_up=row["follow_up"], lost=row["lost"], lost_by=row["lost_by"])


def _check_row(row) -> None:
    d = _design(row)
    s = sq.sample_size_sequential(d, row["hazard_ratio"], **_timing(row))
    # boundaries to 1e-6 on the z and hazard-ratio scales; alpha spent as rpact (which solves to 1e-8)
    np.testing.assert_allclose(s.critical_values, row["critical_values"], atol=1e-6, rtol=0)
    np.testing.assert_allclose(s.alpha_spent, row["alpha_spent"], atol=1e-7, rtol=0)
    hr_ref = row["critical_values_hr_lower"] if (row["sided"] == 2 and row["hazard_ratio"] < 1) \
        else row["critical_values_hr"]
    np.testing.assert_allclose(s.critical_values_hr, hr_ref, atol=1e-6, rtol=0)
    if row["sided"] == 2:
        other = row["critical_values_hr"] if row["hazard_ratio"] < 1 else row["critical_values_hr_lower"]
        np.testing.assert_allclose(s.critical_values_hr_other, other, atol=1e-6, rtol=0)
    if row["futility_bounds"] is not None:
        np.testing.assert_allclose(s.futility_hr, row["futility_hr"], atol=1e-6, rtol=0)
        np.testing.assert_allclose(s.futility_per_look, row["futility_per_look"], atol=1e-6, rtol=0)
    assert d.inflation_factor == pytest.approx(row["inflation_factor"], rel=1e-6)
    # events and participants: unrounded within 1e-3, whole numbers within one (rounded up)
    assert s.max_events_exact == pytest.approx(row["max_events"], abs=1e-3)
    assert s.max_subjects_exact == pytest.approx(row["max_subjects"], abs=1e-3)
    assert 0 <= s.max_events - row["max_events"] < 1 and 0 <= s.max_subjects - row["max_subjects"] < 1
    assert s.subjects_peer + s.subjects_usual_care == s.max_subjects
    np.testing.assert_allclose(s.events_per_look, row["events_per_look"], atol=1e-3, rtol=0)
    np.testing.assert_allclose(s.subjects_per_look, row["subjects_per_look"], atol=1e-3, rtol=0)
    np.testing.assert_allclose(s.analysis_days, row["analysis_times"], atol=1e-4, rtol=0)
    for ours, theirs in (("expected_events_h0", "expected_events_h0"), ("expected_events_h01", "expected_events_h01"),
                         ("expected_events_h1", "expected_events_h1"), ("expected_subjects_h1", "expected_subjects_h1")):
        assert getattr(s, ours) == pytest.approx(row[theirs], abs=1e-3), ours
    np.testing.assert_allclose(s.reject_per_look, row["reject_per_look"], atol=1e-6, rtol=0)
    # power for given events (80% of the maximum), both tails of a two-sided design counted
    p = sq.power_sequential(d, row["hazard_ratio"], events=row["power_events"], allocation=row["allocation"],
                            method=row["method"])
    assert p.power == pytest.approx(row["power_at_events"], abs=1e-6)
    np.testing.assert_allclose(p.reject_per_look, row["power_reject_per_look"], atol=1e-6, rtol=0)


def test_grid_covers_every_design_kind(rpact_designs):
    assert len(rpact_designs) >= 60
    kinds = {(r["design"], r["sided"], r["futility"]) for r in rpact_designs}
    for design in bd.DESIGNS:
        for fut in ("none", "binding", "nonbinding"):
            assert (design, 1, fut) in kinds
        assert (design, 2, "none") in kinds
    assert {r["looks"] for r in rpact_designs} == {2, 3, 4}
    assert {r["method"] for r in rpact_designs} == {"schoenfeld", "freedman"}


def test_first_designs_match_rpact(rpact_designs):
    for row in rpact_designs[:12]:
        _check_row(row)


@pytest.mark.slow
def test_every_design_matches_rpact(rpact_designs):
    for row in rpact_designs:
        _check_row(row)


def test_one_look_is_the_fixed_design():
    d = sq.group_sequential_design(looks=1, design="OF", alpha=0.05, sided=2)
    s = sq.sample_size_sequential(d, 0.8, control_median=90, accrual=365, follow_up=180, lost=0.1)
    f = pw.sample_size(0.8, control_median=90, accrual=365, follow_up=180, lost=0.1)
    assert d.critical_values[0] == pytest.approx(1.959963984540054, abs=1e-9)
    assert s.max_events_exact == pytest.approx(f.events_exact, rel=1e-8)
    assert s.max_subjects_exact == pytest.approx(f.subjects_exact, rel=1e-8)
    p = sq.power_sequential(d, 0.8, subjects=700, control_median=90, accrual=365, follow_up=180, lost=0.1)
    assert p.power == pytest.approx(pw.power_survival(0.8, subjects=700, control_median=90, accrual=365,
                                                      follow_up=180, lost=0.1).power, abs=1e-8)


def test_crossing_probabilities_two_looks_closed_form():
    # two looks: P(Z1 < c1, Z2 >= c2) from the bivariate normal with correlation sqrt(t1)
    from scipy.stats import multivariate_normal, norm

    t1, c1, c2, drift = 0.5, 2.5, 2.0, 1.3
    up, _ = bd.crossing_probabilities([c1, c2], [-np.inf, -np.inf], [t1, 1.0], drift)
    rho = math.sqrt(t1)
    mean = [drift * math.sqrt(t1), drift]
    both_below = multivariate_normal(mean, [[1, rho], [rho, 1]]).cdf([c1, c2])
    assert up[0] == pytest.approx(norm.sf(c1 - mean[0]), abs=1e-12)
    assert up[1] == pytest.approx(norm.cdf(c1 - mean[0]) - both_below, abs=1e-7)


def test_power_for_participants_uses_exact_counts():
    d = sq.group_sequential_design(looks=3, design="asOF", alpha=0.025, sided=1, futility=[0, 0.5])
    p = sq.power_sequential(d, 0.75, subjects=801, allocation=2 / 3, control_median=90, accrual=365,
                            follow_up=180, lost=0.2, lost_by=365)
    assert (p.subjects_peer, p.subjects_usual_care) == (534, 267)
    assert p.allocation == pytest.approx(534 / 801)
    fixed = pw.power_survival(0.75, subjects=801, allocation=2 / 3, control_median=90, accrual=365, follow_up=180,
                              lost=0.2, lost_by=365)
    assert p.max_events_exact == pytest.approx(fixed.events_exact, rel=1e-12)
    assert p.analysis_days[-1] == 545 and p.subjects_per_look[-1] == pytest.approx(801)
    assert list(p.analysis_days) == sorted(p.analysis_days)


def test_summary_table_and_json():
    d = sq.group_sequential_design(looks=3, design="asP", alpha=0.05, sided=2)
    s = sq.sample_size_sequential(d, 0.8, control_median=90, accrual=365, follow_up=180)
    doc = json.loads(json.dumps(s.to_dict()))
    assert len(doc["critical_values"]) == 3 and doc["max_events"] == s.max_events
    assert "look 3" in s.summary() and "<table" in s._repr_html_()
    assert list(s.table()["look"]) == [1, 2, 3]


@pytest.mark.parametrize("kwargs, match", [
    (dict(looks=0), "looks must be a whole number from 1 to 10; got 0"),
    (dict(looks=3, design="HP"), "design must be one of OF, P, asOF, asP; got 'HP'"),
    (dict(looks=3, sided=3), "sided must be 1 or 2; got 3"),
    (dict(looks=3, information_rates=[0.5, 0.4, 1]), r"information_rates must increase from above 0 to 1"),
    (dict(looks=3, information_rates=[0.5, 1]), r"information_rates must give 3 fractions"),
    (dict(looks=3, sided=2, futility=[0, 0]), r"futility bounds need a one-sided design"),
    (dict(looks=3, sided=1, futility=[0]), r"futility must give 2 bounds"),
    (dict(looks=3, sided=1, futility=[0, 3.5]), r"futility bounds must lie below the efficacy boundaries"),
    (dict(looks=3, binding=True), "binding needs futility bounds"),
    (dict(looks=3, alpha=0.6), r"alpha must be below 0.5; got 0.6"),
])
def test_design_errors(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        sq.group_sequential_design(**kwargs)


def test_survival_errors():
    d = sq.group_sequential_design(looks=2)
    with pytest.raises(ParameterError, match="hazard_ratio must differ from 1"):
        sq.sample_size_sequential(d, 1.0)
    with pytest.raises(ParameterError, match="exactly one of events and subjects"):
        sq.power_sequential(d, 0.8)
    with pytest.raises(ParameterError, match="needs control_median, accrual and follow_up"):
        sq.power_sequential(d, 0.8, subjects=500)
    with pytest.raises(ParameterError, match="design must be a GroupSequentialDesign"):
        sq.sample_size_sequential("OF", 0.8)
