"""Figures for observational analyses: propensity-score overlap and a love plot of covariate balance.

Each function takes a result (or table), draws on ``ax`` (a new figure's axes if ``None``,
:func:`._axes.create_ax`) inside the figure theme with seaborn (``histplot`` and ``kdeplot`` for the
overlap, ``pointplot`` for the balance), gives the figure its alt text (:func:`._axes.describe`) and
returns the Axes; nothing is shown (no ``plt.show()``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from peerstudy.exceptions import AnalysisError
from peerstudy.present.plots._axes import create_ax, describe, place_legend, themed

__all__ = ["plot_overlap", "plot_love"]

#: Colours of the control and treated groups (seaborn's "deep" blue and orange, as the arms').
_GROUP_COLOURS = ("#4c72b0", "#dd8452")


@themed
def plot_overlap(weights: Any, *, ax: Any = None, bins: int = 30, labels: tuple[str, str] | None = None,
                 suppress: bool = False):
    """The propensity score's distribution in each group, overlaid: a density histogram and its smooth.

    Each group's histogram (and kernel density) has area 1 (seaborn ``common_norm=False``), so a
    small group is as visible as a large one and the vertical axis, a density, is never negative.

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

    _, ax = create_ax(ax, figsize=(6, 4))
    ps, a = np.asarray(model.scores, float), np.asarray(model.treated)
    labels = tuple(labels or ("control", str(model.treated_level)))
    frame = pd.DataFrame({"score": ps, "group": np.where(a == 1, labels[1], labels[0])})
    palette = dict(zip(labels, _GROUP_COLOURS))
    common = dict(data=frame, x="score", hue="group", hue_order=list(labels), palette=palette, common_norm=False,
                  ax=ax)
    if not suppress:
        sns.histplot(**common, stat="density", bins=np.linspace(0, 1, int(bins) + 1), element="bars", alpha=0.35,
                     linewidth=0)
    varied = [g for g in labels if frame.loc[frame["group"] == g, "score"].nunique() > 1]
    if varied:  # a kernel density needs spread; one score (or none) in a group has none
        sns.kdeplot(**{**common, "data": frame[frame["group"].isin(varied)]}, clip=(0, 1), linewidth=2,
                    fill=bool(suppress), alpha=0.25 if suppress else 1, legend=bool(suppress))
    ax.set_xlim(0, 1)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("Propensity score P(treated | covariates)")
    ax.set_ylabel("Density (each group's area is 1)")
    ax.set_title("Propensity score overlap")
    place_legend(ax, "right", title="")
    describe(ax, f"Overlaid densities of the propensity score (0 to 1) for {labels[0]} and {labels[1]}"
                 + ("" if suppress else ", as histograms with smooth curves")
                 + f"; median score {_median(ps[a == 0])} for {labels[0]} and {_median(ps[a == 1])} for {labels[1]}.")
    return ax


def _median(values: np.ndarray) -> str:
    return f"{float(np.median(values)):.2f}" if len(values) else "none"


@themed
def plot_love(balance: Any, *, ax: Any = None, threshold: float = 0.1):
    """Love plot: absolute standardised mean differences before and after weighting, one row per term.

    Rows run from the largest imbalance before weighting (top) to the smallest.

    Parameters
    ----------
    balance : IPTWeights or pandas.DataFrame
        An :class:`~peerstudy.survival.weighting.IPTWeights` or a :func:`~peerstudy.survival.weighting.balance_table`.
    ax : matplotlib Axes, optional
    threshold : float, default 0.1
        Dashed reference line (|SMD| < 0.1: adequate balance).

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
    ax.axvline(threshold, color="grey", linestyle="--", linewidth=0.8, label=f"|SMD| = {threshold:g}")
    ax.set_xlabel("|standardised mean difference|")
    ax.set_ylabel("Covariate term")
    ax.set_title("Covariate balance")
    ax.set_xlim(left=0)
    ax.grid(axis="y", visible=False)
    place_legend(ax, "right", title="")
    worst = t.iloc[0] if len(t) else None
    after = (f"; after weighting the largest is {t['weighted'].max():.2f}" if "weighted" in shown else "")
    describe(ax, f"Love plot of the absolute standardised mean difference of {len(t)} covariate terms before"
                 + (" and after" if "weighted" in shown else "") + " weighting, with a dashed line at "
                 + f"{threshold:g}"
                 + (f"; before weighting the largest is {worst['unweighted']:.2f} ({worst['term']})" if worst is not None
                    else "") + after + ".")
    return ax
