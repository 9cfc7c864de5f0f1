"""Study design: power and sample size (:mod:`.power`), and simulation studies (:mod:`.study`)."""

from .power import (SampleSize, design_effect, event_probability, events_required, power_for_events, power_survival,
                    sample_size)

__all__ = ["SampleSize", "design_effect", "event_probability", "events_required", "power_for_events",
           "power_survival", "sample_size"]
