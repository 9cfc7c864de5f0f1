"""Mappings: which export column is which, and how discharge reasons map to peerstudy's endings.

A mapping is a YAML file, a dict, or a built-in name (``"canonical"``, ``"teds"``; see ``mappings/``).
YAML reads unquoted ``yes``/``no``/``on``/``off`` as booleans: quote reason codes and values.
"""

from __future__ import annotations
import copy
import datetime
import os
import re
from importlib import resources
from pathlib import Path
from typing import Any, Mapping
import numpy as np
from peerstudy._yaml import elide, parse_yaml, read_yaml_file
from peerstudy.exceptions import DataError, SchemaError
from peerstudy.data.schema import ARMS, COVARIATES, OUTCOMES

__all__ = ["REASON_TABLES", "REQUIRED_FIELDS", "FIELDS", "load_mapping"]


#: Built-in reason-code tables: code (as text, case-insensitive) -> ending.
REASON_TABLES: dict[str, dict[str, str]] = {
    "canonical": {o: o for o in OUTCOMES},
    "teds": {"1": "retained", "2": "dropout", "3": "dropout", "4": "lost_to_follow_up", "5": "incarcerated",
             "6": "died", "7": "lost_to_follow_up"},
}


REQUIRED_FIELDS: tuple[str, ...] = ("participant_id", "site", "arm", "admitted_on", "discharged_on", "reason")


#: Fields a mapping's ``columns`` may name: the required ones, the optional ``coach`` (the client's peer coach)
#: and ``coach_match`` (0/1 or a code in ``values.coach_match``: the client shares the coach's primary substance
#: or lived experience), and the covariates.
FIELDS: tuple[str, ...] = (*REQUIRED_FIELDS, "coach", "coach_match", *COVARIATES)


BINARY_WORDS = {"1": 1, "0": 0, "yes": 1, "no": 0, "y": 1, "n": 0, "true": 1, "false": 0}


NULLS = ["", "NA", "N/A", "NULL", "null", "NaN", "nan", "None"]


BUILTINS: tuple[str, ...] = ("canonical", "teds")


def _builtin(name: str) -> dict[str, Any]:
    if name not in BUILTINS:
        raise DataError(f"unknown built-in mapping {elide(name, 60)}; built-ins: {', '.join(BUILTINS)}")
    text = resources.files("peerstudy").joinpath("data", "programme", "mappings", f"{name}.yaml").read_text(encoding="utf-8")
    return parse_yaml(text, where=f"built-in mapping {name!r}", error=SchemaError)


def norm(v: Any) -> str:
    """Normalise a code for matching: integer-valued numbers without '.0', trimmed, lower case, single spaces."""
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        v = int(v)
    return re.sub(r"\s+", " ", str(v).strip().lower())


def load_mapping(mapping: "str | os.PathLike | Mapping[str, Any] | None" = None) -> dict[str, Any]:
    """Resolve a mapping to a plain dict with defaults filled in.

    Parameters
    ----------
    mapping : str, path, dict or None
        ``None`` or ``"canonical"``: the built-in canonical mapping; ``"teds"``: TEDS-D; a path to a
        YAML file; or a dict. ``extends: NAME`` starts from another mapping and overrides it (``columns``,
        ``reasons`` and ``values`` tables are merged key by key). ``NAME`` is a built-in or a ``.yaml`` file in
        the same folder as the mapping that extends it (no paths); a chain that comes back on itself is
        refused. Errors never repeat a file's contents.

    Returns
    -------
    dict
        With keys ``name, layout, columns, optional, values, reasons, date_format, age_range,
        keep, censor_at, invalid_rows, events``; ``reasons`` maps normalised codes to endings; ``events``
        is ``None`` or the resolved ``events:`` section, an events mapping
        (:mod:`peerstudy.data.programme.events`) with ``file``, the events table's path as text (relative
        names are in the mapping file's folder). Its problems are listed with the mapping's own.

    Raises
    ------
    DataError
        Unknown built-in or unreadable file.
    SchemaError
        An invalid mapping (unknown field, unknown ending, wrong layout), naming the key.
    """
    return _check_mapping(_resolve(mapping, chain=()))


def _read_file(path: Path, given: str) -> dict[str, Any]:
    if not path.is_file():
        raise DataError(f"mapping file not found: {elide(given, 120)} (built-ins: {', '.join(BUILTINS)})")
    raw = read_yaml_file(path, what="mapping file", error=SchemaError)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise SchemaError(f"mapping file {str(path)!r} must hold settings (key: value lines); "
                          f"it holds a {type(raw).__name__}")
    raw.setdefault("name", path.stem.removesuffix(".mapping"))
    return raw


