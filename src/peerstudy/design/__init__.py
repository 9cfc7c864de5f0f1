"""Study design: power and sample size (:mod:`.power`), group-sequential designs (:mod:`.boundaries`,
:mod:`.sequential`), cluster-randomised designs (:mod:`.cluster`), and simulation studies (:mod:`.study`)."""

from .power import (SampleSize, arm_counts, design_effect, event_probability, events_required, loss_hazard,
                    power_for_events, power_survival, sample_size)
from .sequential import (GroupSequentialDesign, SequentialDesign, group_sequential_design, power_sequential,
                         sample_size_sequential)

__all__ = ["SampleSize", "arm_counts", "design_effect", "event_probability", "events_required", "loss_hazard",
           "power_for_events", "power_survival", "sample_size", "GroupSequentialDesign", "SequentialDesign",
           "group_sequential_design", "power_sequential", "sample_size_sequential"]
