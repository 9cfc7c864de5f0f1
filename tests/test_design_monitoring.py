"""Simulated operating characteristics of group-sequential designs (peerstudy.design.monitoring).

Type I error of the sequential log-rank test within 2 Monte Carlo SEs of alpha under the null; the formula's
power (peerstudy.design.sequential) within 2 Monte Carlo SEs of the simulated power where its assumptions hold
(exponential retention, no covariate or site effects on dropout).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from peerstudy.design import monitoring as mo
from peerstudy.design import sequential as sq
from peerstudy.exceptions import ParameterError
from peerstudy.scenario import load_scenario
from peerstudy.simulation.cohort import override

PROPORTIONAL = {"weibull_shape": 1.0, "frailty_variance": 0.0, "hazard_ratio": 0.8,
                **{f"covariates.{c}.hazard_ratio": 1.0 for c in ("age", "homeless", "stimulant_use", "injects",
                                                                   "unemployed", "depression")}}


@pytest.mark.slow
@pytest.mark.parametrize("kind, sided, alpha, futility", [
    ("asOF", 1, 0.025, None),
    ("P", 2, 0.05, None),
    ("asP", 1, 0.025, (0.0, 0.3)),
])
def test_type_one_error_within_two_mcse(kind, sided, alpha, futility):
    g = sq.group_sequential_design(looks=3, design=kind, alpha=alpha, sided=sided, futility=futility)
    d = sq.power_sequential(g, 0.8, events=300)
    sim = mo.simulate_sequential(d, "null_effect", reps=4000, seed=11, n=800)
    assert sim.looks_short == 0  # every trial reached its planned dropouts
    np.testing.assert_allclose(sim.mean_information_per_look, g.information_rates, atol=0.01)
    # a non-binding futility bound keeps alpha whether or not it is obeyed; obeying it only lowers the rate
    assert abs(sim.reject_ignoring_futility - alpha) <= 2 * math.sqrt(alpha * (1 - alpha) / sim.reps)
    assert sim.reject <= sim.reject_ignoring_futility
    assert abs(sim.reject - sim.formula_reject) <= 2 * math.sqrt(alpha * (1 - alpha) / sim.reps)
    if futility is None:
        assert sim.formula_reject == pytest.approx(alpha, abs=1e-7)


@pytest.mark.slow
def test_power_matches_the_formula_where_it_holds():
    sc = override(load_scenario("outpatient_default"), PROPORTIONAL)
    g = sq.group_sequential_design(looks=3, design="asOF", alpha=0.05, sided=2)
    d = sq.power_sequential(g, 0.8, events=330)
    sim = mo.simulate_sequential(d, sc, reps=3000, seed=5, n=800)
    assert sim.looks_short == 0
    mcse = math.sqrt(sim.formula_reject * (1 - sim.formula_reject) / sim.reps)
    assert abs(sim.reject - sim.formula_reject) <= 2 * mcse, (sim.reject, sim.formula_reject)
    for got, want in zip(sim.reject_per_look, sim.formula_reject_per_look):
        assert abs(got - want) <= 3 * math.sqrt(max(want, 1e-3) * (1 - want) / sim.reps)
    # expected dropouts at stopping: the formula's expectation under the alternative
    assert abs(sim.expected_events - d.expected_events_h1) <= 3 * sim.expected_events_mcse + 1


def test_small_run_is_reproducible_and_json_ready():
    g = sq.group_sequential_design(looks=2, design="OF", alpha=0.025, sided=1)
    d = sq.power_sequential(g, 0.8, events=120)
    a = mo.simulate_sequential(d, "null_effect", reps=40, seed=2, n=300)
    b = mo.simulate_sequential(d, "null_effect", reps=40, seed=2, n=300)
    assert a == b
    assert a.planned_events == (60, 120)
    doc = json.loads(json.dumps(a.to_dict()))
    assert doc["reps"] == 40 and len(doc["reject_per_look"]) == 2
    assert "simulated trials" in a.summary() and "<pre>" in a._repr_html_()


def test_looks_on_calendar_days():
    g = sq.group_sequential_design(looks=2, design="P", alpha=0.05, sided=2)
    d = sq.power_sequential(g, 0.8, events=150)
    sim = mo.simulate_sequential(d, "null_effect", reps=30, seed=4, n=300, look_days=[300, 727])
    assert sim.mean_day_per_look == (300.0, 727.0)
    assert sim.mean_events_per_look[0] < sim.mean_events_per_look[1]


def test_errors():
    g = sq.group_sequential_design(looks=2)
    d = sq.power_sequential(g, 0.8, events=100)
    with pytest.raises(ParameterError, match="design must be a SequentialDesign"):
        mo.simulate_sequential(g, "null_effect", reps=10)
    with pytest.raises(ParameterError, match="reps must be a whole number >= 2; got 1"):
        mo.simulate_sequential(d, "null_effect", reps=1)
    with pytest.raises(ParameterError, match=r"look_days must give 2 increasing days > 0"):
        mo.simulate_sequential(d, "null_effect", reps=10, look_days=[300, 200])