def _extends_target(value: Any, folder: Path | None, where: str) -> str | Path:
    """A built-in name, or a ``.yaml`` file in the same folder as the mapping that extends it."""
    if not isinstance(value, str) or not value.strip():
        raise SchemaError(f"{where}: 'extends' must name a built-in mapping ({', '.join(BUILTINS)}) "
                          f"or a .yaml file beside it; got {elide(value, 60)}")
    if value in BUILTINS:
        return value
    name = Path(value)
    if name.name != value or value in (".", "..") or name.suffix.lower() not in (".yaml", ".yml") or folder is None:
        raise SchemaError(f"{where}: 'extends' must name a built-in mapping ({', '.join(BUILTINS)}) or a .yaml file "
                          f"in the same folder (no paths); got {elide(value, 60)}")
    return folder / value


def _resolve(mapping: Any, *, chain: tuple[str, ...]) -> dict[str, Any]:
    """The raw settings of a mapping with its ``extends`` chain merged in (cycles refused)."""
    folder: Path | None = None
    if mapping is None:
        mapping = "canonical"
    if isinstance(mapping, Mapping):
        raw: dict[str, Any] = copy.deepcopy(dict(mapping))
        key = "<dict>"
    elif isinstance(mapping, (str, os.PathLike)) and str(mapping) in BUILTINS:
        raw, key = _builtin(str(mapping)), f"builtin:{mapping}"
    elif isinstance(mapping, (str, os.PathLike)):
        path = Path(mapping).expanduser().resolve()
        raw, key, folder = _read_file(path, str(mapping)), str(path), path.parent
    else:
        raise SchemaError(f"a mapping must be a built-in name, a YAML file or a dict; got {type(mapping).__name__}")
    if key in chain:
        raise SchemaError(f"mapping 'extends' goes round in a circle: {' -> '.join((*chain, key))}")
    if folder is not None and isinstance(raw.get("events"), Mapping):  # an events file is beside its mapping
        raw["events"] = {**raw["events"], _FOLDER: folder}
    if "extends" not in raw:
        return raw
    where = f"mapping {raw.get('name', key)!r}"
    base = _resolve(_extends_target(raw.pop("extends"), folder, where), chain=(*chain, key))
    merged = dict(base)
    for k, val in raw.items():
        if k in ("columns", "values") and isinstance(val, dict) and isinstance(base.get(k), dict):
            merged[k] = {**base[k], **val}
        elif k == "reasons" and isinstance(val, dict):
            table = base.get("reasons", "canonical" if base.get("layout", "dates") == "dates" else "teds")
            table = REASON_TABLES.get(table, {}) if isinstance(table, str) else table
            merged["reasons"] = {**{norm(c): e for c, e in dict(table).items()}, **{norm(c): e for c, e in val.items()}}
        else:
            merged[k] = val
    return merged


def _typed(raw: dict[str, Any], problems: list[str]) -> None:
    """Problems with the types of the settings (each names the key and the value)."""
    def bad(key: str, rule: str) -> None:
        problems.append(f"mapping '{key}' must be {rule}; got {elide(raw[key], 60)}")

    kinds = {"name": str, "description": str, "layout": str, "date_format": str, "censor_at": str,
             "invalid_rows": str, "columns": dict, "values": dict, "keep": dict, "optional": list}
    for key, kind in kinds.items():
        if key in raw and raw[key] is not None and not isinstance(raw[key], kind):
            bad(key, {str: "text", dict: "a table of key: value lines", list: "a list"}[kind])
    if isinstance(raw.get("columns"), dict):
        for f, c in raw["columns"].items():
            if not isinstance(c, (str, int)) or isinstance(c, bool):
                problems.append(f"mapping 'columns.{f}' must be one column name; got {elide(c, 60)}")
    if isinstance(raw.get("values"), dict):
        for f, table in raw["values"].items():
            if not isinstance(table, dict):
                problems.append(f"mapping 'values.{f}' must be a table of code: value lines; got {elide(table, 60)}")
    if "reasons" in raw and not isinstance(raw["reasons"], (str, dict)):
        bad("reasons", f"a table of code: ending lines or one of {', '.join(REASON_TABLES)}")
    if "sheet" in raw and (isinstance(raw["sheet"], bool) or not isinstance(raw["sheet"], (int, str))):
        bad("sheet", "a sheet name or number")
    if "age_range" in raw:
        ar = raw["age_range"]
        ok = (isinstance(ar, list) and len(ar) == 2 and all(isinstance(a, (int, float)) and not isinstance(a, bool)
                                                             for a in ar) and ar[0] < ar[1])
        if not ok:
            bad("age_range", "[lowest, highest] ages in years")
    fmt = raw.get("date_format")
    if isinstance(fmt, str) and fmt != "ISO8601":
        probe = datetime.date(2024, 11, 23)
        try:
            ok = datetime.datetime.strptime(probe.strftime(fmt), fmt).date() == probe
        except ValueError:
            ok = False
        if not ok:
            bad("date_format", "ISO8601 or a date format such as %d/%m/%Y that writes and reads back a date")


