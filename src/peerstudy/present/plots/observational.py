"""Figures for observational analyses: propensity-score overlap and a love plot of covariate balance.

Each function takes a result (or table), draws on ``ax`` (a new figure's axes if ``None``) and returns
the Axes; nothing is shown (no ``plt.show()``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from peerstudy.exceptions import AnalysisError

__all__ = ["plot_overlap", "plot_love"]


def _axes(ax: Any):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(6, 4))
    return ax


def plot_overlap(weights: Any, *, ax: Any = None, bins: int = 30, labels: tuple[str, str] | None = None):
    """Histograms of the propensity score by arm (control above the axis, treated mirrored below).

    Parameters
    ----------
    weights : IPTWeights or PropensityModel
        From :func:`peerstudy.survival.weighting.iptw_weights` or ``fit_propensity``.
    ax : matplotlib Axes, optional
    bins : int, default 30
        Bins over [0, 1].
    labels : (str, str), optional
        Names of the control and treated groups (default ``"control"``, the treated level).

    Returns
    -------
    matplotlib.axes.Axes
        Little overlap (mass near 0 for one arm and near 1 for the other) means extreme weights.
    """
    model = getattr(weights, "model", weights)
    if not hasattr(model, "scores"):
        raise AnalysisError(f"plot_overlap needs IPTWeights or a PropensityModel; got {type(weights).__name__}")
    ax = _axes(ax)
    ps, a = np.asarray(model.scores), np.asarray(model.treated)
    labels = labels or ("control", model.treated_level)
    edges = np.linspace(0, 1, int(bins) + 1)
    h0, _ = np.histogram(ps[a == 0], bins=edges)
    h1, _ = np.histogram(ps[a == 1], bins=edges)
    width = np.diff(edges)
    ax.bar(edges[:-1], h0, width=width, align="edge", color="tab:blue", alpha=0.7, label=labels[0])
    ax.bar(edges[:-1], -h1, width=width, align="edge", color="tab:orange", alpha=0.7, label=labels[1])
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xlim(0, 1)
    ax.set_xlabel("propensity score P(treated | covariates)")
    ax.set_ylabel(f"people ({labels[1]} below the axis)")
    ax.set_title("Propensity score overlap")
    ax.legend(loc="upper right", frameon=False)
    return ax


def plot_love(balance: Any, *, ax: Any = None, threshold: float = 0.1):
    """Love plot: absolute standardised mean differences before and after weighting, one row per term.

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
    ax = _axes(ax)
    t = table.assign(before=table["smd_before"].abs(), after=table["smd_after"].abs()).sort_values("before")
    y = np.arange(len(t))
    ax.scatter(t["before"], y, marker="o", facecolors="none", edgecolors="tab:red", label="unweighted")
    if t["after"].notna().any():
        ax.scatter(t["after"], y, marker="o", color="tab:blue", label="weighted")
    ax.axvline(threshold, color="grey", linestyle="--", linewidth=0.8)
    ax.set_yticks(y)
    ax.set_yticklabels(t["term"])
    ax.set_xlabel("|standardised mean difference|")
    ax.set_title("Covariate balance")
    ax.set_xlim(left=0)
    ax.legend(loc="lower right", frameon=False)
    return ax
