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
            title: str | None = None) -> Any:
    """Kaplan-Meier retention by group with pointwise bands and a number-at-risk table.

    Parameters
    ----------
    km : KaplanMeierResult
        From :func:`peerstudy.survival.kaplan_meier`.
    ax : matplotlib Axes, optional
    at_risk : bool, default True
        Add the number at risk below the plot.
    at_risk_days : sequence of float, optional
        Days for the at-risk table (default every 30 days to the last time).
    suppress : bool, optional
        Real data: at-risk counts from 1 to 10 shown as "<11", and each curve drawn only while at least 11
        are at risk, as points at the end of each run of at least 11 dropouts joined by straight lines (see
        :func:`peerstudy.present.privacy.private_curve`). Default: :func:`~peerstudy.present.privacy.is_private`.
    ci : bool, default True
        Shade the pointwise confidence band.
    truth : mapping, optional
        ``{GROUP: {"30": s, ...}}``, e.g. a simulation's true net survival, drawn as points.

    Returns
    -------
    matplotlib Axes
    """
    _, ax = create_ax(ax)
    suppress = is_private() if suppress is None else suppress
    last = 0.0
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
        if truth and g in truth:
            days = [float(k) for k in truth[g]]
            ax.plot(days, list(truth[g].values()), "o", mfc="white", color=colour, ms=6,
                    label=f"{_label(g)}, truth")
        last = max(last, float(t[-1]))
    if suppress:  # the axis runs to the last day with >= 11 at risk in some group
        last = max([last] + [private_steps(c.time, c.n_risk, c.n_event)[1] for c in km.curves.values()])
    ax.set_ylim(0, 1.02)
    ax.set_xlim(0, last)
    ax.set_xlabel("Days since enrolment")
    ax.set_ylabel("Still in treatment")
    percent_axis(ax.yaxis)
    place_legend(ax, "lower left")  # retention starts at 100%: the lower left corner is empty
    if title:
        ax.set_title(title)
    if at_risk:
        days = list(at_risk_days) if at_risk_days is not None else list(np.arange(0, last + 1, 30))
        _at_risk_table(ax, km, days, suppress=suppress)
    groups = [_label(g).lower() for g in km.curves]
    text = (f"Kaplan-Meier curves of the share still in treatment against days since enrolment, for "
            f"{_and(groups)}{', with 95% bands' if ci else ''}")
    if not suppress:  # a retention figure of real data is left to the tables, which suppress small counts
        ends = [f"{float(np.asarray(c.survival)[-1]):.0%} ({_label(g).lower()})" for g, c in km.curves.items()
                if len(c.survival)]
        text += f"; at the last day, {_and(ends)} are still in treatment" if ends else ""
    describe(ax, text + ("; the number at risk is shown below." if at_risk else "."))
    return ax


def _at_risk_table(ax: Any, km: Any, days: Sequence[float], *, suppress: bool) -> None:
    ax.set_xticks(days)
    groups = list(km.curves)
    trans = ax.get_xaxis_transform()
    ax.text(-0.06, -0.22, "Number at risk", transform=ax.transAxes, ha="right", va="top", fontsize=9,
            fontweight="bold")
    for row, g in enumerate(groups):
        y = -0.30 - 0.08 * row
        counts = number_at_risk(km.curves[g], days)
        shown = suppress_at_risk(counts) if suppress else suppress_counts(counts, suppress=False)
        ax.text(-0.06, y, _label(g), transform=ax.transAxes, ha="right", va="top", fontsize=9,
                color=ARM_COLOURS.get(g, "black"))
        for d, text in zip(days, shown):
            ax.text(d, y, text, transform=trans, ha="center", va="top", fontsize=9)


def _terms_of(result: Any) -> dict[str, dict[str, float]]:
    d = result.to_dict() if hasattr(result, "to_dict") else result
    if not isinstance(d, Mapping) or "terms" not in d:
        raise DataError("plot_forest needs a fitted model (with to_dict()['terms']) or a dict with 'terms'")
    return d["terms"]


