"""Programme data in: read a programme's export (or TEDS-D), validate it, and make the canonical cohort.

A *mapping* (YAML file, dict, or built-in name ``"canonical"`` / ``"teds"``; see
``peerstudy/mappings/``) says which export column is which and how discharge reasons map to
peerstudy's endings. :func:`validate_export` reports every problem at once with row numbers;
:func:`read_export` returns a :class:`ProgrammeData` holding the canonical cohort, a CONSORT-style
flow (received, excluded by reason, analysed) and the retention intervals.

Conventions (documented choices):

* **Time.** ``time`` = days from admission to discharge counting both ends, so a same-day
  discharge is 1 day: ``time = (discharged_on - admitted_on).days + 1``. Someone still in
  treatment (empty discharge date and reason) is ``retained`` with ``time`` counted to the data
  cut-off (given, or the latest date in the file). A discharge after an explicit cut-off is
  censored at the cut-off (``retained``); an admission after it is excluded and counted.
* **Reasons.** TEDS codes (``reasons: teds``): 1 completed -> ``retained`` (completion is not
  dropout: censored at discharge), 2 dropped out and 3 terminated by facility -> ``dropout``,
  4 transferred -> ``lost_to_follow_up`` (treatment continues elsewhere, unobserved: censored),
  5 -> ``incarcerated``, 6 -> ``died`` (competing endings), 7 other -> ``lost_to_follow_up``
  (censored). Override with a ``reasons:`` table in the mapping, or ``extends: teds`` plus changes.
* **Rows.** Row numbers are as a spreadsheet shows them: the header is row 1, so the first record
  is row 2 (also for Parquet). Nothing is dropped silently: with ``invalid_rows="exclude"`` rows
  with problems are left out and counted in the flow under their first problem; by default
  (``"raise"``) any problem raises :class:`~peerstudy.exceptions.SchemaError` listing them all.
* **Privacy.** The input file is never modified. ``hash_ids`` replaces participant ids by salted
  HMAC-SHA256 digests (16 hex characters).
* **Retention intervals.** ``ProgrammeData.intervals`` holds ``(time_lower, time_upper]`` for
  :mod:`peerstudy.survival.interval`: a dropout on day ``d`` is ``(d - 1, d]``, any other ending
  right-censored at ``d``; TEDS-D banded stays as in :mod:`peerstudy.teds`.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import hmac
import html
import os
import re
import secrets
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
import yaml

from .exceptions import DataError, SchemaError
from .schema import ARMS, BINARY_COVARIATES, COLUMNS, COVARIATES, OUTCOMES

__all__ = [
    "REASON_TABLES",
    "Problem",
    "ValidationReport",
    "ProgrammeData",
    "load_mapping",
    "validate_export",
    "read_export",
    "to_export",
    "messy_export",
    "write_programme_examples",
]

#: Built-in reason-code tables: code (as text, case-insensitive) -> ending.
REASON_TABLES: dict[str, dict[str, str]] = {
    "canonical": {o: o for o in OUTCOMES},
    "teds": {"1": "retained", "2": "dropout", "3": "dropout", "4": "lost_to_follow_up", "5": "incarcerated",
             "6": "died", "7": "lost_to_follow_up"},
}

REQUIRED_FIELDS: tuple[str, ...] = ("participant_id", "site", "arm", "admitted_on", "discharged_on", "reason")
FIELDS: tuple[str, ...] = (*REQUIRED_FIELDS, "coach", *COVARIATES)
_BINARY_WORDS = {"1": 1, "0": 0, "yes": 1, "no": 0, "y": 1, "n": 0, "true": 1, "false": 0}
_NULLS = ["", "NA", "N/A", "NULL", "null", "NaN", "nan", "None"]
_SHOW = 5


# ----------------------------------------------------------------------------------------------
# Mappings
# ----------------------------------------------------------------------------------------------


def _builtin(name: str) -> dict[str, Any]:
    try:
        text = resources.files("peerstudy").joinpath("mappings", f"{name}.yaml").read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"unknown built-in mapping {name!r}; built-ins: canonical, teds") from None
    return yaml.safe_load(text)


def _norm(v: Any) -> str:
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
                merged["reasons"] = {**base["reasons"], **{_norm(k): v for k, v in val.items()}}
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
        "values": {k: {_norm(a): b for a, b in (v or {}).items()} for k, v in (raw.get("values") or {}).items()},
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
    m["reasons"] = {_norm(k): v for k, v in dict(reasons).items()}
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


# ----------------------------------------------------------------------------------------------
# Results
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One validation problem: the rule broken, the column, the spreadsheet rows and a full sentence."""

    rule: str
    column: str | None
    rows: tuple[int, ...]
    message: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; ``rows`` lists at most the first 100 rows, ``n_rows`` counts them all."""
        return {"rule": self.rule, "column": self.column, "n_rows": len(self.rows), "rows": list(self.rows[:100]),
                "message": self.message}


def _flow_html(flow: dict[str, Any]) -> str:
    ex = "".join(f"<li>{html.escape(str(k))}: {v}</li>" for k, v in flow["excluded"].items()) or "<li>none</li>"
    return (f"<p>received {flow['received']} &rarr; excluded {sum(flow['excluded'].values())}<ul>{ex}</ul>"
            f"&rarr; analysed {flow['analysed']}</p>")


@dataclass(frozen=True)
class ValidationReport:
    """Every problem found in an export, and the flow the data would have if invalid rows were excluded."""

    source: str
    mapping: str
    n_rows: int
    problems: tuple[Problem, ...]
    flow: dict[str, Any]

    @property
    def valid(self) -> bool:
        """True when there is no problem."""
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready report (row numbers, no row contents)."""
        return {"source": self.source, "mapping": self.mapping, "n_rows": self.n_rows, "valid": self.valid,
                "problems": [p.to_dict() for p in self.problems], "flow": self.flow}

    def __str__(self) -> str:
        head = (f"{self.source}: {self.n_rows} row(s), mapping {self.mapping!r}: "
                + ("valid" if self.valid else f"{len(self.problems)} problem(s)"))
        lines = [head] + [f"  - {p.message}" for p in self.problems]
        f = self.flow
        lines.append(f"  flow: received {f['received']}; excluded "
                     + (", ".join(f"{k} {v}" for k, v in f["excluded"].items()) or "none")
                     + f"; analysed {f['analysed']}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        items = "".join(f"<li>{html.escape(p.message)}</li>" for p in self.problems) or "<li>no problems</li>"
        return (f"<div><b>Validation of {html.escape(self.source)}</b> (mapping {html.escape(self.mapping)}, "
                f"{self.n_rows} rows)<ul>{items}</ul>{_flow_html(self.flow)}</div>")


@dataclass(frozen=True)
class ProgrammeData:
    """A programme export read into peerstudy's canonical cohort.

    Attributes
    ----------
    cohort : pandas.DataFrame
        Canonical cohort (valid under :func:`peerstudy.schema.validate_cohort`).
    flow : dict
        ``{"received": n, "excluded": {reason: n}, "analysed": n}`` (CONSORT-style).
    problems : tuple of Problem
        Problems of the excluded rows (empty unless ``invalid_rows="exclude"``).
    intervals : pandas.DataFrame
        ``participant_id, time_lower, time_upper`` aligned with ``cohort``: the dropout time lies in
        ``(time_lower, time_upper]`` days (``inf`` = right-censored).
    cutoff : str or None
        Data cut-off date used (``YYYY-MM-DD``); None for TEDS-D (no dates).
    mapping : str
        Name of the mapping used.
    unavailable : tuple of str
        Canonical columns the export does not record (filled with a constant: 0, or ``usual_care``).
    source : str
        The file read.
    hashed_ids : bool
        Whether ``participant_id`` holds salted hashes.
    """

    cohort: pd.DataFrame = field(repr=False)
    flow: dict[str, Any]
    problems: tuple[Problem, ...]
    intervals: pd.DataFrame = field(repr=False)
    cutoff: str | None
    mapping: str
    unavailable: tuple[str, ...]
    source: str
    hashed_ids: bool

    def interval_data(self) -> pd.DataFrame:
        """The cohort with ``time_lower`` and ``time_upper`` added (for :mod:`peerstudy.survival.interval`)."""
        return self.cohort.assign(time_lower=self.intervals["time_lower"].to_numpy(),
                                  time_upper=self.intervals["time_upper"].to_numpy())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: flow, problems, cut-off, mapping, unavailable columns (no row-level data)."""
        return {"source": self.source, "mapping": self.mapping, "cutoff": self.cutoff, "flow": self.flow,
                "problems": [p.to_dict() for p in self.problems], "unavailable": list(self.unavailable),
                "hashed_ids": self.hashed_ids, "n": int(len(self.cohort)),
                "interval_censored": int((np.isfinite(self.intervals["time_upper"])
                                          & (self.intervals["time_upper"] - self.intervals["time_lower"] > 1)).sum())}

    def _repr_html_(self) -> str:
        return (f"<div><b>Programme data</b> from {html.escape(self.source)} (mapping {html.escape(self.mapping)}, "
                f"cut-off {self.cutoff}){_flow_html(self.flow)}"
                + (f"<p>not recorded: {html.escape(', '.join(self.unavailable))}</p>" if self.unavailable else "")
                + "</div>")


# ----------------------------------------------------------------------------------------------
# Reading
# ----------------------------------------------------------------------------------------------


def _read_raw(path: Path, sheet: Any) -> tuple[pd.DataFrame, int]:
    """Read an export as it is; return the frame and the spreadsheet row number of its first record."""
    if not path.is_file():
        raise DataError(f"export file not found: {str(path)!r}")
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".txt", ".tsv"):
            import pyarrow.csv as pacsv

            # quoted values may hold line breaks (valid CSV; spreadsheets write them)
            parse = pacsv.ParseOptions(delimiter="\t" if suffix == ".tsv" else ",", newlines_in_values=True)
            conv = pacsv.ConvertOptions(null_values=_NULLS, strings_can_be_null=True)
            table = pacsv.read_csv(path, parse_options=parse, convert_options=conv)
            # a column pyarrow typed as dates/timestamps stays a datetime column
            return table.to_pandas(date_as_object=False), 2
        if suffix in (".xlsx", ".xlsm"):
            return pd.read_excel(path, sheet_name=sheet, engine="openpyxl", na_values=_NULLS, keep_default_na=False), 2
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path), 2
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"cannot read {str(path)!r}: {exc}") from None
    except Exception as exc:  # pyarrow / openpyxl raise their own error types for corrupt files
        if type(exc).__module__.split(".")[0] in ("pyarrow", "openpyxl", "zipfile"):
            raise DataError(f"cannot read {str(path)!r}: {exc}") from None
        raise
    raise DataError(f"export must be .csv, .xlsx or .parquet; got {str(path)!r}")


def _rows_text(rows: np.ndarray) -> str:
    shown = ", ".join(str(int(r)) for r in rows[:_SHOW])
    more = len(rows) - _SHOW
    return f"row{'s' if len(rows) > 1 else ''} {shown}" + (f" and {more} more" if more > 0 else "")


class _Checker:
    """Collects problems (with rows) and per-row exclusion reasons in rule order."""

    def __init__(self, n: int, first_row: int):
        self.n = n
        self.rownum = np.arange(n) + first_row
        self.problems: list[Problem] = []
        self.reason = np.full(n, None, dtype=object)  # first exclusion reason per row

    def row_problem(self, rule: str, column: str | None, mask: np.ndarray, text: str) -> None:
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        rows = self.rownum[mask]
        self.problems.append(Problem(rule, column, tuple(int(r) for r in rows),
                                     f"{text} at {_rows_text(rows)}"))
        self.exclude(rule, mask)

    def file_problem(self, rule: str, column: str | None, text: str) -> None:
        self.problems.append(Problem(rule, column, (), text))

    def exclude(self, reason: str, mask: np.ndarray) -> None:
        free = np.asarray(mask, bool) & pd.isna(self.reason)
        self.reason[free] = reason

    def flow(self) -> dict[str, Any]:
        reasons = pd.Series(self.reason).dropna()
        counts = reasons.value_counts(sort=False)
        excluded = {str(k): int(v) for k, v in counts.items()}
        return {"received": int(self.n), "excluded": excluded, "analysed": int(self.n - len(reasons))}


def _did_you_mean(name: str, options: list[str]) -> str:
    norm = {re.sub(r"[\s_\-]+", "", str(o).lower()): str(o) for o in options}
    hit = difflib.get_close_matches(re.sub(r"[\s_\-]+", "", name.lower()), list(norm), n=1, cutoff=0.6)
    return f" (did you mean {norm[hit[0]]!r}?)" if hit else ""


def _lookup(series: pd.Series, table: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Map values through a normalised table via their unique values: (mapped, unknown mask, unknown values)."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    keys = [_norm(u) for u in uniques]
    mapped_u = np.array([table.get(k) for k in keys] + [None], dtype=object)
    mapped = mapped_u[codes]  # code -1 (missing) picks the trailing None
    unknown_u = np.array([table.get(k) is None for k in keys] + [False])
    unknown = unknown_u[codes]
    bad_vals = [str(u) for u, k in zip(uniques, keys) if table.get(k) is None]
    return mapped, unknown, bad_vals


def _parse_dates(series: pd.Series, fmt: str) -> tuple[np.ndarray, np.ndarray]:
    """Parse dates via unique values: (datetime64[D] values, unparseable mask); missing is not unparseable."""
    if pd.api.types.is_datetime64_any_dtype(series):
        vals = series.dt.tz_localize(None) if getattr(series.dt, "tz", None) is not None else series
        return vals.to_numpy().astype("datetime64[D]"), np.zeros(len(series), bool)
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    u = pd.Series(uniques, dtype=object)
    is_dt = u.map(lambda v: hasattr(v, "year") and hasattr(v, "month"))
    parsed = pd.to_datetime(u.where(~is_dt).astype("string"), format=fmt, errors="coerce")
    if is_dt.any():
        parsed[is_dt] = pd.to_datetime(u[is_dt].tolist())
    pu = np.append(parsed.to_numpy().astype("datetime64[D]"), np.datetime64("NaT"))
    vals = pu[codes]
    bad = np.append(parsed.isna().to_numpy(), False)[codes]
    return vals, bad


def _binary(series: pd.Series, table: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    table = {**_BINARY_WORDS, **{k: int(v) for k, v in table.items()}}
    mapped, unknown, _ = _lookup(series, table)
    missing = series.isna().to_numpy()
    out = np.where(unknown | missing, -1, mapped).astype(np.int64) if len(series) else np.zeros(0, np.int64)
    return out, unknown | missing


def _build_dates(raw: pd.DataFrame, m: dict[str, Any], cutoff: Any, first_row: int
                 ) -> tuple[_Checker, pd.DataFrame | None, pd.DataFrame | None, str | None, tuple[str, ...]]:
    n = len(raw)
    ck = _Checker(n, first_row)
    cols = m["columns"]
    optional = set(m["optional"])
    present = {f: c for f, c in cols.items() if c in raw.columns}
    file_cols = [str(c) for c in raw.columns]
    for f, c in cols.items():
        if c not in raw.columns and f not in optional and c not in optional:
            ck.file_problem("missing column", c, f"missing column {c!r} (for {f}){_did_you_mean(str(c), file_cols)}")
    if n == 0:
        ck.file_problem("no rows", None, "the export has no rows")
    get = {f: raw[c] for f, c in present.items()}
    # ids
    if "participant_id" in get:
        pid = get["participant_id"]
        c = cols["participant_id"]
        ck.row_problem("missing id", c, pid.isna().to_numpy(), f"column {c!r} has missing ids")
        dup = (pid.duplicated(keep=False) & pid.notna()).to_numpy()
        ck.row_problem("duplicate id", c, dup, f"column {c!r} has duplicate ids "
                       f"({', '.join(map(repr, pd.unique(pid[dup])[:_SHOW].tolist()))})")
    if "site" in get:
        c = cols["site"]
        ck.row_problem("missing site", c, get["site"].isna().to_numpy(), f"column {c!r} has missing sites")
    arm = None
    if "arm" in get:
        c = cols["arm"]
        table = m["values"].get("arm") or {a: a for a in ARMS}
        arm, unknown, bad = _lookup(get["arm"], table)
        missing = get["arm"].isna().to_numpy()
        ck.row_problem("missing arm", c, missing, f"column {c!r} has missing values")
        if unknown.any():
            hint = "; ".join(f"{v!r}{_did_you_mean(v, list(table))}" for v in bad[:_SHOW])
            ck.row_problem("unknown arm", c, unknown, f"column {c!r} has unknown value(s) {hint} "
                           f"(known: {', '.join(table)})")
        levels = set(arm[~(unknown | missing)])
        if n and len(levels) < 2:
            ck.file_problem("one arm", c, f"column {c!r} has only one arm ({', '.join(sorted(levels)) or 'none'}); "
                            f"a comparison needs both {' and '.join(ARMS)}")
    # dates
    fmt = m["date_format"]
    adm = dis = None
    if "admitted_on" in get:
        c = cols["admitted_on"]
        adm, bad = _parse_dates(get["admitted_on"], fmt)
        ck.row_problem("missing admission date", c, get["admitted_on"].isna().to_numpy(),
                       f"column {c!r} (admission date) is empty")
        ck.row_problem("unparseable date", c, bad, f"column {c!r} has dates that do not parse as {fmt}")
    if "discharged_on" in get:
        c = cols["discharged_on"]
        dis, bad = _parse_dates(get["discharged_on"], fmt)
        ck.row_problem("unparseable date", c, bad, f"column {c!r} has dates that do not parse as {fmt}")
    reason = None
    if "reason" in get:
        c = cols["reason"]
        reason, unknown, bad = _lookup(get["reason"], m["reasons"])
        if unknown.any():
            hint = "; ".join(f"{v!r}{_did_you_mean(v, m['reason_labels'])}" for v in bad[:_SHOW])
            ck.row_problem("unknown reason", c, unknown, f"column {c!r} has unknown discharge reason(s) {hint}")
    if dis is not None and reason is not None:
        has_date = ~np.isnat(dis) | get["discharged_on"].notna().to_numpy()
        has_reason = get["reason"].notna().to_numpy()
        ck.row_problem("reason without discharge date", cols["discharged_on"], has_reason & ~has_date,
                       f"column {cols['discharged_on']!r} (discharge date) is empty but a discharge reason is given")
        ck.row_problem("discharge date without reason", cols["reason"], has_date & ~has_reason,
                       f"column {cols['reason']!r} (discharge reason) is empty but a discharge date is given")
    if adm is not None and dis is not None:
        before = ~np.isnat(adm) & ~np.isnat(dis) & (dis < adm)
        ck.row_problem("discharge before admission", cols["discharged_on"], before,
                       f"column {cols['discharged_on']!r} is before {cols['admitted_on']!r}")
    # covariates
    values: dict[str, np.ndarray] = {}
    unavailable = [f for f in ("arm",) if f not in cols]
    for f in COVARIATES:
        if f not in get:
            unavailable.append(f)
            continue
        c = cols[f]
        s = get[f]
        if f in BINARY_COVARIATES:
            v, bad = _binary(s, m["values"].get(f, {}))
            ck.row_problem("invalid value", c, bad & s.notna().to_numpy(),
                           f"column {c!r} ({f}) must be 0/1 or a value in the mapping")
            ck.row_problem("missing value", c, s.isna().to_numpy(), f"column {c!r} ({f}) has missing values")
            values[f] = v
            continue
        if f in m["values"]:
            mapped, unknown, _ = _lookup(s, m["values"][f])
            num = pd.to_numeric(pd.Series(mapped), errors="coerce").to_numpy(float)
            notnum = unknown & s.notna().to_numpy()
        else:
            num = pd.to_numeric(s, errors="coerce").to_numpy(float) if len(s) else np.zeros(0)
            notnum = np.isnan(num) & s.notna().to_numpy()
        ck.row_problem("invalid value", c, notnum, f"column {c!r} ({f}) must be a number")
        ck.row_problem("missing value", c, s.isna().to_numpy(), f"column {c!r} ({f}) has missing values")
        ok = ~np.isnan(num)
        if f == "age":
            lo, hi = m["age_range"]
            ck.row_problem("impossible age", c, ok & ((num < lo) | (num > hi)),
                           f"column {c!r} has impossible ages (outside {lo}-{hi})")
        elif f == "prior_treatments":
            ck.row_problem("invalid value", c, ok & ((num < 0) | (num != np.floor(num))),
                           f"column {c!r} (prior_treatments) must be a whole number >= 0")
        else:
            ck.row_problem("invalid value", c, ok & (num < 0), f"column {c!r} ({f}) must be >= 0")
        values[f] = num
    if any(p.rule in ("missing column", "no rows") for p in ck.problems) or adm is None or dis is None \
            or reason is None:
        return ck, None, None, None, tuple(unavailable)
    # cut-off
    if cutoff is None:
        all_dates = np.concatenate([adm[~np.isnat(adm)], dis[~np.isnat(dis)]])
        cut = all_dates.max() if len(all_dates) else None
    else:
        try:
            cut = np.datetime64(pd.Timestamp(cutoff).date(), "D")
        except (ValueError, TypeError):
            raise DataError(f"cutoff must be a date YYYY-MM-DD; got {cutoff!r}") from None
    if cut is None:
        return ck, None, None, None, tuple(unavailable)
    after = ~np.isnat(adm) & (adm > cut)
    ck.exclude("admitted after the data cut-off", after)
    # derive time and outcome (valid rows only; others are masked out later)
    ended = ~np.isnat(dis) & (dis <= cut)
    end = np.where(ended, dis, cut)
    with np.errstate(invalid="ignore"):
        days = (end - adm).astype("timedelta64[D]").astype(float) + 1
    outcome = np.where(ended, reason, "retained").astype(object)
    frame = {
        "participant_id": get["participant_id"].to_numpy(),
        "site": get["site"].to_numpy(dtype=object),
        "arm": arm,
        "enrolled_on": adm.astype("datetime64[s]"),
        **{f: values.get(f, np.zeros(n, np.int64)) for f in COVARIATES},
        "time": days,
        "outcome": outcome,
    }
    if "coach" in get:
        frame["coach"] = get["coach"].to_numpy(dtype=object)
    return ck, frame, None, str(cut), tuple(unavailable)


def _build_teds(raw: pd.DataFrame, m: dict[str, Any], first_row: int
                ) -> tuple[_Checker, pd.DataFrame | None, pd.DataFrame | None, str | None, tuple[str, ...]]:
    from . import teds

    n = len(raw)
    ck = _Checker(n, first_row)
    file_cols = [str(c) for c in raw.columns]
    for c in teds.REQUIRED:
        if c not in raw.columns:
            ck.file_problem("missing column", c, f"missing TEDS-D column {c!r}{_did_you_mean(c, file_cols)}")
    if n == 0:
        ck.file_problem("no rows", None, "the export has no rows")
    if any(p.rule in ("missing column", "no rows") for p in ck.problems):
        return ck, None, None, None, ()
    codes: dict[str, np.ndarray] = {}
    for c in [c for c in teds.TEDS_COLUMNS if c in raw.columns and c not in ("CASEID", "DISYR")]:
        v = pd.to_numeric(raw[c], errors="coerce").to_numpy(float)
        allowed = np.array(list(teds.CODEBOOK[c]) + [teds.MISSING], dtype=float)
        bad = ~np.isin(v, allowed)
        ck.row_problem("invalid code", c, bad, f"column {c!r} has codes not in the TEDS-D codebook "
                       f"(e.g. {raw[c][bad].iloc[0]!r})" if bad.any() else "")
        codes[c] = v
    if "CASEID" in raw.columns:
        pid = raw["CASEID"]
        ck.row_problem("missing id", "CASEID", pid.isna().to_numpy(), "column 'CASEID' has missing ids")
        ck.row_problem("duplicate id", "CASEID", (pid.duplicated(keep=False) & pid.notna()).to_numpy(),
                       "column 'CASEID' has duplicate ids")
        pid_values = pid.to_numpy()
    else:
        pid_values = ck.rownum.copy()
    for c, keep in m["keep"].items():
        if c not in codes:
            ck.file_problem("missing column", c, f"mapping 'keep' names column {c!r}, which the file does not have"
                            f"{_did_you_mean(str(c), file_cols)}")
            continue
        keep = [keep] if not isinstance(keep, (list, tuple)) else keep
        ck.exclude(f"{c} not in {', '.join(map(str, keep))}", ~np.isin(codes[c], np.array(keep, float)))
    used = ["LOS", "REASON", "STFIPS", "AGE", "GENDER", "LIVARAG", "SUB1", "IDU", "EMPLOY", "NOPRIOR"]
    for c in used:
        if c in codes:
            ck.exclude(f"{c} missing (-9)", codes[c] == teds.MISSING)
    if any(p.rule == "missing column" for p in ck.problems):
        return ck, None, None, None, ()
    reason, unknown, bad = _lookup(pd.Series(codes["REASON"]), m["reasons"])
    unknown &= codes["REASON"] != teds.MISSING
    ck.row_problem("unknown reason", "REASON", unknown & np.isin(codes["REASON"], list(teds.CODEBOOK["REASON"])),
                   f"column 'REASON' has codes the mapping does not map ({', '.join(bad[:_SHOW])})")
    first, last = teds.los_range(codes["LOS"])
    outcome = np.where(pd.isna(reason), "lost_to_follow_up", reason).astype(object)
    dropout = outcome == "dropout"
    lower, upper = teds.teds_intervals(codes["LOS"], dropout, censor_at=m["censor_at"])
    time = np.where(np.isfinite(last), last, first)
    time = np.where(np.isnan(time), 1, time)
    unavailable = ["arm", "enrolled_on", "depression"]

    def flag(c: str, cond: np.ndarray) -> np.ndarray:
        if c not in codes:
            unavailable.append({"GENDER": "female", "LIVARAG": "homeless", "SUB1": "stimulant_use", "IDU": "injects",
                                "EMPLOY": "unemployed", "NOPRIOR": "prior_treatments"}[c])
            return np.zeros(n, np.int64)
        return cond.astype(np.int64)

    age_mid = {k: v[2] for k, v in teds.AGE_BANDS.items()}
    year = pd.to_numeric(raw["DISYR"], errors="coerce") if "DISYR" in raw.columns else pd.Series(np.nan, index=raw.index)
    year = year.fillna(1970).clip(1900, 2200).astype(int)
    frame = {
        "participant_id": pid_values,
        "site": [teds.CODEBOOK["STFIPS"].get(int(s), "missing") if s == s else "missing" for s in codes["STFIPS"]],
        "arm": np.full(n, "usual_care", dtype=object),
        "enrolled_on": pd.to_datetime(year.astype(str) + "-01-01").to_numpy().astype("datetime64[s]"),
        "age": np.array([age_mid.get(int(a), np.nan) if a == a else np.nan for a in codes["AGE"]]),
        "female": flag("GENDER", codes.get("GENDER", np.zeros(n)) == 2),
        "homeless": flag("LIVARAG", codes.get("LIVARAG", np.zeros(n)) == 1),
        "stimulant_use": flag("SUB1", np.isin(codes.get("SUB1", np.zeros(n)), teds.STIMULANT_SUB1)),
        "injects": flag("IDU", codes.get("IDU", np.zeros(n)) == 1),
        "unemployed": flag("EMPLOY", codes.get("EMPLOY", np.zeros(n)) == 3),
        "depression": np.zeros(n, np.int64),
        "prior_treatments": np.nan_to_num(codes["NOPRIOR"]).astype(np.int64) if "NOPRIOR" in codes
        else flag("NOPRIOR", np.zeros(n)),
        "time": time,
        "outcome": outcome,
    }
    intervals = pd.DataFrame({"time_lower": lower, "time_upper": upper})
    return ck, frame, intervals, None, tuple(dict.fromkeys(unavailable))


def _hash(ids: pd.Series, salt: bytes) -> np.ndarray:
    return np.array([hmac.new(salt, str(v).encode(), hashlib.sha256).hexdigest()[:16] for v in ids], dtype=object)


def _categorical(values: np.ndarray, categories: list | None = None) -> pd.Categorical:
    """A categorical via factorize (fast on a million strings); categories in natural order unless given."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    cats = list(categories) if categories is not None else sorted((str(u) for u in uniques), key=_natural)
    idx = np.append(pd.Index(cats).get_indexer([str(u) for u in uniques]), -1)
    return pd.Categorical.from_codes(idx[codes], categories=cats)


def _finish(frame: dict[str, np.ndarray], keep: np.ndarray) -> pd.DataFrame:
    """Select rows and give the canonical column order and dtypes (as peerstudy.simulate does)."""
    out: dict[str, Any] = {}
    pid = np.asarray(frame["participant_id"])[keep]
    if pid.dtype == object:
        num = pd.to_numeric(pd.Series(pid), errors="coerce")
        if len(num) and num.notna().all() and (num == np.floor(num)).all():
            pid = num.to_numpy().astype(np.int64)
    out["participant_id"] = pid
    out["site"] = _categorical(np.asarray(frame["site"], dtype=object)[keep])
    out["arm"] = _categorical(np.asarray(frame["arm"], dtype=object)[keep], list(ARMS))
    out["enrolled_on"] = np.asarray(frame["enrolled_on"])[keep]
    for c in COVARIATES:
        v = np.asarray(frame[c])[keep]
        if c in BINARY_COVARIATES or (len(v) and np.all(v == np.floor(v))):
            v = v.astype(np.int64)
        out[c] = v
    out["time"] = np.asarray(frame["time"])[keep].astype(np.int64)
    outcome = np.asarray(frame["outcome"], dtype=object)[keep]
    out["outcome"] = _categorical(outcome, list(OUTCOMES))
    out["event"] = (outcome == "dropout").astype(np.int64)
    if "coach" in frame:
        coach = np.asarray(frame["coach"], dtype=object)[keep]
        out["coach"] = np.where(pd.isna(coach), None, coach)
    return pd.DataFrame(out)


def _natural(s: Any) -> tuple:
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(s)))


