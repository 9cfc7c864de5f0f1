"""SAS, SPSS and Stata files, and follow-up interview tables linked to a cohort by participant.

State datasets and TEDS-D ship as SAS (``.sas7bdat``, ``.xpt``), SPSS (``.sav``, ``.zsav``, ``.por``) and
Stata (``.dta``) files. :func:`read_statistical_file` reads them with pyreadstat; a variable with value
labels (SPSS, Stata) reads as its labels (an ``arm`` stored as 0/1 labelled ``usual_care`` / ``peer`` reads
as those words), so such a file gives the same cohort as the CSV of the same data. SAS keeps value formats in
a separate catalogue file, which is not read: code such columns with the mapping's ``values:`` table.

:func:`link_visits` checks an interview table (one row per participant and visit) against a cohort: every
participant must be in the cohort, no participant may have the same visit twice, and days must be whole
numbers >= 0; all problems are reported at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from peerstudy.exceptions import DataError, SchemaError

__all__ = ["STATISTICAL_SUFFIXES", "read_statistical_file", "link_visits"]

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


def link_visits(visits: pd.DataFrame, cohort: pd.DataFrame, *, id_col: str = "participant_id",
                visit: str = "visit", day: str = "day") -> pd.DataFrame:
    """An interview table checked against its cohort: ids known, one row per participant and visit.

    Ids are compared as text, so ``7`` in one table matches ``"7"`` in the other; the returned table
    takes the cohort's id values and type, sorted by participant and day.

    Raises
    ------
    SchemaError
        Missing columns; every problem at once: ids not in the cohort, repeated (participant, visit)
        pairs, days missing or not whole numbers >= 0 (up to five ids shown for each).
    """
    for name, frame, cols in (("visits", visits, (id_col, visit, day)), ("cohort", cohort, (id_col,))):
        if not isinstance(frame, pd.DataFrame):
            raise SchemaError(f"{name} must be a pandas DataFrame; got {type(frame).__name__}")
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise SchemaError(f"{name} table lacks column(s) {', '.join(map(repr, missing))}")
    known = {str(v): v for v in cohort[id_col].tolist()}
    key = visits[id_col].astype(str)
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
    if problems:
        raise SchemaError("follow-up interviews: " + "; ".join(problems))
    out = visits.copy()
    out[id_col] = [known[k] for k in key]
    out[day] = days.astype(np.int64)
    return out.sort_values([id_col, day], kind="stable").reset_index(drop=True)
