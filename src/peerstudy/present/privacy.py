"""Small-cell suppression of counts in tables and number-at-risk rows.

Reports built from real participants' data (``peerstudy report --data``) show only aggregates,
and every count from 1 to 10 is shown as ``"<11"`` (the threshold used by CMS and many state
data-release policies). Zero may be shown: it reveals no one. A single suppressed cell in a row
or column whose total is known could be recovered by subtraction, so the next smallest cell of
that row or column is suppressed too (*complementary suppression*), repeated until no row or
column has exactly one hidden cell. Percentages computed from a hidden count are hidden with it.

Synthetic data may opt out (``suppress=False``): the functions then only format.

The complementary rule audits each row and column on its own (the usual one-dimensional check);
it does not solve the linear program that would guard against combining several rows and columns
at once, which is the practice of most published release policies.

Examples
--------
>>> import pandas as pd
>>> t = pd.DataFrame({"usual_care": [250, 5, 120], "peer": [260, 30, 100]},
...                  index=["dropout", "died", "retained"])
>>> suppress_table(t)
          usual_care        peer
dropout          250         260
died             <11  suppressed
retained  suppressed  suppressed

"died" has one small cell (5), so its row partner (30) is hidden; each arm's column then has one
hidden cell, so its next smallest (120 and 100) is hidden too. Cells hidden only to protect another
are shown as "suppressed" (they may hold any number), small ones as "<11".
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from peerstudy.exceptions import DataError

__all__ = [
    "THRESHOLD",
    "suppressed_label",
    "is_small",
    "format_count",
    "suppress_counts",
    "suppression_mask",
    "suppression_kinds",
    "hidden_label",
    "COMPLEMENT_LABEL",
    "suppress_table",
    "suppress_derived",
    "suppressed_mapping",
    "private_recurrent",
]

#: Counts below this (and above zero) are hidden.
THRESHOLD: int = 11

#: The text of a cell hidden only to protect another one (complementary suppression): it may hold any
#: number, so it is not labelled "<11".
COMPLEMENT_LABEL: str = "suppressed"


def suppressed_label(threshold: int = THRESHOLD) -> str:
    """The text shown in place of a hidden count: ``"<11"`` for the default threshold."""
    return f"<{int(threshold)}"


def _check_threshold(threshold: int) -> int:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, np.integer)) or threshold < 1:
        raise DataError(f"threshold must be a whole number >= 1; got {threshold!r}")
    return int(threshold)


def _as_counts(values: np.ndarray, what: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    bad = ~np.isfinite(arr) | (arr < 0) | (arr != np.floor(arr))
    if bad.any():
        first = arr[bad].ravel()[0]
        raise DataError(f"{what} must hold whole counts >= 0; got {first!r}")
    return arr.astype(np.int64)


def is_small(values: "int | Iterable[int] | np.ndarray", *, threshold: int = THRESHOLD) -> np.ndarray:
    """True where a count is from 1 to ``threshold - 1`` (the counts that must be hidden)."""
    threshold = _check_threshold(threshold)
    arr = _as_counts(np.atleast_1d(np.asarray(values)), "counts")
    return (arr >= 1) & (arr < threshold)


def format_count(n: int, *, suppress: bool = True, threshold: int = THRESHOLD) -> str:
    """One count as text: ``"<11"`` when it is from 1 to 10 and ``suppress`` is on, else the number.

    >>> format_count(7), format_count(0), format_count(1234), format_count(7, suppress=False)
    ('<11', '0', '1,234', '7')
    """
    threshold = _check_threshold(threshold)
    value = int(_as_counts(np.array([n]), "count")[0])
    if suppress and 1 <= value < threshold:
        return suppressed_label(threshold)
    return f"{value:,}"


def suppress_counts(values: Iterable[int], *, suppress: bool = True, threshold: int = THRESHOLD) -> list[str]:
    """Format a row of counts (e.g. a number-at-risk row), hiding each count from 1 to 10.

    The cells of an at-risk row are not parts of one total, so only primary suppression applies.

    >>> suppress_counts([400, 212, 31, 9, 0])
    ['400', '212', '31', '<11', '0']
    """
    return [format_count(v, suppress=suppress, threshold=threshold) for v in values]


def suppression_kinds(counts: pd.DataFrame | np.ndarray, *, threshold: int = THRESHOLD,
                      margins: bool = True) -> np.ndarray:
    """Why each cell of a two-way count table is hidden: 0 shown, 1 small (primary), 2 complementary.

    Parameters
    ----------
    counts : DataFrame or 2-D array
        Interior counts (no total row or column); whole numbers >= 0.
    threshold : int, default 11
        Counts from 1 to ``threshold - 1`` are hidden.
    margins : bool, default True
        Treat row and column totals as known (published, or derivable from the report, as the
        number randomised per arm is). Then a row or column with exactly one hidden cell gets a
        second one: its smallest visible non-zero cell (a zero cell only if no other is left),
        repeated until every row and column has zero or at least two hidden cells.

    Returns
    -------
    numpy.ndarray of int
        Same shape as ``counts``. A complementary cell is shown as :data:`COMPLEMENT_LABEL`
        ("suppressed"), not "<11": it is hidden to protect another cell, and may be large.

    Raises
    ------
    DataError
        A cell is negative, fractional or missing.

    >>> suppression_kinds(np.array([[250, 260], [5, 30], [120, 100]])).tolist()
    [[0, 0], [1, 2], [2, 2]]
    """
    threshold = _check_threshold(threshold)
    arr = _as_counts(np.asarray(counts), "counts")
    if arr.ndim != 2:
        raise DataError(f"counts must be a two-way table; got {arr.ndim} dimension(s)")
    kind = np.where((arr >= 1) & (arr < threshold), 1, 0)
    if not margins or not kind.any():
        return kind
    changed = True
    while changed:
        changed = False
        for axis in (1, 0):  # rows, then columns
            n_lines = arr.shape[0] if axis == 1 else arr.shape[1]
            for i in range(n_lines):
                line_hide = (kind[i, :] if axis == 1 else kind[:, i]) > 0
                line_vals = arr[i, :] if axis == 1 else arr[:, i]
                if line_hide.sum() != 1 or line_hide.size < 2:
                    continue
                j = _complement(line_vals, line_hide)
                if j is None:
                    continue
                if axis == 1:
                    kind[i, j] = 2
                else:
                    kind[j, i] = 2
                changed = True
    return kind


def suppression_mask(counts: pd.DataFrame | np.ndarray, *, threshold: int = THRESHOLD,
                     margins: bool = True) -> np.ndarray:
    """Which cells of a two-way count table must be hidden (primary and complementary).

    See :func:`suppression_kinds` (this is ``suppression_kinds(...) > 0``).

    Returns
    -------
    numpy.ndarray of bool
        Same shape as ``counts``; True = hide.
    """
    return suppression_kinds(counts, threshold=threshold, margins=margins) > 0


def hidden_label(kind: int, threshold: int = THRESHOLD) -> str:
    """The text of a hidden cell: ``"<11"`` for a small count, ``"suppressed"`` for a complementary one."""
    return suppressed_label(threshold) if int(kind) == 1 else COMPLEMENT_LABEL


def _complement(values: np.ndarray, hidden: np.ndarray) -> int | None:
    """Index of the smallest visible non-zero cell (a zero only as a last resort)."""
    visible = np.flatnonzero(~hidden)
    if visible.size == 0:
        return None
    nonzero = visible[values[visible] > 0]
    pool = nonzero if nonzero.size else visible
    return int(pool[np.argmin(values[pool])])


def suppress_table(counts: pd.DataFrame, *, suppress: bool = True, threshold: int = THRESHOLD,
                   totals: bool = False, margins: bool = True) -> pd.DataFrame:
    """A count table as text with small cells (and their complements) shown as ``"<11"``.

    Parameters
    ----------
    counts : pandas.DataFrame
        Interior counts, e.g. endings (rows) by arm (columns).
    suppress : bool, default True
        False for synthetic data: numbers are only formatted.
    threshold : int, default 11
    totals : bool, default False
        Append a ``Total`` row and column. A total from 1 to 10 is hidden too.
    margins : bool, default True
        See :func:`suppression_mask`; always True when ``totals`` is.

    Returns
    -------
    pandas.DataFrame
        Strings, same index and columns (plus totals when asked).
    """
    if not isinstance(counts, pd.DataFrame):
        raise DataError(f"counts must be a pandas DataFrame; got {type(counts).__name__}")
    arr = _as_counts(counts.to_numpy(), "counts")
    kind = suppression_kinds(arr, threshold=threshold, margins=margins or totals) if suppress \
        else np.zeros(arr.shape, int)
    text = np.empty(arr.shape, dtype=object)
    for idx in np.ndindex(arr.shape):
        text[idx] = hidden_label(kind[idx], threshold) if kind[idx] else f"{int(arr[idx]):,}"
    out = pd.DataFrame(text, index=counts.index, columns=counts.columns, dtype=object)
    if totals:
        row_tot = arr.sum(axis=1)
        col_tot = arr.sum(axis=0)
        out["Total"] = suppress_counts(row_tot, suppress=suppress, threshold=threshold)
        out.loc["Total"] = suppress_counts([*col_tot, arr.sum()], suppress=suppress, threshold=threshold)
    return out


def suppress_derived(derived: pd.DataFrame, counts: pd.DataFrame, *, suppress: bool = True,
                     threshold: int = THRESHOLD, fmt: str = "{:.1f}%", margins: bool = True) -> pd.DataFrame:
    """Format numbers derived from counts (percentages, rates), hiding those of hidden counts.

    ``derived`` and ``counts`` have the same shape, index and columns; a derived cell is hidden
    (shown as ``"--"``) exactly where :func:`suppression_mask` hides its count, since a
    percentage of a known total gives the count back.

    >>> import pandas as pd
    >>> c = pd.DataFrame({"peer": [5, 395]}, index=["died", "other"])
    >>> suppress_derived(100 * c / c.sum(), c)
          peer
    died    --
    other   --
    """
    if not isinstance(derived, pd.DataFrame) or not isinstance(counts, pd.DataFrame):
        raise DataError("derived and counts must be pandas DataFrames")
    if derived.shape != counts.shape:
        raise DataError(f"derived values {derived.shape} and counts {counts.shape} must have the same shape")
    hide = suppression_mask(counts.to_numpy(), threshold=threshold, margins=margins) if suppress \
        else np.zeros(counts.shape, bool)
    vals = derived.to_numpy(dtype=float)
    text = np.empty(vals.shape, dtype=object)
    for idx in np.ndindex(vals.shape):
        v = vals[idx]
        text[idx] = "--" if hide[idx] else ("" if not np.isfinite(v) else fmt.format(v))
    return pd.DataFrame(text, index=derived.index, columns=derived.columns, dtype=object)


def suppressed_mapping(counts: Mapping[str, int], *, suppress: bool = True,
                       threshold: int = THRESHOLD) -> dict[str, str]:
    """A one-way table given as a mapping (label -> count) with a known total, suppressed.

    A one-way table whose total is known is a single row: one hidden cell is complemented.
    """
    labels = list(counts)
    arr = np.array([[counts[k] for k in labels]])
    kind = suppression_kinds(arr, threshold=threshold) if suppress else np.zeros(arr.shape, int)
    return {k: (hidden_label(kind[0, i], threshold) if kind[0, i] else f"{int(arr[0, i]):,}")
            for i, k in enumerate(labels)}



#: keys of result documents (``to_dict()`` output) that hold counts of people
COUNT_KEYS: frozenset[str] = frozenset({"n", "events", "dropouts", "observed", "n_event", "n_risk", "n_censor",
                                        "at_risk", "received", "analysed", "excluded", "count", "rows",
                                        "excluded_total", "arms", "people"})


def suppress_nested(obj: Any, *, keys: "Iterable[str]" = COUNT_KEYS, suppress: bool = True,
                    threshold: int = THRESHOLD) -> Any:
    """A copy of a nested result document with every count 1-10 under a count key shown as "<11".

    Walks dicts and lists; a value is treated as a count when its key is in ``keys`` (or it sits in a
    mapping under such a key, e.g. ``{"excluded": {"duplicate id": 3}}``) and it is a whole number.
    Primary suppression only: use :func:`suppress_table` where totals make complements derivable.
    """
    keys = frozenset(keys)
    label = suppressed_label(threshold)

    def is_count(v: Any) -> bool:
        return isinstance(v, (int, np.integer, float, np.floating)) and not isinstance(v, bool) \
            and float(v).is_integer() and 1 <= float(v) < threshold

    def walk(v: Any, counted: bool) -> Any:
        if isinstance(v, Mapping):
            return {k: walk(x, counted or k in keys) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [walk(x, counted) for x in v]
        if suppress and counted and is_count(v):
            return label
        return v

    return walk(obj, False)


# --- everything a report emits -----------------------------------------------------------------------------------
#
# The rules below make suppression hold across a whole report, not one table at a time:
#
# * **Linked counts** (a flow: received = excluded + analysed; excluded = sum of its reasons; analysed = sum of the
#   arms) are suppressed together (:func:`suppress_linked`): when a relation has exactly one hidden count, another
#   of its counts is hidden too ("suppressed"), preferring counts that are not published elsewhere (the number
#   analysed and the arm sizes are: table 1 shows them).
# * **Shares** are shown to a precision no finer than 10/n (:func:`coarsen_share`): with n people, a share rounded
#   to a step of at least 10/n leaves every count it rests on uncertain by 10 or more, so no count can be solved
#   back from it (13/17 = 0.7647 gives 4 dropouts; with 17 people no share is shown at all). Where the counts
#   behind an estimate are at hand (tables, curves) the exact rule is used instead: an estimate is shown only
#   when the events before it and the people left are both 0 or at least 11 (:func:`share_allowed`).
# * **Curves** (:func:`private_steps`, :func:`private_curve`) are drawn only while at least 11 people are at
#   risk, and their steps are pooled: the estimate is drawn at the end of each run of at least 11 events, the
#   points joined by straight lines (no single event's day or drop is shown); a last run of fewer than 11 is not
#   drawn, so a curve may end early, or (with fewer than 11 events while 11 are at risk) not be drawn at all.
# * **Per-person points** (Schoenfeld residuals) are replaced by bin means of at least 11 events
#   (:func:`binned_means`).
# * **Text** that is not a table (error messages kept in a failed report's manifest) has every whole number from
#   1 to 10 replaced by "<11" (:func:`scrub_text`).
# * **Documents** (``results.json``, ``manifest.json``) go through :func:`private_document`.
#
# A report of real data also runs :func:`peerstudy.present.audit.audit_report` on every file it wrote.

#: Environment variable that puts a process (a report's notebook kernels) in private mode.
PRIVATE_ENV = "PEERSTUDY_PRIVATE"


def is_private() -> bool:
    """True when this process makes a report of real data (the runner sets ``PEERSTUDY_PRIVATE=1`` for its
    kernels; :func:`peerstudy.report.notebook.load_report_cohort` sets it on reading a data file).

    Functions that a report's notebooks call without a ``suppress`` argument (the Schoenfeld plot, the
    notebook's ``record``) follow it, so a notebook cannot forget to protect its output.
    """
    import os

    return os.environ.get(PRIVATE_ENV, "") not in ("", "0")


def set_private(on: bool = True) -> None:
    """Put this process (and the kernels and workers it starts) in private mode, or take it out.

    In private mode warnings print as one line, ``Category: message``, with small numbers scrubbed
    (:func:`private_warnings`): a warning such as "only 6 events for 1 model term" would otherwise put a
    count (and the path of the code that warned) into a report page.
    """
    import os

    if on:
        os.environ[PRIVATE_ENV] = "1"
        private_warnings()
    else:
        os.environ.pop(PRIVATE_ENV, None)
        private_warnings(False)


def private_warnings(on: bool = True) -> None:
    """Format warnings as ``Category: message`` with :func:`scrub_text` applied (no file path, no source line)."""
    import warnings

    original = getattr(warnings, "_peerstudy_formatwarning", None)
    if not on:
        if original is not None:
            warnings.formatwarning = original
            del warnings._peerstudy_formatwarning  # type: ignore[attr-defined]
        return
    if original is None:
        warnings._peerstudy_formatwarning = warnings.formatwarning  # type: ignore[attr-defined]

    def formatwarning(message: Any, category: type, filename: str, lineno: int, line: str | None = None) -> str:
        return f"{category.__name__}: {scrub_text(str(message))}\n"

    warnings.formatwarning = formatwarning


def suppress_linked(counts: Mapping[str, int], relations: Iterable[tuple[str, Iterable[str]]], *,
                    published: Iterable[str] = (), suppress: bool = True,
                    threshold: int = THRESHOLD) -> dict[str, str]:
    """Counts tied by sums (``total = part + part + ...``) as text, suppressed so no hidden one can be derived.

    Parameters
    ----------
    counts : mapping of str to int
        Every count shown, by name.
    relations : iterable of (total, parts)
        Each says ``counts[total] == sum(counts[p] for p in parts)``.
    published : iterable of str
        Counts shown elsewhere in the report (e.g. the number analysed, in table 1): hidden only when no
        other count of a relation can protect it.
    suppress : bool, default True
    threshold : int, default 11

    Returns
    -------
    dict of str to str
        ``"<11"`` for counts from 1 to 10, ``"suppressed"`` for counts hidden to protect them.

    Examples
    --------
    >>> flow = {"received": 60, "excluded": 6, "analysed": 54}
    >>> suppress_linked(flow, [("received", ["excluded", "analysed"])], published=["analysed"])
    {'received': 'suppressed', 'excluded': '<11', 'analysed': '54'}
    """
    threshold = _check_threshold(threshold)
    names = list(counts)
    vals = {k: int(_as_counts(np.array([counts[k]]), f"count {k!r}")[0]) for k in names}
    rel = [(t, list(p)) for t, p in relations]
    for t, parts in rel:
        for k in (t, *parts):
            if k not in vals:
                raise DataError(f"relation names {k!r}, which is not among the counts ({', '.join(names)})")
    kind = {k: (1 if suppress and 1 <= v < threshold else 0) for k, v in vals.items()}
    keep = set(published)
    changed = suppress
    while changed:
        changed = False
        for t, parts in rel:
            cells = [t, *parts]
            if sum(kind[c] > 0 for c in cells) != 1:
                continue
            visible = [c for c in cells if not kind[c]]
            order = sorted(visible, key=lambda c: (c in keep, vals[c] == 0, vals[c]))
            if order:
                kind[order[0]] = 2
                changed = True
    return {k: (hidden_label(kind[k], threshold) if kind[k] else f"{vals[k]:,}") for k in names}


def suppress_flow(flow: Mapping[str, Any], arms: Mapping[str, int] | None = None, *, suppress: bool = True,
                  threshold: int = THRESHOLD) -> dict[str, Any]:
    """A CONSORT-style flow (received, excluded by reason, analysed, by arm) as text, suppressed as a whole.

    Returns ``{"received", "excluded_total", "excluded": {reason: text}, "analysed", "arms": {arm: text}}``;
    the totals are suppressed with their parts (:func:`suppress_linked`), so "Of 60 received, <11 excluded, 54
    analysed" cannot happen: the number received is then "suppressed".

    >>> suppress_flow({"received": 60, "excluded": {"duplicate id": 6}, "analysed": 54},
    ...               {"usual_care": 26, "peer": 28})["received"]
    'suppressed'
    """
    excluded = {str(k): int(v) for k, v in dict(flow.get("excluded") or {}).items()}
    counts: dict[str, int] = {"received": int(flow["received"]), "excluded_total": sum(excluded.values()),
                              "analysed": int(flow["analysed"])}
    counts.update({f"excluded:{k}": v for k, v in excluded.items()})
    relations: list[tuple[str, list[str]]] = [("received", ["excluded_total", "analysed"])]
    if excluded:
        relations.append(("excluded_total", [f"excluded:{k}" for k in excluded]))
    arm_keys: list[str] = []
    if arms:
        counts.update({f"arm:{k}": int(v) for k, v in arms.items()})
        arm_keys = [f"arm:{k}" for k in arms]
        relations.append(("analysed", arm_keys))
    shown = suppress_linked(counts, relations, published=["analysed", *arm_keys], suppress=suppress,
                            threshold=threshold)
    out: dict[str, Any] = {"received": shown["received"], "excluded_total": shown["excluded_total"],
                           "excluded": {k: shown[f"excluded:{k}"] for k in excluded}, "analysed": shown["analysed"]}
    if arms:
        out["arms"] = {k: shown[f"arm:{k}"] for k in arms}
    return out


#: Steps a share may be rounded to (as proportions); the finest one at least 10/n is used.
SHARE_STEPS: tuple[float, ...] = (0.01, 0.02, 0.05, 0.1, 0.2, 0.25)


def coarsen_share(p: float, n: int, *, threshold: int = THRESHOLD) -> float | None:
    """A share of ``n`` people rounded to a step of more than ``(threshold - 1) / n``; None if none is coarse enough.

    With that step, a count behind the share (``p * n``) is known only within a range of more than
    ``threshold - 1``, which holds at least ``threshold - 1`` whole numbers even where both of its ends are
    whole (a step of exactly 10 / n can leave 9), so no count from 1 to 10 can be solved back from it. Shares of
    40 people or fewer are not shown (None).

    >>> coarsen_share(13 / 17, 17) is None, coarsen_share(0.7647, 54), coarsen_share(0.7647, 800), coarsen_share(0.7647, 5000)
    (True, 0.8, 0.76, 0.76)
    """
    threshold = _check_threshold(threshold)
    if p is None or not np.isfinite(p) or n is None or n <= 0:
        return None
    need = (threshold - 1) / float(n)
    for step in SHARE_STEPS:
        if step > need + 1e-12:
            return round(round(float(p) / step) * step, 4)
    return None


def share_allowed(events: int, n: int, *, threshold: int = THRESHOLD) -> bool:
    """Whether a share resting on ``events`` of ``n`` may be shown: both the events and the others are 0 or >= 11.

    >>> share_allowed(13, 17), share_allowed(20, 40), share_allowed(0, 15)
    (False, True, True)
    """
    rest = int(n) - int(events)
    return not (1 <= int(events) < threshold) and not (1 <= rest < threshold)


def private_steps(time: np.ndarray, n_risk: np.ndarray, n_event: np.ndarray, *,
                  threshold: int = THRESHOLD) -> tuple[np.ndarray, float]:
    """Which steps of a curve a private figure may draw, and the day it must stop.

    Parameters
    ----------
    time, n_risk, n_event : arrays
        The curve's distinct times, the number at risk just before each and the events at each (for a
        cumulative incidence curve, the events of the ending drawn).
    threshold : int, default 11

    Returns
    -------
    keep : numpy.ndarray of bool
        True at the times where the curve may step: the events since the previous kept step add up to at
        least ``threshold`` (smaller drops are pooled into the next one; a last pool of fewer is not drawn).
    end : float
        The last day with at least ``threshold`` at risk: the curve is not drawn beyond it (0 if none).

    A figure draws the estimate only at kept times (flat in between), so every step it shows holds at least
    11 events and is drawn where at least 11 people were followed.

    >>> keep, end = private_steps(np.array([1, 2, 3, 4, 5]), np.array([40, 34, 20, 12, 5]), np.array([6, 14, 8, 4, 5]))
    >>> keep.tolist(), end
    ([False, True, False, True, False], 4.0)
    """
    threshold = _check_threshold(threshold)
    t = np.asarray(time, float)
    risk = np.asarray(n_risk, float)
    ev = np.asarray(n_event, float)
    ok = risk >= threshold
    end = float(t[ok][-1]) if ok.any() else 0.0
    keep = np.zeros(len(t), bool)
    pool = 0.0
    for i in range(len(t)):
        if t[i] > end:
            break
        pool += ev[i]
        if pool >= threshold:
            keep[i] = True
            pool = 0.0
    return keep, end


def private_curve(time: np.ndarray, value: np.ndarray, n_risk: np.ndarray, n_event: np.ndarray, *,
                  start: float, others: "Sequence[np.ndarray]" = (), threshold: int = THRESHOLD
                  ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """The points of a curve a private figure may draw (see :func:`private_steps`), from day 0.

    Returns ``(t, y, [other arrays])``: day 0 with ``start`` (1 for retention, 0 for incidence), then the
    estimate at the end of each pool of at least 11 events. A figure joins them by straight lines: within a
    pool the days of single events are not shown, and the curve ends at the last full pool (a last pool of
    fewer than 11, or events once fewer than 11 are at risk, are not drawn). ``others`` (band limits) are cut
    the same way.

    >>> t, y, _ = private_curve(np.array([1, 2, 3]), np.array([.9, .6, .5]), np.array([40, 36, 24]),
    ...                         np.array([4, 8, 3]), start=1.0)
    >>> t.tolist(), y.tolist()
    ([0.0, 2.0], [1.0, 0.6])
    """
    keep, _ = private_steps(time, n_risk, n_event, threshold=threshold)
    tt = np.concatenate([[0.0], np.asarray(time, float)[keep]])

    def cut(a: np.ndarray) -> np.ndarray:
        return np.concatenate([[start], np.asarray(a, float)[keep]])

    return tt, cut(value), [cut(o) for o in others]


def binned_means(x: np.ndarray, y: np.ndarray, *, per_bin: int = THRESHOLD) -> tuple[np.ndarray, np.ndarray]:
    """Means of ``y`` in consecutive bins of ``x`` holding at least ``per_bin`` points each (no per-person point).

    The last bin takes the remainder; fewer than ``per_bin`` points in all give empty arrays.

    >>> bx, by = binned_means(np.arange(30.0), np.ones(30))
    >>> len(bx), by.tolist()
    (2, [1.0, 1.0])
    """
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    n_bins = len(x) // int(per_bin)
    if n_bins == 0:
        return np.array([]), np.array([])
    edges = np.linspace(0, len(x), n_bins + 1).astype(int)
    bx = np.array([x[a:b].mean() for a, b in zip(edges[:-1], edges[1:])])
    by = np.array([y[a:b].mean() for a, b in zip(edges[:-1], edges[1:])])
    return bx, by


def scrub_text(text: str, *, threshold: int = THRESHOLD) -> str:
    """Text with every whole number from 1 to ``threshold - 1`` written as "<11" (for messages of real data).

    >>> scrub_text("too few events: 6 event(s) for 2 terms; 1,204 rows, day 30")
    'too few events: <11 event(s) for <11 terms; 1,204 rows, day 30'
    """
    import re

    threshold = _check_threshold(threshold)
    label = suppressed_label(threshold)

    def sub(m: "re.Match[str]") -> str:
        return label if 1 <= int(m.group(0)) < threshold else m.group(0)

    return re.sub(r"(?<![\w.,<])\d+(?![\w.,]\d|\w)", sub, str(text))


#: Keys of result documents holding shares (proportions), coarsened by :func:`coarsen_share`.
SHARE_KEYS: frozenset[str] = frozenset({"survival", "lower", "upper", "cif", "retention", "share", "proportion",
                                        "usual_care_retention", "peer_retention", "still in treatment"})


def private_document(obj: Any, *, n: int | None = None, threshold: int = THRESHOLD) -> Any:
    """A result document (``results.json``, ``manifest.json``) made safe to publish.

    * counts 1-10 under a count key (:data:`COUNT_KEYS`) become "<11" (:func:`suppress_nested`); in a mapping
      holding both ``n`` and ``events`` whose difference is from 1 to 10, ``events`` becomes "suppressed";
    * shares under :data:`SHARE_KEYS` are coarsened for the nearest enclosing ``n`` (else ``n`` given here;
      :func:`coarsen_share`), or replaced by "suppressed";
    * the median (and its CI) of a group of fewer than ``threshold`` people becomes "suppressed";
    * other floats keep 3 significant digits (p-values 2);
    * strings go through :func:`scrub_text` where they are messages (keys ``error``, ``message``, ``notes``).
    """
    threshold = _check_threshold(threshold)
    doc = suppress_nested(obj, threshold=threshold)
    text_keys = {"error", "message", "notes", "summary_error", "note"}

    def share(v: Any, size: int | None) -> Any:
        if isinstance(v, Mapping):
            return {k: share(x, size) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [share(x, size) for x in v]
        if isinstance(v, (float, int, np.floating, np.integer)) and not isinstance(v, bool):
            q = coarsen_share(float(v), size, threshold=threshold) if size else None
            return COMPLEMENT_LABEL if q is None else q
        return v

    def walk(v: Any, size: int | None, key: str | None) -> Any:
        if isinstance(v, Mapping):
            here = v.get("n") if isinstance(v.get("n"), (int, np.integer)) and not isinstance(v.get("n"), bool) \
                else size
            out = {}
            for k, x in v.items():
                if k in SHARE_KEYS:
                    out[k] = share(x, here)
                else:
                    out[k] = walk(x, here, k)
            e = out.get("events")
            if isinstance(here, (int, np.integer)) and isinstance(e, (int, np.integer)) and not isinstance(e, bool) \
                    and 1 <= here - e < threshold:
                out["events"] = COMPLEMENT_LABEL
            own = v.get("n", None)
            if own is not None and (_whole_count(own) is None or _whole_count(own) < threshold):
                for k in ("median", "median_ci"):  # a median of 1-10 people is one person's day
                    if k in out:
                        out[k] = COMPLEMENT_LABEL
            return out
        if isinstance(v, (list, tuple)):
            return [walk(x, size, key) for x in v]
        if isinstance(v, str) and key in text_keys:
            return scrub_text(v, threshold=threshold)
        if isinstance(v, (float, np.floating)) and np.isfinite(v) and not float(v).is_integer():
            digits = 2 if key in ("p", "p_value", "lrt_p", "pvalue") else 3
            return float(f"{float(v):.{digits}g}")
        return v

    return _hide_sibling_complements(walk(doc, n, None))


#: Keys of the counts that groups side by side (arms, strata) each carry, and that add up to a total.
GROUP_COUNT_KEYS: tuple[str, ...] = ("n", "events", "observed", "dropouts")


def _hide_sibling_complements(node: Any) -> Any:
    """Groups side by side (``{"peer": {"n": 30}, "usual_care": {"n": "<11"}}``) add up to a total shown
    elsewhere, so where one group's count is suppressed the others' become "suppressed" too: with only one
    hidden, it would be the total less the rest.

    >>> _hide_sibling_complements({"n": 36, "km": {"peer": {"n": 30, "events": 12}, "usual_care": {"n": "<11",
    ...                            "events": "<11"}}})
    {'n': 36, 'km': {'peer': {'n': 'suppressed', 'events': 'suppressed'}, 'usual_care': {'n': '<11', 'events': '<11'}}}
    """
    if isinstance(node, Mapping):
        out = {k: _hide_sibling_complements(v) for k, v in node.items()}
        groups = [k for k, v in out.items() if isinstance(v, Mapping) and any(c in v for c in GROUP_COUNT_KEYS)]
        if len(groups) >= 2:
            for key in GROUP_COUNT_KEYS:
                members = [g for g in groups if key in out[g]]
                hidden = [g for g in members if isinstance(out[g][key], str) and _whole_count(out[g][key]) is None]
                if hidden and len(hidden) < len(members):
                    for g in members:
                        if g not in hidden:
                            out[g] = {**out[g], key: COMPLEMENT_LABEL}
        return out
    if isinstance(node, list):
        return [_hide_sibling_complements(v) for v in node]
    return node


def curve_share(curve: Any, day: float, value: float, *, suppress: bool = True, digits: int = 2,
                threshold: int = THRESHOLD) -> "float | str":
    """An estimate read off a Kaplan-Meier curve at ``day``, as a private table may show it.

    With ``suppress``, shown (rounded to ``digits``) only when the dropouts up to ``day`` and the other people
    of the group are each 0 or at least ``threshold`` (:func:`share_allowed`), else "suppressed". Without it,
    only rounded.
    """
    if value is None or not np.isfinite(value):
        return value
    if not suppress:
        return round(float(value), 3)
    t = np.asarray(curve.time, float)
    events = int(np.asarray(curve.n_event, float)[t <= float(day)].sum())
    if not share_allowed(events, int(curve.n), threshold=threshold):
        return COMPLEMENT_LABEL
    return round(float(value), digits)


def _whole_count(v: Any) -> int | None:
    """A count as written in a document (an integer, an integral float, or digits with thousands commas)."""
    if isinstance(v, (bool, np.bool_)):
        return None
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return int(v)
    if isinstance(v, str) and v.replace(",", "").isdigit():
        return int(v.replace(",", ""))
    return None


def _hide_complements(node: Any, threshold: int) -> Any:
    """A group's count of people beside a count of its events gives the rest away (21 people, 11 dropouts: 10
    without): where that difference is 1 to ``threshold - 1`` the event count becomes "suppressed"."""
    if isinstance(node, Mapping):
        out = {k: _hide_complements(v, threshold) for k, v in node.items()}
        n = _whole_count(out.get("n"))
        for key in ("observed", "events", "dropouts"):
            v = _whole_count(out.get(key))
            if n is not None and v is not None and 1 <= n - v < threshold:
                out[key] = COMPLEMENT_LABEL
        return out
    if isinstance(node, list):
        return [_hide_complements(v, threshold) for v in node]
    return node


def private_analysis(payload: Mapping[str, Any], tables: Mapping[str, pd.DataFrame], result: Any, df: pd.DataFrame,
                     *, threshold: int = THRESHOLD) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    """``peerstudy analyse --private``: its ``results.json`` and CSV tables under the rules of a report.

    * ``results.json`` through :func:`private_document` (counts 1-10 as "<11", shares coarsened for each
      group's size, the flow suppressed as a whole with :func:`suppress_flow`);
    * ``km_curves.csv`` holds only the steps a private figure draws (:func:`private_steps`: steps of at least 11
      dropouts while at least 11 are at risk), without the per-day ``n_risk``, ``n_event`` and ``n_censor``;
    * ``km_horizons.csv`` and ``cif.csv`` show an estimate only where the events before it and the people left
      are each 0 or at least 11 (:func:`share_allowed`), rounded to 2 decimals, else "suppressed";
    * ``km_medians.csv`` shows a median (and its CI) only for groups of at least 11 people, else "suppressed";
    * other tables (model coefficients, RMST) keep 3 significant digits.
    """
    doc = dict(payload)
    flow = doc.pop("flow", None)
    doc = private_document(doc, n=int(len(df)), threshold=threshold)
    doc = _hide_complements(doc, threshold)
    if flow is not None:
        arms = df["arm"].astype(str).value_counts().to_dict() if "arm" in df.columns else None
        doc["flow"] = suppress_flow(flow, arms, threshold=threshold)
    out: dict[str, pd.DataFrame] = {}
    curves = getattr(getattr(result, "km", None), "curves", {}) or {}
    for name, table in tables.items():
        t = table.copy()
        if name == "km_curves" and curves:
            rows = []
            for g, c in curves.items():
                keep, end = private_steps(c.time, c.n_risk, c.n_event, threshold=threshold)
                for i in np.flatnonzero(keep):
                    rows.append({"group": g, "time": float(c.time[i]), "survival": round(float(c.survival[i]), 3),
                                 "lower": round(float(c.lower[i]), 3), "upper": round(float(c.upper[i]), 3)})
                rows.append({"group": g, "time": end, "survival": np.nan, "lower": np.nan, "upper": np.nan})
            t = pd.DataFrame(rows, columns=["group", "time", "survival", "lower", "upper"])
        elif name == "km_horizons" and curves:
            for col in ("survival", "lower", "upper"):
                t[col] = t[col].astype(object)
            for i, r in t.iterrows():
                c = curves.get(str(r["group"]))
                shown = curve_share(c, float(r["time"]), float(r["survival"]), threshold=threshold) if c else \
                    COMPLEMENT_LABEL
                hide = shown == COMPLEMENT_LABEL
                for col in ("survival", "lower", "upper"):
                    t.at[i, col] = COMPLEMENT_LABEL if hide else round(float(r[col]), 2)
        elif name == "cif" and {"group", "cause", "time", "cif"} <= set(t.columns) and "outcome" in df.columns:
            t["cif"] = t["cif"].astype(object)
            if "se" in t.columns:
                t = t.drop(columns="se")
            sizes = df["arm"].astype(str).value_counts() if "arm" in df.columns else pd.Series({"all": len(df)})
            for i, r in t.iterrows():
                g = str(r["group"])
                sub = df[(df["arm"].astype(str) == g)] if "arm" in df.columns else df
                k = int(((sub["outcome"].astype(str) == str(r["cause"])) & (sub["time"] <= float(r["time"]))).sum())
                ok = share_allowed(k, int(sizes.get(g, len(sub))), threshold=threshold)
                t.at[i, "cif"] = round(float(r["cif"]), 2) if ok else COMPLEMENT_LABEL
        elif name == "km_medians" and curves and "group" in t.columns:
            # a median of fewer than 11 people is one person's day: shown only for groups of 11 or more
            for col in [c for c in t.columns if c != "group"]:
                t[col] = t[col].astype(object)
            for i, r in t.iterrows():
                c = curves.get(str(r["group"]))
                small = c is None or int(c.n) < threshold
                for col in [c for c in t.columns if c != "group"]:
                    v = r[col]
                    t.at[i, col] = COMPLEMENT_LABEL if small else (float(f"{float(v):.3g}") if pd.notna(v) else v)
        else:
            for col in t.columns:
                if col in COUNT_KEYS or col in ("n_risk", "n_event", "n_censor", "n_ending", "observed"):
                    t[col] = [format_count(int(round(v)), threshold=threshold) if pd.notna(v) else v for v in t[col]]
                elif pd.api.types.is_float_dtype(t[col]):
                    t[col] = [float(f"{v:.3g}") if pd.notna(v) and np.isfinite(v) else v for v in t[col]]
        out[name] = t
    return doc, out


def _recurrent_points(curve: Any, horizons: Iterable[str], threshold: int) -> tuple[np.ndarray, dict[str, bool]]:
    """Which steps and horizons of one MCF / Ghosh-Lin curve may be shown, with no two shown values apart by
    1 to ``threshold - 1`` events (so none gives a count of 1-10 away).

    Horizons first: one is shown when at least ``threshold`` are at risk there (bounded below by the number at
    risk at the next event; none after: not shown) and the events since the previous shown horizon are 0 or at
    least ``threshold``. Then steps (event days), while at least ``threshold`` are at risk: one is kept when the
    events since the previous shown point reach ``threshold`` and those up to the next shown horizon are 0 or
    at least ``threshold``. An event on a horizon's day counts before the horizon.
    """
    t = np.asarray(curve.time, float)
    risk = np.asarray(curve.at_risk, float)
    cum = np.cumsum(np.asarray(curve.events, float))
    shown: dict[str, bool] = {}
    marks: list[float] = []  # cumulative events at each shown horizon
    last = 0.0
    for h in sorted(horizons, key=float):
        k = int(np.searchsorted(t, float(h), side="right"))
        e = float(cum[k - 1]) if k else 0.0
        ok = k < len(t) and risk[k] >= threshold and not (1 <= e - last < threshold)
        shown[h] = ok
        if ok:
            marks.append(e)
            last = e
    keep = np.zeros(len(t), bool)
    last, m = 0.0, 0
    for i in range(len(t)):
        while m < len(marks) and marks[m] < cum[i]:  # passed a shown horizon
            last = marks[m]
            m += 1
        to_next = None if m == len(marks) else marks[m] - cum[i]
        if risk[i] >= threshold and cum[i] - last >= threshold and (to_next is None or not 1 <= to_next < threshold):
            keep[i] = True
            last = cum[i]
    return keep, shown


def private_recurrent(doc: Mapping[str, Any], tables: Mapping[str, pd.DataFrame], result: Any, *,
                      threshold: int = THRESHOLD) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    """The ``recurrent`` part of ``peerstudy analyse --events --private``: results and tables made safe.

    * MCF and Ghosh-Lin values (and their SE and CI) at a horizon only where at least 11 were at risk and the
      group's events since the previous shown value (horizon or table step) are 0 or at least 11 (else
      "suppressed"; :func:`_recurrent_points`);
    * every count of events, the deaths and the events flow: 1-10 as "<11"; an event count is "suppressed"
      everywhere when it is within 1-10 of the participants, of the events received in the flow, or when a
      group's own total is 1-10 (it would follow from the other group's and the total); deaths likewise;
      the flow is suppressed as a whole (:func:`suppress_flow`), and entirely when the event count is hidden;
    * the ``recurrent_mcf`` / ``recurrent_ghosh_lin`` tables keep only pooled steps (at least 11 events since
      the previous shown value, while at least 11 are at risk), without the per-step ``at_risk`` and ``events``;
    * model coefficients, the MCF test and other numbers keep 3 significant digits; notes are scrubbed.
    """
    threshold = _check_threshold(threshold)
    d = {k: v for k, v in doc.items()}
    inp = dict(d.pop("input", {}) or {})
    flow = inp.pop("flow", None)
    steps: dict[str, dict[str, np.ndarray]] = {}
    for method, res in (("mcf", result.mcf), ("ghosh_lin", result.ghosh_lin)):
        block, steps[method] = {}, {}
        for g, c in res.curves.items():
            values = dict((d.get(method) or {}).get(g) or {})
            steps[method][g], shown = _recurrent_points(c, list(values), threshold)
            block[g] = {h: (v if shown.get(h, False) else {k: COMPLEMENT_LABEL for k in v}) for h, v in values.items()}
        d[method] = block
    n, events = int(result.n), int(result.events)
    totals = [int(np.asarray(c.events).sum()) for c in result.mcf.curves.values()]
    received = None if flow is None else _whole_count(flow.get("analysed"))
    hide_events = 1 <= events < threshold or 1 <= n - events < threshold or any(1 <= e < threshold for e in totals) \
        or (received is not None and 1 <= received - events < threshold)
    deaths = int(result.deaths)
    hide_deaths = 1 <= deaths < threshold or 1 <= n - deaths < threshold

    def events_out(v: Any) -> Any:
        c = _whole_count(v)
        if c is None:
            return v
        if 1 <= c < threshold:
            return suppressed_label(threshold)
        return COMPLEMENT_LABEL if hide_events or 1 <= n - c < threshold else c

    def walk(v: Any) -> Any:
        if isinstance(v, Mapping):
            return {k: events_out(x) if k == "events" else walk(x) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x) for x in v]
        return v

    out = private_document(walk(d), n=n, threshold=threshold)
    out["deaths"] = (suppressed_label(threshold) if 1 <= deaths < threshold
                     else COMPLEMENT_LABEL if hide_deaths else deaths)
    if flow is not None:
        shown = suppress_flow(flow, threshold=threshold)
        if hide_events:  # the number analysed would give the hidden event count back
            shown = {k: ({r: COMPLEMENT_LABEL for r in v} if isinstance(v, Mapping) else COMPLEMENT_LABEL)
                     for k, v in shown.items()}
        inp["flow"] = shown
    out["input"] = inp
    safe: dict[str, pd.DataFrame] = {}
    curves = {"recurrent_mcf": ("mcf", result.mcf.curves), "recurrent_ghosh_lin": ("ghosh_lin", result.ghosh_lin.curves)}
    for name, table in tables.items():
        if name in curves:
            rows = []
            method, groups = curves[name]
            for g, c in groups.items():
                for i in np.flatnonzero(steps[method][g]):
                    rows.append({"group": g, "time": float(c.time[i]),
                                 **{k: float(f"{float(getattr(c, a)[i]):.3g}") for k, a in
                                    (("estimate", "estimate"), ("se", "se"), ("ci_lower", "lower"),
                                     ("ci_upper", "upper"))}})
            safe[name] = pd.DataFrame(rows, columns=["group", "time", "estimate", "se", "ci_lower", "ci_upper"])
        else:
            t = table.copy()
            for col in t.columns:
                if col in COUNT_KEYS:
                    t[col] = [events_out(v) for v in t[col]]
                elif pd.api.types.is_float_dtype(t[col]):
                    t[col] = [float(f"{v:.3g}") if pd.notna(v) and np.isfinite(v) else v for v in t[col]]
            safe[name] = t
    return out, safe


def suppress_at_risk(counts: Iterable[int], *, threshold: int = THRESHOLD) -> list[str]:
    """A number-at-risk row of a private figure: no count 1-10, and no drop of 1-10 between shown counts.

    The people who leave between two columns (dropouts and censorings) are a count too: a column whose
    count is within 1-10 of the previous shown column is "suppressed". The first column (everyone) is the
    group's size.

    >>> suppress_at_risk([30, 23, 18, 15, 9, 0])
    ['30', 'suppressed', '18', 'suppressed', '<11', '0']
    """
    threshold = _check_threshold(threshold)
    out: list[str] = []
    last: int | None = None
    for v in _as_counts(np.asarray(list(counts)), "counts").tolist():
        if 1 <= v < threshold:
            out.append(suppressed_label(threshold))
        elif last is not None and 1 <= last - v < threshold:
            out.append(COMPLEMENT_LABEL)
        else:
            out.append(f"{v:,}")
            last = v
    return out
