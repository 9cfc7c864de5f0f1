"""Input checks shared by every survival estimator: one error class per kind of fault.

Every estimator in :mod:`peerstudy.survival` takes a data frame and column names (the batch kernels of
:mod:`~peerstudy.survival.fast` take arrays); the helpers here turn the columns into numpy arrays and
refuse bad input with a message that names the column (or option), the rule and the offending value,
shown as plain Python (``2``, ``'ten'``, ``-4``):

======================================================================  ==================================
fault                                                                   error
======================================================================  ==================================
the data is not a DataFrame, or has no rows                             :class:`~peerstudy.exceptions.SchemaError`
a named column is missing                                               :class:`~peerstudy.exceptions.SchemaError`
a column of the wrong type (a non-numeric time, covariate or weight)    :class:`~peerstudy.exceptions.SchemaError`
bad values in a column: missing or infinite values, a time that is      :class:`~peerstudy.exceptions.SchemaError`
not > 0 (or a start not before its stop), an event that is not 0/1,
negative weights, batch arrays of mismatched shapes
a request the data cannot support: no events, fewer events than         :class:`~peerstudy.exceptions.AnalysisError`
terms, a constant covariate, a grouping or treatment column with too
few (or too many) levels, a cause or treated level that never occurs,
a horizon beyond follow-up, collinear terms, a fit that fails
an option out of range or of the wrong type (``conf_type``,             :class:`~peerstudy.exceptions.ParameterError`
``conf_level``, horizons, ``tau``, ``ties``, ``rho``, ``n_boot``,
a weights array of the wrong length...), or options that contradict
each other (a cause also listed as censored)
======================================================================  ==================================

All three derive from :class:`~peerstudy.exceptions.PeerstudyError` (and ``ValueError``).

Group levels are ordered as R orders a factor: the categories of a pandas ``Categorical`` (those
present), else the canonical arms as ``usual_care`` then ``peer`` (the reference level first), else
the sorted values. Group labels are the values as strings (``0`` and ``1`` for a 0/1 column).
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import warnings

import numpy as np
import pandas as pd

from peerstudy.data.schema import ARMS
from peerstudy.exceptions import AnalysisError, ParameterError, PeerstudyWarning, SchemaError

__all__ = [
    "show",
    "row_list",
    "require_frame",
    "require_columns",
    "as_list",
    "complete_values",
    "numeric_values",
    "time_event",
    "start_stop",
    "is_categorical",
    "level_order",
    "group_codes",
    "numeric_covariate",
    "categorical_levels",
    "case_weights",
    "check_event_count",
    "EVENTS_PER_TERM",
    "horizon_key",
    "check_horizons",
    "check_choice",
    "check_number",
    "check_conf_level",
    "batch_array",
    "batch_time_event",
]

#: fewer events per model term than this warns (a common rule of thumb; Peduzzi et al. 1995).
EVENTS_PER_TERM = 10
_SHOW = 5


# --------------------------------------------------------------------------------------------- messages
def show(value: Any) -> str:
    """A value as it should appear in a message: plain Python, numbers compact (``2``, ``0.5``, ``'ten'``)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:.6g}"
    return repr(value)


def row_list(mask: np.ndarray) -> str:
    """``"row(s) 3, 7 and 2 more"``: the (1-based) rows where ``mask`` is true, at most five by number."""
    idx = np.flatnonzero(mask)
    shown = ", ".join(str(i + 1) for i in idx[:_SHOW])
    more = len(idx) - min(len(idx), _SHOW)
    return f"row(s) {shown}" + (f" and {more} more" if more else "")


# --------------------------------------------------------------------------------------------- frame and columns
def require_frame(df: object, *, name: str = "data") -> pd.DataFrame:
    """Return ``df`` if it is a non-empty DataFrame, else raise :class:`SchemaError`."""
    if not isinstance(df, pd.DataFrame):
        raise SchemaError(f"{name} must be a pandas DataFrame; got {type(df).__name__}")
    if len(df) == 0:
        raise SchemaError(f"{name} has no rows")
    return df


