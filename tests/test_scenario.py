import dataclasses

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from peerstudy.exceptions import PeerstudyError, ScenarioError
from peerstudy.scenario import (PRESETS, BinaryCovariate, Scenario, apply_overrides, list_presets, load_scenario,
                                preset)


@pytest.mark.parametrize("name", PRESETS)
def test_presets_round_trip_through_yaml(name, tmp_path):
    s = preset(name)
    assert s.name == name and s.description
    assert Scenario.from_dict(yaml.safe_load(s.to_yaml())) == s
    path = tmp_path / "s.yaml"
    path.write_text(s.to_yaml())
    assert load_scenario(path) == s


def test_presets_cite_their_sources():
    from importlib import resources

    for name in PRESETS:
        text = resources.files("peerstudy").joinpath("presets", f"{name}.yaml").read_text()
        assert "docs/evidence.md" in text, name


def test_preset_values_follow_evidence():
    s = preset("outpatient_default")
    assert (s.n, s.n_sites, s.hazard_ratio, s.weibull_shape, s.target_day, s.target_retention) == (800, 8, 0.8, 0.8, 90, 0.55)
    assert s.frailty_variance == 0.1 and s.loss_to_follow_up_per_year == 0.1
    assert preset("null_effect").hazard_ratio == 1.0
    assert preset("ed_bridge").effect_stops_day == 90
    assert preset("cluster_randomised").allocation == "cluster"
    assert set(list_presets()) == set(PRESETS)


def test_frozen():
    s = preset("outpatient_default")
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.n = 5


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"n": 0}, r"n must be a whole number from 2 to 20,000,000; got 0"),
        ({"n": 2.5}, r"n must be a whole number; got 2.5"),
        ({"hazard_ratio": -1.0}, r"hazard_ratio must be > 0; got -1.0"),
        ({"hazard_ratio": 0}, r"hazard_ratio must be > 0; got 0"),
        ({"target_retention": 1.2}, r"target_retention must be in \(0, 1\); got 1.2"),
        ({"allocation": "site"}, r"allocation must be 'individual', 'cluster' or 'observational'; got 'site'"),
        ({"allocation": "cluster", "n_sites": 1}, r"n_sites must be >= 2 for cluster allocation; got 1"),
        ({"effect_stops_day": 0}, r"effect_stops_day must be a whole number from 1 to 3,653; got 0"),
        ({"frailty_variance": -0.1}, r"frailty_variance must be in \[0, 10\]; got -0.1"),
        ({"loss_to_follow_up_per_year": 1.0}, r"loss_to_follow_up_per_year must be in \[0, 1\); got 1.0"),
        ({"start_date": "2025-13-01"}, r"start_date must be a real date written YYYY-MM-DD; got '2025-13-01'"),
        ({"weibull_shape": "a"}, r"weibull_shape must be a finite number; got 'a'"),
    ],
)
def test_invalid_values_name_field_and_value(changes, match):
    with pytest.raises(ScenarioError, match=match):
        preset("outpatient_default").replace(**changes)


