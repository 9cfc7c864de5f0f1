"""Programme data in: read a programme's export (or TEDS-D), validate it, and make the canonical cohort.

A *mapping* (YAML file, dict, or built-in name ``"canonical"`` / ``"teds"``; see
``peerstudy/data/programme/mappings/``) says which export column is which and how discharge reasons map to
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
  right-censored at ``d``; TEDS-D banded stays as in :mod:`peerstudy.data.programme.teds`.
"""

from __future__ import annotations
import hashlib
import hmac
import html
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
import numpy as np
import pandas as pd
from peerstudy.exceptions import DataError, SchemaError
from peerstudy.data.schema import csv_header, say_encoding, unique_header, ARMS, BINARY_COVARIATES, COVARIATES, OUTCOMES
from peerstudy.data.programme.checks import Built, Problem, ValidationReport, flow_html
from peerstudy.data.programme.dates import build_dates
from peerstudy.data.programme.mapping import NULLS, load_mapping
from peerstudy.data.programme.teds import build_teds
from peerstudy.data.programme.readers import STATISTICAL_SUFFIXES, read_statistical_file

__all__ = ["ProgrammeData", "validate_export", "read_export", "to_export"]


@dataclass(frozen=True)
class ProgrammeData:
    """A programme export read into peerstudy's canonical cohort.

    Attributes
    ----------
    cohort : pandas.DataFrame
        Canonical cohort (valid under :func:`peerstudy.data.schema.validate_cohort`).
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
        Canonical columns the export does not record. A covariate not recorded is missing (NaN) for everyone,
        never filled in (tables say "not recorded", models leave it out with a
        :class:`~peerstudy.exceptions.NotRecordedWarning`); an absent arm is ``usual_care`` (TEDS-D).
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
                f"cut-off {self.cutoff}){flow_html(self.flow)}"
                + (f"<p>not recorded: {html.escape(', '.join(self.unavailable))}</p>" if self.unavailable else "")
                + "</div>")


def _read_raw(path: Path, sheet: Any, encoding: str | None = None) -> tuple[pd.DataFrame, int]:
    """Read an export as it is; return the frame and the spreadsheet row number of its first record.

    A CSV is read as UTF-8, else Windows-1252, unless ``encoding`` is given (``df.attrs["encoding"]`` says
    which); duplicate column names are refused.
    """
    if not path.is_file():
        raise DataError(f"export file not found: {str(path)!r}")
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".txt", ".tsv"):
            import pyarrow.csv as pacsv

            # quoted values may hold line breaks (valid CSV; spreadsheets write them)
            delimiter = "\t" if suffix == ".tsv" else ","
            header, enc = csv_header(path, encoding)
            if delimiter == "\t":
                header = header[0].split("\t") if header else header
            unique_header(header, path)
            parse = pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True)
            conv = pacsv.ConvertOptions(null_values=NULLS, strings_can_be_null=True)
            read = pacsv.ReadOptions(encoding="utf8" if enc in ("utf-8", "utf-8-sig") else enc)
            table = pacsv.read_csv(path, read_options=read, parse_options=parse, convert_options=conv)
            # a column pyarrow typed as dates/timestamps stays a datetime column
            df = table.to_pandas(date_as_object=False)
            df.attrs["encoding"] = enc
            say_encoding(path, enc, encoding)
            return df, 2
        if suffix in (".xlsx", ".xlsm"):
            return pd.read_excel(path, sheet_name=sheet, engine="openpyxl", na_values=NULLS, keep_default_na=False), 2
        if suffix in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            unique_header(pq.read_schema(path).names, path)
            return pd.read_parquet(path), 2
        if suffix in STATISTICAL_SUFFIXES:
            return read_statistical_file(path, encoding=encoding), 2
    except DataError:
        raise
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"cannot read {str(path)!r}: {exc}") from None
    except Exception as exc:  # pyarrow / openpyxl raise their own error types for corrupt files
        if type(exc).__module__.split(".")[0] in ("pyarrow", "openpyxl", "zipfile"):
            raise DataError(f"cannot read {str(path)!r}: {exc}") from None
        raise
    raise DataError(f"export must be .csv, .xlsx or .parquet, or a SAS, SPSS or Stata file "
                    f"({', '.join(STATISTICAL_SUFFIXES)}); got {str(path)!r}")


def _hash(ids: pd.Series, salt: bytes) -> np.ndarray:
    return np.array([hmac.new(salt, str(v).encode(), hashlib.sha256).hexdigest()[:16] for v in ids], dtype=object)


def _categorical(values: np.ndarray, categories: list | None = None) -> pd.Categorical:
    """A categorical via factorize (fast on a million strings); categories in natural order unless given."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    cats = list(categories) if categories is not None else sorted((str(u) for u in uniques), key=_natural)
    idx = np.append(pd.Index(cats).get_indexer([str(u) for u in uniques]), -1)
    return pd.Categorical.from_codes(idx[codes], categories=cats)


