"""The re-live presets match the trials they re-create: the evidence table's counts, and the truth they imply."""

from __future__ import annotations

from importlib import resources

import pytest

from peerstudy.evidence import implied_hazard_ratio, load_peer_trials
from peerstudy.scenario import PRESETS, list_presets, preset
from peerstudy.simulation.truth import compute_truth

TRIALS = load_peer_trials().set_index("study_id")
#: preset -> (study in the table, event-free share read from the table's counts: the comparison arm, the peer arm)
RELIVED = {"navigator_trial": "navigator_2024", "hospital_coach_pilot": "suzuki_2023"}


def _event_free(row):
    """Share free of the preset's event (overdose; leaving medication) by the end of follow-up, per arm."""
    if row.outcome_direction == "lower_is_better":  # the outcome is the event
        return 1 - row.events_control / row.n_control, 1 - row.events_peer / row.n_peer
    return row.events_control / row.n_control, row.events_peer / row.n_peer  # the outcome is staying


@pytest.mark.parametrize("name", list(RELIVED))
def test_preset_takes_design_and_effect_from_the_table(name):
    sc, row = preset(name), TRIALS.loc[RELIVED[name]]
    assert name in PRESETS and "Source:" in list_presets()[name]
    assert sc.n == row.n_peer + row.n_control
    assert round(sc.n * sc.peer_fraction) == row.n_peer
    control, peer = _event_free(row)
    assert sc.target_retention == pytest.approx(control, abs=5e-4)  # stored to 3 decimals
    assert sc.hazard_ratio == pytest.approx(implied_hazard_ratio(peer, control), abs=5e-4)
    assert sc.follow_up_days == sc.target_day == round(row.follow_up_months * 30.44)
    text = resources.files("peerstudy").joinpath("presets", f"{name}.yaml").read_text()
    assert row.url in text and "docs/evidence.md" in text


@pytest.mark.parametrize("name", list(RELIVED))
def test_truth_of_the_preset_gives_both_arms_of_the_trial(name):
    sc, row = preset(name), TRIALS.loc[RELIVED[name]]
    net = compute_truth(sc).to_dict()["estimands"]["net_survival"]
    control, peer = _event_free(row)
    day = str(sc.follow_up_days)
    assert net["usual_care"][day] == pytest.approx(control, abs=1e-3)
    assert net["peer"][day] == pytest.approx(peer, abs=1e-3)