def _run(path: "str | os.PathLike", mapping: Any, cutoff: Any) -> tuple[dict, _Checker, Any, Any, Any, tuple, str]:
    m = load_mapping(mapping)
    path = Path(path)
    raw, first_row = _read_raw(path, m["sheet"])
    if m["layout"] == "teds_d":
        if cutoff is not None:
            raise DataError("cutoff does not apply to TEDS-D (it has no dates); leave it out")
        ck, frame, intervals, cut, unavailable = _build_teds(raw, m, first_row)
    else:
        ck, frame, intervals, cut, unavailable = _build_dates(raw, m, cutoff, first_row)
    return m, ck, frame, intervals, cut, unavailable, str(path)


def validate_export(path: "str | os.PathLike", *, mapping: Any = None, cutoff: Any = None) -> ValidationReport:
    """Check an export against its mapping and report every problem at once.

    Parameters
    ----------
    path : str or path
        A ``.csv``, ``.xlsx`` or ``.parquet`` export (never modified).
    mapping : str, path, dict or None
        See :func:`load_mapping`.
    cutoff : date-like, optional
        Data cut-off date (default: the latest date in the file).

    Returns
    -------
    ValidationReport
        ``problems`` (rule, column, rows, message) and the flow if invalid rows were excluded.

    Raises
    ------
    DataError
        The file or mapping cannot be read.
    SchemaError
        The mapping itself is invalid.
    """
    m, ck, _, _, _, _, source = _run(path, mapping, cutoff)
    return ValidationReport(source=source, mapping=m["name"], n_rows=ck.n, problems=tuple(ck.problems), flow=ck.flow())


