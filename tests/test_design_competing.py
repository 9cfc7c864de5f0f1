"""Sample size with competing endings (peerstudy.design.competing), checked by simulation.

Subdistribution (Latouche's formula): cohorts drawn here from a proportional subdistribution-hazards model
(Fine, Lai & Gray's construction) and analysed with the project's Fine-Gray fit. Cause-specific: cohorts of the
project's simulator with exponential retention and competing incarceration, death and loss to follow-up,
analysed with the log-rank test.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from peerstudy.design.competing import sample_size_competing
from peerstudy.design import power as pw
from peerstudy.exceptions import ParameterError


def _fine_gray_cohort(rng, n, shr, *, p=0.5, scale=60.0, competing_rate=1 / 150, follow_up=180):
    """CIF of dropout 1 - (1 - p (1 - exp(-t / scale)))^(sHR^x); otherwise an exponential competing ending."""
    x = (np.arange(n) < round(n / 2)).astype(int)
    w = shr ** x
    p1 = 1 - (1 - p) ** w
    cause1 = rng.random(n) < p1
    v = rng.random(n) * p1
    t1 = -scale * np.log(1 - (1 - (1 - v) ** (1 / w)) / p)
    t2 = rng.exponential(1 / competing_rate, n)
    t = np.where(cause1, t1, t2)
    outcome = np.where(cause1, "dropout", "incarcerated").astype(object)
    outcome[t >= follow_up] = "retained"
    t = np.clip(np.ceil(np.minimum(t, follow_up)), 1, follow_up)
    return pd.DataFrame({"time": t, "outcome": outcome, "arm": np.where(x == 1, "peer", "usual_care")})


def test_latouche_reduces_to_schoenfeld_events():
    s = sample_size_competing(0.8, cif_usual_care=0.3)
    assert s.events_exact == pytest.approx(pw.events_required(0.8), rel=1e-12)
    assert s.cif_peer == pytest.approx(1 - 0.7 ** 0.8)
    assert s.subjects_exact == pytest.approx(s.events_exact / (0.5 * (0.3 + s.cif_peer)), rel=1e-12)
    assert s.subjects_peer + s.subjects_usual_care == s.subjects


def test_cause_specific_equals_the_fixed_design_with_other_endings_as_loss():
    lam, other = math.log(2) / 90, 0.0008
    s = sample_size_competing(0.8, kind="cause_specific", control_hazard=lam, competing_hazard=other,
                              follow_up=180)
    ref = pw.sample_size(0.8, control_median=90, accrual=365, follow_up=180, loss_rate=other * 365.25,
                         follow_up_type="fixed")
    assert s.subjects_exact == pytest.approx(ref.subjects_exact, rel=1e-12)


@pytest.mark.slow
def test_latouche_power_by_simulation():
    from peerstudy.survival.cox.finegray import fit_fine_gray

    p, scale, follow = 0.5, 60.0, 180
    cif = p * (1 - math.exp(-follow / scale))
    s = sample_size_competing(0.75, cif_usual_care=cif)
    rng = np.random.default_rng(20261202)
    reps = 1000
    reject = 0
    for _ in range(reps):
        fit = fit_fine_gray(_fine_gray_cohort(rng, s.subjects, 0.75, p=p, scale=scale, follow_up=follow))
        z = float(fit.cox.coef[0] / fit.cox.robust_se[0])
        reject += abs(z) >= 1.959964
    rate = reject / reps
    assert abs(rate - 0.8) <= 2 * math.sqrt(0.8 * 0.2 / reps), rate


@pytest.mark.slow
def test_cause_specific_power_by_simulation():
    from peerstudy.design.study import simulate_replicates
    from peerstudy.scenario import load_scenario
    from peerstudy.simulation.cohort import override
    from peerstudy.simulation.truth import compute_truth
    from peerstudy.survival import fast

    sc = override(load_scenario("outpatient_default"), {
        "weibull_shape": 1.0, "frailty_variance": 0.0, "hazard_ratio": 0.8,
        **{f"covariates.{c}.hazard_ratio": 1.0 for c in ("age", "homeless", "stimulant_use", "injects",
                                                         "unemployed", "depression")}})
    end = compute_truth(sc).to_dict()["estimands"]["net_survival"]["usual_care"][str(sc.follow_up_days)]
    lam = -math.log(end) / sc.follow_up_days
    other = sc.loss_hazard + sc.incarceration_hazard + sc.death_hazard
    s = sample_size_competing(0.8, kind="cause_specific", control_hazard=lam, competing_hazard=other,
                              follow_up=sc.follow_up_days)
    reps = 2000
    data = simulate_replicates(override(sc, {"n": s.subjects}), range(reps), seed=9)
    rate = float(np.mean(fast.logrank_batch(data["time"], data["event"], data["peer"]).p_value < 0.05))
    assert abs(rate - 0.8) <= 2 * math.sqrt(0.8 * 0.2 / reps), rate
    assert float(data["event"].sum(axis=1).mean()) == pytest.approx(s.events_exact, rel=0.02)


def test_errors():
    with pytest.raises(ParameterError, match="needs cif_usual_care"):
        sample_size_competing(0.8)
    with pytest.raises(ParameterError, match="needs control_hazard and follow_up"):
        sample_size_competing(0.8, kind="cause_specific")
    with pytest.raises(ParameterError, match=r"cif_usual_care must be in \(0, 1\); got 1.2"):
        sample_size_competing(0.8, cif_usual_care=1.2)
    with pytest.raises(ParameterError, match="kind must be 'subdistribution' or 'cause_specific'; got 'x'"):
        sample_size_competing(0.8, kind="x", cif_usual_care=0.3)
