"""Programme events tables (ED visits, overdoses, re-admissions) joined to a cohort, and validated.

An events table has one row per event: the participant, when it happened and, optionally, its kind. When is
either a ``day`` (days after enrolment, whole or fractional, > 0) or a ``date`` (read with the mapping's
``date_format``; the day is ``date - enrolled_on`` of the participant, so a same-day event is day 0 and
refused as before follow-up). An events mapping is a YAML file or dict like the export mappings:

.. code-block:: yaml

    name: ed_visits
    columns: {participant_id: client_id, date: visit_date, kind: visit_type}
    values:
      kind: {OD: overdose, ED: ed_visit, READMIT: readmission}
    date_format: "%d/%m/%Y"
    optional: [kind]               # a table without the kind column is read, every event of kind "event"
    invalid_rows: raise            # or exclude

Every problem is found at once, by rule, with spreadsheet row numbers (never row contents): a missing
column; a missing or unreadable id, day or date; an id the cohort does not have (``unknown_id``); an event
at or before enrolment (``before_follow_up``) or after the end of follow-up, the cohort's ``time``
(``after_follow_up``); a kind the mapping's ``values.kind`` does not list (``unknown_kind``); and a
repeated row: the same participant, day and kind again (``duplicate``, all but the first). With
``invalid_rows: exclude`` the rows with problems are left out and counted by reason in ``flow``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from peerstudy._yaml import elide, read_yaml_file
from peerstudy.data.programme.checks import Checker, Problem, did_you_mean
from peerstudy.data.programme.mapping import NULLS, norm
from peerstudy.exceptions import DataError, SchemaError

__all__ = ["EVENT_FIELDS", "EventsData", "load_events_mapping", "events_section", "read_events"]

#: Fields of an events table; ``participant_id`` and one of ``day`` or ``date`` are required.
EVENT_FIELDS: tuple[str, ...] = ("participant_id", "day", "date", "kind")
_KNOWN = {"name", "description", "columns", "optional", "values", "date_format", "invalid_rows"}


def load_events_mapping(mapping: "str | os.PathLike | Mapping[str, Any] | None" = None) -> dict[str, Any]:
    """Resolve an events mapping (``None``: columns ``participant_id``, ``day``, ``kind`` as named).

    Raises
    ------
    DataError
        A mapping file that does not exist.
    SchemaError
        An unknown key or field, a mapping naming both or neither of ``day`` and ``date``.
    """
    if mapping is None:
        raw: dict[str, Any] = {"name": "canonical events", "columns": {"participant_id": "participant_id",
                                                                      "day": "day", "kind": "kind"},
                                "optional": ["kind"]}
    elif isinstance(mapping, Mapping):
        raw = dict(mapping)
    else:
        path = Path(mapping)
        if not path.is_file():
            raise DataError(f"events mapping file not found: {elide(str(mapping), 120)}")
        raw = read_yaml_file(path, what="events mapping file", error=SchemaError) or {}
        if not isinstance(raw, dict):
            raise SchemaError(f"events mapping file {str(path)!r} must hold settings (key: value lines)")
        raw.setdefault("name", path.stem)
    problems, resolved = _events_mapping(raw, "events mapping", _KNOWN)
    if problems:
        raise SchemaError(f"events mapping {elide(str(raw.get('name', 'custom')), 60)} has {len(problems)} "
                          "problem(s): " + "; ".join(problems), problems)
    return resolved


def events_section(section: Any, folder: "Path | None") -> tuple[list[str], dict[str, Any] | None]:
    """Check the ``events:`` section of an export mapping: its problems (all of them) and the resolved mapping.

    The section is an events mapping (module docstring) with ``file``, the events table, relative to the
    mapping file's folder (or absolute); the resolved mapping gains ``file`` (the path, as text). Problems are named
    ``events.KEY``; :func:`peerstudy.data.programme.mapping.load_mapping` lists them with its own.
    """
    if not isinstance(section, Mapping):
        return [f"mapping 'events' must be a table (file, columns, ...); got {elide(section, 60)}"], None
    raw = dict(section)
    raw.setdefault("name", "events")
    problems, resolved = _events_mapping(raw, "mapping 'events'", _KNOWN | {"file"})
    file = raw.get("file")
    path = None
    if not isinstance(file, str) or not file.strip():
        problems.append(f"mapping 'events.file' must name the events table (a .csv, .xlsx or .parquet file); "
                        f"got {elide(file, 60)}")
    else:
        path = Path(file).expanduser()
        if not path.is_absolute():
            path = (folder or Path.cwd()) / path
        if not path.is_file():
            problems.append(f"mapping 'events.file': file not found: {elide(str(path), 120)}")
    if problems:
        return problems, None
    return [], {**resolved, "file": str(path)}


def _events_mapping(raw: dict[str, Any], where: str, known: set[str]) -> tuple[list[str], dict[str, Any]]:
    """Every problem of an events mapping (each naming ``where``), and the mapping resolved if there are none."""
    problems = [f"unknown {where} key {elide(k, 40)} (known: {', '.join(sorted(known))})"
                for k in raw if k not in known]
    cols = raw.get("columns") or {}
    if not isinstance(cols, Mapping):
        problems.append(f"{where} 'columns' must be a table of field: column lines; got {elide(cols, 60)}")
        cols = {}
    bad = [f for f in cols if f not in EVENT_FIELDS]
    if bad:
        problems.append(f"{where} 'columns' has unknown field(s) {', '.join(map(repr, bad))}; fields are "
                        f"{', '.join(EVENT_FIELDS)}")
    if "participant_id" not in cols:
        problems.append(f"{where} 'columns' must name the column for participant_id")
    if ("day" in cols) == ("date" in cols):
        problems.append(f"{where} 'columns' must name exactly one of day (days after enrolment) or date")
    mode = raw.get("invalid_rows", "raise")
    if mode not in ("raise", "exclude"):
        problems.append(f"{where} 'invalid_rows' must be 'raise' or 'exclude'; got {elide(mode, 40)}")
    values = raw.get("values") or {}
    if not isinstance(values, Mapping) or not all(isinstance(v, Mapping) for v in values.values()):
        problems.append(f"{where} 'values' must be a table of field: {code: value} tables")
        values = {}
    optional = raw.get("optional") or []
    if not isinstance(optional, list) or any(f not in ("kind",) for f in optional):
        problems.append(f"{where} 'optional' may list only kind; got {elide(optional, 60)}")
    if problems:
        return problems, {}
    return [], {"name": str(raw.get("name", "custom")), "columns": dict(cols), "optional": list(optional),
                "date_format": raw.get("date_format", "ISO8601"), "invalid_rows": mode,
                "values": {k: {norm(a): str(b) for a, b in v.items()} for k, v in values.items()}}


@dataclass(frozen=True)
class EventsData:
    """A checked events table: ``events`` (``participant_id``, ``day``, ``kind``), the flow and the problems."""

    events: pd.DataFrame
    flow: dict[str, Any]
    problems: tuple[Problem, ...]
    source: str
    mapping: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (counts and row numbers only, never row contents)."""
        return {"source": self.source, "mapping": self.mapping, "flow": self.flow,
                "problems": [p.to_dict() for p in self.problems]}