def test_unknown_keys_suggest_the_field(tmp_path):
    with pytest.raises(ScenarioError, match=r"unknown scenario field 'hazard_ratoi' \(did you mean 'hazard_ratio'\?\)"):
        Scenario.from_dict({"hazard_ratoi": 0.7})
    with pytest.raises(ScenarioError, match=r"unknown scenario field covariates\.'homless'"):
        Scenario.from_dict({"covariates": {"homless": {"prevalence": 0.2}}})
    with pytest.raises(ScenarioError, match=r"covariates.homeless.prevalence must be in \[0, 1\]; got 2"):
        Scenario.from_dict({"covariates": {"homeless": {"prevalence": 2}}})
    with pytest.raises(ScenarioError, match=r"unknown preset 'outpatient' \(did you mean 'outpatient_default'\?\)"):
        load_scenario("outpatient")
    with pytest.raises(ScenarioError, match=r"scenario file not found"):
        load_scenario(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("n: [1, 2\n")
    with pytest.raises(ScenarioError, match=r"not valid YAML"):
        load_scenario(bad)


def test_yaml_with_base_preset(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("base: ed_bridge\nname: my_ed\nhazard_ratio: 0.7\ncovariates:\n  homeless:\n    prevalence: 0.5\n")
    s = load_scenario(path)
    assert s.name == "my_ed" and s.hazard_ratio == 0.7 and s.effect_stops_day == 90
    assert s.covariates.homeless == BinaryCovariate(prevalence=0.5, hazard_ratio=1.3)


def test_overrides_by_dotted_name():
    s = apply_overrides(preset("outpatient_default"), ["hazard_ratio=0.7", "covariates.homeless.prevalence=0.3",
                                                       "effect_stops_day=90"])
    assert s.hazard_ratio == 0.7 and s.covariates.homeless.prevalence == 0.3 and s.effect_stops_day == 90
    with pytest.raises(ScenarioError, match=r"unknown scenario field 'covariates.homeless.prev'"):
        apply_overrides(s, ["covariates.homeless.prev=0.3"])
    with pytest.raises(ScenarioError, match=r"--set expects KEY=VALUE; got 'hazard_ratio'"):
        apply_overrides(s, ["hazard_ratio"])
    with pytest.raises(ScenarioError, match=r"is a group"):
        apply_overrides(s, ["covariates=1"])
    with pytest.raises(ScenarioError, match=r"hazard_ratio must be a finite number; got 'abc'"):
        apply_overrides(s, ["hazard_ratio=abc"])


def test_rates_are_converted_as_documented():
    import math

    s = preset("outpatient_default")
    assert s.loss_hazard == pytest.approx(-math.log(0.9) / 365.25)
    # 3% incarcerated and 1% dead per 6 months (docs/evidence.md)
    assert math.exp(-s.incarceration_hazard * 365.25 / 2) == pytest.approx(0.97, abs=1e-4)
    assert math.exp(-s.death_hazard * 365.25 / 2) == pytest.approx(0.99, abs=1e-4)


FIELD_VALUES = {
    "n": st.one_of(st.integers(max_value=1), st.floats(0.1, 10.9).filter(lambda x: not x.is_integer())),
    "hazard_ratio": st.one_of(st.floats(max_value=0, allow_nan=False), st.just(float("nan")), st.just(float("inf"))),
    "target_retention": st.one_of(st.floats(max_value=0), st.floats(min_value=1)),
    "peer_fraction": st.one_of(st.floats(max_value=0), st.floats(min_value=1)),
    "weibull_shape": st.floats(max_value=0),
    "follow_up_days": st.integers(max_value=0),
    "frailty_variance": st.one_of(st.floats(max_value=-1e-9), st.floats(min_value=10.001)),
    "allocation": st.text().filter(lambda s: s not in ("individual", "cluster")),
    "death_rate": st.one_of(st.floats(max_value=-1e-9), st.floats(min_value=50.001)),
}


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(sorted(FIELD_VALUES)).flatmap(lambda k: st.tuples(st.just(k), FIELD_VALUES[k])))
def test_random_invalid_scenarios_raise_peerstudy_error(item):
    key, value = item
    with pytest.raises(PeerstudyError, match=key):
        preset("outpatient_default").to_dict() and Scenario.from_dict({**preset("outpatient_default").to_dict(), key: value})


def test_as_observational_overlays_assignment_and_contacts():
    from peerstudy.scenario import as_observational

    s = as_observational("outpatient_default")
    obs = preset("observational")
    assert s.allocation == "observational" and s.contacts == obs.contacts and s.assignment == obs.assignment
    assert s.hazard_ratio == preset("outpatient_default").hazard_ratio
    assert as_observational(obs) is obs