def _finish(frame: dict[str, np.ndarray], keep: np.ndarray, unavailable: tuple[str, ...] = ()) -> pd.DataFrame:
    """Select rows and give the canonical column order and dtypes (as peerstudy.simulation.cohort does)."""
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
        if c in unavailable:  # not recorded: missing for everyone
            out[c] = np.full(len(v), np.nan)
            continue
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
    if "coach_match" in frame:
        out["coach_match"] = pd.array(np.asarray(frame["coach_match"], dtype=object)[keep], dtype="Int8")
    return pd.DataFrame(out)


def _natural(s: Any) -> tuple:
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(s)))


def _build(path: "str | os.PathLike", mapping: Any, cutoff: Any) -> tuple[dict[str, Any], Built, str]:
    """Load the mapping, read the file and build it with its layout's builder: (mapping, built, source)."""
    m = load_mapping(mapping)
    path = Path(path)
    raw, first_row = _read_raw(path, m["sheet"])
    if m["layout"] == "teds_d":
        if cutoff is not None:
            raise DataError("cutoff does not apply to TEDS-D (it has no dates); leave it out")
        built = build_teds(raw, m, first_row)
    else:
        built = build_dates(raw, m, cutoff, first_row)
    return m, built, str(path)


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
    m, built, source = _build(path, mapping, cutoff)
    ck = built.checker
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
    >>> from peerstudy.data.programme import read_export
    >>> data = read_export("data/synthetic/messy_export.csv", mapping="data/synthetic/messy_export.mapping.yaml",
    ...                    invalid_rows="exclude")  # doctest: +SKIP
    >>> data.flow["excluded"]  # doctest: +SKIP
    """
    m, built, source = _build(path, mapping, cutoff)
    ck, frame, intervals = built.checker, built.columns, built.intervals
    cut, unavailable = built.cutoff, built.unavailable
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
    cohort = _finish(frame, keep, unavailable)
    iv = intervals.loc[np.asarray(keep, bool)].reset_index(drop=True)
    iv.insert(0, "participant_id", cohort["participant_id"].to_numpy())
    from peerstudy.data.schema import validate_cohort

    validate_cohort(cohort)
    problems = tuple(p for p in ck.problems if p.rows)
    return ProgrammeData(cohort=cohort, flow=ck.flow(), problems=problems, intervals=iv, cutoff=cut,
                         mapping=m["name"], unavailable=unavailable, source=source, hashed_ids=hashed)


def to_export(cohort: pd.DataFrame) -> pd.DataFrame:
    """A canonical cohort as a programme export with dates (the built-in ``canonical`` mapping).

    ``discharged_on = enrolled_on + time - 1`` (same-day = 1 day) for every row, with
    ``discharge_reason = outcome``; reading it back with ``read_export(..., mapping="canonical")``
    gives the same cohort (the cut-off defaults to the latest date, so nobody is re-censored).
    """
    from peerstudy.data.schema import validate_cohort

    validate_cohort(cohort)
    adm = pd.to_datetime(cohort["enrolled_on"])
    out = pd.DataFrame({
        "participant_id": cohort["participant_id"].to_numpy(),
        "site": cohort["site"].astype(str).to_numpy(),
        "arm": cohort["arm"].astype(str).to_numpy(),
    })
    if "coach" in cohort.columns:
        out["coach"] = cohort["coach"].to_numpy()
    if "coach_match" in cohort.columns:
        out["coach_match"] = pd.array(cohort["coach_match"], dtype="Int8")
    out["enrolled_on"] = adm.dt.strftime("%Y-%m-%d").to_numpy()
    out["discharged_on"] = (adm + pd.to_timedelta(cohort["time"].astype(np.int64) - 1, unit="D")).dt.strftime("%Y-%m-%d").to_numpy()
    out["discharge_reason"] = cohort["outcome"].astype(str).to_numpy()
    for c in COVARIATES:
        out[c] = cohort[c].to_numpy()
    return out
