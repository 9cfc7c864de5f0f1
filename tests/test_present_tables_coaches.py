"""The scenario table names the coaches when a scenario has them."""

from peerstudy.present.tables import scenario_table
from peerstudy.scenario import preset


def test_scenario_table_states_coaches_and_the_unmatched_effect():
    t = scenario_table(preset("coach_clustered").to_dict())["Assumed"]
    assert t["Coaches"] == ("3 per site, coach frailty variance 0.1; 50% of clients matched on primary substance, "
                            "match hazard ratio 0.8")
    assert t["Effect of a peer coach"] == "dropout hazard ratio 0.9 for clients not matched with their coach"
    plain = scenario_table(preset("outpatient_default").to_dict())
    assert "Coaches" not in plain.index and plain["Assumed"]["Effect of a peer coach"] == "dropout hazard ratio 0.8"