def read_export(path: "str | os.PathLike", *, mapping: Any = None, cutoff: Any = None, hash_ids: "str | bytes | bool | None" = None,
                invalid_rows: str | None = None) -> ProgrammeData:
    """Read a programme export (or a TEDS-D file) into the canonical cohort.

    Parameters
    ----------
    path : str or path
        ``.csv``, ``.xlsx`` (openpyxl) or ``.parquet``. The file is never modified.
    mapping : str, path, dict or None
        Which column is which and how reasons map to endings (:func:`load_mapping`); default canonical.
    cutoff : date-like, optional
        Data cut-off: people still in treatment are censored here (default: latest date in the file).
    hash_ids : str, bytes, True or None
        Replace ids by salted HMAC-SHA256 hashes with this salt (``True``: a random salt that is
        not kept, so the pseudonyms cannot be linked back).
    invalid_rows : {"raise", "exclude"}, optional
        What to do with rows that have problems (default: the mapping's setting, else "raise").

    Returns
    -------
    ProgrammeData

    Raises
    ------
    SchemaError
        The export is invalid: every problem is listed (``err.problems``), with row numbers and
        "did you mean" for near-miss column names and codes. File-level problems (missing columns,
        one arm) raise even with ``invalid_rows="exclude"``.
    DataError
        The file or mapping cannot be read.

    Examples
    --------
    >>> from peerstudy.programme import read_export
    >>> data = read_export("data/synthetic/messy_export.csv", mapping="data/synthetic/messy_export.mapping.yaml",
    ...                    invalid_rows="exclude")  # doctest: +SKIP
    >>> data.flow["excluded"]  # doctest: +SKIP
    """
    m, ck, frame, intervals, cut, unavailable, source = _run(path, mapping, cutoff)
    mode = invalid_rows or m["invalid_rows"]
    if mode not in ("raise", "exclude"):
        raise DataError(f"invalid_rows must be 'raise' or 'exclude'; got {mode!r}")
    file_level = [p for p in ck.problems if not p.rows]
    if ck.problems and (mode == "raise" or file_level):
        shown = ck.problems if mode == "raise" else file_level
        raise SchemaError(f"{source}: the export has {len(shown)} problem(s): " + "; ".join(p.message for p in shown),
                          [p.message for p in shown])
    keep = np.asarray(pd.isna(ck.reason), dtype=bool)
    if not keep.any():
        raise SchemaError(f"{source}: no rows left to analyse; flow {ck.flow()}")
    if intervals is None:
        t = np.asarray(frame["time"], dtype=float)
        drop = np.asarray(frame["outcome"] == "dropout", dtype=bool)
        intervals = pd.DataFrame({"time_lower": np.where(drop, t - 1, t), "time_upper": np.where(drop, t, np.inf)})
    hashed = False
    if hash_ids is not None and hash_ids is not False:
        salt = secrets.token_bytes(16) if hash_ids is True else (hash_ids.encode() if isinstance(hash_ids, str) else bytes(hash_ids))
        frame = {**frame, "participant_id": _hash(frame["participant_id"], salt)}
        hashed = True
    cohort = _finish(frame, keep)
    iv = intervals.loc[np.asarray(keep, bool)].reset_index(drop=True)
    iv.insert(0, "participant_id", cohort["participant_id"].to_numpy())
    from .schema import validate_cohort

    validate_cohort(cohort)
    problems = tuple(p for p in ck.problems if p.rows)
    return ProgrammeData(cohort=cohort, flow=ck.flow(), problems=problems, intervals=iv, cutoff=cut,
                         mapping=m["name"], unavailable=unavailable, source=source, hashed_ids=hashed)


