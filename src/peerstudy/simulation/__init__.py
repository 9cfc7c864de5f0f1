"""The simulation engine: one model of retention, from hazards to cohorts, contact logs, truth and replicates.

Layers, bottom up: :mod:`.hazards` (baseline, covariates, exact inversion: the one place the model lives),
:mod:`.contacts` (coach-contact processes), :mod:`.truth` (estimands computed from the scenario),
:mod:`.cohort` (one cohort in the canonical schema), :mod:`.visits` (secondary outcomes and follow-up
interviews of the same participants), :mod:`.batch` (replicate cohorts for studies) and
:mod:`.teds` (a synthetic TEDS-D file).
"""

from peerstudy.simulation.batch import replicate_seed, simulate_replicates
from peerstudy.simulation.cohort import (CONTACT_TYPES, note_overrides, override, scenario_label, simulate_arrays,
                                         simulate_cohort, simulate_stack, simulate_with_contacts, truth_sidecar)
from peerstudy.simulation.teds import TedsTruth, simulate_teds
from peerstudy.simulation.truth import Truth, compute_truth

__all__ = ["simulate_cohort", "simulate_with_contacts", "simulate_arrays", "simulate_stack", "truth_sidecar",
           "CONTACT_TYPES", "note_overrides", "override", "scenario_label",
           "compute_truth", "Truth", "simulate_replicates", "replicate_seed", "simulate_teds", "TedsTruth"]
