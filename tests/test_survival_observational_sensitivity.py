"""E-values against the worked examples of VanderWeele and Ding (2017, Ann Intern Med 167:268-274).

The expected values are the paper's closed forms evaluated on the paper's examples (as the authors' own
EValue package tests them): the first example, breastfeeding and infant respiratory death, RR 3.9 (95% CI 1.8
to 8.7), whose lower limit has E-value 1.8 + sqrt(1.8 x 0.8) = 3.0; and the further example RR 0.80 (0.71 to
0.91), protective, taken through 1 / RR. The hazard-ratio conversion is the paper's common-outcome formula.
"""

import math

import pytest

from peerstudy.exceptions import ParameterError
from peerstudy.survival.observational.sensitivity import (evalue, evalue_hazard_ratio, evalue_odds_ratio,
                                                          evalue_risks)


def test_first_example_breastfeeding():
    e = evalue(3.9, 1.8, 8.7)
    assert e.evalue == pytest.approx(3.9 + math.sqrt(3.9 * 2.9), rel=1e-12)
    assert e.evalue_ci == pytest.approx(3.0, rel=1e-12)  # the paper's 3.0


def test_first_example_preventive_version_is_symmetric():
    e = evalue(1 / 3.9, 1 / 8.7, 1 / 1.8)
    assert e.evalue == pytest.approx(3.9 + math.sqrt(3.9 * 2.9), rel=1e-12)
    assert e.evalue_ci == pytest.approx(3.0, rel=1e-12)


def test_further_example_protective():
    e = evalue(0.80, 0.71, 0.91)
    r = 1 / 0.8
    assert e.evalue == pytest.approx(r + math.sqrt(r * (r - 1)), rel=1e-12)
    u = 1 / 0.91
    assert e.evalue_ci == pytest.approx(u + math.sqrt(u * (u - 1)), rel=1e-12)
    assert round(e.evalue, 2) == 1.81 and round(e.evalue_ci, 2) == 1.43


def test_interval_including_one_has_evalue_one():
    assert evalue(1.3, 0.9, 1.8).evalue_ci == 1.0
    assert evalue(0.8, 0.6, 1.1).evalue_ci == 1.0
    assert evalue(1.0).evalue == 1.0


def test_hazard_ratio_rare_and_common():
    rare = evalue_hazard_ratio(1.59, 1.17, 2.17, outcome_share=0.05)
    assert rare.rr == 1.59 and "rare outcome" in rare.conversion
    common = evalue_hazard_ratio(1.3, 1.2, 1.4, outcome_share=0.6)
    rr = (1 - 0.5 ** math.sqrt(1.3)) / (1 - 0.5 ** math.sqrt(1 / 1.3))
    rr_lo = (1 - 0.5 ** math.sqrt(1.2)) / (1 - 0.5 ** math.sqrt(1 / 1.2))
    assert common.rr == pytest.approx(rr, rel=1e-12)
    assert common.evalue == pytest.approx(rr + math.sqrt(rr * (rr - 1)), rel=1e-12)
    assert common.evalue_ci == pytest.approx(rr_lo + math.sqrt(rr_lo * (rr_lo - 1)), rel=1e-12)
    assert "common outcome (60% had the outcome" in common.conversion
    # protective HR, common outcome: the conversion is symmetric (RR(1/HR) = 1/RR(HR))
    assert evalue_hazard_ratio(1 / 1.3, outcome_share=0.6).evalue == pytest.approx(common.evalue, rel=1e-12)


def test_odds_ratio():
    assert evalue_odds_ratio(5, rare=True).evalue == pytest.approx(5 + math.sqrt(20), rel=1e-12)
    s = math.sqrt(5)
    assert evalue_odds_ratio(5, rare=False).evalue == pytest.approx(s + math.sqrt(s * (s - 1)), rel=1e-12)


def test_risk_difference_through_ratio():
    e = evalue_risks(0.30, 0.40, 0.6, 0.9)
    assert e.measure == "risk difference" and e.estimate == pytest.approx(-0.10)
    assert e.rr == pytest.approx(0.75)
    assert e.evalue == pytest.approx(evalue(0.75).evalue, rel=1e-12)
    assert e.evalue_ci == pytest.approx(evalue(0.9).evalue, rel=1e-12)
    text = e.to_dict()["text"]
    assert "associated with" in text and "caus" not in text


def test_errors():
    with pytest.raises(ParameterError, match="risk ratio must be a positive number; got -1"):
        evalue(-1)
    with pytest.raises(ParameterError, match="inside its confidence interval"):
        evalue(1.2, 1.3, 1.4)
    with pytest.raises(ParameterError, match="exactly one of outcome_share"):
        evalue_hazard_ratio(1.2)
    with pytest.raises(ParameterError, match="outcome_share must be between 0 and 1"):
        evalue_hazard_ratio(1.2, outcome_share=3)
    with pytest.raises(ParameterError, match="risks must be at most 1"):
        evalue_risks(1.5, 0.3)