# ----------------------------------------------------------------------------------------------
# Writing exports (round trip, examples)
# ----------------------------------------------------------------------------------------------


def to_export(cohort: pd.DataFrame) -> pd.DataFrame:
    """A canonical cohort as a programme export with dates (the built-in ``canonical`` mapping).

    ``discharged_on = enrolled_on + time - 1`` (same-day = 1 day) for every row, with
    ``discharge_reason = outcome``; reading it back with ``read_export(..., mapping="canonical")``
    gives the same cohort (the cut-off defaults to the latest date, so nobody is re-censored).
    """
    from .schema import validate_cohort

    validate_cohort(cohort)
    adm = pd.to_datetime(cohort["enrolled_on"])
    out = pd.DataFrame({
        "participant_id": cohort["participant_id"].to_numpy(),
        "site": cohort["site"].astype(str).to_numpy(),
        "arm": cohort["arm"].astype(str).to_numpy(),
    })
    if "coach" in cohort.columns:
        out["coach"] = cohort["coach"].to_numpy()
    out["enrolled_on"] = adm.dt.strftime("%Y-%m-%d").to_numpy()
    out["discharged_on"] = (adm + pd.to_timedelta(cohort["time"].astype(np.int64) - 1, unit="D")).dt.strftime("%Y-%m-%d").to_numpy()
    out["discharge_reason"] = cohort["outcome"].astype(str).to_numpy()
    for c in COVARIATES:
        out[c] = cohort[c].to_numpy()
    return out


