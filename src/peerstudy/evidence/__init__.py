"""The published evidence on peer recovery support: a curated table of comparisons and their meta-analysis.

:mod:`.trials` ships the table (:func:`load_peer_trials`) and turns it into effects to pool
(:func:`trial_effects`); :mod:`.meta` pools effects (fixed effect, DerSimonian-Laird, REML, Hartung-Knapp),
measures heterogeneity, predicts the effect in a new study and tests for small-study effects, as R's
``metafor`` does.
"""

from peerstudy.evidence.meta import (MEASURES, EggerResult, MetaResult, SubgroupResult, effect_sizes, effects_from_ci,
                                     egger_test, leave_one_out, meta_analysis, subgroup_analysis)
from peerstudy.evidence.trials import (DESIGNS, SETTINGS, hazard_ratio_from_odds_ratio, implied_hazard_ratio,
                                       load_peer_trials, trial_effects)

__all__ = ["MEASURES", "MetaResult", "EggerResult", "SubgroupResult", "effect_sizes", "effects_from_ci",
           "meta_analysis", "leave_one_out", "subgroup_analysis", "egger_test", "DESIGNS", "SETTINGS",
           "load_peer_trials", "trial_effects", "hazard_ratio_from_odds_ratio", "implied_hazard_ratio"]