@themed
def plot_forest(results: Any, *, ax: Any = None, terms: Sequence[str] | None = None,
                labels: Mapping[str, str] | None = None, xlabel: str = "Hazard ratio (95% CI)") -> Any:
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
    names = [(labels or {}).get(t, t) for t in order]
    ax.set_yticks(range(len(order) - 1, -1, -1), names)
    ax.set_ylim(-0.7, len(order) - 0.3)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("Model term")
    ax.grid(axis="y", visible=False)
    if k > 1:
        place_legend(ax, "right")
    lead = tables[next(iter(tables))].get(order[0], {})
    first = (f"; {names[0]}: {lead['hr']:.2f} ({lead['ci_lower']:.2f} to {lead['ci_upper']:.2f})"
             if {"hr", "ci_lower", "ci_upper"} <= set(lead) else "")
    models = f" from {_and(list(tables))}" if k > 1 else ""
    describe(ax, f"Forest plot of hazard ratios with 95% confidence intervals on a log scale{models}, for "
                 f"{_and(names)}; a ratio below 1 means a lower hazard{first}.")
    return ax


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
             truth: Mapping[str, Mapping[str, Mapping[str, float]]] | None = None, private: bool | None = None) -> Any:
    """Cumulative incidence of each ending by group (colour = ending, line style = group).

    Parameters
    ----------
    cif : CumulativeIncidenceResult
        From :func:`peerstudy.survival.competing.cumulative_incidence`.
    causes : sequence of str, optional
        Endings to draw (default all).
    truth : mapping, optional
        ``{CAUSE: {GROUP: {"30": p}}}``, e.g. a simulation's true CIF, drawn as points.
    private : bool, optional
        Real data: each curve drawn only while at least 11 are at risk, with steps of at least 11 endings
        (:func:`peerstudy.present.privacy.private_steps`). Default: :func:`~peerstudy.present.privacy.is_private`.

    Returns
    -------
    matplotlib Axes
    """
    _, ax = create_ax(ax)
    chosen = list(causes) if causes is not None else list(cif.causes)
    styles = ["-", "--", ":", "-."]
    private = is_private() if private is None else private
    for gi, (g, curve) in enumerate(cif.curves.items()):
        for c in chosen:
            j = list(curve.causes).index(c)
            if private:  # steps of >= 11 endings of this kind, while >= 11 at risk (privacy.private_steps)
                t, y, _ = private_curve(curve.time, curve.cif[:, j], curve.n_risk, _cause_events(curve, j), start=0.0)
            else:
                t = np.concatenate([[0.0], np.asarray(curve.time, float)])
                y = np.concatenate([[0.0], np.asarray(curve.cif[:, j], float)])
            colour = _ENDING_COLOURS.get(c)
            if private:  # pooled points joined by straight lines
                ax.plot(t, y, ls=styles[gi % len(styles)], color=colour, lw=2, marker="o", ms=3,
                        label=f"{c.replace('_', ' ')}, {_label(g)}" + ("" if len(t) > 1 else " (too few to draw)"))
            else:
                ax.step(t, y, where="post", ls=styles[gi % len(styles)], color=colour, lw=2,
                        label=f"{c.replace('_', ' ')}, {_label(g)}")
            if truth and c in truth and g in truth[c]:
                pts = truth[c][g]
                ax.plot([float(k) for k in pts], list(pts.values()), "o", mfc="white", color=colour, ms=5)
    ax.set_xlabel("Days since enrolment")
    ax.set_ylabel("Cumulative incidence")
    percent_axis(ax.yaxis)
    ax.set_ylim(bottom=0)
    place_legend(ax, "right", fontsize="small")
    groups = [_label(g).lower() for g in cif.curves]
    describe(ax, f"Cumulative incidence of {_and([c.replace('_', ' ') for c in chosen]) if chosen else 'no ending'} "
                 f"against days since enrolment, one line style per group ({_and(groups)}).")
    return ax


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
