"""Figures of a meta-analysis: a forest plot for publication and a funnel plot.

Both take a :class:`peerstudy.evidence.MetaResult`, draw on ``ax`` (a new figure when ``None``) inside the figure
theme, give the figure its alt text and return the Axes. Ratios are drawn on a log axis with labelled ticks at
round values (0.5, 1, 2 ...), so that equal distances mean equal multiples.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from peerstudy.evidence.meta import MEASURES, EggerResult, MetaResult
from peerstudy.exceptions import DataError
from peerstudy.present.plots._axes import create_ax, describe, themed
from peerstudy.present.plots.survival import _ratio_ticks

__all__ = ["plot_meta_forest", "plot_funnel"]

_STUDY, _POOLED, _PREDICTION = "#4c72b0", "#c44e52", "#8c8c8c"


def _need_result(result: Any, what: str) -> MetaResult:
    if not isinstance(result, MetaResult):
        raise DataError(f"{what} needs a MetaResult (peerstudy.evidence.meta_analysis); got {type(result).__name__}")
    return result


def _fmt(value: float) -> str:
    return f"{value:.2f}"


def _model_words(res: MetaResult) -> str:
    words = {"FE": "common-effect", "DL": "random-effects (DerSimonian-Laird)", "REML": "random-effects (REML)"}
    return words[res.method] + (", Hartung-Knapp" if res.test == "knha" else "")


@themed
def plot_meta_forest(result: MetaResult, *, ax: Any = None, labels: Sequence[str] | None = None,
                     prediction: bool = True, xlabel: str | None = None,
                     favours: tuple[str, str] = ("peer support", "comparison")) -> Any:
    """Forest plot: each study's effect and interval, its weight, the pooled diamond and the prediction interval.

    Each study is a square whose area is proportional to its weight, with its confidence interval; the
    pooled estimate is a diamond spanning its confidence interval; the prediction interval (where the
    effect of a new, similar study would lie) is a grey bar below it. The estimates, intervals and weights
    are printed in columns at the right. Ratios are drawn on a log axis.

    Parameters
    ----------
    result : MetaResult
        From :func:`peerstudy.evidence.meta_analysis`.
    ax : matplotlib Axes, optional
        Drawn on as given; leave room at the right for the printed columns.
    labels : sequence of str, optional
        Study labels (default the result's).
    prediction : bool, default True
        Draw the prediction interval (not for a common-effect model, which has none).
    xlabel : str, optional
        Label of the effect axis (default: the measure, its scale and which side favours what).
    favours : (str, str)
        What an effect below 1 (below 0 for a difference) and above it favour.

    Returns
    -------
    matplotlib Axes
    """
    res = _need_result(result, "plot_meta_forest")
    names = list(labels) if labels is not None else list(res.labels)
    if len(names) != res.k:
        raise DataError(f"plot_meta_forest needs one label per study; got {len(names)} for {res.k} studies")
    table = res.studies()
    ratio = res.is_ratio
    f = res.exp
    show_pi = prediction and res.method != "FE" and res.k > 1
    rows = res.k + 1 + int(show_pi)
    if ax is None:  # a new figure: the printed columns get an Axes of their own, sharing the rows
        import matplotlib.pyplot as plt

        _, (ax, cols) = plt.subplots(1, 2, figsize=(10.0, 0.42 * rows + 1.6), width_ratios=(2.2, 1.2), sharey=True,
                                     layout="constrained")
    else:  # the caller's Axes: the columns go in an inset at its right (leave room for them)
        _, ax = create_ax(ax)
        cols = ax.inset_axes([1.01, 0.0, 0.55, 1.0], sharey=ax)
    ys = np.arange(res.k, 0, -1, dtype=float) + 1 + int(show_pi)  # studies at the top
    y_pool = 1.0 + int(show_pi)
    y_pi = 1.0
    err = np.vstack([table["estimate"] - table["ci_lower"], table["ci_upper"] - table["estimate"]])
    ax.errorbar(table["estimate"], ys, xerr=err, fmt="none", ecolor=_STUDY, elinewidth=1.4, capsize=0, zorder=2)
    sizes = 30 + 400 * np.asarray(table["weight"]) / 100
    ax.scatter(table["estimate"], ys, s=sizes, marker="s", color=_STUDY, zorder=3, label="study (area: weight)")
    lo, est, hi = f(res.ci_lower), f(res.estimate), f(res.ci_upper)
    ax.fill([lo, est, hi, est], [y_pool, y_pool + 0.32, y_pool, y_pool - 0.32], color=_POOLED, zorder=3,
            label="pooled estimate")
    if show_pi:
        ax.plot([f(res.pi_lower), f(res.pi_upper)], [y_pi, y_pi], color=_PREDICTION, lw=5, solid_capstyle="butt",
                zorder=2, label="prediction interval")
    null = 1.0 if ratio else 0.0
    ax.axvline(null, color="0.3", lw=1, zorder=1)
    ax.axvline(est, color=_POOLED, lw=0.8, ls=":", zorder=1)
    if ratio:
        ax.set_xscale("log")
        lows = [table["ci_lower"].min(), lo] + ([f(res.pi_lower)] if show_pi else [])
        highs = [table["ci_upper"].max(), hi] + ([f(res.pi_upper)] if show_pi else [])
        span = np.log([min(lows), max(highs)])
        pad = 0.06 * (span[1] - span[0] or 1)
        ax.set_xlim(np.exp(min(span[0] - pad, np.log(null) - pad)), np.exp(max(span[1] + pad, np.log(null) + pad)))
        _ratio_ticks(ax)
    level = f"{res.level:.0%}"
    pooled_name = f"Pooled, {_model_words(res)}"
    tick_labels = names + [pooled_name] + ([f"{level} prediction interval"] if show_pi else [])
    ax.set_yticks(list(ys) + [y_pool] + ([y_pi] if show_pi else []), tick_labels)
    ax.set_ylim(0.4, ys.max() + 0.9)
    ax.grid(axis="y", visible=False)
    measure = MEASURES.get(res.measure or "", "effect")
    if xlabel is None:
        scale = " (log scale)" if ratio else ""
        xlabel = (f"{measure.capitalize()}{scale}: below {null:g} favours {favours[0]}, "
                  f"above favours {favours[1]}")
    ax.set_xlabel(xlabel)
    # printed columns: estimate [CI] and weight
    cols.set_axis_off()
    head_y = ys.max() + 0.75
    bold = {"fontweight": "bold"}
    cols.text(0.02, head_y, f"{res.measure or 'Effect'} [{level} CI]", ha="left", va="center", **bold)
    cols.text(0.98, head_y, "Weight", ha="right", va="center", **bold)
    ax.text(-0.01, head_y, "Study", transform=ax.get_yaxis_transform(), ha="right", va="center", **bold)
    for y, r in zip(ys, table.itertuples()):
        cols.text(0.02, y, f"{_fmt(r.estimate)} [{_fmt(r.ci_lower)}, {_fmt(r.ci_upper)}]", ha="left", va="center")
        cols.text(0.98, y, f"{r.weight:.1f}%", ha="right", va="center")
    cols.text(0.02, y_pool, f"{_fmt(est)} [{_fmt(lo)}, {_fmt(hi)}]", ha="left", va="center", **bold)
    cols.text(0.98, y_pool, "100%", ha="right", va="center", **bold)
    if show_pi:
        cols.text(0.02, y_pi, f"[{_fmt(f(res.pi_lower))}, {_fmt(f(res.pi_upper))}]", ha="left", va="center",
                  color="0.35")
    het = (f"Heterogeneity: I² = {res.i2:.0f}%, τ² = {res.tau2:.3f}, Q = {res.q:.2f} on {res.q_df} df "
           f"(p = {res.q_pvalue:.2g})") if res.k > 1 else "One study: no heterogeneity to measure"
    ax.set_title(het, loc="left", fontsize="medium", pad=14)
    pi_words = (f"; the {level} prediction interval for a new study runs from {_fmt(f(res.pi_lower))} to "
                f"{_fmt(f(res.pi_upper))}") if show_pi else ""
    describe(ax, f"Forest plot of {res.k} studies' {measure}s with {level} confidence intervals"
                 f"{' on a log scale' if ratio else ''}, squares sized by weight: "
                 + "; ".join(f"{n} {_fmt(r.estimate)} ({_fmt(r.ci_lower)} to {_fmt(r.ci_upper)}, weight "
                             f"{r.weight:.0f}%)" for n, r in zip(names, table.itertuples()))
                 + f". The pooled {_model_words(res)} estimate is {_fmt(est)} ({_fmt(lo)} to {_fmt(hi)}){pi_words}; "
                   f"{het[0].lower() + het[1:]}.")
    return ax


@themed
def plot_funnel(result: MetaResult, *, ax: Any = None, egger: EggerResult | None = None,
                label_studies: bool | None = None) -> Any:
    """Funnel plot: each study's effect against its standard error (most precise at the top).

    The dashed funnel is ``estimate -/+ 1.96 SE`` around the pooled estimate: without small-study effects
    and heterogeneity, about 95% of studies fall inside it, symmetrically. Ratios are drawn on a log axis.

    Parameters
    ----------
    result : MetaResult
    egger : EggerResult, optional
        Its test is printed in the title and the alt text.
    label_studies : bool, optional
        Write each study's label beside its point (default: when there are at most 8 studies).

    Returns
    -------
    matplotlib Axes
    """
    res = _need_result(result, "plot_funnel")
    _, ax = create_ax(ax, figsize=(6.0, 4.5))
    y = np.asarray(res.yi)
    se = np.sqrt(res.vi)
    top = float(se.max()) * 1.1
    grid = np.linspace(0, top, 50)
    f = np.exp if res.is_ratio else (lambda x: x)
    ax.plot(f(res.estimate - 1.959964 * grid), grid, color="0.5", ls="--", lw=1)
    ax.plot(f(res.estimate + 1.959964 * grid), grid, color="0.5", ls="--", lw=1)
    ax.axvline(f(res.estimate), color=_POOLED, lw=1)
    ax.scatter(f(y), se, color=_STUDY, zorder=3, s=36)
    for label, xv, yv in zip(res.labels, f(y), se) if (res.k <= 8 if label_studies is None else label_studies) else ():
        ax.annotate(label, (xv, yv), xytext=(5, 3), textcoords="offset points", fontsize="small")
    if res.is_ratio:
        ax.set_xscale("log")
        _ratio_ticks(ax)
    ax.set_ylim(top, 0)
    measure = MEASURES.get(res.measure or "", "effect")
    ax.set_xlabel(f"{measure.capitalize()}{' (log scale)' if res.is_ratio else ''}")
    ax.set_ylabel("Standard error")
    test = ""
    if egger is not None:
        test = (f"Egger's test ({egger.model}): slope {egger.slope:.2f}, p = {egger.pvalue:.2g}, with {egger.k} "
                f"studies")
        ax.set_title(test, loc="left", fontsize="medium")
    describe(ax, f"Funnel plot of {res.k} studies' {measure}s against their standard errors, the most precise at "
                 f"the top, around the pooled estimate {res.exp(res.estimate):.2f} with a dashed 95% funnel"
                 + (f"; {test}" if test else "") + ".")
    return ax
