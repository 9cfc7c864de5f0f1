"""Simulation studies of the recurrent-episode methods: coverage of Andersen-Gill with and without robust SEs."""

from __future__ import annotations

import math

import pytest

from peerstudy.design.study import run_study
from peerstudy.exceptions import ParameterError
from peerstudy.scenario import Recurrent, preset


def test_recurrent_methods_need_recurrent_episodes():
    with pytest.raises(ParameterError, match="need a scenario with recurrent episodes"):
        run_study("outpatient_default", reps=2, seed=1, n=50, methods=("andersen_gill",))
    with pytest.raises(ParameterError, match="methods must be some of .*negative_binomial"):
        run_study("outpatient_default", reps=2, seed=1, n=50, methods=("andersen_gil",))


@pytest.mark.slow
def test_robust_andersen_gill_covers_and_the_model_se_does_not():
    """With a subject frailty of variance 1, the robust SE gives coverage near 95% and the model SE too little."""
    s = preset("outpatient_default").replace(
        follow_up_days=365, recurrent=Recurrent(enabled=True, rate_per_year=3, frailty_variance=1.0))
    reps = 200
    res = run_study(s, reps=reps, seed=11, n=300, methods=("andersen_gill", "andersen_gill_naive")).to_dict()
    assert res["truth"]["andersen_gill"] == pytest.approx(math.log(0.8))
    m = res["methods"]
    ag, naive = m["andersen_gill"], m["andersen_gill_naive"]
    band = 3 * math.sqrt(0.95 * 0.05 / reps)
    assert abs(ag["coverage"] - 0.95) < band, ag
    assert naive["coverage"] < 0.95 - band and naive["model_se"] < 0.85 * naive["empirical_se"], naive
    assert abs(ag["bias"]) < 3 * ag["bias_mcse"] + 0.01
