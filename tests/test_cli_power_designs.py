"""``peerstudy power`` for cluster-randomised, non-proportional and competing-endings designs.

The numbers behind each option are checked elsewhere (the cluster formulas against R in test_design_cluster, the
non-PH formulas by simulation in test_design_nonph, the competing ones in test_design_competing); here the CLI
must give the same numbers as the functions it calls, with the documented JSON keys, and name its flags in errors.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys

import pytest

from peerstudy.cli import main
from peerstudy.design import cluster as cl
from peerstudy.design import nonph
from peerstudy.design.competing import sample_size_competing
from peerstudy.design.power import DAYS_PER_YEAR, loss_hazard

TIMING = ["--control-median", "90", "--accrual", "548", "--follow-up", "180"]

CLUSTER_KEYS = {"design", "sites_per_arm", "sites", "subjects_per_arm", "subjects", "events", "events_exact",
                "events_effective", "events_required", "design_effect", "icc", "frailty_variance", "frailty_distribution", "cluster_size",
                "cluster_cv", "power", "target_power", "df", "small_sample", "event_probability", "hazard_ratio"}
NONPH_KEYS = {"design", "test", "power", "target_power", "subjects", "subjects_peer", "subjects_usual_care",
              "hazard_ratios", "hr_until", "powers", "expected_dropouts", "average_hazard_ratio", "rmst_difference",
              "maxcombo_critical_value", "tau", "fh", "other_hazard", "alpha", "allocation", "control_median",
              "follow_up"}


def _json(capsys, argv):
    assert main(["power", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_cluster_sample_size_equals_the_function(capsys):
    out = _json(capsys, ["--hr", "0.8", "--cluster-randomised", "--cluster-size", "40", "--cluster-cv", "0.5",
                         "--icc", "0.03", "--lost", "0.1", *TIMING])
    assert CLUSTER_KEYS <= set(out) and out["design"] == "cluster_randomised"
    ref = cl.sample_size_cluster(0.8, cluster_size=40, cluster_cv=0.5, icc=0.03, lost=0.1, control_median=90,
                                 accrual=548, follow_up=180)
    assert {k: v for k, v in out.items() if k != "design"} == json.loads(json.dumps(ref.to_dict()))
    assert out["design_effect"] == pytest.approx(1 + ((0.25 + 1) * 40 - 1) * 0.03, rel=1e-12)


def test_cluster_power_for_sites_with_a_frailty(capsys):
    argv = ["--hr", "0.8", "--sites-per-arm", "8", "--cluster-size", "50", "--frailty-variance", "0.1",
            "--frailty-distribution", "lognormal", "--fixed-follow-up", *TIMING]
    out = _json(capsys, argv)
    ref = cl.power_cluster(0.8, sites_per_arm=8, cluster_size=50, frailty_variance=0.1,
                           frailty_distribution="lognormal", follow_up_type="fixed", control_median=90, accrual=548,
                           follow_up=180)
    assert out["power"] == ref.power and out["sites"] == 16 and out["df"] == 15 and out["target_power"] is None
    normal = _json(capsys, [*argv, "--normal-reference"])
    assert normal["df"] is None and normal["power"] > out["power"]  # the t reference costs power with 16 sites
    assert main(["power", *argv]) == 0
    text = capsys.readouterr().out
    assert "8 per arm (16 in all)" in text and "design effect" in text and "t on 15 df" in text


def test_nonph_power_equals_the_function(capsys):
    out = _json(capsys, ["--hr", "0.7", "--hr-until", "90", "--n", "600", "--control-median", "60", "--follow-up",
                         "180", "--loss-rate", "0.2", "--competing-rate", "0.08", "--test", "rmst", "--tau", "120"])
    assert NONPH_KEYS <= set(out)
    curves = nonph.piecewise_curves(control_median=60, hazard_ratios=(0.7, 1.0), breaks=(90,), follow_up=180,
                                    other_hazard=(0.2 + 0.08) / DAYS_PER_YEAR)
    ref = nonph.power_nonph(curves, 600, tau=120)
    assert out["powers"] == pytest.approx(ref.power, rel=1e-12) and out["tau"] == 120
    assert out["power"] == out["powers"]["rmst"]
    assert out["hazard_ratios"] == [0.7, 1.0] and out["hr_until"] == [90.0]


def test_nonph_sample_size_is_the_smallest_n(capsys):
    out = _json(capsys, ["--hr", "0.7", "--hr-until", "60,120", "--hr-after", "0.85,1", "--test", "maxcombo",
                         "--power", "0.85", "--control-median", "60", "--follow-up", "180"])
    curves = nonph.piecewise_curves(control_median=60, hazard_ratios=(0.7, 0.85, 1.0), breaks=(60, 120),
                                    follow_up=180)
    n = out["subjects"]
    assert nonph.power_nonph(curves, n).power["maxcombo"] >= 0.85 > nonph.power_nonph(curves, n - 1).power["maxcombo"]
    assert out["target_power"] == 0.85 and out["subjects_peer"] + out["subjects_usual_care"] == n


@pytest.mark.parametrize("subdistribution", [False, True])
def test_competing_equals_the_function(capsys, subdistribution):
    argv = ["--hr", "0.75", "--competing-rate", "0.08", "--lost", "0.1", "--control-median", "60", "--follow-up",
            "180", *(["--subdistribution"] if subdistribution else [])]
    out = _json(capsys, argv)
    lam, other = math.log(2) / 60, loss_hazard(lost=0.1) + 0.08 / DAYS_PER_YEAR
    if subdistribution:
        cif = lam / (lam + other) * -math.expm1(-(lam + other) * 180)
        ref = sample_size_competing(0.75, kind="subdistribution", cif_usual_care=cif)
    else:
        ref = sample_size_competing(0.75, kind="cause_specific", control_hazard=lam, competing_hazard=other,
                                    follow_up=180)
    assert out["design"] == "competing" and out["kind"] == ref.kind
    assert out["subjects"] == ref.subjects and out["events_exact"] == ref.events_exact
    assert out["other_hazard"] == pytest.approx(other, rel=1e-12)


@pytest.mark.parametrize("argv, message", [
    (["--sites-per-arm", "8", "--cluster-size", "50", *TIMING], "--sites-per-arm needs exactly one of --icc and "
                                                                "--frailty-variance"),
    (["--sites-per-arm", "0", "--cluster-size", "50", "--icc", "0.02", *TIMING],
     "--sites-per-arm must be a whole number >= 1; got 0"),
    (["--cluster-randomised", "--cluster-size", "50", "--frailty-variance", "-1", *TIMING],
     "--frailty-variance must be a finite number > 0; got -1.0"),
    (["--cluster-randomised", "--cluster-size", "50", "--icc", "0.02", "--cluster-cv", "-0.2", *TIMING],
     "--cluster-cv must be a finite number >= 0; got -0.2"),
    (["--cluster-randomised", "--icc", "0.02", *TIMING], "--cluster-randomised needs --cluster-size"),
    (["--cluster-randomised", "--cluster-size", "50", "--icc", "0.02"], "needs the timing"),
    (["--cluster-randomised", "--cluster-size", "50", "--icc", "0.02", "--allocation", "2:1", *TIMING],
     "--allocation must be 0.5 with --cluster-randomised"),
    (["--sites-per-arm", "8", "--looks", "3"], "cannot be combined"),
    (["--sites-per-arm", "8", "--power", "0.9", "--cluster-size", "50", "--icc", "0.02", *TIMING],
     "give --power .* or --sites-per-arm .*, not both"),
    (["--stepped-wedge"], "no stepped-wedge power method is offered"),
    (["--hr-until", "90", "--n", "600", "--control-median", "60"], "missing: --follow-up"),
    (["--hr-until", "90", "--n", "600", *TIMING], "--accrual is not used"),
    (["--hr-until", "200", "--n", "600", "--control-median", "60", "--follow-up", "180"],
     r"--hr-until must be increasing days between 0 and --follow-up \(180\); got 200"),
    (["--hr-until", "60,90", "--hr-after", "0.9", "--n", "600", "--control-median", "60", "--follow-up", "180"],
     r"--hr-after must give one hazard ratio per --hr-until day \(2\); got 1"),
    (["--test", "rmst", "--tau", "500", "--n", "600", "--control-median", "60", "--follow-up", "180"],
     "--tau must be a whole number of days from 1 to 180; got 500"),
    (["--test", "logrank", "--n", "1", "--control-median", "60", "--follow-up", "180"],
     "--n must be a whole number >= 2; got 1"),
    (["--test", "fh", "--fh", "1", "--n", "600", "--control-median", "60", "--follow-up", "180"],
     "--fh must be two numbers RHO,GAMMA; got 1"),
    (["--test", "fh", "--method", "freedman", "--n", "600", "--control-median", "60", "--follow-up", "180"],
     "--method cannot be combined with --test"),
    (["--competing-rate", "-1", "--control-median", "60", "--follow-up", "180"],
     "--competing-rate must be a finite number >= 0 per person-year; got -1.0"),
    (["--competing-rate", "0.1", "--n", "500", "--control-median", "60", "--follow-up", "180"], "use --power"),
    (["--subdistribution", "--sites-per-arm", "4"], "cannot be combined"),
])
def test_errors_name_flag_and_value(capsys, argv, message):
    assert main(["power", "--hr", "0.8", *argv]) == 2
    err = capsys.readouterr().err
    assert re.search(message, err) and err.count("\n") == 1, err
    assert "Traceback" not in err and "_" not in err.split(":", 1)[0]


def test_stepped_wedge_from_the_command_line():
    """A subprocess, as a user would run it: exit 2, one line on stderr, nothing on stdout."""
    proc = subprocess.run([sys.executable, "-m", "peerstudy", "power", "--hr", "0.8", "--stepped-wedge"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "arXiv:2312.13097" in proc.stderr
