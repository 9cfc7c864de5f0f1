"""Shared input checks for the survival estimators.

Every estimator in :mod:`peerstudy.survival` takes a data frame and column names; these helpers
turn the columns into numpy arrays and refuse bad input with a message that names the column,
the rule and the offending value(s):

* a missing column -> :class:`~peerstudy.exceptions.SchemaError`;
* a time that is not numeric, missing or not positive -> :class:`~peerstudy.exceptions.AnalysisError`;
* an event that is not 0/1 -> :class:`~peerstudy.exceptions.AnalysisError`;
* a grouping (arm, strata) column with missing values or a single level ->
  :class:`~peerstudy.exceptions.AnalysisError`.

Group levels are ordered so that the canonical arms come as ``usual_care`` then ``peer``
(the reference level first); any other grouping is ordered by its sorted values. Labels are the
values as strings (``0`` and ``1`` for a 0/1 column).
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from peerstudy.exceptions import AnalysisError, SchemaError
from peerstudy.data.schema import ARMS

__all__ = [
    "require_frame",
    "require_columns",
    "time_event",
    "group_codes",
    "horizon_key",
    "check_horizons",
]

_SHOW = 5


def require_frame(df: object) -> pd.DataFrame:
    """Return ``df`` if it is a non-empty DataFrame, else raise :class:`SchemaError`."""
    if not isinstance(df, pd.DataFrame):
        raise SchemaError(f"data must be a pandas DataFrame; got {type(df).__name__}")
    if len(df) == 0:
        raise SchemaError("data has no rows")
    return df


def require_columns(df: pd.DataFrame, columns: Iterable[str | None]) -> None:
    """Raise :class:`SchemaError` naming every column of ``columns`` that ``df`` lacks (``None`` is skipped)."""
    missing = [c for c in columns if c is not None and c not in df.columns]
    if missing:
        have = ", ".join(map(str, list(df.columns)[:20]))
        raise SchemaError(f"missing column(s) {', '.join(map(repr, missing))}; the data has: {have}",
                          [f"missing column {c!r}" for c in missing])


def _rows(mask: np.ndarray) -> str:
    idx = np.flatnonzero(mask)
    shown = ", ".join(str(i + 1) for i in idx[:_SHOW])
    more = len(idx) - min(len(idx), _SHOW)
    return f"row(s) {shown}" + (f" and {more} more" if more else "")


def time_event(df: pd.DataFrame, time: str, event: str | None, *,
               allow_zero_time: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Check and return the time (float64) and event (int8) columns.

    Parameters
    ----------
    df : pandas.DataFrame
    time, event : str
        Column names. ``event=None`` means every row is an event.
    allow_zero_time : bool, default False
        Accept times equal to 0 (a real dataset may record an event on day 0); negative times are
        always refused.

    Raises
    ------
    SchemaError
        A column is missing.
    AnalysisError
        Time not numeric, missing, infinite or not positive; event not 0/1.
    """
    require_frame(df)
    require_columns(df, [time, event])
    s = df[time]
    if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
        bad = pd.to_numeric(s, errors="coerce").isna().to_numpy() & s.notna().to_numpy()
        example = s[bad].iloc[0] if bad.any() else s.iloc[0]
        raise AnalysisError(f"column {time!r} (time) must be numeric; got type {s.dtype} "
                            f"with non-numeric value {example!r} at {_rows(bad) if bad.any() else 'row 1'}")
    t = s.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(t)
    if bad.any():
        raise AnalysisError(f"column {time!r} (time) has {int(bad.sum())} missing or infinite value(s) at {_rows(bad)}")
    bad = t < 0 if allow_zero_time else t <= 0
    if bad.any():
        rule = ">= 0" if allow_zero_time else "> 0"
        raise AnalysisError(f"column {time!r} (time) must be {rule}; got {t[bad][0]:g} at {_rows(bad)}")
    if event is None:
        return t, np.ones(len(t), dtype=np.int8)
    es = df[event]
    if pd.api.types.is_bool_dtype(es):
        e = es.to_numpy(dtype=np.int8)
    elif pd.api.types.is_numeric_dtype(es):
        ev = es.to_numpy(dtype=np.float64, na_value=np.nan)
        bad = ~((ev == 0) | (ev == 1))
        if bad.any():
            raise AnalysisError(f"column {event!r} (event) must be 0/1 (1 = event, 0 = censored); "
                                f"got {es[bad].iloc[0]!r} at {_rows(bad)}")
        e = ev.astype(np.int8)
    else:
        bad = ~es.isin([0, 1]).to_numpy()
        example = es[bad].iloc[0] if bad.any() else es.iloc[0]
        raise AnalysisError(f"column {event!r} (event) must be 0/1 (1 = event, 0 = censored); got type {es.dtype} "
                            f"with value {example!r}")
    return t, e


def _level_order(values: Sequence) -> list:
    vals = list(values)
    if all(isinstance(v, str) for v in vals) and set(vals) <= set(ARMS):
        return [a for a in ARMS if a in vals]
    try:
        return sorted(vals)
    except TypeError:
        return sorted(vals, key=str)


def group_codes(df: pd.DataFrame, column: str, *, role: str = "group",
                min_levels: int = 2) -> tuple[np.ndarray, tuple[str, ...]]:
    """Integer codes (0..k-1) and string labels of a grouping column.

    Parameters
    ----------
    df : pandas.DataFrame
    column : str
        The grouping column (arm, strata, site...).
    role : str
        What the column is used for, named in error messages (``"arm"``, ``"strata"``).
    min_levels : int, default 2
        Fewest distinct values allowed.

    Raises
    ------
    SchemaError
        The column is missing.
    AnalysisError
        Missing values, or fewer than ``min_levels`` distinct values.
    """
    require_columns(df, [column])
    s = df[column]
    na = s.isna().to_numpy()
    if na.any():
        raise AnalysisError(f"column {column!r} ({role}) has {int(na.sum())} missing value(s) at {_rows(na)}")
    codes, uniques = pd.factorize(s, sort=False)
    order = _level_order(list(uniques))
    if len(order) < min_levels:
        only = ", ".join(repr(v) for v in order)
        raise AnalysisError(f"column {column!r} ({role}) needs at least {min_levels} levels; "
                            f"it has {len(order)}: {only}")
    remap = np.empty(len(uniques), dtype=np.int64)
    pos = {v: i for i, v in enumerate(order)}
    for j, v in enumerate(uniques):
        remap[j] = pos[v]
    return remap[codes], tuple(str(v) for v in order)


def horizon_key(day: float) -> str:
    """The JSON key of a horizon: whole days as ``"90"``, other values as given (``"90.5"``)."""
    d = float(day)
    return str(int(d)) if d.is_integer() else repr(d)


def check_horizons(horizons: Iterable[float], *, name: str = "horizons") -> tuple[float, ...]:
    """Validate horizons (positive finite numbers), returning them as a tuple of floats."""
    if isinstance(horizons, (int, float)):
        horizons = (horizons,)
    out = []
    for h in horizons:
        try:
            v = float(h)
        except (TypeError, ValueError):
            raise AnalysisError(f"{name} must be positive numbers of days; got {h!r}") from None
        if not np.isfinite(v) or v <= 0 or isinstance(h, bool):
            raise AnalysisError(f"{name} must be positive numbers of days; got {h!r}")
        out.append(v)
    return tuple(out)
