"""Figures from result objects: retention curves with numbers at risk, forest plots, Schoenfeld residuals, CIFs.

Every function draws on ``ax`` (a new figure when ``None``, :func:`._axes.create_ax`) inside the figure
theme, gives the figure its alt text (:func:`._axes.describe`, read back with :func:`._axes.alt_text`),
returns the Axes and never calls ``plt.show()``. Counts drawn on a figure (numbers at risk, monthly
enrolment) go through :mod:`peerstudy.present.privacy` when ``suppress=True``, as reports of real data ask; the
alt text then holds no count either. Step curves (Kaplan-Meier, CIF) are matplotlib's ``step``; the
enrolment bars are seaborn's stacked ``histplot``.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from peerstudy.exceptions import DataError
from peerstudy.present.plots._axes import create_ax, describe, percent_axis, place_legend, themed
from peerstudy.present.privacy import (binned_means, is_private, private_curve, private_steps, suppress_at_risk,
                                       suppress_counts, suppressed_label, suppression_mask)

__all__ = [
    "logrank_p",
    "cumulative_count",
    "ARM_LABELS",
    "ARM_COLOURS",
    "number_at_risk",
    "plot_km",
    "plot_forest",
    "plot_schoenfeld",
    "plot_cif",
    "plot_enrolment",
]

#: Plain-language names of the arms, for legends.
ARM_LABELS = {"usual_care": "Usual care", "peer": "Peer coach", "all": "Everyone"}
ARM_COLOURS = {"usual_care": "#4c72b0", "peer": "#dd8452", "all": "#55a868"}
_ENDING_COLOURS = {"dropout": "#c44e52", "incarcerated": "#8172b3", "died": "#333333",
                   "lost_to_follow_up": "#937860", "retained": "#55a868"}


def _label(group: str) -> str:
    return ARM_LABELS.get(group, str(group))


def _and(items: Sequence[str]) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def number_at_risk(curve: Any, days: Iterable[float]) -> np.ndarray:
    """People still observed (time >= day) at each of ``days``, from a Kaplan-Meier curve."""
    d = np.asarray(list(days), dtype=float)
    t = np.asarray(curve.time, dtype=float)
    idx = np.searchsorted(t, d, side="left")
    n_risk = np.asarray(curve.n_risk)
    out = np.where(idx < len(t), n_risk[np.minimum(idx, len(t) - 1)], 0)
    return out.astype(int)


@themed
def plot_km(km: Any, *, ax: Any = None, at_risk: bool = True, at_risk_days: Sequence[float] | None = None,
            suppress: bool | None = None, ci: bool = True, truth: Mapping[str, Mapping[str, float]] | None = None,
            title: str | None = None, censor_marks: bool = True, median_lines: bool = True,
            pvalue: bool | float | None = True, cumulative_events: bool = True) -> Any:
    """Kaplan-Meier retention by group, as R's survminer ``ggsurvplot`` draws it for a paper.

    Pointwise bands, censoring marks, median lines (dashed, where a median is reached), the log-rank p-value
    (in the legend's title, so it never covers a curve), and below the plot, aligned with its days, the number
    at risk and the cumulative number of dropouts per group. The legend sits above the plot.

    Parameters
    ----------
    km : KaplanMeierResult
        From :func:`peerstudy.survival.kaplan_meier`.
    ax : matplotlib Axes, optional
    at_risk : bool, default True
        Add the number-at-risk table below the plot.
    at_risk_days : sequence of float, optional
        Days of the tables (default every 30 days to the last time).
    suppress : bool, optional
        Real data: at-risk counts from 1 to 10 shown as "<11", and each curve drawn only while at least 11
        are at risk, as points at the end of each run of at least 11 dropouts joined by straight lines (see
        :func:`peerstudy.present.privacy.private_curve`). Default: :func:`~peerstudy.present.privacy.is_private`.
    ci : bool, default True
        Shade the pointwise confidence band.
    truth : mapping, optional
        ``{GROUP: {"30": s, ...}}``, e.g. a simulation's true net survival, drawn as open circles.
    censor_marks, median_lines, cumulative_events : bool, default True
        Draw censoring marks, median lines, the cumulative-dropouts table.
    pvalue : bool or float, default True
        True: the log-rank p-value of two or more unweighted groups, computed from the curves' risk sets
        (:func:`logrank_p`); a float: that p-value; False or None: none.

    Returns
    -------
    matplotlib Axes
    """
    fig, ax = create_ax(ax, figsize=(7, 4.2))
    suppress = is_private() if suppress is None else suppress
    last = 0.0
    truth_drawn = False
    for g, c in km.curves.items():
        if suppress:  # steps of >= 11 dropouts, drawn while >= 11 are at risk (privacy.private_steps)
            t, s, (lo, hi) = private_curve(c.time, c.survival, c.n_risk, c.n_event, start=1.0,
                                           others=(c.lower, c.upper))
        else:
            t = np.concatenate([[0.0], np.asarray(c.time, float)])
            s = np.concatenate([[1.0], np.asarray(c.survival, float)])
            lo = np.concatenate([[1.0], np.asarray(c.lower, float)])
            hi = np.concatenate([[1.0], np.asarray(c.upper, float)])
        colour = ARM_COLOURS.get(g)
        if suppress:  # pooled points joined by straight lines: no single dropout's day or drop
            ax.plot(t, s, color=colour, lw=2, marker="o", ms=3,
                    label=_label(g) if len(t) > 1 else f"{_label(g)} (too few dropouts to draw)")
        else:
            ax.step(t, s, where="post", color=colour, label=f"{_label(g)} (n = {c.n:,})", lw=2)
        if ci:
            ax.fill_between(t, lo, hi, step=None if suppress else "post", color=colour, alpha=0.15, lw=0)
        if censor_marks and not suppress:
            cens = np.asarray(c.n_censor) > 0
            ax.plot(np.asarray(c.time, float)[cens], np.asarray(c.survival, float)[cens], ls="none", marker="|",
                    ms=6, mew=1, color=colour)
        if truth and g in truth:
            days = [float(k) for k in truth[g]]
            ax.plot(days, list(truth[g].values()), "o", mfc="white", color=colour, ms=6)
            truth_drawn = True
        last = max(last, float(t[-1]))
    if suppress:  # the axis runs to the last day with >= 11 at risk in some group
        last = max([last] + [private_steps(c.time, c.n_risk, c.n_event)[1] for c in km.curves.values()])
    medians = {g: _median(c) for g, c in km.curves.items()}
    if median_lines and not suppress:
        for g, m in medians.items():
            if m is not None:
                ax.plot([0, m, m], [0.5, 0.5, 0], ls="--", lw=1, color="0.45", zorder=1)
    ax.set_ylim(0, 1.02)
    ax.set_xlim(0, last)
    ax.set_xlabel("Days since enrolment")
    ax.set_ylabel("Still in treatment")
    percent_axis(ax.yaxis)
    p = logrank_p(km) if pvalue is True else (float(pvalue) if pvalue not in (None, False) else None)
    _legend_extras(ax, truth=truth_drawn, censor=censor_marks and not suppress)
    place_legend(ax, "top", ncol=2, title=f"Log-rank p {_p_words(p)}" if p is not None else None)
    if title:
        ax.set_title(title, pad=40)
    days = list(at_risk_days) if at_risk_days is not None else list(np.arange(0, last + 1, 30))
    ax.set_xticks(days)
    if at_risk:
        rows = [("Number at risk", lambda c: number_at_risk(c, days))]
        if cumulative_events and not suppress:   # increments of a cumulative count are counts too
            rows.append(("Cumulative dropouts", lambda c: cumulative_count(c, days)))
        _count_tables(ax, km.curves, days, rows, suppress=suppress)
    groups = [_label(g).lower() for g in km.curves]
    text = (f"Kaplan-Meier curves of the share still in treatment against days since enrolment, for "
            f"{_and(groups)}{', with 95% bands' if ci else ''}")
    reached = [f"{m:g} days ({_label(g).lower()})" for g, m in medians.items() if m is not None]
    if p is not None and not suppress:
        text += f"; log-rank p {_p_words(p)}"
    if reached and not suppress:
        text += f"; median time in treatment {_and(reached)}"
    if not suppress:  # a retention figure of real data is left to the tables, which suppress small counts
        ends = [f"{float(np.asarray(c.survival)[-1]):.0%} ({_label(g).lower()})" for g, c in km.curves.items()
                if len(c.survival)]
        text += f"; at the last day, {_and(ends)} are still in treatment" if ends else ""
    describe(ax, text + ("; the number at risk is shown below." if at_risk else "."))
    return ax


def _p_words(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"= {p:.3f}" if p < 0.1 else f"= {p:.2f}"


def _median(curve: Any) -> float | None:
    """First day the survival curve is at or below one half (R's ``print.survfit`` median), else None."""
    s = np.asarray(curve.survival, float)
    hit = np.flatnonzero(s <= 0.5 + 1e-12)
    return float(np.asarray(curve.time, float)[hit[0]]) if hit.size else None


def logrank_p(km: Any) -> float | None:
    """The log-rank test's p-value from a Kaplan-Meier result's risk sets (None for weighted or single curves).

    The numbers at risk and dropouts of each group at every dropout day are all the test needs, and every
    Kaplan-Meier curve carries them: this is the same statistic as :func:`peerstudy.survival.logrank_test`.
    """
    from scipy.stats import chi2

    curves = list(km.curves.values())
    if len(curves) < 2 or getattr(km, "weighted", False) or any(getattr(c, "weighted", False) for c in curves):
        return None
    times = np.unique(np.concatenate([np.asarray(c.time, float)[np.asarray(c.n_event) > 0] for c in curves]))
    if times.size == 0:
        return None
    risk = np.column_stack([number_at_risk(c, times) for c in curves]).astype(float)
    events = np.column_stack([_events_at(c, times) for c in curves]).astype(float)
    n, d = risk.sum(axis=1), events.sum(axis=1)
    ok = n > 1
    expected = risk * (d / np.where(n > 0, n, 1))[:, None]
    o_e = (events - expected)[ok].sum(axis=0)
    k = len(curves)
    v = np.zeros((k, k))
    for i in np.flatnonzero(ok):
        w = d[i] * (n[i] - d[i]) / (n[i] - 1) / n[i]
        r = risk[i]
        v += w * (np.diag(r) - np.outer(r, r) / n[i])
    stat = float(o_e[:-1] @ np.linalg.pinv(v[:-1, :-1]) @ o_e[:-1])
    return float(chi2.sf(stat, k - 1))


def _events_at(curve: Any, days: np.ndarray) -> np.ndarray:
    t = np.asarray(curve.time, float)
    idx = np.searchsorted(t, days)
    hit = (idx < len(t)) & (t[np.minimum(idx, len(t) - 1)] == days)
    return np.where(hit, np.asarray(curve.n_event)[np.minimum(idx, len(t) - 1)], 0)


def cumulative_count(curve: Any, days: Iterable[float]) -> np.ndarray:
    """Dropouts (or endings, for a CIF curve) up to and including each of ``days``."""
    d = np.asarray(list(days), dtype=float)
    t = np.asarray(curve.time, float)
    counts = np.asarray(curve.n_event if hasattr(curve, "n_event") else curve.n_ending)
    if counts.ndim > 1:
        counts = counts.sum(axis=1)
    cum = np.concatenate([[0], np.cumsum(counts)])
    return cum[np.searchsorted(t, d, side="right")].astype(int)


def _legend_extras(ax: Any, *, truth: bool, censor: bool) -> None:
    """Legend entries for marks shared by every group: the truth's open circles and the censoring ticks."""
    if truth:
        ax.plot([], [], "o", mfc="white", color="0.3", ms=6, label="Truth (simulation)")
    if censor:
        ax.plot([], [], ls="none", marker="|", ms=6, mew=1, color="0.3", label="Censored")


def _count_tables(ax: Any, curves: Mapping[str, Any], days: Sequence[float], rows: Sequence[tuple[str, Any]], *,
                  suppress: bool) -> None:
    """Tables of counts below ``ax``, one row per group, columns aligned with ``ax``'s days (survminer's
    ``risk.table`` and ``cumevents``); counts 1-10 shown as "<11" with ``suppress``.

    The tables are inset Axes sharing ``ax``'s x axis, below it: a figure saved or shown with
    ``bbox_inches="tight"`` (the notebook default, and :func:`peerstudy.present.plots.save_figure`) includes them.
    """
    groups = list(curves)
    height = 0.075 * len(groups) + 0.02
    top = -0.16
    for title, counts_of in rows:
        tab = ax.inset_axes([0, top - height - 0.06, 1, height], sharex=ax)
        tab.set_ylim(len(groups) - 0.5, -0.5)
        tab.set_yticks(range(len(groups)), [_label(g) for g in groups])
        for tick, g in zip(tab.get_yticklabels(), groups):
            tick.set_color(ARM_COLOURS.get(g, "black"))
            tick.set_fontsize(9)
        for i, g in enumerate(groups):
            counts = counts_of(curves[g])
            # private: a column that drops by 1-10 from the one before is itself a count (privacy.suppress_at_risk)
            shown = suppress_at_risk(counts) if suppress else suppress_counts(counts, suppress=False)
            for d, text in zip(days, shown):
                tab.text(d, i, text, ha="center", va="center", fontsize=9)
        tab.set_title(title, loc="left", fontsize=9, fontweight="bold", pad=2)
        tab.tick_params(axis="x", which="both", bottom=False, labelbottom=False)
        tab.tick_params(axis="y", length=0, pad=16)  # clear of the counts centred on day 0
        tab.grid(False)
        for spine in tab.spines.values():
            spine.set_visible(False)
        tab.patch.set_alpha(0)
        top -= height + 0.12


def _terms_of(result: Any) -> dict[str, dict[str, float]]:
    d = result.to_dict() if hasattr(result, "to_dict") else result
    if not isinstance(d, Mapping) or "terms" not in d:
        raise DataError("plot_forest needs a fitted model (with to_dict()['terms']) or a dict with 'terms'")
    return d["terms"]


@themed
def plot_forest(results: Any, *, ax: Any = None, terms: Sequence[str] | None = None,
                labels: Mapping[str, str] | None = None, xlabel: str = "Hazard ratio (95% CI)",
                ratio: str = "HR", ylabel: str = "Model term") -> Any:
    """Forest plot of hazard ratios and their confidence intervals on a log scale.

    Parameters
    ----------
    results : fitted model, or mapping of model name -> fitted model
        Anything with ``to_dict()["terms"][TERM]`` holding ``hr``, ``ci_lower``, ``ci_upper``
        (Cox, cause-specific Cox, Fine-Gray). Several models are drawn side by side per term.
    terms : sequence of str, optional
        Terms to show, in order (default all of the first model).
    labels : mapping, optional
        Display names of terms (e.g. ``{"arm[peer]": "Peer coach vs usual care"}``).
    ratio : str, default "HR"
        What the ratios are, in the header of the printed estimates (e.g. "Rate ratio").
    ylabel : str, default "Model term"
        The label of the rows.

    Returns
    -------
    matplotlib Axes
    """
    models = dict(results) if isinstance(results, Mapping) and "terms" not in results else {"": results}
    tables = {name: _terms_of(r) for name, r in models.items()}
    first = next(iter(tables.values()))
    order = list(terms) if terms is not None else list(first)
    if not order:
        raise DataError("plot_forest: no terms to plot")
    _, ax = create_ax(ax, figsize=(7, 0.45 * len(order) * max(1, len(tables)) + 1.2))
    k = len(tables)
    offsets = np.linspace(-0.18, 0.18, k) if k > 1 else np.zeros(1)
    palette = ["#4c72b0", "#dd8452", "#55a868", "#c44e52"]
    for j, (name, tab) in enumerate(tables.items()):
        ys, hr, lo, hi = [], [], [], []
        for i, term in enumerate(order):
            if term not in tab:
                continue
            v = tab[term]
            ys.append(len(order) - 1 - i + offsets[j])
            hr.append(v["hr"])
            lo.append(v["ci_lower"])
            hi.append(v["ci_upper"])
        hr_a = np.asarray(hr, float)
        err = np.vstack([hr_a - np.asarray(lo, float), np.asarray(hi, float) - hr_a])
        ax.errorbar(hr_a, ys, xerr=err, fmt="s", color=palette[j % len(palette)], capsize=3,
                    label=name or None)
    ax.axvline(1.0, color="grey", lw=1, ls="--")
    ax.set_xscale("log")
    _ratio_ticks(ax)
    from peerstudy.present.wording import label

    names = [(labels or {}).get(t, label(t)) for t in order]
    ax.set_yticks(range(len(order) - 1, -1, -1), names)
    ax.set_ylim(-0.7, len(order) - 0.3)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", visible=False)
    _print_estimates(ax, tables, order, offsets, ratio=ratio)
    if k > 1:
        place_legend(ax, "top", ncol=k)
    lead = tables[next(iter(tables))].get(order[0], {})
    first = (f"; {names[0]}: {lead['hr']:.2f} ({lead['ci_lower']:.2f} to {lead['ci_upper']:.2f})"
             if {"hr", "ci_lower", "ci_upper"} <= set(lead) else "")
    models = f" from {_and(list(tables))}" if k > 1 else ""
    describe(ax, f"Forest plot of hazard ratios with 95% confidence intervals on a log scale{models}, for "
                 f"{_and(names)}; a ratio below 1 means a lower hazard{first}.")
    return ax


def _print_estimates(ax: Any, tables: Mapping[str, Mapping[str, Any]], order: Sequence[str],
                     offsets: np.ndarray, *, ratio: str = "HR") -> None:
    """Each estimate and its interval printed right of the plot, on its row: "0.78 (0.68 to 0.89)"."""
    from matplotlib.transforms import blended_transform_factory

    from peerstudy.present.wording import format_interval

    trans = blended_transform_factory(ax.transAxes, ax.transData)
    ax.text(1.03, len(order) - 0.45, f"{ratio} (95% CI)", transform=trans, ha="left", va="bottom", fontsize=9,
            fontweight="bold")
    palette = ["#4c72b0", "#dd8452", "#55a868", "#c44e52"]
    for j, tab in enumerate(tables.values()):
        for i, term in enumerate(order):
            v = tab.get(term)
            if not v:
                continue
            shown = format_interval(v["ci_lower"], v["ci_upper"], decimals=2, null=1.0)  # 0.999 never as "1.00"
            ax.text(1.03, len(order) - 1 - i + offsets[j], f"{v['hr']:.2f} ({shown})",
                    transform=trans, ha="left", va="center", fontsize=9,
                    color=palette[j % len(palette)] if len(tables) > 1 else "black")


#: Hazard ratios worth a tick on a log axis, from coarse to fine: the first giving three ticks in view is used.
_RATIO_TICKS = ((0.1, 0.25, 0.5, 1, 2, 4, 10), (0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4),
                (0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.1, 1.25, 1.5, 1.75, 2))


def _ratio_ticks(ax: Any) -> None:
    """Labelled hazard-ratio ticks (0.5, 1, 2 ...) on a log x axis, at least three in view when the range allows."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    lo, hi = ax.get_xlim()
    ticks: list[float] = []
    for grid in _RATIO_TICKS:
        ticks = [t for t in grid if lo <= t <= hi]
        if len(ticks) >= 3:
            break
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_locator(NullLocator())


@themed
def plot_schoenfeld(zph: Any, term: str, *, ax: Any = None, coef: float | None = None, smooth: bool = True,
                    private: bool | None = None) -> Any:
    """Scaled Schoenfeld residuals of one term against time, with a smooth: flat means proportional hazards.

    Parameters
    ----------
    zph : ZphResult
        From :func:`peerstudy.survival.zph.cox_zph`.
    term : str
        A term of ``zph.residuals``.
    coef : float, optional
        The model's coefficient, drawn as a horizontal line.
    smooth : bool, default True
        Add a LOWESS smooth (statsmodels) of the residuals on the transformed time.
    private : bool, optional
        Real data: no residual per person, only means of consecutive bins of at least 11 dropouts (and the
        smooth). Default: :func:`~peerstudy.present.privacy.is_private`.

    Returns
    -------
    matplotlib Axes
    """
    if term not in zph.residuals:
        raise DataError(f"term {term!r} has no Schoenfeld residuals; terms: {', '.join(zph.residuals)}")
    _, ax = create_ax(ax)
    t = np.asarray(zph.time, float)
    x = np.asarray(zph.x, float)
    r = np.asarray(zph.residuals[term], float)
    ok = np.isfinite(r)
    private = is_private() if private is None else private
    if private:  # no per-person point: means of bins of >= 11 dropouts (privacy.binned_means)
        bt, br = binned_means(t[ok], r[ok])
        ax.plot(bt, br, "o", color="#4c72b0", ms=5, label="mean of 11 or more dropouts")
    else:
        ax.scatter(t[ok], r[ok], s=6, alpha=0.35, color="#4c72b0", lw=0)
    if smooth and ok.sum() > 10:
        from statsmodels.nonparametric.smoothers_lowess import lowess

        fit = lowess(r[ok], x[ok], frac=0.6, return_sorted=False)
        order = np.argsort(t[ok], kind="stable")
        st, sf = t[ok][order], fit[order]
        if private:  # drawn on an even grid of days, so its corners are not the days of single dropouts
            grid = np.linspace(st[0], st[-1], 40)
            st, sf = grid, np.interp(grid, st, sf)
        ax.plot(st, sf, color="#c44e52", lw=2, label="smooth")
    if coef is not None:
        ax.axhline(coef, color="grey", ls="--", lw=1, label="Cox estimate")
    row = zph.table.get(term)
    p = f" (test p = {row['p']:.2g})" if row else ""
    ax.set_title(f"{term}{p}")
    ax.set_xlabel("Days since enrolment")
    ax.set_ylabel("Log hazard ratio over time, beta(t)")
    place_legend(ax, "right")  # the residuals fill the Axes
    describe(ax, f"{'Binned means of s' if private else 'S'}caled Schoenfeld residuals of {term} against days since enrolment"
                 f"{', with a smooth' if smooth and ok.sum() > 10 else ''}"
                 f"{' and the Cox estimate as a dashed line' if coef is not None else ''}; a flat smooth means "
                 f"the hazard ratio is constant over time{p.replace(' (', ', ').rstrip(')')}.")
    return ax


def _cause_events(curve: Any, j: int) -> np.ndarray:
    """Endings of cause ``j`` at each time of an Aalen-Johansen curve: jump = S(t-) * d_j / n_risk."""
    cif = np.asarray(curve.cif, float)
    prev = np.vstack([np.zeros((1, cif.shape[1])), cif[:-1]])
    free = 1.0 - prev.sum(axis=1)  # free of every ending just before each time
    jump = cif[:, j] - prev[:, j]
    with np.errstate(invalid="ignore", divide="ignore"):
        d = np.where(free > 0, jump * np.asarray(curve.n_risk, float) / free, 0.0)
    return np.rint(np.nan_to_num(d)).astype(int)


@themed
def plot_cif(cif: Any, *, ax: Any = None, causes: Sequence[str] | None = None,
             truth: Mapping[str, Mapping[str, Mapping[str, float]]] | None = None, ci: bool = True,
             at_risk: bool = True, at_risk_days: Sequence[float] | None = None, suppress: bool = False,
             private: bool | None = None) -> Any:
    """Cumulative incidence of each ending by group (colour = ending, line style = group; with one ending, colour
    = group), with 95% bands and the number at risk below.

    Parameters
    ----------
    cif : CumulativeIncidenceResult
        From :func:`peerstudy.survival.competing.cumulative_incidence`.
    causes : sequence of str, optional
        Endings to draw (default all).
    truth : mapping, optional
        ``{CAUSE: {GROUP: {"30": p}}}``, e.g. a simulation's true CIF, drawn as open circles (one legend entry).
    ci : bool, default True
        Shade pointwise 95% bands on the log(-log) scale (cmprsk's ``ci`` transform), kept within 0 and 1.
    at_risk : bool, default True
        Add the number still at risk (no ending yet) per group below the plot, aligned with the days.
    at_risk_days : sequence of float, optional
        Days of the table (default every 30 days to the last time).
    suppress : bool, default False
        Show at-risk counts from 1 to 10 as "<11" (real data).
    private : bool, optional
        Real data: each curve drawn only while at least 11 are at risk, with steps of at least 11 endings
        (:func:`peerstudy.present.privacy.private_steps`), and no bands. Default:
        :func:`~peerstudy.present.privacy.is_private`.

    Returns
    -------
    matplotlib Axes
    """
    from scipy.stats import norm

    groups = list(cif.curves)
    _, ax = create_ax(ax, figsize=(7.5, 4.2))
    chosen = list(causes) if causes is not None else list(cif.causes)
    styles = ["-", "--", ":", "-."]
    z = float(norm.ppf(0.975))
    last = 0.0
    truth_drawn = False
    private = is_private() if private is None else private
    suppress = suppress or private
    for gi, (g, curve) in enumerate(cif.curves.items()):
        last = max(last, float(np.asarray(curve.time, float)[-1]) if len(curve.time) else 0.0)
        for c in chosen:
            j = list(curve.causes).index(c)
            if private:  # steps of >= 11 endings of this kind, while >= 11 at risk (privacy.private_steps)
                t, y, _ = private_curve(curve.time, curve.cif[:, j], curve.n_risk, _cause_events(curve, j), start=0.0)
            else:
                t = np.concatenate([[0.0], np.asarray(curve.time, float)])
                y = np.concatenate([[0.0], np.asarray(curve.cif[:, j], float)])
            # one ending shown: colour by group, as the number-at-risk labels are; several: colour by ending
            colour = ARM_COLOURS.get(g) if len(chosen) == 1 else _ENDING_COLOURS.get(c)
            if private:  # pooled points joined by straight lines
                ax.plot(t, y, ls=styles[gi % len(styles)], color=colour, lw=2, marker="o", ms=3,
                        label=f"{c.replace('_', ' ').capitalize()}, {_label(g).lower()}"
                        + ("" if len(t) > 1 else " (too few to draw)"))
            else:
                ax.step(t, y, where="post", ls=styles[gi % len(styles)], color=colour, lw=2,
                        label=f"{c.replace('_', ' ').capitalize()}, {_label(g).lower()}")
            if ci and not private:
                se = np.concatenate([[0.0], np.asarray(curve.se[:, j], float)])
                lo, hi = _cif_band(y, se, z)
                ax.fill_between(t, lo, hi, step="post", color=colour, alpha=0.12, lw=0)
            if truth and c in truth and g in truth[c]:
                pts = truth[c][g]
                ax.plot([float(k) for k in pts], list(pts.values()), "o", mfc="white", color=colour, ms=5)
                truth_drawn = True
    ax.set_xlabel("Days since enrolment")
    ax.set_ylabel("Cumulative incidence")
    percent_axis(ax.yaxis)
    ax.set_ylim(bottom=0)
    ax.set_xlim(0, last)
    _legend_extras(ax, truth=truth_drawn, censor=False)
    place_legend(ax, "right", fontsize="small")
    days = list(at_risk_days) if at_risk_days is not None else list(np.arange(0, last + 1, 30))
    ax.set_xticks(days)
    if at_risk:
        _count_tables(ax, cif.curves, days, [("Number at risk", lambda c: number_at_risk(c, days))],
                      suppress=suppress)
    names = [_label(g).lower() for g in groups]
    describe(ax, f"Cumulative incidence of {_and([c.replace('_', ' ') for c in chosen]) if chosen else 'no ending'} "
                 f"against days since enrolment, one line style per group ({_and(names)})"
                 f"{', with 95% bands' if ci else ''}{', and simulation truth as open circles' if truth_drawn else ''}"
                 f"{'; the number at risk is shown below' if at_risk else ''}.")
    return ax


def _cif_band(f: np.ndarray, se: np.ndarray, z: float) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise band of a cumulative incidence on the log(-log) scale, F ** exp(+-z se / (F log F))."""
    f = np.asarray(f, float)
    lo, hi = f.copy(), f.copy()
    ok = (f > 0) & (f < 1) & np.isfinite(se)
    with np.errstate(divide="ignore", invalid="ignore"):
        k = z * se[ok] / (f[ok] * np.log(f[ok]))
        lo[ok] = f[ok] ** np.exp(-k)
        hi[ok] = f[ok] ** np.exp(k)
    return np.clip(np.minimum(lo, hi), 0, 1), np.clip(np.maximum(lo, hi), 0, 1)


@themed
def plot_enrolment(df: pd.DataFrame, *, ax: Any = None, date: str = "enrolled_on", arm: str = "arm",
                   freq: str = "MS", suppress: bool = False) -> Any:
    """Monthly enrolment by arm as stacked bars (seaborn ``histplot``), every calendar month on the axis.

    With ``suppress`` a month-arm cell of 1-10 people is not drawn: its people are left out of the
    bars and the cell is marked "<11" above its month. Each arm's total is known from the tables and
    each month's from the other bars, so cells are hidden with their complements
    (:func:`peerstudy.present.privacy.suppression_mask`): no hidden count can be worked out by
    subtraction. ``freq`` is kept for callers; the bars are always calendar months.

    Raises
    ------
    DataError
        A column is missing or there are no rows.
    """
    for col in (date, arm):
        if col not in df.columns:
            raise DataError(f"plot_enrolment: column {col!r} not in the data")
    if df.empty:
        raise DataError("plot_enrolment needs at least one row; got an empty table")
    import seaborn as sns

    _, ax = create_ax(ax)
    months = pd.to_datetime(df[date]).dt.to_period("M").dt.to_timestamp()
    calendar = pd.date_range(months.min(), months.max(), freq="MS")
    month = calendar.get_indexer(months)
    arms = df[arm].astype(str).to_numpy()
    groups = [g for g in ARM_LABELS if g in set(arms)] + sorted(set(arms) - set(ARM_LABELS))
    counts = pd.crosstab(month, arms).reindex(index=range(len(calendar)), columns=groups, fill_value=0)
    hidden = pd.DataFrame(suppression_mask(counts.to_numpy()) if suppress else False, index=counts.index,
                          columns=groups)
    keep = ~hidden.to_numpy()[month, [groups.index(g) for g in arms]]
    names = [_label(g) for g in groups]
    fallback = iter(sns.color_palette("deep")[4:] * 4)
    palette = {_label(g): ARM_COLOURS.get(g) or next(fallback) for g in groups}
    drawn = pd.DataFrame({"month": month[keep], "arm": [_label(g) for g in arms[keep]]})
    if not drawn.empty:
        sns.histplot(drawn, x="month", hue="arm", hue_order=names, palette=palette, multiple="stack", discrete=True,
                     binrange=(0, len(calendar) - 1), shrink=0.8, alpha=1.0, linewidth=0, ax=ax)
    totals = counts.where(~hidden, 0).sum(axis=1).to_numpy()
    for xi, row in hidden.iterrows():
        for k, g in enumerate(g for g in groups if row[g]):
            ax.annotate(suppressed_label(), (xi, totals[xi]), xytext=(0, 2 + 9 * k), textcoords="offset points",
                        ha="center", va="bottom", fontsize=7, color=ARM_COLOURS.get(g, "black"))
    x = np.arange(len(calendar))
    step = max(1, len(x) // 9)
    ax.set_xticks(x[::step], [d.strftime("%b %Y") for d in calendar[::step]], rotation=30, ha="right")
    ax.set_xlim(-0.6, len(calendar) - 0.4)
    ax.set_xlabel("Month of enrolment")
    ax.set_ylabel("People enrolled per month")
    ax.grid(axis="x", visible=False)
    place_legend(ax, "right", title="")
    hidden_any = bool(hidden.to_numpy().any())
    if hidden_any:
        ax.set_title("Month-arm cells of 1-10 people (and their complements) are not drawn", fontsize="small")
    span = (f"{calendar[0]:%B %Y}" if len(calendar) == 1 else f"{calendar[0]:%B %Y} to {calendar[-1]:%B %Y}")
    describe(ax, f"Stacked bars of the people enrolled each month, {span}, by arm ({_and([n.lower() for n in names])})"
                 + ("; month-arm cells of 1-10 people, and cells that would reveal them, are not drawn."
                    if hidden_any else "."))
    return ax
