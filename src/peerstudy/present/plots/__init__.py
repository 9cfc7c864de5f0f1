"""Figures from result objects: every function takes ``ax=None`` and returns the Axes it drew on.

:mod:`.survival` (Kaplan-Meier, forest, Schoenfeld, CIF, enrolment), :mod:`.design` (power, design effect,
simulation vs formula, group-sequential boundaries, flow), :mod:`.observational` (overlap, love plot) and :mod:`.evidence` (meta-analysis
forest and funnel plots) share one axes helper, the
figure theme and the alt text of :mod:`._axes`: each function draws inside :func:`theme` (seaborn's style
and context, applied for that figure only: importing this package leaves ``matplotlib.rcParams`` alone),
gives its figure a one-sentence description (the figure's label; :func:`alt_text` reads it) and never
calls ``plt.show()``.
"""

from peerstudy.present.plots._axes import alt_text, save_figure, theme
from peerstudy.present.plots.design import (METHOD_LABELS, plot_boundaries, plot_design_effect,
                                            plot_events_participants, plot_flow, plot_power_curves,
                                            plot_simulation_vs_formula)
from peerstudy.present.plots.evidence import plot_funnel, plot_meta_forest
from peerstudy.present.plots.observational import plot_adjusted_curves, plot_love, plot_overlap
from peerstudy.present.plots.survival import (ARM_COLOURS, ARM_LABELS, cumulative_count, logrank_p, number_at_risk,
                                              plot_cif, plot_enrolment, plot_forest, plot_km, plot_schoenfeld)

__all__ = ["ARM_LABELS", "ARM_COLOURS", "METHOD_LABELS", "number_at_risk", "cumulative_count", "logrank_p", "plot_km",
           "plot_forest", "plot_schoenfeld", "plot_cif", "plot_enrolment", "plot_power_curves",
           "plot_events_participants", "plot_design_effect", "plot_simulation_vs_formula", "plot_boundaries", "plot_flow", "plot_overlap",
           "plot_love", "plot_meta_forest", "plot_funnel", "plot_adjusted_curves", "alt_text", "save_figure", "theme"]
