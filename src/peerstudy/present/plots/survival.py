"""Figures from result objects: retention curves with numbers at risk, forest plots, Schoenfeld residuals, CIFs.

Every function draws on ``ax`` (a new figure when ``None``), returns the Axes and never calls
``plt.show()``. Counts drawn on a figure (numbers at risk, monthly enrolment) go through
:mod:`peerstudy.privacy` when ``suppress=True``, as reports of real data ask.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from peerstudy.exceptions import DataError
from peerstudy.present.privacy import THRESHOLD, suppress_counts, suppressed_label

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


def _axes(ax: Any, figsize: tuple[float, float] = (7, 4.5)) -> Any:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _label(group: str) -> str:
    return ARM_LABELS.get(group, str(group))


def number_at_risk(curve: Any, days: Iterable[float]) -> np.ndarray:
    """People still observed (time >= day) at each of ``days``, from a Kaplan-Meier curve."""
    d = np.asarray(list(days), dtype=float)
    t = np.asarray(curve.time, dtype=float)
    idx = np.searchsorted(t, d, side="left")
    n_risk = np.asarray(curve.n_risk)
    out = np.where(idx < len(t), n_risk[np.minimum(idx, len(t) - 1)], 0)
    return out.astype(int)


def plot_km(km: Any, *, ax: Any = None, at_risk: bool = True, at_risk_days: Sequence[float] | None = None,
            suppress: bool = False, ci: bool = True, truth: Mapping[str, Mapping[str, float]] | None = None,
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
    suppress : bool, default False
        Show at-risk counts from 1 to 10 as "<11" (always for real data).
    ci : bool, default True
        Shade the pointwise confidence band.
    truth : mapping, optional
        ``{GROUP: {"30": s, ...}}``, e.g. a simulation's true net survival, drawn as points.

    Returns
    -------
    matplotlib Axes
    """
    ax = _axes(ax)
    last = 0.0
    for g, c in km.curves.items():
        t = np.concatenate([[0.0], np.asarray(c.time, float)])
        s = np.concatenate([[1.0], np.asarray(c.survival, float)])
        colour = ARM_COLOURS.get(g)
        ax.step(t, s, where="post", color=colour, label=f"{_label(g)} (n = {c.n:,})" if not suppress
                else _label(g), lw=2)
        if ci:
            lo = np.concatenate([[1.0], np.asarray(c.lower, float)])
            hi = np.concatenate([[1.0], np.asarray(c.upper, float)])
            ax.fill_between(t, lo, hi, step="post", color=colour, alpha=0.15, lw=0)
        if truth and g in truth:
            days = [float(k) for k in truth[g]]
            ax.plot(days, list(truth[g].values()), "o", mfc="white", color=colour, ms=6,
                    label=f"{_label(g)}, truth")
        last = max(last, float(t[-1]))
    ax.set_ylim(0, 1.02)
    ax.set_xlim(0, last)
    ax.set_xlabel("Days since enrolment")
    ax.set_ylabel("Still in treatment")
    ax.yaxis.set_major_formatter(_percent())
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", frameon=False)
    if title:
        ax.set_title(title)
    if at_risk:
        days = list(at_risk_days) if at_risk_days is not None else list(np.arange(0, last + 1, 30))
        _at_risk_table(ax, km, days, suppress=suppress)
    return ax


def _percent() -> Any:
    from matplotlib.ticker import PercentFormatter

    return PercentFormatter(xmax=1, decimals=0)


def _at_risk_table(ax: Any, km: Any, days: Sequence[float], *, suppress: bool) -> None:
    ax.set_xticks(days)
    groups = list(km.curves)
    trans = ax.get_xaxis_transform()
    ax.text(-0.06, -0.22, "Number at risk", transform=ax.transAxes, ha="right", va="top", fontsize=9,
            fontweight="bold")
    for row, g in enumerate(groups):
        y = -0.30 - 0.08 * row
        counts = number_at_risk(km.curves[g], days)
        shown = suppress_counts(counts, suppress=suppress)
        ax.text(-0.06, y, _label(g), transform=ax.transAxes, ha="right", va="top", fontsize=9,
                color=ARM_COLOURS.get(g, "black"))
        for d, text in zip(days, shown):
            ax.text(d, y, text, transform=trans, ha="center", va="top", fontsize=9)


