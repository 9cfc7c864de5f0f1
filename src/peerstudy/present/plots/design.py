"""Figures for study design and programme data: power curves, events against participants, design
effects, simulated against analytic power, group-sequential boundaries, and a CONSORT-style flow of records.

Every function draws on ``ax`` (a new figure when ``None``, :func:`._axes.create_ax`) inside the
figure theme, gives the figure its alt text (:func:`._axes.describe`), returns the Axes and never
calls ``plt.show()``. Inputs are tidy tables (one row per point) or the result dicts of
:mod:`peerstudy.design` and :mod:`peerstudy.data.programme`; the curves of a table are drawn by seaborn's
``lineplot`` (one line per group, its palette and legend). Counts drawn by :func:`plot_flow` go
through :mod:`peerstudy.present.privacy` when ``suppress=True``, as reports of real data ask.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from peerstudy.exceptions import DataError
from peerstudy.present.plots._axes import create_ax, describe, percent_axis, place_legend, themed
from peerstudy.present.privacy import THRESHOLD, suppress_flow

__all__ = [
    "METHOD_LABELS",
    "plot_power_curves",
    "plot_events_participants",
    "plot_design_effect",
    "plot_simulation_vs_formula",
    "plot_boundaries",
    "plot_flow",
]


#: Plain-language names of the simulation study's methods (:data:`peerstudy.design.study.METHODS`).
METHOD_LABELS = {"logrank": "log-rank", "cox": "Cox", "cox_adjusted": "adjusted Cox", "cox_robust": "Cox, site-robust SE",
                 "rmst": "RMST difference"}


def _need(table: Any, columns: Sequence[str], what: str) -> pd.DataFrame:
    if not isinstance(table, pd.DataFrame):
        raise DataError(f"{what} needs a pandas DataFrame; got {type(table).__name__}")
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise DataError(f"{what} needs column(s) {', '.join(map(repr, missing))}; got {list(table.columns)}")
    if table.empty:
        raise DataError(f"{what} needs at least one row; got an empty table")
    return table


def _lines(ax: Any, table: pd.DataFrame, x: str, y: str, group: pd.Series, colours: Sequence[Any],
           **kwargs: Any) -> list[str]:
    """One seaborn line per value of ``group`` (text labels, in table order) of ``y`` against ``x``."""
    import seaborn as sns

    order = list(dict.fromkeys(group))
    sns.lineplot(data=table.assign(_group=group.to_numpy()), x=x, y=y, hue="_group", hue_order=order,
                 palette=dict(zip(order, colours)), errorbar=None, sort=True, ax=ax, **kwargs)
    return order


@themed
def plot_power_curves(curves: pd.DataFrame, *, ax: Any = None, x: str = "subjects", group: str = "hazard_ratio",
                      target: float | None = 0.8, mark: float | None = None, xlabel: str = "Participants") -> Any:
    """Power against ``x`` (participants or events), one line per value of ``group`` (hazard ratio).

    Parameters
    ----------
    curves : pandas.DataFrame
        Columns ``x``, ``group`` and ``power`` (a probability), e.g. from
        :func:`peerstudy.design.power_survival` over a grid.
    ax : matplotlib Axes, optional
    x, group : str
        Column names of the horizontal axis and of the line groups.
    target : float, optional
        Target power drawn as a dashed horizontal line (``None``: none).
    mark : float, optional
        A planned size drawn as a dotted vertical line (``None``: none).
    xlabel : str
        Label of the horizontal axis.

    Returns
    -------
    matplotlib Axes

    Raises
    ------
    DataError
        A column is missing or the table is empty.
    """
    _need(curves, [x, group, "power"], "plot_power_curves")
    import seaborn as sns

    _, ax = create_ax(ax)
    names = curves[group].map(lambda v: f"HR {v:g}" if group == "hazard_ratio" else f"{group} {v}")
    n_levels = names.nunique()
    order = _lines(ax, curves, x, "power", names, sns.color_palette("viridis", n_levels + 1)[:n_levels])
    if target is not None:
        ax.axhline(target, color="grey", ls="--", lw=1)
        ax.text(ax.get_xlim()[0], target, f" target {target:.0%}", va="bottom", ha="left", fontsize=8, color="grey")
    if mark is not None:
        ax.axvline(mark, color="black", ls=":", lw=1)
        ax.text(mark, 0.02, f" planned {mark:,.0f}", rotation=90, va="bottom", ha="right", fontsize=8)
    ax.set_ylim(0, 1.02)
    percent_axis(ax.yaxis)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("Power")
    place_legend(ax, "right", title="")
    span = f"{curves[x].min():,.0f} to {curves[x].max():,.0f}"
    describe(ax, f"Power against {xlabel.lower()} ({span}), one line per {_group_name(group)} ({', '.join(order)})"
                 + (f", with the {target:.0%} target as a dashed line" if target is not None else "")
                 + (f" and the planned {mark:,.0f} as a dotted line" if mark is not None else "") + ".")
    return ax


def _group_name(group: str) -> str:
    return "hazard ratio" if group == "hazard_ratio" else group.replace("_", " ")


@themed
def plot_events_participants(table: pd.DataFrame, *, ax: Any = None, x: str = "follow_up",
                             xlabel: str = "Follow-up per participant (days)", mark: float | None = None) -> Any:
    """Dropouts (events) needed and participants needed against ``x`` (e.g. follow-up length).

    The events needed depend only on the hazard ratio, alpha and power; the participants needed are
    the events divided by the chance that a participant's dropout is observed, so they fall as
    follow-up grows.

    Parameters
    ----------
    table : pandas.DataFrame
        Columns ``x``, ``events`` and ``subjects``.
    ax : matplotlib Axes, optional
    x, xlabel : str
        Column of the horizontal axis and its label.
    mark : float, optional
        The planned value of ``x``, drawn as a dotted vertical line.

    Returns
    -------
    matplotlib Axes
    """
    _need(table, [x, "events", "subjects"], "plot_events_participants")
    _, ax = create_ax(ax)
    t = table.sort_values(x)
    quantities = {"subjects": "participants needed", "events": "dropouts (events) needed"}
    long = t.melt(id_vars=[x], value_vars=list(quantities), value_name="number")
    _lines(ax, long, x, "number", long["variable"].map(quantities), ["#4c72b0", "#c44e52"], style="_group",
           markers=["o", "s"], dashes=False, markersize=5, markeredgewidth=0)
    ax.fill_between(t[x], t["events"], t["subjects"], color="#4c72b0", alpha=0.08, lw=0)
    if mark is not None:
        ax.axvline(mark, color="black", ls=":", lw=1)
    ax.set_ylim(0, None)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("Number")
    place_legend(ax, "right", title="")
    describe(ax, f"Participants needed and dropouts (events) needed against {xlabel.lower()}: the dropouts needed "
                 f"stay near {t['events'].median():,.0f} while the participants needed fall from "
                 f"{t['subjects'].iloc[0]:,.0f} to {t['subjects'].iloc[-1]:,.0f}"
                 + (f"; the planned {mark:,.0f} is a dotted line." if mark is not None else "."))
    return ax


@themed
def plot_design_effect(table: pd.DataFrame, *, ax: Any = None, x: str = "icc", group: str = "cluster_size",
                       y: str = "subjects", xlabel: str = "Intra-cluster correlation (ICC)",
                       ylabel: str = "Participants needed", baseline: float | None = None) -> Any:
    """Participants (or events) needed against the intra-cluster correlation, one line per cluster size.

    Parameters
    ----------
    table : pandas.DataFrame
        Columns ``x``, ``group`` and ``y``.
    ax : matplotlib Axes, optional
    x, group, y, xlabel, ylabel : str
        Columns and labels.
    baseline : float, optional
        The unclustered requirement, drawn as a dashed horizontal line.

    Returns
    -------
    matplotlib Axes
    """
    _need(table, [x, group, y], "plot_design_effect")
    import matplotlib.pyplot as plt

    _, ax = create_ax(ax)
    names = table[group].map(lambda v: f"{v:,.0f} per cluster")
    n_levels = names.nunique()
    colours = plt.get_cmap("magma")(np.linspace(0.15, 0.75, max(n_levels, 1)))
    order = _lines(ax, table, x, y, names, list(colours), marker="o", markersize=5, markeredgewidth=0)
    if baseline is not None:
        ax.axhline(baseline, color="grey", ls="--", lw=1, label="no clustering")
    ax.set_ylim(0, None)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    place_legend(ax, "right", title="")
    describe(ax, f"{ylabel} against {xlabel[0].lower() + xlabel[1:]} from {table[x].min():g} to {table[x].max():g}, "
                 f"one line per cluster size ({', '.join(order)})"
                 + (f", with {baseline:,.0f} needed without clustering as a dashed line." if baseline is not None
                    else "."))
    return ax


@themed
def plot_simulation_vs_formula(table: pd.DataFrame, *, ax: Any = None, label: str = "design",
                               simulated: str = "power", mcse: str = "power_mcse", formula: str = "formula",
                               z: float = 1.959963984540054) -> Any:
    """Simulated power (with a Monte Carlo interval) beside the formula's power, one row per design.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per design (and method): columns ``label``, ``simulated`` (rejection rate), ``mcse``
        (its Monte Carlo SE) and ``formula`` (analytic power), as
        :meth:`peerstudy.design.study.StudyResult.table` with a design label and a formula column
        added. An optional column ``method`` splits the simulated points.
    ax : matplotlib Axes, optional
    label, simulated, mcse, formula : str
        Column names: the designs (rows of the figure, top to bottom in table order), simulated power,
        its Monte Carlo SE and the formula's power.
    z : float
        Width of the Monte Carlo interval in standard errors (default 95%).

    Returns
    -------
    matplotlib Axes
    """
    _need(table, [label, simulated, mcse, formula], "plot_simulation_vs_formula")
    _, ax = create_ax(ax, figsize=(8, 0.7 * table[label].nunique() + 2))
    designs = list(dict.fromkeys(table[label]))
    ypos = {d: i for i, d in enumerate(designs)}
    methods = list(dict.fromkeys(table["method"])) if "method" in table.columns else [None]
    offsets = np.linspace(-0.15, 0.15, len(methods)) if len(methods) > 1 else [0.0]
    colours = ["#dd8452", "#4c72b0", "#55a868", "#8172b3", "#937860"]
    for k, (method, off) in enumerate(zip(methods, offsets)):
        sub = table if method is None else table[table["method"] == method]
        y = np.array([ypos[d] for d in sub[label]], dtype=float) + off
        ax.errorbar(sub[simulated], y, xerr=z * sub[mcse].to_numpy(), fmt="o", color=colours[k % len(colours)],
                    capsize=3, label="simulated" + (f", {METHOD_LABELS.get(method, method)}" if method else ""))
    first = table.drop_duplicates(label)
    ax.plot(first[formula], [ypos[d] for d in first[label]], "D", mfc="white", mec="black", ms=8,
            label="formula", zorder=3)
    ax.set_yticks(range(len(designs)), designs)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.02)
    percent_axis(ax.xaxis)
    ax.set_xlabel("Power (share of studies with p < alpha)")
    ax.set_ylabel("Design")
    ax.grid(axis="y", visible=False)
    place_legend(ax, "right")
    names = [METHOD_LABELS.get(m, m) for m in methods if m is not None]
    describe(ax, f"Simulated power with 95% Monte Carlo intervals beside the formula's power (open diamonds) for "
                 f"{len(designs)} design{'s' if len(designs) != 1 else ''}: {'; '.join(designs)}"
                 + (f"; simulated by {'; '.join(names)}." if names else "."))
    return ax


_BOUNDARY_FIELDS = ("looks", "sided", "hazard_ratio", "events_per_look", "critical_values", "critical_values_hr")


@themed
def plot_boundaries(design: Any, *, axes: Any = None) -> Any:
    """A group-sequential design's stopping boundaries by look, on the z scale and the hazard-ratio scale.

    Parameters
    ----------
    design : SequentialDesign or mapping
        :class:`peerstudy.design.sequential.SequentialDesign` (or its ``to_dict()``): dropouts per look, the
        efficacy boundaries on both scales (the far side too for a two-sided design) and any futility bounds.
    axes : pair of matplotlib Axes, optional
        Where to draw the z and the hazard-ratio panels (default a new figure with both). The z statistic is drawn in
        the direction of the designed effect, so an efficacy boundary is above 0 whichever way the effect goes.

    Returns
    -------
    numpy.ndarray
        The two Axes (z scale, hazard-ratio scale).
    """
    doc = design.to_dict() if hasattr(design, "to_dict") else design
    if not isinstance(doc, Mapping) or any(k not in doc for k in _BOUNDARY_FIELDS):
        raise DataError(f"plot_boundaries needs a SequentialDesign or its to_dict(); got {type(design).__name__}")
    if axes is None:
        import matplotlib.pyplot as plt

        _, axes = plt.subplots(1, 2, figsize=(10, 4.2), layout="constrained")
    axes = np.asarray(axes).ravel()
    if axes.size != 2:
        raise DataError(f"plot_boundaries draws on two Axes; got {axes.size}")
    x = np.asarray(doc["events_per_look"], float)
    z = np.asarray(doc["critical_values"], float)
    hr = np.asarray(doc["critical_values_hr"], float)
    fut_z = doc.get("futility_bounds")
    fut_hr = doc.get("futility_hr")
    benefit = doc["hazard_ratio"] < 1
    k = len(x)
    for ax, scale in zip(axes, ("z", "hr")):
        eff = z if scale == "z" else hr
        ax.plot(x, eff, "o-", color="#55a868", label="stop: effect shown")
        if doc["sided"] == 2:
            other = -z if scale == "z" else np.asarray(doc.get("critical_values_hr_other") or [np.nan] * k, float)
            ax.plot(x, other, "o--", color="#c44e52", label="stop: harm shown")
        if fut_z:
            fx = x[: len(fut_z)]
            fv = np.asarray(fut_z if scale == "z" else fut_hr, float)
            ax.plot(fx, fv, "s:", color="#8172b3", label="stop: futility")
        ax.set_xlabel("Dropouts observed at the look")
        if scale == "z":
            ax.axhline(0, color="0.6", lw=0.8)
            ax.set_ylabel("z statistic (in the direction of the effect)")
            ax.set_title("z scale")
        else:
            ax.axhline(1, color="0.6", lw=0.8)
            ax.set_ylabel("Hazard ratio of dropout (peer vs usual care)")
            ax.set_title("Hazard-ratio scale")
        for xi, zi in zip(x, eff):
            ax.annotate(f"{zi:.3g}", (xi, zi), textcoords="offset points", xytext=(0, 7), ha="center",
                        fontsize=8)
    place_legend(axes[1], "right")
    side = "two-sided" if doc["sided"] == 2 else "one-sided"
    describe(axes[0], f"Stopping boundaries of a {side} group-sequential design with {k} looks, at "
                      f"{', '.join(f'{v:.0f}' for v in x)} dropouts: efficacy z boundaries "
                      f"{', '.join(f'{v:.2f}' for v in z)}, i.e. hazard ratios "
                      f"{'at or below' if benefit else 'at or above'} {', '.join(f'{v:.3f}' for v in hr)}"
                      + (f"; futility z bounds {', '.join(f'{v:.2f}' for v in fut_z)}" if fut_z else "") + ".")
    return axes


@themed
def plot_flow(flow: Mapping[str, Any], *, ax: Any = None, arms: Mapping[str, int] | None = None,
              suppress: bool = False, threshold: int = THRESHOLD) -> Any:
    """A CONSORT-style flow of records: received, excluded by reason, analysed (by arm).

    Parameters
    ----------
    flow : mapping
        ``{"received": n, "excluded": {reason: n}, "analysed": n}``, as
        :attr:`peerstudy.data.programme.ProgrammeData.flow`.
    ax : matplotlib Axes, optional
    arms : mapping, optional
        Analysed people by arm (``{"usual_care": n, "peer": n}``), drawn under "analysed".
    suppress : bool, default False
        Show counts from 1 to ``threshold - 1`` as ``"<11"``, with complementary suppression of the
        exclusion reasons and of the arms (their totals are shown), as for real data.
    threshold : int, default 11

    Returns
    -------
    matplotlib Axes

    Raises
    ------
    DataError
        ``flow`` lacks a key or its counts do not add up.
    """
    missing = [k for k in ("received", "excluded", "analysed") if k not in flow]
    if missing:
        raise DataError(f"plot_flow needs flow keys {', '.join(map(repr, missing))}; got {sorted(flow)}")
    excluded = {str(k): int(v) for k, v in dict(flow["excluded"]).items()}
    received, analysed = int(flow["received"]), int(flow["analysed"])
    if received != analysed + sum(excluded.values()):
        raise DataError(f"flow does not add up: received {received} != analysed {analysed} "
                        f"+ excluded {sum(excluded.values())}")
    # the flow is suppressed as a whole (received = excluded + analysed, excluded = its reasons, analysed = the
    # arms): no total beside its parts gives a hidden count back
    sf = suppress_flow(flow, arms, suppress=suppress, threshold=threshold)
    parts = {**sf["excluded"], "\0analysed": sf["analysed"]}
    _, ax = create_ax(ax, figsize=(7, 4.2))
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 10)
    ax.axis("off")
    box = dict(boxstyle="round,pad=0.5", fc="#f4f4f4", ec="#333333")
    ax.text(3, 9, f"Records received\n{sf['received']}", ha="center", va="center", fontsize=10, bbox=box)
    n_excl = received - analysed
    reasons = "\n".join(f"{k}: {parts[k]}" for k in excluded) or "none"
    ax.text(6.2, 6.2, f"Excluded: {sf['excluded_total']}\n{reasons}", ha="left", va="center", fontsize=9,
            bbox=dict(boxstyle="round,pad=0.5", fc="#fbeaea", ec="#c44e52"))
    ax.text(3, 3.4, f"Analysed\n{parts[chr(0) + 'analysed']}", ha="center", va="center", fontsize=10, bbox=box)
    arrow = dict(arrowstyle="-|>", color="#333333", lw=1.2)
    ax.annotate("", xy=(3, 4.2), xytext=(3, 8.3), arrowprops=arrow)
    ax.annotate("", xy=(6.1, 6.2), xytext=(3, 6.2), arrowprops=arrow)
    if arms:
        from peerstudy.present.plots.survival import ARM_LABELS

        shown = sf["arms"]
        xs = np.linspace(1.2, 4.8, len(shown)) if len(shown) > 1 else [3.0]
        for xpos, (arm, text) in zip(xs, shown.items()):
            ax.text(xpos, 0.9, f"{ARM_LABELS.get(arm, arm)}\n{text}", ha="center", va="center", fontsize=9, bbox=box)
            ax.annotate("", xy=(xpos, 1.6), xytext=(3, 2.7), arrowprops=arrow)
    by_arm = (" (" + ", ".join(f"{ARM_LABELS.get(a, a).lower()} {t}" for a, t in shown.items()) + ")") if arms else ""
    describe(ax, f"Flow of records: {sf['received']} received, {sf['excluded_total']} excluded"
                 + (f" ({'; '.join(f'{k} {parts[k]}' for k in excluded)})" if excluded else "")
                 + f", {parts[chr(0) + 'analysed']} analysed{by_arm}.")
    return ax