def _read(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"events file not found: {str(path)!r}")
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".txt"):
            return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=NULLS)
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if suffix in (".xlsx", ".xlsm"):
            return pd.read_excel(path, dtype=str, na_values=NULLS, keep_default_na=False, engine="openpyxl")
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"cannot read {str(path)!r}: {exc}") from None
    raise DataError(f"events file must be .csv, .xlsx or .parquet; got {str(path)!r}")


def _match_ids(raw_ids: pd.Series, cohort_ids: pd.Series) -> np.ndarray:
    """Row of each event's participant in the cohort (-1 if absent); ids compared as normalised text."""
    index = pd.Index([norm(v) for v in cohort_ids])
    return index.get_indexer([norm(v) if pd.notna(v) else "\0" for v in raw_ids])


def read_events(source: "str | os.PathLike | pd.DataFrame", cohort: pd.DataFrame, *,
                mapping: "str | os.PathLike | Mapping[str, Any] | None" = None,
                invalid_rows: str | None = None, time: str = "time") -> EventsData:
    """Read an events table, join it to ``cohort`` by participant and validate it (see the module docstring).

    Parameters
    ----------
    source : path or DataFrame
        ``.csv``, ``.xlsx`` or ``.parquet`` (never modified), or a table already read.
    cohort : pandas.DataFrame
        The canonical cohort: ``participant_id``, ``time`` and, for dated events, ``enrolled_on``.
    mapping : str, path, dict or None
        :func:`load_events_mapping`.
    invalid_rows : {"raise", "exclude"}, optional
        Default: the mapping's setting, else ``"raise"``.
    time : str
        The cohort column ending the follow-up of events (default ``time``; e.g. ``events_time`` when
        events are followed past a dropout).

    Returns
    -------
    EventsData
        ``events`` with the cohort's ids, ``day`` (float days after enrolment) and ``kind`` (text; ``"event"``
        when the table has none), in the file's order.

    Raises
    ------
    SchemaError
        Every problem, listed (``err.problems``), unless rows with problems are excluded; file-level problems
        (missing columns) always raise.
    DataError
        The file or mapping cannot be read.

    Examples
    --------
    >>> import pandas as pd
    >>> cohort = pd.DataFrame({"participant_id": [1, 2], "time": [100, 50]})
    >>> table = pd.DataFrame({"participant_id": [1, 2, 3], "day": [5, 60, 7]})
    >>> got = read_events(table, cohort, invalid_rows="exclude")
    >>> got.flow
    {'received': 3, 'excluded': {'after_follow_up': 1, 'unknown_id': 1}, 'analysed': 1}
    """
    m = load_events_mapping(mapping)
    mode = invalid_rows or m["invalid_rows"]
    if mode not in ("raise", "exclude"):
        raise DataError(f"invalid_rows must be 'raise' or 'exclude'; got {mode!r}")
    name = "<table>" if isinstance(source, pd.DataFrame) else str(source)
    raw = source if isinstance(source, pd.DataFrame) else _read(Path(source))
    for col in ("participant_id", time):
        if col not in cohort.columns:
            raise SchemaError(f"the cohort has no {col!r} column: events cannot be joined to it")
    ck = Checker(len(raw), 2)
    cols = {f: c for f, c in m["columns"].items() if f not in m["optional"] or str(c) in raw.columns}
    missing = [c for f, c in cols.items() if str(c) not in raw.columns]
    for c in missing:
        ck.file_problem("missing_column", str(c), f"column {str(c)!r} is missing{did_you_mean(str(c), list(map(str, raw.columns)))}")
    if "date" in cols and "enrolled_on" not in cohort.columns:
        ck.file_problem("missing_column", "enrolled_on", "dated events need the cohort's 'enrolled_on' column")
    if ck.problems:
        raise SchemaError(f"{name}: the events table has {len(ck.problems)} problem(s): "
                          + "; ".join(p.message for p in ck.problems), [p.message for p in ck.problems])
    idc = str(cols["participant_id"])
    ids = raw[idc]
    ck.row_problem("missing_id", idc, ids.isna().to_numpy(), f"column {idc!r} (participant id) is empty")
    row = _match_ids(ids, cohort["participant_id"])
    ck.row_problem("unknown_id", idc, (row < 0) & ids.notna().to_numpy(),
                   f"column {idc!r}: participant id not in the cohort")
    safe = np.maximum(row, 0)
    if "day" in cols:
        dc = str(cols["day"])
        day = pd.to_numeric(raw[dc], errors="coerce").to_numpy(dtype=float)
        ck.row_problem("bad_day", dc, ~np.isfinite(day), f"column {dc!r} (days after enrolment) is empty or not a number")
    else:
        dc = str(cols["date"])
        fmt = m["date_format"]
        when = pd.to_datetime(raw[dc], format=None if fmt == "ISO8601" else fmt, errors="coerce")
        ck.row_problem("bad_date", dc, when.isna().to_numpy(), f"column {dc!r} is empty or not a date ({fmt})")
        enrolled = pd.to_datetime(cohort["enrolled_on"]).to_numpy()[safe]
        day = ((when.to_numpy() - enrolled) / np.timedelta64(1, "D")).astype(float)
    known = row >= 0
    ok = np.isfinite(day) & known
    end = cohort[time].to_numpy(dtype=float)[safe]
    ck.row_problem("before_follow_up", dc, ok & (day <= 0), f"column {dc!r}: event at or before enrolment")
    ck.row_problem("after_follow_up", dc, ok & (day > end), f"column {dc!r}: event after the end of follow-up "
                   f"(the cohort's {time})")
    if "kind" in cols:
        kc = str(cols["kind"])
        kinds = raw[kc].astype(object)
        table = m["values"].get("kind")
        if table:
            code = np.array([norm(v) if pd.notna(v) else "" for v in kinds], dtype=object)
            mapped = np.array([table.get(c) for c in code], dtype=object)
            ck.row_problem("unknown_kind", kc, pd.isna(mapped) & (code != ""),
                           f"column {kc!r}: kind not listed in the mapping's values.kind "
                           f"({', '.join(sorted(table))})")
            kinds = pd.Series(mapped)
        kind = np.array(["event" if pd.isna(v) else str(v) for v in kinds], dtype=object)
    else:
        kind = np.full(len(raw), "event", dtype=object)
    key = pd.DataFrame({"row": row, "day": day, "kind": kind})
    dup = key.duplicated().to_numpy() & ok
    ck.row_problem("duplicate", None, dup, "the same participant, day and kind as an earlier row")
    file_level = [p for p in ck.problems if not p.rows]
    if ck.problems and (mode == "raise" or file_level):
        raise SchemaError(f"{name}: the events table has {len(ck.problems)} problem(s): "
                          + "; ".join(p.message for p in ck.problems), [p.message for p in ck.problems])
    keep = np.asarray(pd.isna(ck.reason), dtype=bool)
    events = pd.DataFrame({"participant_id": cohort["participant_id"].to_numpy()[row[keep]], "day": day[keep],
                           "kind": kind[keep]})
    return EventsData(events=events, flow=ck.flow(), problems=tuple(ck.problems), source=name, mapping=m["name"])