def _terms_of(result: Any) -> dict[str, dict[str, float]]:
    d = result.to_dict() if hasattr(result, "to_dict") else result
    if not isinstance(d, Mapping) or "terms" not in d:
        raise DataError("plot_forest needs a fitted model (with to_dict()['terms']) or a dict with 'terms'")
    return d["terms"]


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
    ax = _axes(ax, figsize=(7, 0.45 * len(order) * max(1, len(tables)) + 1.2))
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
    from matplotlib.ticker import FuncFormatter, LogLocator

    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(0.25, 0.5, 1.0, 2.0, 4.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    names = [(labels or {}).get(t, t) for t in order]
    ax.set_yticks(range(len(order) - 1, -1, -1), names)
    ax.set_ylim(-0.7, len(order) - 0.3)
    ax.set_xlabel(xlabel)
    ax.grid(axis="x", alpha=0.3)
    if k > 1:
        ax.legend(frameon=False, loc="best")
    return ax


def plot_schoenfeld(zph: Any, term: str, *, ax: Any = None, coef: float | None = None, smooth: bool = True) -> Any:
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

    Returns
    -------
    matplotlib Axes
    """
    if term not in zph.residuals:
        raise DataError(f"term {term!r} has no Schoenfeld residuals; terms: {', '.join(zph.residuals)}")
    ax = _axes(ax)
    t = np.asarray(zph.time, float)
    x = np.asarray(zph.x, float)
    r = np.asarray(zph.residuals[term], float)
    ok = np.isfinite(r)
    ax.scatter(t[ok], r[ok], s=6, alpha=0.35, color="#4c72b0", lw=0)
    if smooth and ok.sum() > 10:
        from statsmodels.nonparametric.smoothers_lowess import lowess

        fit = lowess(r[ok], x[ok], frac=0.6, return_sorted=False)
        order = np.argsort(t[ok], kind="stable")
        ax.plot(t[ok][order], fit[order], color="#c44e52", lw=2, label="smooth")
    if coef is not None:
        ax.axhline(coef, color="grey", ls="--", lw=1, label="Cox estimate")
    row = zph.table.get(term)
    p = f" (test p = {row['p']:.2g})" if row else ""
    ax.set_title(f"{term}{p}")
    ax.set_xlabel("Days since enrolment")
    ax.set_ylabel("Log hazard ratio over time, beta(t)")
    ax.grid(alpha=0.3)
    if smooth or coef is not None:
        ax.legend(frameon=False, loc="best")
    return ax


def plot_cif(cif: Any, *, ax: Any = None, causes: Sequence[str] | None = None,
             truth: Mapping[str, Mapping[str, Mapping[str, float]]] | None = None) -> Any:
    """Cumulative incidence of each ending by group (colour = ending, line style = group).

    Parameters
    ----------
    cif : CumulativeIncidenceResult
        From :func:`peerstudy.survival.competing.cumulative_incidence`.
    causes : sequence of str, optional
        Endings to draw (default all).
    truth : mapping, optional
        ``{CAUSE: {GROUP: {"30": p}}}``, e.g. a simulation's true CIF, drawn as points.

    Returns
    -------
    matplotlib Axes
    """
    ax = _axes(ax)
    chosen = list(causes) if causes is not None else list(cif.causes)
    styles = ["-", "--", ":", "-."]
    for gi, (g, curve) in enumerate(cif.curves.items()):
        t = np.concatenate([[0.0], np.asarray(curve.time, float)])
        for c in chosen:
            j = list(curve.causes).index(c)
            y = np.concatenate([[0.0], np.asarray(curve.cif[:, j], float)])
            colour = _ENDING_COLOURS.get(c)
            ax.step(t, y, where="post", ls=styles[gi % len(styles)], color=colour, lw=2,
                    label=f"{c.replace('_', ' ')}, {_label(g)}")
            if truth and c in truth and g in truth[c]:
                pts = truth[c][g]
                ax.plot([float(k) for k in pts], list(pts.values()), "o", mfc="white", color=colour, ms=5)
    ax.set_xlabel("Days since enrolment")
    ax.set_ylabel("Cumulative incidence")
    ax.yaxis.set_major_formatter(_percent())
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, loc="upper left", fontsize=8)
    return ax


def plot_enrolment(df: pd.DataFrame, *, ax: Any = None, date: str = "enrolled_on", arm: str = "arm",
                   freq: str = "MS", suppress: bool = False) -> Any:
    """Monthly enrolment by arm as stacked bars; with ``suppress`` a month-arm count of 1-10 is not drawn.

    Hidden bars are marked "<11" on the axis, so the figure reveals no count the tables would hide.
    """
    for col in (date, arm):
        if col not in df.columns:
            raise DataError(f"plot_enrolment: column {col!r} not in the data")
    ax = _axes(ax)
    dates = pd.to_datetime(df[date])
    counts = (pd.crosstab(dates.dt.to_period("M").dt.to_timestamp(), df[arm].astype(str))
              .sort_index())
    bottom = np.zeros(len(counts))
    x = np.arange(len(counts))
    hidden_any = False
    for g in counts.columns:
        v = counts[g].to_numpy()
        small = (v >= 1) & (v < THRESHOLD) if suppress else np.zeros(len(v), bool)
        hidden_any |= bool(small.any())
        shown = np.where(small, 0, v)
        ax.bar(x, shown, bottom=bottom, color=ARM_COLOURS.get(g), label=_label(g), width=0.8)
        for xi in np.flatnonzero(small):
            ax.text(xi, bottom[xi], suppressed_label(), ha="center", va="bottom", fontsize=7)
        bottom = bottom + shown
    step = max(1, len(x) // 9)
    ax.set_xticks(x[::step], [d.strftime("%b %Y") for d in counts.index[::step]], rotation=30, ha="right")
    ax.set_ylabel("People enrolled per month")
    ax.legend(frameon=False)
    ax.grid(axis="y", alpha=0.3)
    if hidden_any:
        ax.set_title("Months with 1-10 people in an arm are not drawn", fontsize=9)
    return ax
