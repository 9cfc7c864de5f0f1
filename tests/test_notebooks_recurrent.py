"""The recurrent-episodes report notebook, run by the runner on a small cohort."""

from __future__ import annotations

import json

import numpy as np
import pytest

from peerstudy.report import run_report
from peerstudy.scenario import Recurrent, load_scenario
from peerstudy.simulation.cohort import simulate_with_events
from peerstudy.survival.recurrent import fit_andersen_gill, ghosh_lin, recurrent_data

SEED, N = 5, 600


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("nb") / "rec"
    return run_report(scenario="outpatient_default", parameters={"seed": str(SEED), "n": str(N)}, out=out,
                      only=["07"], progress=False)


def test_notebook_records_what_the_package_computes(report):
    got = report.results["07-recurrent-episodes"]
    s = load_scenario("outpatient_default").replace(
        follow_up_days=365, death_rate=0.1, recurrent=Recurrent(enabled=True, rate_per_year=2.0, rate_ratio=0.8,
                                                                frailty_variance=0.5))
    cohort, events = simulate_with_events(s, rng=SEED, n=N)
    data = recurrent_data(cohort, events)
    ag = json.loads(json.dumps(fit_andersen_gill(data).to_dict()))
    for key in ("coef", "se", "robust_se"):
        assert got["andersen_gill"]["terms"]["arm[peer]"][key] == pytest.approx(ag["terms"]["arm[peer]"][key])
    gl = ghosh_lin(data, horizons=(90, 180, 365)).to_dict()
    assert got["ghosh_lin"]["peer"]["365"]["estimate"] == pytest.approx(gl["peer"]["365"]["estimate"])
    assert got["truth"]["rate_ratio"] == 0.8 and "episodes" in got["summary"]
    for key in ("pwp_total", "pwp_gap", "negative_binomial", "time_to_first", "mcf_test"):
        assert key in got


def test_ghosh_lin_in_the_report_is_near_the_truth(report):
    got = report.results["07-recurrent-episodes"]
    for arm in ("usual_care", "peer"):
        est = got["ghosh_lin"][arm]["180"]
        assert abs(est["estimate"] - got["truth"]["mean_events"][arm]["180"]) < 4 * est["se"]
    assert np.isfinite(got["andersen_gill"]["terms"]["arm[peer]"]["robust_se"])