#: Private key of a resolved ``events`` section: the folder of the mapping file that named it.
_FOLDER = "\0folder"


def _events(raw: dict[str, Any], problems: list[str]) -> dict[str, Any] | None:
    """The ``events:`` section (events table and its columns; :func:`peerstudy.data.programme.events.events_section`)."""
    if raw.get("events") is None:
        return None
    from peerstudy.data.programme.events import events_section  # events builds on this module

    section = raw["events"]
    folder = None
    if isinstance(section, Mapping):
        section = dict(section)
        folder = section.pop(_FOLDER, None)
    found, resolved = events_section(section, folder)
    problems.extend(found)
    return resolved


def _check_mapping(raw: dict[str, Any]) -> dict[str, Any]:
    known = {"name", "layout", "columns", "optional", "values", "reasons", "date_format", "age_range", "keep",
             "censor_at", "invalid_rows", "sheet", "description", "reason_labels", "events"}
    problems = [f"unknown mapping key {elide(k, 40)} (known: {', '.join(sorted(known))})" for k in raw if k not in known]
    _typed(raw, problems)
    events_problems: list[str] = []
    events = _events(raw, events_problems)
    if problems:
        problems.extend(events_problems)
        raise SchemaError(f"mapping {elide(str(raw.get('name', 'custom')), 60)} has {len(problems)} problem(s): "
                          + "; ".join(problems), problems)
    m: dict[str, Any] = {
        "name": str(raw.get("name", "custom")),
        "layout": raw.get("layout", "dates"),
        "columns": dict(raw.get("columns") or {}),
        "optional": list(raw.get("optional") or []),
        "values": {k: {norm(a): b for a, b in (v or {}).items()} for k, v in (raw.get("values") or {}).items()},
        "date_format": raw.get("date_format", "ISO8601"),
        "age_range": list(raw.get("age_range", [12, 100])),
        "keep": dict(raw.get("keep") or {}),
        "censor_at": raw.get("censor_at", "middle"),
        "invalid_rows": raw.get("invalid_rows", "raise"),
        "sheet": raw.get("sheet", 0),
        "events": events,
    }
    if m["layout"] not in ("dates", "teds_d"):
        problems.append(f"mapping 'layout' must be 'dates' or 'teds_d'; got {m['layout']!r}")
    reasons = raw.get("reasons", "canonical" if m["layout"] == "dates" else "teds")
    if isinstance(reasons, str):
        if reasons not in REASON_TABLES:
            problems.append(f"mapping 'reasons' must be a table or one of {', '.join(REASON_TABLES)}; got {reasons!r}")
            reasons = {}
        else:
            reasons = REASON_TABLES[reasons]
    m["reasons"] = {norm(k): v for k, v in dict(reasons).items()}
    m["reason_labels"] = [str(k) for k in dict(reasons)]
    bad_end = sorted({str(v) for v in m["reasons"].values() if v not in OUTCOMES})
    if bad_end:
        problems.append(f"mapping 'reasons' must map codes to {', '.join(OUTCOMES)}; got {', '.join(map(repr, bad_end))}")
    unknown_fields = [k for k in m["columns"] if k not in FIELDS]
    if unknown_fields:
        problems.append(f"mapping 'columns' has unknown field(s) {', '.join(map(repr, unknown_fields))}; "
                        f"fields are {', '.join(FIELDS)}")
    if m["layout"] == "dates":
        miss = [f for f in REQUIRED_FIELDS if f not in m["columns"]]
        if miss:
            problems.append(f"mapping 'columns' must name the export column for {', '.join(miss)}")
    arm_vals = m["values"].get("arm", {})
    if any(v not in ARMS for v in arm_vals.values()):
        problems.append(f"mapping 'values.arm' must map to {', '.join(ARMS)}; got {sorted(set(arm_vals.values()))}")
    if m["invalid_rows"] not in ("raise", "exclude"):
        problems.append(f"mapping 'invalid_rows' must be 'raise' or 'exclude'; got {m['invalid_rows']!r}")
    if m["censor_at"] not in ("middle", "lower", "upper"):
        problems.append(f"mapping 'censor_at' must be 'middle', 'lower' or 'upper'; got {m['censor_at']!r}")
    if len(m["age_range"]) != 2:
        problems.append(f"mapping 'age_range' must be [lowest, highest]; got {m['age_range']!r}")
    problems.extend(events_problems)
    if problems:
        raise SchemaError(f"mapping {m['name']!r} has {len(problems)} problem(s): " + "; ".join(problems), problems)
    return m
