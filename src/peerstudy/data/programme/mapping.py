"""Mappings: which export column is which, and how discharge reasons map to peerstudy's endings.

A mapping is a YAML file, a dict, or a built-in name (``"canonical"``, ``"teds"``; see ``mappings/``).
YAML reads unquoted ``yes``/``no``/``on``/``off`` as booleans: quote reason codes and values.
"""

from __future__ import annotations
import copy
import os
import re
from importlib import resources
from pathlib import Path
from typing import Any, Mapping
import numpy as np
import yaml
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


FIELDS: tuple[str, ...] = (*REQUIRED_FIELDS, "coach", *COVARIATES)


BINARY_WORDS = {"1": 1, "0": 0, "yes": 1, "no": 0, "y": 1, "n": 0, "true": 1, "false": 0}


NULLS = ["", "NA", "N/A", "NULL", "null", "NaN", "nan", "None"]


def _builtin(name: str) -> dict[str, Any]:
    try:
        text = resources.files("peerstudy").joinpath("data", "programme", "mappings", f"{name}.yaml").read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"unknown built-in mapping {name!r}; built-ins: canonical, teds") from None
    return yaml.safe_load(text)


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
        YAML file; or a dict. ``extends: NAME`` in a dict/file starts from a built-in and overrides it
        (``reasons`` and ``values`` tables are merged key by key).

    Returns
    -------
    dict
        With keys ``name, layout, columns, optional, values, reasons, date_format, age_range,
        keep, censor_at, invalid_rows``; ``reasons`` maps normalised codes to endings.

    Raises
    ------
    DataError
        Unknown built-in or unreadable file.
    SchemaError
        An invalid mapping (unknown field, unknown ending, wrong layout), naming the key.
    """
    if mapping is None:
        raw: dict[str, Any] = _builtin("canonical")
    elif isinstance(mapping, Mapping):
        raw = copy.deepcopy(dict(mapping))
    else:
        text = str(mapping)
        if text in ("canonical", "teds"):
            raw = _builtin(text)
        else:
            path = Path(mapping)
            if not path.is_file():
                raise DataError(f"mapping file not found: {text!r} (built-ins: canonical, teds)")
            try:
                raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            except (OSError, yaml.YAMLError) as exc:
                raise DataError(f"cannot read mapping {text!r}: {exc}") from None
            raw.setdefault("name", path.stem.removesuffix(".mapping"))
    if not isinstance(raw, dict):
        raise SchemaError(f"a mapping must be a dict of settings; got {type(raw).__name__}")
    if "extends" in raw:
        base = load_mapping(str(raw.pop("extends")))
        merged = dict(base)
        for key, val in raw.items():
            if key in ("columns", "values") and isinstance(val, dict):
                merged[key] = {**base.get(key, {}), **val}
            elif key == "reasons" and isinstance(val, dict):
                merged["reasons"] = {**base["reasons"], **{norm(k): v for k, v in val.items()}}
            else:
                merged[key] = val
        raw = merged
    return _check_mapping(raw)


def _check_mapping(raw: dict[str, Any]) -> dict[str, Any]:
    known = {"name", "layout", "columns", "optional", "values", "reasons", "date_format", "age_range", "keep",
             "censor_at", "invalid_rows", "sheet", "description", "reason_labels"}
    problems = [f"unknown mapping key {k!r} (known: {', '.join(sorted(known))})" for k in raw if k not in known]
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
    if problems:
        raise SchemaError(f"mapping {m['name']!r} has {len(problems)} problem(s): " + "; ".join(problems), problems)
    return m