_MESSY_MAPPING: dict[str, Any] = {
    "name": "messy_example",
    "layout": "dates",
    "columns": {
        "participant_id": "Client ID", "site": "Clinic", "arm": "Group", "coach": "Coach",
        "admitted_on": "Admission Date", "discharged_on": "Discharge Date", "reason": "Discharge Reason",
        "age": "Age", "female": "Sex", "homeless": "Housing", "stimulant_use": "Stimulants", "injects": "Injects",
        "unemployed": "Employment", "depression": "BDI", "prior_treatments": "Prior episodes",
    },
    "optional": ["coach"],
    "date_format": "%d/%m/%Y",
    "values": {
        "arm": {"Peer support": "peer", "Usual care": "usual_care"},
        "female": {"F": 1, "M": 0},
        "homeless": {"Homeless": 1, "Housed": 0},
        "unemployed": {"Unemployed": 1, "Employed": 0},
    },
    "reasons": {"Completed": "retained", "Dropped out": "dropout", "Terminated": "dropout",
                "Transferred": "lost_to_follow_up", "Incarcerated": "incarcerated", "Died": "died",
                "Other": "lost_to_follow_up"},
}


def messy_export(n: int = 60, *, rng: Any = 2026) -> tuple[pd.DataFrame, dict[str, Any], dict[str, list[int]]]:
    """A small programme export in a programme's own words, with deliberate mistakes.

    Returns the export (strings, as a spreadsheet would hold them), its mapping, and the
    spreadsheet rows of each planted mistake: ``reason typo`` (2), ``missing date`` (1),
    ``duplicate id`` (2 rows), ``discharge before admission`` (1).
    """
    rng = np.random.default_rng(rng)
    start = np.datetime64("2024-03-04")
    adm = start + rng.integers(0, 300, n).astype("timedelta64[D]")
    stay = np.maximum(np.ceil(120 * rng.weibull(0.8, n)), 1).astype(int)
    labels = np.array(["Dropped out", "Completed", "Terminated", "Transferred", "Incarcerated", "Died", "Other"])
    reason = rng.choice(labels, n, p=[0.45, 0.3, 0.1, 0.07, 0.04, 0.01, 0.03])
    dis = adm + (stay - 1).astype("timedelta64[D]")
    cut = np.datetime64("2025-03-31")
    still = dis > cut
    fmt = lambda d: pd.to_datetime(d).strftime("%d/%m/%Y")  # noqa: E731
    df = pd.DataFrame({
        "Client ID": [f"C{1000 + i}" for i in range(n)],
        "Clinic": rng.choice(["North", "South", "East"], n),
        "Group": rng.choice(["Peer support", "Usual care"], n),
        "Coach": "",
        "Admission Date": fmt(adm),
        "Discharge Date": np.where(still, "", fmt(dis)),
        "Discharge Reason": np.where(still, "", reason),
        "Age": np.clip(np.rint(rng.normal(34, 9, n)), 18, 70).astype(int).astype(str),
        "Sex": rng.choice(["F", "M"], n, p=[0.35, 0.65]),
        "Housing": rng.choice(["Homeless", "Housed"], n, p=[0.25, 0.75]),
        "Stimulants": rng.choice(["Y", "N"], n, p=[0.2, 0.8]),
        "Injects": rng.choice(["Y", "N"], n, p=[0.35, 0.65]),
        "Employment": rng.choice(["Unemployed", "Employed"], n, p=[0.6, 0.4]),
        "BDI": np.clip(np.rint(rng.normal(17, 9, n)), 0, 63).astype(int).astype(str),
        "Prior episodes": rng.poisson(1.5, n).astype(str),
    })
    df["Coach"] = np.where(df["Group"] == "Peer support", rng.choice(["Ana", "Ben", "Cy"], n), "")
    ended = np.flatnonzero(~still)
    planted: dict[str, list[int]] = {}
    typo_rows = ended[[3, 11]]
    df.loc[typo_rows[0], "Discharge Reason"] = "Droped out"
    df.loc[typo_rows[1], "Discharge Reason"] = "Completd"
    planted["reason typo"] = [int(r) + 2 for r in typo_rows]
    miss = ended[7]
    df.loc[miss, "Admission Date"] = ""
    planted["missing date"] = [int(miss) + 2]
    before = ended[15]
    dup = [int(r) for r in np.setdiff1d(np.arange(n), [*typo_rows, miss, before])[[4, 19]]]
    df.loc[dup[1], "Client ID"] = df.loc[dup[0], "Client ID"]
    planted["duplicate id"] = [dup[0] + 2, dup[1] + 2]
    df.loc[before, "Discharge Date"] = fmt(adm[before] - np.timedelta64(9, "D"))
    planted["discharge before admission"] = [int(before) + 2]
    return df, copy.deepcopy(_MESSY_MAPPING), planted


