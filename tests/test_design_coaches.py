"""Operating characteristics on the coach_clustered design: 2,000 null cohorts through the batched Cox fits.

The same cohorts as ``simulate_cohort`` from the study seeds (``simulate_replicates``); usual-care participants
are clusters of one for the coach sandwich, as ``--cluster coach`` makes them.
"""

import numpy as np
import pytest

from peerstudy.scenario import apply_overrides, preset
from peerstudy.simulation.batch import simulate_replicates
from peerstudy.survival import fast

REPS = 2000


def _null_tests():
    sc = apply_overrides(preset("coach_clustered"), {"coaches.match_hazard_ratio": 1.0, "hazard_ratio": 1.0})
    a = simulate_replicates(sc, range(REPS), seed=31)
    peer = a["peer"].astype(float)
    match = np.where(a["coach_match"] == 1, 1.0, 0.0)
    n_coaches = sc.n_sites * sc.coaches.per_site
    own = n_coaches + np.arange(peer.shape[1])[None, :]  # a cluster of one for each usual-care participant
    coach = np.where(a["coach"] >= 0, a["coach"], own)
    arm = fast.cox_batch(a["time"], a["event"], peer, cluster=coach)
    inter = fast.cox_batch(a["time"], a["event"], np.stack([peer, peer * match], axis=2), cluster=coach)
    z975 = 1.959963984540054
    return {"arm_naive": np.abs(arm.coef[:, 0] / arm.se[:, 0]) > z975,
            "arm_coach_robust": np.abs(arm.coef[:, 0] / arm.robust_se[:, 0]) > z975,
            "match_model": np.abs(inter.coef[:, 1] / inter.se[:, 1]) > z975,
            "match_coach_robust": np.abs(inter.coef[:, 1] / inter.robust_se[:, 1]) > z975}


@pytest.mark.slow
def test_coach_robust_arm_test_and_model_based_match_test_hold_their_level():
    rej = {k: float(v.mean()) for k, v in _null_tests().items()}
    mcse = np.sqrt(0.05 * 0.95 / REPS)
    assert abs(rej["arm_coach_robust"] - 0.05) < 2 * mcse, rej
    assert abs(rej["match_model"] - 0.05) < 2 * mcse, rej
    # the two that do not (what the analysis guide and the few-clusters warning say)
    assert rej["arm_naive"] > 0.05 + 4 * mcse, rej
    assert rej["match_coach_robust"] > 0.05 + 2 * mcse, rej
