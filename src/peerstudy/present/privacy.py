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
         usual_care peer
dropout         250  260
died            <11  <11
retained        <11  <11

"died" has one small cell (5), so its row partner (30) is hidden; each arm's column then has one
hidden cell, so its next smallest (120 and 100) is hidden too.
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
    "suppress_table",
    "suppress_derived",
    "suppressed_mapping",
]

#: Counts below this (and above zero) are hidden.
THRESHOLD: int = 11


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


def suppression_mask(counts: pd.DataFrame | np.ndarray, *, threshold: int = THRESHOLD,
                     margins: bool = True) -> np.ndarray:
    """Which cells of a two-way count table must be hidden (primary and complementary).

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
    numpy.ndarray of bool
        Same shape as ``counts``; True = hide.

    Raises
    ------
    DataError
        A cell is negative, fractional or missing.
    """
    threshold = _check_threshold(threshold)
    arr = _as_counts(np.asarray(counts), "counts")
    if arr.ndim != 2:
        raise DataError(f"counts must be a two-way table; got {arr.ndim} dimension(s)")
    hide = (arr >= 1) & (arr < threshold)
    if not margins or not hide.any():
        return hide
    changed = True
    while changed:
        changed = False
        for axis in (1, 0):  # rows, then columns
            n_lines = arr.shape[0] if axis == 1 else arr.shape[1]
            for i in range(n_lines):
                line_hide = hide[i, :] if axis == 1 else hide[:, i]
                line_vals = arr[i, :] if axis == 1 else arr[:, i]
                if line_hide.sum() != 1 or line_hide.size < 2:
                    continue
                j = _complement(line_vals, line_hide)
                if j is None:
                    continue
                if axis == 1:
                    hide[i, j] = True
                else:
                    hide[j, i] = True
                changed = True
    return hide


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
    hide = suppression_mask(arr, threshold=threshold, margins=margins or totals) if suppress else np.zeros(arr.shape, bool)
    label = suppressed_label(threshold)
    text = np.where(hide, label, np.vectorize(lambda v: f"{int(v):,}", otypes=[object])(arr) if arr.size else arr)
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
    hide = suppression_mask(arr, threshold=threshold) if suppress else np.zeros(arr.shape, bool)
    return {k: (suppressed_label(threshold) if hide[0, i] else f"{int(arr[0, i]):,}") for i, k in enumerate(labels)}



#: keys of result documents (``to_dict()`` output) that hold counts of people
COUNT_KEYS: frozenset[str] = frozenset({"n", "events", "dropouts", "observed", "n_event", "n_risk", "n_censor",
                                        "at_risk", "received", "analysed", "excluded", "count", "rows"})


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
