"""Figures for observational analyses: propensity-score overlap, a love plot of covariate balance, and
standardised (adjusted) retention curves beside a known truth.

Each function takes a result (or table), draws on ``ax`` (a new figure's axes if ``None``,
:func:`._axes.create_ax`) inside the figure theme with seaborn (``histplot`` and ``kdeplot`` for the
mirrored overlap, ``pointplot`` for the balance), gives the figure its alt text (:func:`._axes.describe`)
and returns the Axes; nothing is shown (no ``plt.show()``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from peerstudy.exceptions import AnalysisError
from peerstudy.present.plots._axes import create_ax, describe, place_legend, themed

__all__ = ["plot_overlap", "plot_love", "plot_adjusted_curves"]

#: Colours of the control and treated groups (seaborn's "deep" blue and orange, as the arms').
_GROUP_COLOURS = ("#4c72b0", "#dd8452")


@themed
def plot_overlap(weights: Any, *, ax: Any = None, bins: int = 30, labels: tuple[str, str] | None = None,
                 suppress: bool = False):
    """The propensity score's distribution in each group, mirrored: control above the axis, treated below.

    Each group is a seaborn density histogram with its kernel density (``histplot`` and ``kdeplot``),
    of area 1 whatever the group's size; the treated group's is drawn downwards. The vertical axis is
    a density and its labels are distances from the axis, never negative.

    Parameters
    ----------
    weights : IPTWeights or PropensityModel
        From :func:`peerstudy.survival.weighting.iptw_weights` or ``fit_propensity``.
    ax : matplotlib Axes, optional
    bins : int, default 30
        Histogram bins over [0, 1].
    labels : (str, str), optional
        Names of the control and treated groups (default ``"control"``, the treated level).
    suppress : bool, default False
        Real data: draw only the smooth densities, no histogram bars (a bar's height times the
        group size and the bin width would give the number of people in the bin).

    Returns
    -------
    matplotlib.axes.Axes
        Little overlap (mass near 0 for one group and near 1 for the other) means extreme weights.
    """
    model = getattr(weights, "model", weights)
    if not hasattr(model, "scores"):
        raise AnalysisError(f"plot_overlap needs IPTWeights or a PropensityModel; got {type(weights).__name__}")
    import seaborn as sns
    from matplotlib.ticker import FuncFormatter

    _, ax = create_ax(ax, figsize=(6, 4))
    ps, a = np.asarray(model.scores, float), np.asarray(model.treated)
    labels = tuple(labels or ("control", str(model.treated_level)))
    reach = [0.0, 0.0]  # how far each group's density goes from the axis
    for k, (name, colour, sign) in enumerate(zip(labels, _GROUP_COLOURS, (1, -1))):
        scores = ps[a == k]
        n_patches, n_lines, n_colls = len(ax.patches), len(ax.lines), len(ax.collections)
        if not suppress and len(scores):
            sns.histplot(x=scores, stat="density", bins=np.linspace(0, 1, int(bins) + 1), color=colour, alpha=0.35,
                         linewidth=0, label=name, ax=ax)
        if np.unique(scores).size > 1:  # a kernel density needs spread
            sns.kdeplot(x=scores, clip=(0, 1), color=colour, linewidth=2, fill=bool(suppress),
                        alpha=0.3 if suppress else 1, label=name if suppress else None, ax=ax)
        for bar in ax.patches[n_patches:]:
            reach[k] = max(reach[k], bar.get_height())
            bar.set_height(sign * bar.get_height())
        for line in ax.lines[n_lines:]:
            reach[k] = max(reach[k], float(np.max(line.get_ydata(), initial=0)))
            line.set_ydata(sign * np.asarray(line.get_ydata()))
        for coll in ax.collections[n_colls:]:
            for path in coll.get_paths():
                reach[k] = max(reach[k], float(np.max(path.vertices[:, 1], initial=0)))
                path.vertices[:, 1] *= sign
    ax.axhline(0, color="0.2", linewidth=0.8)
    ax.set_xlim(0, 1)
    ax.set_ylim(-1.08 * (reach[1] or 1), 1.08 * (reach[0] or 1))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{abs(v):g}"))
    ax.set_xlabel("Propensity score P(treated | covariates)")
    ax.set_ylabel(f"Density ({labels[0]} above, {labels[1]} below)")
    ax.set_title("Propensity score overlap")
    place_legend(ax, "right", title="")
    describe(ax, f"Mirrored densities of the propensity score (0 to 1), {labels[0]} above the axis and "
                 f"{labels[1]} below"
                 + ("" if suppress else ", as histograms with smooth curves")
                 + f"; median score {_median(ps[a == 0])} for {labels[0]} and {_median(ps[a == 1])} for {labels[1]}.")
    return ax


def _median(values: np.ndarray) -> str:
    return f"{float(np.median(values)):.2f}" if len(values) else "none"


@themed
def plot_love(balance: Any, *, ax: Any = None, threshold: float = 0.1):
    """Love plot: absolute standardised mean differences before (open) and after (filled) weighting, one row per term.

    Rows run from the largest imbalance before weighting (top) to the smallest (seaborn ``pointplot``).

    Parameters
    ----------
    balance : IPTWeights or pandas.DataFrame
        An :class:`~peerstudy.survival.weighting.IPTWeights` or a :func:`~peerstudy.survival.weighting.balance_table`.
    ax : matplotlib Axes, optional
    threshold : float, default 0.1
        Dashed reference line (``|SMD| < 0.1``: adequate balance).

    Returns
    -------
    matplotlib.axes.Axes
    """
    table = getattr(balance, "balance", balance)
    if not isinstance(table, pd.DataFrame) or not {"term", "smd_before", "smd_after"} <= set(table.columns):
        raise AnalysisError("plot_love needs IPTWeights or a balance table with columns term, smd_before, smd_after")
    import seaborn as sns

    _, ax = create_ax(ax, figsize=(6, 0.3 * len(table) + 1.6))
    t = (table.assign(term=table["term"].astype(str), unweighted=table["smd_before"].abs(),
                      weighted=table["smd_after"].abs())
         .sort_values("unweighted", ascending=False, kind="stable"))
    shown = ["unweighted", "weighted"] if t["weighted"].notna().any() else ["unweighted"]
    long = t.melt(id_vars="term", value_vars=shown, var_name="weighting", value_name="smd").dropna(subset=["smd"])
    order = list(t["term"])
    ax.hlines(range(len(order)), t[shown].min(axis=1), t[shown].max(axis=1), color="0.8", lw=1, zorder=1)
    sns.pointplot(data=long, x="smd", y="term", order=order, hue="weighting", hue_order=shown,
                  palette={"unweighted": "#c44e52", "weighted": "#4c72b0"}, markers=["o", "D"][:len(shown)],
                  linestyle="none", dodge=False, errorbar=None, markersize=7, ax=ax)
    ax.get_legend().remove()  # rebuilt below from seaborn's entries, with the open markers
    drawn = [line for line in ax.lines if len(line.get_xdata())]
    carriers = [line for line in ax.lines if not len(line.get_xdata())]
    for line in drawn[:1] + [c for c in carriers if c.get_label() == "unweighted"]:
        line.set_markerfacecolor("white")  # before weighting open, after filled
    ax.axvline(threshold, color="grey", linestyle="--", linewidth=0.8, label=f"|SMD| = {threshold:g}")
    from peerstudy.present.wording import label

    ax.set_yticks(range(len(order)), [label(term) for term in order])  # the words of the tables, not codes
    ax.set_xlabel("|standardised mean difference|")
    ax.set_ylabel("Covariate term")
    ax.set_title("Covariate balance")
    ax.set_xlim(left=0)
    ax.grid(axis="y", visible=False)
    place_legend(ax, "right", title="")
    text = (f"Love plot of the absolute standardised mean difference of {len(t)} covariate terms before"
            f"{' and after' if 'weighted' in shown else ''} weighting, with a dashed line at {threshold:g}")
    if len(t):
        text += f"; before weighting the largest is {t['unweighted'].iloc[0]:.2f} ({t['term'].iloc[0]})"
    if "weighted" in shown:
        text += f"; after weighting the largest is {t['weighted'].max():.2f}"
    describe(ax, text + ".")
    return ax


@themed
def plot_adjusted_curves(results: Any, *, truth: Any = None, ax: Any = None):
    """Adjusted retention curves of each arm, one line style per method, with the truth's points if known.

    Parameters
    ----------
    results : AdjustedRisk or mapping of label to AdjustedRisk
        From :func:`peerstudy.survival.observational.gformula.gformula_survival` or ``aipw_survival``
        (``curves``: ``time`` and one column of retention per arm).
    truth : mapping, optional
        ``{ARM: {DAY: retention}}`` (a simulation's ``net_survival``), drawn as points.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    items = dict(results) if isinstance(results, dict) else {getattr(results, "method", "adjusted"): results}
    if not items or not all(hasattr(r, "curves") and hasattr(r, "labels") for r in items.values()):
        raise AnalysisError("plot_adjusted_curves needs AdjustedRisk results (g-formula, IPTW or AIPW)")
    _, ax = create_ax(ax)
    styles = ["-", "--", ":", "-."]
    for k, (name, res) in enumerate(items.items()):
        c = res.curves
        for j, arm in enumerate(res.labels):
            ax.step(c["time"], c[arm], where="post", color=_GROUP_COLOURS[j % 2], ls=styles[k % len(styles)],
                    label=f"{name}, {arm}")
    if truth is not None:
        for j, arm in enumerate(next(iter(items.values())).labels):
            if arm in truth:
                days = sorted(float(d) for d in truth[arm])
                vals = [truth[arm][d] for d in sorted(truth[arm], key=float)]
                ax.plot(days, vals, "o", color=_GROUP_COLOURS[j % 2], label=f"truth, {arm}")
    ax.set_xlabel("Days since enrolment")
    ax.set_ylabel("Retained in treatment (standardised)")
    ax.set_ylim(0, 1.02)
    ax.set_title("Adjusted retention by arm")
    place_legend(ax, "right", title="")
    describe(ax, f"Adjusted retention curves of each arm by {', '.join(items)}"
                 f"{' with the true retention as points' if truth is not None else ''}.")
    return ax
