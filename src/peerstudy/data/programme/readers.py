"""SAS, SPSS and Stata files, and follow-up interview tables linked to a cohort by participant.

State datasets and TEDS-D ship as SAS (``.sas7bdat``, ``.xpt``), SPSS (``.sav``, ``.zsav``, ``.por``) and
Stata (``.dta``) files. :func:`read_statistical_file` reads them with pyreadstat; a variable with value
labels (SPSS, Stata) reads as its labels (an ``arm`` stored as 0/1 labelled ``usual_care`` / ``peer`` reads
as those words), so such a file gives the same cohort as the CSV of the same data. SAS keeps value formats in
a separate catalogue file, which is not read: code such columns with the mapping's ``values:`` table.

:func:`link_visits` checks an interview table (one row per participant and visit) against a cohort: every
participant must be in the cohort, no participant may have the same visit twice, days must be whole
numbers >= 0 and, with ``windows``, each visit must be a known one held inside its window; measures
(:data:`MEASURES`: BARC-10 totals 10-60, housed and employed 0/1) must be whole numbers in range. All problems
are reported at once (``err.problems``, one sentence each). :func:`read_visits` reads such a table from CSV,
Parquet, SAS, SPSS or Stata and links it.

:func:`read_redcap` reads a REDCap "raw" CSV export with its data dictionary: radio and dropdown codes become
their labels, checkbox columns ``NAME___CODE`` become 0/1 columns ``NAME__LABEL``, and rows of a repeating
instrument (``redcap_repeat_instrument``) become a visits table keyed by the record id, apart from the one row
per participant of the non-repeating forms.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from peerstudy.exceptions import DataError, SchemaError

__all__ = ["STATISTICAL_SUFFIXES", "FOLLOW_UP_WINDOWS", "MEASURES", "read_statistical_file", "link_visits",
           "read_visits", "RedcapExport", "read_redcap"]

#: Interviews: name -> (first day, last day) after intake. The 6-month window is the GPRA 5-8 months.
FOLLOW_UP_WINDOWS: dict[str, tuple[int, int]] = {"intake": (0, 0), "3m": (76, 106), "6m": (152, 243)}
#: Interview measures: name -> (lowest, highest) whole value allowed (missing is always allowed).
MEASURES: dict[str, tuple[int, int]] = {"barc10": (10, 60), "housed": (0, 1), "employed": (0, 1)}

#: File endings read by :func:`read_statistical_file`, with the pyreadstat reader of each.
STATISTICAL_SUFFIXES: dict[str, str] = {".sas7bdat": "read_sas7bdat", ".xpt": "read_xport", ".sav": "read_sav",
                                        ".zsav": "read_sav", ".por": "read_por", ".dta": "read_dta"}


def read_statistical_file(path: "str | Path", *, encoding: str | None = None) -> pd.DataFrame:
    """Read a SAS, SPSS or Stata file; value labels become categories, missing values NA.

    Parameters
    ----------
    path : str or Path
        ``.sas7bdat``, ``.xpt``, ``.sav``, ``.zsav``, ``.por`` or ``.dta`` (never modified).
    encoding : str, optional
        Text encoding for files that do not record theirs (pyreadstat's ``encoding``).

    Returns
    -------
    pandas.DataFrame
        ``attrs["column_labels"]`` holds the variable labels, ``attrs["source_format"]`` the reader used.

    Raises
    ------
    DataError
        A missing file, an ending not listed above, or a file the reader cannot parse (one line naming it).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in STATISTICAL_SUFFIXES:
        raise DataError(f"a SAS, SPSS or Stata file must end in {', '.join(STATISTICAL_SUFFIXES)}; got {str(path)!r}")
    if not path.is_file():
        raise DataError(f"file not found: {str(path)!r}")
    import pyreadstat

    reader = getattr(pyreadstat, STATISTICAL_SUFFIXES[suffix])
    # SPSS and Stata files carry their value labels; SAS keeps them in a separate format catalogue, not read here
    labelled = suffix in (".sav", ".zsav", ".por", ".dta")
    kwargs: dict[str, Any] = {"apply_value_formats": True, "formats_as_category": True} if labelled else {}
    if encoding is not None:
        kwargs["encoding"] = encoding
    try:
        df, meta = reader(str(path), **kwargs)
    except Exception as exc:  # pyreadstat raises its own ReadstatError / PyreadstatError
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"cannot read {str(path)!r} as a {suffix} file: {text}") from None
    for col in df.columns:
        s = df[col]
        if isinstance(s.dtype, pd.CategoricalDtype):
            df[col] = s.cat.rename_categories([str(c) for c in s.cat.categories]).astype(object).where(s.notna(), None)
        elif s.dtype == object:
            df[col] = s.where(s.notna() & (s.astype(str) != ""), None)
    df.attrs["column_labels"] = dict(zip(meta.column_names, meta.column_labels or [None] * len(meta.column_names)))
    df.attrs["source_format"] = STATISTICAL_SUFFIXES[suffix]
    return df