def require_columns(df: pd.DataFrame, columns: Iterable[str | None], *, role: str | None = None) -> None:
    """Raise :class:`SchemaError` naming every column of ``columns`` that ``df`` lacks (``None`` is skipped).

    The message reads ``missing column(s) 'a', 'b' (role); the data has: ...``; ``err.problems`` has
    one sentence per missing column.
    """
    missing = list(dict.fromkeys(c for c in columns if c is not None and c not in df.columns))
    if missing:
        what = f" ({role})" if role else ""
        have = ", ".join(map(str, list(df.columns)[:20])) + (", ..." if len(df.columns) > 20 else "")
        raise SchemaError(f"missing column(s) {', '.join(map(repr, missing))}{what}; the data has: {have}",
                          [f"missing column {c!r}{what}" for c in missing])


def recorded_covariates(df: pd.DataFrame, covariates: Sequence[str], *, notes: list[str] | None = None,
                        warn: bool = True) -> tuple[str, ...]:
    """``covariates`` without those the data do not record (a column missing for every row).

    A covariate a programme export lacks is missing for everyone, never zero: a model given it leaves it out
    and says so, with a :class:`~peerstudy.exceptions.NotRecordedWarning` (and a line in ``notes``).
    A column that is absent altogether is still an error (a typo), raised by :func:`require_columns`.
    """
    from peerstudy.exceptions import NotRecordedWarning

    covariates = tuple(covariates)
    dropped = [c for c in covariates if c in df.columns and len(df) > 0 and bool(df[c].isna().all())]
    if not dropped:
        return covariates
    text = (f"covariate(s) {', '.join(map(repr, dropped))} not recorded in this data (missing for every "
            f"participant): left out of the model")
    if notes is not None:
        notes.append(text)
    if warn:
        warnings.warn(text, NotRecordedWarning, stacklevel=3)
    return tuple(c for c in covariates if c not in dropped)


def as_list(names: str | Sequence[str] | None) -> list[str]:
    """Column names as a list: one name, a sequence of names, or ``None`` (no names)."""
    if names is None:
        return []
    return [names] if isinstance(names, str) else list(names)


def complete_values(df: pd.DataFrame, column: str, *, role: str) -> pd.Series:
    """The column ``column``, refused (:class:`SchemaError`) when missing or holding missing values."""
    require_columns(df, [column], role=role)
    s = df[column]
    na = s.isna().to_numpy()
    if na.any():
        raise SchemaError(f"column {column!r} ({role}) has {int(na.sum())} missing value(s) at {row_list(na)}; "
                          f"drop or impute them first")
    return s


def numeric_values(df: pd.DataFrame, column: str, *, role: str) -> np.ndarray:
    """The column as float64, refused (:class:`SchemaError`) when missing, not numeric, or not all finite."""
    require_columns(df, [column], role=role)
    s = df[column]
    if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
        bad = pd.to_numeric(s, errors="coerce").isna().to_numpy() & s.notna().to_numpy()
        where = f" with non-numeric value {show(s[bad].iloc[0])} at {row_list(bad)}" if bad.any() else ""
        raise SchemaError(f"column {column!r} ({role}) must be numeric; got type {s.dtype}{where}")
    x = s.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(x)
    if bad.any():
        raise SchemaError(f"column {column!r} ({role}) has {int(bad.sum())} missing or infinite value(s) "
                          f"at {row_list(bad)}")
    return x


def _events(df: pd.DataFrame, event: str) -> np.ndarray:
    rule = "must be 0/1 (1 = event, 0 = censored)"
    es = df[event]
    if pd.api.types.is_bool_dtype(es):
        if es.isna().any():
            bad = es.isna().to_numpy()
            raise SchemaError(f"column {event!r} (event) {rule}; got a missing value at {row_list(bad)}")
        return es.to_numpy(dtype=np.int8)
    if not pd.api.types.is_numeric_dtype(es):
        bad = ~es.isin([0, 1]).to_numpy()
        example = es[bad].iloc[0] if bad.any() else es.iloc[0]
        raise SchemaError(f"column {event!r} (event) {rule}; got type {es.dtype} with value {show(example)}")
    ev = es.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~((ev == 0) | (ev == 1))
    if bad.any():
        raise SchemaError(f"column {event!r} (event) {rule}; got {show(es[bad].iloc[0])} at {row_list(bad)}")
    return ev.astype(np.int8)