def write_programme_examples(folder: "str | os.PathLike") -> list[Path]:
    """Write the programme-data examples into ``folder`` (deterministic bytes); return the paths.

    ``messy_export.csv`` + ``messy_export.mapping.yaml`` (a programme export with planted mistakes)
    and ``teds_d_synthetic.csv`` (5,000 synthetic discharges in the TEDS-D public-use layout, seed
    2026) with ``teds_d_synthetic.truth.json``.
    """
    from ._io import atomic_path, dumps_json
    from .teds import simulate_teds

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    df, mapping, planted = messy_export()
    paths = []
    p = folder / "messy_export.csv"
    with atomic_path(p) as tmp:
        df.to_csv(tmp, index=False, lineterminator="\n")
    paths.append(p)
    p = folder / "messy_export.mapping.yaml"
    head = ("# Mapping for messy_export.csv (peerstudy.programme.load_mapping). Written by\n"
            "# peerstudy.programme.write_programme_examples; planted mistakes (spreadsheet rows): "
            + "; ".join(f"{k} {v}" for k, v in planted.items()) + "\n")
    with atomic_path(p) as tmp:
        tmp.write_text(head + yaml.safe_dump(mapping, sort_keys=False, allow_unicode=True), encoding="utf-8")
    paths.append(p)
    teds_df, truth = simulate_teds(5000, rng=2026)
    p = folder / "teds_d_synthetic.csv"
    with atomic_path(p) as tmp:
        teds_df.to_csv(tmp, index=False, lineterminator="\n")
    paths.append(p)
    p = folder / "teds_d_synthetic.truth.json"
    with atomic_path(p) as tmp:
        tmp.write_text(dumps_json({"generator": "peerstudy.teds.simulate_teds(5000, rng=2026)", **truth.to_dict()}),
                       encoding="utf-8")
    paths.append(p)
    return paths