def _ids(values: pd.Series) -> str:
    shown = [str(v) for v in values.iloc[:5]]
    more = f" and {len(values) - 5} more" if len(values) > 5 else ""
    return ", ".join(shown) + more


def _id_text(v: Any) -> str:
    """An id as text for matching: ``7``, ``7.0`` (a numeric id read by SPSS or Stata) and ``"7"`` are the same."""
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v)


def _shown(v: Any) -> str:
    """A value as a message shows it: ``61``, ``2.5``, ``'yes'``."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return repr(v)


def link_visits(visits: pd.DataFrame, cohort: pd.DataFrame, *, id_col: str = "participant_id",
                visit: str = "visit", day: str = "day", windows: "dict[str, tuple[int, int]] | None" = None,
                measures: "dict[str, tuple[int, int]] | None" = None) -> pd.DataFrame:
    """An interview table checked against its cohort: ids known, one row per participant and visit.

    Ids are compared as text, so ``7`` in one table matches ``"7"`` in the other; the returned table
    takes the cohort's id values and type, sorted by participant and day.

    Parameters
    ----------
    windows : dict, optional
        Visit name -> (first day, last day) (e.g. :data:`FOLLOW_UP_WINDOWS`): a visit not named, or held
        outside its window, is a problem. None: any visit name and day.
    measures : dict, optional
        Column -> (lowest, highest) whole value (e.g. :data:`MEASURES`); checked where the column exists.

    Raises
    ------
    SchemaError
        Missing columns; every problem at once (``err.problems``, one sentence each): ids not in the cohort,
        repeated (participant, visit) pairs, days missing or not whole numbers >= 0, unknown visits, visits
        outside their window, measures out of range (up to five ids shown for each).

    Examples
    --------
    >>> import pandas as pd
    >>> cohort = pd.DataFrame({"participant_id": [1, 2]})
    >>> visits = pd.DataFrame({"participant_id": [1, 2], "visit": ["6m", "6m"], "day": [200, 120]})
    >>> try:
    ...     link_visits(visits, cohort, windows=FOLLOW_UP_WINDOWS)
    ... except SchemaError as err:
    ...     print(err.problems)
    ["1 '6m' interview(s) outside its window (days 152-243): participant(s) 2"]
    """
    for name, frame, cols in (("visits", visits, (id_col, visit, day)), ("cohort", cohort, (id_col,))):
        if not isinstance(frame, pd.DataFrame):
            raise SchemaError(f"{name} must be a pandas DataFrame; got {type(frame).__name__}")
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise SchemaError(f"{name} table lacks column(s) {', '.join(map(repr, missing))}")
    known = {_id_text(v): v for v in cohort[id_col].tolist()}
    key = visits[id_col].map(_id_text)
    problems = []
    unknown = visits[~key.isin(known)]
    if len(unknown):
        problems.append(f"{len(unknown)} interview(s) of participants not in the cohort: {_ids(unknown[id_col])}")
    dup = visits[pd.DataFrame({"k": key, "v": visits[visit].astype(str)}).duplicated(keep=False)]
    if len(dup):
        problems.append(f"{len(dup)} rows repeat a participant's {visit!r}: {_ids(dup[id_col].drop_duplicates())}")
    days = pd.to_numeric(visits[day], errors="coerce")
    bad = days.isna() | (days < 0) | (days.fillna(0) % 1 != 0)
    if bad.any():
        problems.append(f"column {day!r} must hold whole days >= 0; bad for participant(s) "
                        f"{_ids(visits.loc[bad, id_col])}")
    if windows is not None:
        label = visits[visit].astype(str).where(visits[visit].notna(), "")
        odd = ~label.isin(windows)
        if odd.any():
            names = ", ".join(repr(v) for v in label[odd].drop_duplicates().iloc[:5])
            problems.append(f"{int(odd.sum())} interview(s) with an unknown {visit!r} ({names}; known: "
                            f"{', '.join(windows)}): participant(s) {_ids(visits.loc[odd, id_col])}")
        for name, (lo, hi) in windows.items():
            out_of = (label == name).to_numpy() & ~bad.to_numpy() & ~days.between(lo, hi).to_numpy()
            if out_of.any():
                span = f"day {lo}" if lo == hi else f"days {lo}-{hi}"
                problems.append(f"{int(out_of.sum())} {name!r} interview(s) outside its window ({span}): "
                                f"participant(s) {_ids(visits.loc[out_of, id_col])}")
    for col, (lo, hi) in (measures or {}).items():
        if col not in visits.columns:
            continue
        values = pd.to_numeric(visits[col], errors="coerce")
        wrong = (values.isna() & visits[col].notna()) | (values < lo) | (values > hi) | (values.fillna(lo) % 1 != 0)
        if wrong.any():
            problems.append(f"column {col!r} must hold whole numbers from {lo} to {hi} (or be empty); got "
                            f"{_shown(visits.loc[wrong, col].iloc[0])} for participant(s) "
                            f"{_ids(visits.loc[wrong, id_col])}")
    if problems:
        raise SchemaError("follow-up interviews: " + "; ".join(problems), problems)
    out = visits.copy()
    out[id_col] = [known[k] for k in key]
    out[day] = days.astype(np.int64)
    for col in (measures or {}):
        if col in out.columns:
            out[col] = pd.array(pd.to_numeric(out[col]).round(), dtype="Int64")
    return out.sort_values([id_col, day], kind="stable").reset_index(drop=True)


def read_visits(path: "str | Path", cohort: pd.DataFrame, *, windows: "dict[str, tuple[int, int]] | None" = None,
                measures: "dict[str, tuple[int, int]] | None" = None, id_col: str = "participant_id") -> pd.DataFrame:
    """Read a follow-up interview table (CSV, Parquet, SAS, SPSS, Stata) and link it to ``cohort``.

    Columns: ``participant_id``, ``visit`` (``intake``, ``3m``, ``6m``), ``day`` after intake and the measures
    (``barc10``; ``housed`` and ``employed`` at 6 months), as ``peerstudy simulate`` writes ``FILE.visits.csv``.
    Windows and measures default to :data:`FOLLOW_UP_WINDOWS` and :data:`MEASURES`.

    Raises
    ------
    DataError
        A missing or unreadable file.
    SchemaError
        Every problem :func:`link_visits` finds.
    """
    from peerstudy.data.schema import read_table

    path = Path(path)
    if path.suffix.lower() in STATISTICAL_SUFFIXES:
        table = read_statistical_file(path)
    else:
        table = read_table(path)
    return link_visits(table, cohort, id_col=id_col, windows=FOLLOW_UP_WINDOWS if windows is None else windows,
                       measures=MEASURES if measures is None else measures)


#: Columns of a REDCap data dictionary export that are read.
_DICT_COLUMNS = {"Variable / Field Name": "name", "Form Name": "form", "Field Type": "type",
                 "Choices, Calculations, OR Slider Labels": "choices"}
_REPEAT = ("redcap_repeat_instrument", "redcap_repeat_instance")


@dataclass(frozen=True)
class RedcapExport:
    """A REDCap export split into one row per participant and the rows of each repeating instrument."""

    participants: pd.DataFrame
    repeats: dict[str, pd.DataFrame] = field(default_factory=dict)
    checkboxes: dict[str, dict[str, str]] = field(default_factory=dict)


def _choices(text: Any, name: str) -> dict[str, str]:
    out = {}
    for part in str(text).split("|"):
        code, sep, label = part.strip().partition(",")
        if not sep or not code.strip():
            raise SchemaError(f"data dictionary: choices of {name!r} must read 'CODE, LABEL | ...'; got {str(text)!r}")
        out[code.strip()] = label.strip()
    return out


def _read_csv(path: Path, what: str) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"{what} not found: {str(path)!r}")
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {what} {str(path)!r}: {str(exc).splitlines()[0]}") from None


def read_redcap(data: "str | Path", dictionary: "str | Path", *, id_col: str | None = None) -> RedcapExport:
    """A REDCap raw CSV export read with its data dictionary.

    Parameters
    ----------
    data, dictionary : str or Path
        The records export (raw values, not labels) and the data dictionary CSV of the same project.
    id_col : str, optional
        The record id column (default: the first field of the dictionary, as REDCap puts it).

    Returns
    -------
    RedcapExport
        ``participants``: the rows outside repeating instruments (one per record), fields of the
        non-repeating forms; ``repeats``: per repeating instrument, its rows with the record id,
        ``redcap_repeat_instance`` and its fields; ``checkboxes``: checkbox field -> {code: label}. Empty
        cells are missing; number fields (``text`` with a number validation, ``calc``) stay text unless all
        their values are numbers, then they are numbers.

    Raises
    ------
    DataError
        A missing or unreadable file.
    SchemaError
        A dictionary without its standard columns, a code not among a field's choices (naming the field, the
        value and the record), a duplicated record outside repeating instruments.
    """
    dd = _read_csv(Path(dictionary), "data dictionary")
    missing = [c for c in _DICT_COLUMNS if c not in dd.columns]
    if missing:
        raise SchemaError(f"data dictionary {str(dictionary)!r} lacks column(s) {', '.join(map(repr, missing))}")
    dd = dd.rename(columns=_DICT_COLUMNS)[list(_DICT_COLUMNS.values())]
    raw = _read_csv(Path(data), "REDCap export")
    id_col = id_col or str(dd["name"].iloc[0])
    if id_col not in raw.columns:
        raise SchemaError(f"REDCap export lacks its record id column {id_col!r}")
    df = raw.replace("", None)
    checkboxes: dict[str, dict[str, str]] = {}
    form_of: dict[str, str] = {}
    for row in dd.itertuples():
        name, kind = str(row.name), str(row.type)
        if kind == "checkbox":
            labels = _choices(row.choices, name)
            checkboxes[name] = labels
            for code, label in labels.items():
                col = f"{name}___{code}"
                if col in df.columns:
                    new = f"{name}__{re.sub(r'[^0-9A-Za-z]+', '_', label).strip('_').lower()}"
                    df[new] = pd.to_numeric(df.pop(col))
                    form_of[new] = row.form
            continue
        if name not in df.columns:
            continue
        form_of[name] = row.form
        if kind in ("radio", "dropdown"):
            labels = _choices(row.choices, name)
            bad = df[name].notna() & ~df[name].isin(labels)
            if bad.any():
                first = df.loc[bad].iloc[0]
                raise SchemaError(f"field {name!r}: code {first[name]!r} (record {first[id_col]}) is not among its "
                                  f"choices {', '.join(labels)}")
            df[name] = df[name].map(labels).where(df[name].notna(), None)
        elif kind in ("yesno", "truefalse", "calc", "text", "slider"):
            numbers = pd.to_numeric(df[name], errors="coerce")
            if (numbers.notna() == df[name].notna()).all() and df[name].notna().any():
                df[name] = numbers
    repeats: dict[str, pd.DataFrame] = {}
    if _REPEAT[0] in df.columns:
        rep = df[_REPEAT[0]].notna()
        for inst, rows in df[rep].groupby(_REPEAT[0], sort=False):
            cols = [c for c in df.columns if form_of.get(c) == inst and c != id_col]
            table = rows[[id_col, _REPEAT[1], *cols]].copy()
            table[_REPEAT[1]] = pd.to_numeric(table[_REPEAT[1]]).astype(np.int64)
            repeats[str(inst)] = table.reset_index(drop=True)
        df = df[~rep]
    repeating = set(repeats)
    keep = [c for c in df.columns if c == id_col or (c in form_of and form_of[c] not in repeating)]
    participants = df[keep].reset_index(drop=True)
    dup = participants[id_col].duplicated(keep=False)
    if dup.any():
        raise SchemaError(f"REDCap export: record(s) {_ids(participants.loc[dup, id_col].drop_duplicates())} appear "
                          f"on more than one row outside repeating instruments (longitudinal events are not read)")
    return RedcapExport(participants=participants, repeats=repeats, checkboxes=checkboxes)