def time_event(df: pd.DataFrame, time: str, event: str | None, *,
               allow_zero_time: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Check and return the time (float64) and event (int8) columns.

    Parameters
    ----------
    df : pandas.DataFrame
    time, event : str
        Column names. ``event=None`` means every row is an event. A boolean event column is taken
        as 1 = ``True``.
    allow_zero_time : bool, default False
        Accept times equal to 0 (a real dataset may record an event on day 0); negative times are
        always refused.

    Raises
    ------
    SchemaError
        ``df`` is not a non-empty DataFrame; a column is missing; time not numeric, missing,
        infinite or not positive; event not 0/1.
    """
    require_frame(df)
    require_columns(df, [time, event])
    t = numeric_values(df, time, role="time")
    bad = t < 0 if allow_zero_time else t <= 0
    if bad.any():
        rule = ">= 0" if allow_zero_time else "> 0"
        raise SchemaError(f"column {time!r} (time) must be {rule}; got {show(t[bad][0])} at {row_list(bad)}")
    if event is None:
        return t, np.ones(len(t), dtype=np.int8)
    return t, _events(df, event)


def start_stop(df: pd.DataFrame, start: str, stop: str, event: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Counting-process ``(start, stop]`` times and events (R's ``Surv(start, stop, event)``).

    Raises
    ------
    SchemaError
        A column is missing; times not numeric or not finite; a start not before its stop; event not 0/1.
    """
    require_frame(df)
    require_columns(df, [start, stop, event])
    st = numeric_values(df, start, role="start")
    sp = numeric_values(df, stop, role="time")
    bad = st >= sp
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise SchemaError(f"column {start!r} (start) must be < column {stop!r} (time); {int(bad.sum())} row(s) "
                          f"are not, at {row_list(bad)} (e.g. start {show(st[i])}, time {show(sp[i])})")
    return st, sp, _events(df, event)


# --------------------------------------------------------------------------------------------- levels
def is_categorical(s: pd.Series) -> bool:
    """Whether a column is dummy-coded (``category``, ``bool``, ``object`` or string dtype)."""
    return (isinstance(s.dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(s)
            or pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s))


def _ordered(uniques: Sequence, dtype: Any) -> list:
    """Distinct values (no missing ones) in level order for a column of ``dtype``."""
    if isinstance(dtype, pd.CategoricalDtype):
        present = set(uniques)
        return [c for c in dtype.categories if c in present]
    vals = list(uniques)
    if all(isinstance(v, str) for v in vals) and set(vals) <= set(ARMS):
        return [a for a in ARMS if a in vals]
    try:
        return sorted(vals)
    except TypeError:
        return sorted(vals, key=str)


def level_order(s: pd.Series) -> list:
    """The levels present in ``s``, reference first (see the module docstring)."""
    return _ordered(pd.unique(s.dropna()), s.dtype)


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
        The column is missing or has missing values.
    AnalysisError
        Fewer than ``min_levels`` distinct values.
    """
    s = complete_values(df, column, role=role)
    codes, uniques = pd.factorize(s, sort=False)
    order = _ordered(uniques, s.dtype)
    if len(order) < min_levels:
        only = ", ".join(show(v) for v in order)
        raise AnalysisError(f"column {column!r} ({role}) needs at least {min_levels} levels; "
                            f"it has {len(order)}: {only}")
    pos = {v: i for i, v in enumerate(order)}
    remap = np.array([pos[v] for v in uniques], dtype=np.int64)
    return remap[codes], tuple(str(v) for v in order)


# --------------------------------------------------------------------------------------------- covariates
def numeric_covariate(df: pd.DataFrame, column: str, *, role: str = "covariate") -> np.ndarray:
    """A numeric covariate as float64.

    Raises
    ------
    SchemaError
        Missing column, non-numeric type, missing or infinite values.
    AnalysisError
        The covariate is constant (it cannot be estimated).
    """
    x = numeric_values(df, column, role=role)
    if x.size and np.all(x == x[0]):
        raise AnalysisError(f"{role} {column!r} is constant (every value is {show(x[0])}); "
                            f"it cannot be estimated: drop it")
    return x


#: Most levels a categorical covariate may have: each is a model term, and a regression with hundreds of
#: dummy terms on a programme's data is neither estimable nor fast (the cost grows with the square of the terms).
MAX_LEVELS = 100


def categorical_levels(df: pd.DataFrame, column: str, *, role: str = "covariate") -> list:
    """The levels of a categorical covariate, reference first.

    Raises
    ------
    SchemaError
        Missing column or missing values.
    AnalysisError
        A single level (it cannot be estimated), or more than :data:`MAX_LEVELS`.
    """
    s = complete_values(df, column, role=role)
    levels = level_order(s)
    if len(levels) < 2:
        raise AnalysisError(f"categorical {role} {column!r} has a single level ({show(levels[0])}); "
                            f"it cannot be estimated: drop it")
    if len(levels) > MAX_LEVELS:
        raise AnalysisError(f"categorical {role} {column!r} has {len(levels):,} levels; at most {MAX_LEVELS} can be "
                            f"model terms: group rare levels together, or use it as strata or a cluster instead")
    return levels


# --------------------------------------------------------------------------------------------- weights
def case_weights(df: pd.DataFrame | None, weights: Any, *, allow_zero: bool = True,
                 rows: int | None = None) -> np.ndarray:
    """Case weights, one per row: ``None`` (all 1), a column name of ``df``, or an array.

    Parameters
    ----------
    df : pandas.DataFrame or None
        The data (``None`` when the weights are an array and ``rows`` gives their number).
    weights : None, str or array
    allow_zero : bool, default True
        Accept weights of 0 (a Cox model needs them > 0).
    rows : int, optional
        Number of rows when there is no ``df``.

    Raises
    ------
    SchemaError
        A weights column that is missing, not numeric or not finite; weights that are negative, not
        finite (or 0 when ``allow_zero`` is false).
    ParameterError
        An array that is not numeric or does not have one value per row.
    """
    n = len(df) if df is not None else int(rows or 0)
    if weights is None:
        return np.ones(n)
    if isinstance(weights, str) and df is not None:
        w = numeric_values(df, weights, role="weights")
        source = f"column {weights!r} (weights)"
    else:
        try:
            w = np.asarray(weights, dtype=np.float64)
        except (TypeError, ValueError):
            raise ParameterError(f"weights must be a column name or numbers, one per row; "
                                 f"got {type(weights).__name__}") from None
        if w.shape != (n,):
            raise ParameterError(f"weights must have one value per row ({n}); got shape {w.shape}")
        source = "weights"
    rule = ">= 0" if allow_zero else "> 0"
    bad = ~np.isfinite(w) | ((w < 0) if allow_zero else (w <= 0))
    if bad.any():
        raise SchemaError(f"{source} must be finite and {rule}; {int(bad.sum())} are not "
                          f"(e.g. {show(w[bad][0])} at {row_list(bad)})")
    return w


# --------------------------------------------------------------------------------------------- events
def check_event_count(status: np.ndarray, *, event: str, params: Sequence[str], unit: str = "model term",
                      terms: int | None = None, stacklevel: int = 3) -> int:
    """Refuse a model with no events or fewer events than ``params``; warn under ``EVENTS_PER_TERM`` per term.

    Parameters
    ----------
    status : numpy.ndarray
        0/1 events.
    event : str
        The event column, named in the messages.
    params : sequence of str
        The estimated parameters, named when there are too few events.
    unit : str
        What a parameter is called in the message (``"model term"``, ``"parameter"``).
    terms : int, optional
        Number of covariate terms for the events-per-term warning (default ``len(params)``).
    stacklevel : int
        Of the warning, counted from the caller of this function.

    Returns
    -------
    int
        The number of events.

    Raises
    ------
    AnalysisError
        No events, or fewer events than parameters.

    Warns
    -----
    PeerstudyWarning
        Fewer than ``EVENTS_PER_TERM`` events per term.
    """
    nev = int(np.sum(status))
    k = len(params)
    if nev == 0:
        raise AnalysisError(f"column {event!r} (event) has no events (all 0): nothing to model")
    if nev < k:
        raise AnalysisError(f"too few events: column {event!r} (event) has {nev} event(s) for {k} {unit}"
                            f"{'s' if k != 1 else ''} ({', '.join(params)}); need at least one event per {unit}")
    p = k if terms is None else terms
    if p and nev < EVENTS_PER_TERM * p:
        warnings.warn(f"only {nev} events for {p} model term(s) (fewer than {EVENTS_PER_TERM} per term): "
                      f"estimates and standard errors may be unreliable", PeerstudyWarning, stacklevel=stacklevel + 1)
    return nev


# --------------------------------------------------------------------------------------------- options
def horizon_key(day: float) -> str:
    """The JSON key of a horizon: whole days as ``"90"``, other values as given (``"90.5"``)."""
    d = float(day)
    return str(int(d)) if d.is_integer() else repr(d)


def check_horizons(horizons: Iterable[float], *, name: str = "horizons") -> tuple[float, ...]:
    """Validate horizons (positive finite numbers of days), returning them as a tuple of floats.

    Raises
    ------
    ParameterError
        A horizon that is not a positive finite number.
    """
    if isinstance(horizons, (int, float, np.integer, np.floating)):
        horizons = (horizons,)
    out = []
    for h in horizons:
        try:
            v = float(h)
        except (TypeError, ValueError):
            raise ParameterError(f"{name} must be positive numbers of days; got {show(h)}") from None
        if not np.isfinite(v) or v <= 0 or isinstance(h, bool):
            raise ParameterError(f"{name} must be positive numbers of days; got {show(h)}")
        out.append(v)
    return tuple(out)


def check_choice(value: Any, choices: Sequence[str], *, name: str) -> str:
    """Return ``value`` if it is one of ``choices``, else raise :class:`ParameterError` listing them."""
    if not isinstance(value, str) or value not in choices:
        raise ParameterError(f"{name} must be one of {', '.join(map(repr, choices))}; got {show(value)}")
    return value


def check_number(value: Any, *, name: str, minimum: float | None = None, strict: bool = False,
                 whole: bool = False, unit: str = "") -> float | int:
    """Return a number option after checking it (:class:`ParameterError` naming ``name`` and the value).

    Parameters
    ----------
    value
        The option.
    name : str
        Its name, for the message.
    minimum : float, optional
        Lower bound, included unless ``strict``.
    whole : bool, default False
        Require a whole number (returned as ``int``).
    unit : str
        What the number counts, for the message (``"days"``).
    """
    kinds = (int, np.integer) if whole else (int, float, np.integer, np.floating)
    ok = isinstance(value, kinds) and not isinstance(value, (bool, np.bool_)) and np.isfinite(value)
    if ok and minimum is not None:
        ok = value > minimum if strict else value >= minimum
    if not ok:
        what = "a whole number" if whole else "a number"
        what += f" of {unit}" if unit else ""
        bound = "" if minimum is None else f" {'>' if strict else '>='} {show(minimum)}"
        raise ParameterError(f"{name} must be {what}{bound}; got {show(value)}")
    return int(value) if whole else float(value)


def check_conf_level(value: Any, *, name: str = "conf_level") -> float:
    """A confidence level strictly between 0 and 1 (:class:`ParameterError` otherwise)."""
    if (isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating))
            or not 0 < value < 1):
        raise ParameterError(f"{name} must be between 0 and 1; got {show(value)}")
    return float(value)


# --------------------------------------------------------------------------------------------- batch arrays
def batch_array(name: str, a: Any, dtype: Any) -> np.ndarray:
    """A 1-D (one data set) or 2-D (data sets x participants) numeric array as 2-D ``dtype``.

    Raises
    ------
    SchemaError
        More than two dimensions, or not numeric.
    """
    arr = np.asarray(a)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise SchemaError(f"{name} must be a 1-D array (one data set) or 2-D (data sets x participants); "
                          f"got shape {arr.shape}")
    if arr.dtype.kind not in "biuf":
        raise SchemaError(f"{name} must be numeric; got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=dtype)


def batch_time_event(time: Any, event: Any, group: Any | None = None) -> tuple[np.ndarray, ...]:
    """Batch arrays of times (> 0), events (0/1) and, optionally, arms (0 = usual care, 1 = peer).

    Raises
    ------
    SchemaError
        Shapes differ, a time is not finite and > 0, an event is not 0/1 or an arm not 0/1.
    """
    t = batch_array("time", time, np.float64)
    e = batch_array("event", event, np.float64)
    if e.shape != t.shape:
        raise SchemaError(f"event has shape {e.shape} but time has shape {t.shape}")
    bad = ~np.isfinite(t) | (t <= 0)
    if bad.any():
        raise SchemaError(f"time must be finite and > 0 for every participant; got {show(t[bad][0])}")
    bad = (e != 0) & (e != 1)
    if bad.any():
        raise SchemaError(f"event must be 0 or 1; got {show(e[bad][0])}")
    out = [t, e.astype(np.int64)]
    if group is not None:
        g = batch_array("group", group, np.float64)
        if g.shape != t.shape:
            raise SchemaError(f"group has shape {g.shape} but time has shape {t.shape}")
        bad = (g != 0) & (g != 1)
        if bad.any():
            raise SchemaError(f"group must be 0 (usual care) or 1 (peer support); got {show(g[bad][0])}")
        out.append(g.astype(np.int64))
    return tuple(out)
