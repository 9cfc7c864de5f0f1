"""Simulation studies of the recurrent-episode methods: coverage of Andersen-Gill (robust and model SEs) and NB."""

from __future__ import annotations

import math

import pytest

from peerstudy.design.study import run_study
from peerstudy.exceptions import ParameterError
from peerstudy.scenario import Recurrent, preset
from peerstudy.simulation.truth import recurrent_truth


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


@pytest.mark.slow
def test_negative_binomial_covers_the_ratio_of_mean_counts_beside_andersen_gill():
    """Episodes observed to the end of follow-up (re-entries simulated; no death, loss or incarceration).

    With a constant effect, NB's estimand (the log ratio of the truth's mean counts at day 365) is close to
    log(0.8) and both NB and robust AG cover; with an effect only while coached, the count ratio is far from
    the conditional rate ratio and NB still covers it, without bias. Measured (seed 12): constant effect,
    200 reps: AG coverage 0.925, NB 0.925; while coached, 1000 reps: NB truth -0.161 (log 0.5 = -0.693),
    bias -0.0035 (MCSE 0.0042), coverage 0.954.
    """
    base = preset("outpatient_default").replace(follow_up_days=365, death_rate=0.0, loss_to_follow_up_per_year=0.0,
                                                incarceration_rate=0.0, target_retention=0.5)
    s = base.replace(recurrent=Recurrent(enabled=True, rate_per_year=3, frailty_variance=1.0, reentry_rate_per_year=2))
    reps = 200
    res = run_study(s, reps=reps, seed=12, n=300, methods=("andersen_gill", "negative_binomial")).to_dict()
    mean = res["truth"]["negative_binomial"]
    truth = recurrent_truth(s)["mean_events"]
    assert mean == pytest.approx(math.log(truth["peer"]["365"] / truth["usual_care"]["365"]), rel=1e-12)
    assert abs(mean - math.log(0.8)) < 0.01
    band = 3 * math.sqrt(0.95 * 0.05 / reps)
    for m in ("andersen_gill", "negative_binomial"):
        assert abs(res["methods"][m]["coverage"] - 0.95) < band, res["methods"][m]

    coached = base.replace(contacts=base.contacts.__class__(cap_day=180), recurrent=Recurrent(
        enabled=True, rate_per_year=3, rate_ratio=0.5, frailty_variance=1.0, reentry_rate_per_year=2,
        effect_while_coached=True))
    reps = 1000
    nb = run_study(coached, reps=reps, seed=12, n=300, methods=("negative_binomial",)).to_dict()
    assert nb["truth"]["negative_binomial"] > math.log(0.5) + 0.3  # the count ratio, not the rate ratio
    m = nb["methods"]["negative_binomial"]
    assert abs(m["coverage"] - 0.95) < 3 * math.sqrt(0.95 * 0.05 / reps), m
    assert abs(m["bias"]) < 3 * m["bias_mcse"], m
