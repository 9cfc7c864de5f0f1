"""Sentences follow the design: causal verbs only for randomised comparisons, Fine-Gray as cumulative
incidence, intervals whose sign is never hidden, numbers taken from the results."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, strategies as st

from peerstudy.exceptions import ParameterError
from peerstudy.present import tables, wording
from peerstudy.present.wording import Design, design_of, format_interval, format_p

CAUSAL = re.compile(r"peer support (added|took away|lowered|raised|multiplied|did not change)", re.I)


@pytest.fixture(scope="module")
def results():
    from peerstudy.simulation.cohort import simulate_cohort
    from peerstudy.survival import cumulative_incidence, fit_fine_gray, kaplan_meier
    from peerstudy.survival.rmst import rmst

    out = {}
    for preset in ("outpatient_default", "cluster_randomised", "observational"):
        df = simulate_cohort(preset, rng=3, n=400)
        out[preset] = {
            "df": df, "design": design_of(df.attrs["scenario"]),
            "km": kaplan_meier(df, group="arm", horizons=(90,)), "rmst": rmst(df, tau=180),
            "cif": cumulative_incidence(df, ending="outcome", group="arm", horizons=(30, 90, 180)),
            "fg": fit_fine_gray(df, ending="outcome", cause="dropout", covariates=("arm",)),
        }
    return out


@pytest.mark.parametrize("preset, allocation", [("outpatient_default", "individual"),
                                                ("cluster_randomised", "cluster"),
                                                ("observational", "observational")])
def test_phrasing_per_design(results, preset, allocation):
    r = results[preset]
    design = r["design"]
    assert design.allocation == allocation
    line = tables.retention_summary(r["km"], r["rmst"], day=90, design=design)
    cr = tables.competing_summary(r["cif"], r["fg"], day=180, design=design)
    rm = r["rmst"]
    n_days = wording.format_estimate(abs(rm.difference))
    assert f"{n_days} " in line and format_interval(rm.ci_lower, rm.ci_upper) in line  # numbers from the result
    term = r["fg"].to_dict()["terms"]["arm[peer]"]
    assert f"{term['hr']:.2f}" in cr and format_interval(term["ci_lower"], term["ci_upper"], decimals=2, null=1) in cr
    # Fine-Gray is a cumulative incidence, never a rate
    assert "cumulative incidence of dropout" in cr and not re.search(r"\brate\b", cr)
    if allocation == "observational":
        assert not CAUSAL.search(line) and not CAUSAL.search(cr)
        assert "associated with" in line and "associated with" in cr
        assert "not adjusted for differences between the groups" in line
    else:
        verb = "added" if rm.difference >= 0 else "took away"
        assert f"peer support {verb} {n_days} days" in line and "associated" not in line
        assert re.search(r"peer support (lowered|raised) the cumulative incidence of dropout", cr)


def test_unknown_design_claims_nothing_causal(results):
    r = results["outpatient_default"]
    assert not CAUSAL.search(tables.retention_summary(r["km"], r["rmst"], day=90))
    assert not CAUSAL.search(tables.competing_summary(r["cif"], r["fg"], day=180))


def test_observational_sentences_name_the_adjustment():
    d = Design("observational", adjustment="age, homelessness and stimulant use")
    assert "adjusted for age, homelessness and stimulant use" in wording.hazard_ratio_sentence(0.8, 0.7, 0.9, design=d)
    assert "associated with" in wording.rmst_sentence(-3.2, -6.0, -0.4, tau=90, design=d)
    assert "3 fewer days" in wording.rmst_sentence(-3.2, -6.0, -0.4, tau=90, design=d)
    assert "took away 3 days" in wording.rmst_sentence(-3.2, -6.0, -0.4, tau=90, design=Design("cluster"))


def test_the_interval_of_the_issue_keeps_its_sign():
    assert format_interval(-0.40, 18.86) == "-0.4 to 18.9"
    assert format_interval(-0.004, 0.2, decimals=1) == "-0.004 to 0.200"
    assert format_interval(0.996, 1.31, decimals=2, null=1.0) == "0.996 to 1.310"
    assert format_interval(1.2, 13.4) == "1 to 13"
    assert format_interval(-0.0, 0.0) == "0 to 0"  # an exact zero stays zero, never "-0"
    assert format_interval(float("nan"), 1) == "not estimable"


@given(lo=st.floats(-50, 50, allow_nan=False), width=st.floats(0, 50, allow_nan=False))
def test_a_printed_bound_is_never_on_the_other_side_of_zero(lo, width):
    hi = lo + width
    shown = [float(x) for x in format_interval(lo, hi).split(" to ")]
    for x, s in zip((lo, hi), shown):
        if abs(x) >= 0.0005:  # below the last decimal a bound may print as 0, never with the wrong sign
            assert s != 0 and (s > 0) == (x > 0)
        assert s * x >= 0


def test_p_values_for_people():
    assert [format_p(p) for p in (1.55e-05, 0.0123, 0.049, 0.41, 1.0)] == ["<0.001", "0.012", "0.049", "0.41", "1.00"]
    assert format_p(float("nan")) == "not estimable"


def test_a_design_names_its_allocation():
    with pytest.raises(ParameterError, match="design allocation must be one of .*got 'crossover'"):
        Design("crossover")
    assert design_of({"allocation": "observational"}).randomised is False
    assert design_of({"allocation": "individual"}, real=True).allocation == "observational"


def test_a_report_cohort_declares_its_design_for_the_summaries(results):
    from peerstudy.report.notebook import load_report_cohort

    r = results["outpatient_default"]
    try:
        cohort = load_report_cohort(scenario="cluster_randomised", n=200, seed=2)
        assert cohort.design.allocation == "cluster" and wording.current_design() == cohort.design
        assert CAUSAL.search(tables.retention_summary(r["km"], r["rmst"], day=90))
        cohort = load_report_cohort(scenario="observational", n=200, seed=2)
        assert not CAUSAL.search(tables.retention_summary(r["km"], r["rmst"], day=90))
    finally:
        wording.use_design(None)
    assert not CAUSAL.search(tables.retention_summary(r["km"], r["rmst"], day=90))
