"""The canonical cohort: one row per participant, its columns, types, validation and file I/O.

Columns (all required; ``coach``, ``coach_match`` and the linkage and episode follow-up columns of
:data:`OPTIONAL_COLUMNS` are optional extras; a covariate the data do not record is a column missing (NA) for
everyone, see :func:`not_recorded`, and a covariate missing for some participants keeps its NA values, which
analyses leave out or impute, never fill):

================ ========================== ====================================================
column           type                       meaning
================ ========================== ====================================================
participant_id   int or str, unique         participant identifier
site             str                        site (clinic, ED, programme) of enrolment
arm              ``usual_care`` / ``peer``  allocated (or received) arm
enrolled_on      date                       enrolment (admission) date
age              number, years              age at enrolment
female           0/1                        1 = female
homeless         0/1                        1 = homeless / unstably housed at enrolment
stimulant_use    0/1                        1 = stimulant (cocaine, methamphetamine) co-use
injects          0/1                        1 = injected drugs in the last 30 days
unemployed       0/1                        1 = unemployed at enrolment
depression       number, score points       depression score (BDI-like, 0-63)
prior_treatments int >= 0                   number of earlier treatment episodes
time             int >= 1, days             days from enrolment to the end of observation
outcome          see ``OUTCOMES``           how observation ended
event            0/1                        1 if ``outcome == "dropout"`` (the event of interest)
================ ========================== ====================================================

Optional: ``coach`` (str or int), the participant's peer coach, missing for people without one (usual care), and
never missing in the peer arm; ``coach_match`` (0/1 or missing), 1 when the client shares the coach's primary
substance or lived experience, missing when there is no coach (or the match is not known).

``outcome``: ``dropout`` (left treatment: the event), ``retained`` (still in treatment at the end
of follow-up: censored), ``lost_to_follow_up`` (research contact lost: censored, *not* dropout),
``incarcerated`` and ``died`` (competing endings).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pandas as pd

from peerstudy._io import atomic_path
from peerstudy.exceptions import DataError, SchemaError

__all__ = [
    "ARMS",
    "OUTCOMES",
    "COMPETING",
    "CENSORING",
    "COVARIATES",
    "BINARY_COVARIATES",
    "not_recorded",
    "COLUMNS",
    "OPTIONAL_COLUMNS",
    "missing_values",
    "LINKAGE_ENDINGS",
    "EPISODE_ENDINGS",
    "CODEBOOK",
    "validate_cohort",
    "read_cohort",
    "read_table",
    "write_cohort",
]

ARMS: tuple[str, ...] = ("usual_care", "peer")
OUTCOMES: tuple[str, ...] = ("dropout", "retained", "lost_to_follow_up", "incarcerated", "died")
COMPETING: tuple[str, ...] = ("incarcerated", "died")
CENSORING: tuple[str, ...] = ("retained", "lost_to_follow_up")
BINARY_COVARIATES: tuple[str, ...] = ("female", "homeless", "stimulant_use", "injects", "unemployed")
COVARIATES: tuple[str, ...] = ("age", "female", "homeless", "stimulant_use", "injects", "unemployed",
                               "depression", "prior_treatments")
COLUMNS: tuple[str, ...] = ("participant_id", "site", "arm", "enrolled_on", *COVARIATES, "time", "outcome", "event")
#: How observation of linkage to care ended ("linked", or the ending that came first).
LINKAGE_ENDINGS: tuple[str, ...] = ("linked", *OUTCOMES)
#: How observation of recurrent episodes ended, when they are followed past a dropout.
EPISODE_ENDINGS: tuple[str, ...] = ("end_of_follow_up", "lost_to_follow_up", "incarcerated", "died")
#: Columns a cohort may carry beside the canonical ones: coaches, linkage to care, episode follow-up.
OPTIONAL_COLUMNS: tuple[str, ...] = ("coach", "coach_match", "linkage_time", "linkage_ending", "linkage_day",
                                     "events_time", "events_ending")

#: column -> (type, unit, meaning); written beside the synthetic data as its codebook.
CODEBOOK: dict[str, tuple[str, str, str]] = {
    "participant_id": ("integer or string", "-", "participant identifier, unique"),
    "site": ("string", "-", "site of enrolment"),
    "arm": ("usual_care | peer", "-", "allocated arm; peer = peer recovery coaching"),
    "enrolled_on": ("date (YYYY-MM-DD)", "-", "enrolment date"),
    "age": ("integer", "years", "age at enrolment"),
    "female": ("0/1", "-", "1 = female"),
    "homeless": ("0/1", "-", "1 = homeless or unstably housed at enrolment"),
    "stimulant_use": ("0/1", "-", "1 = stimulant co-use (cocaine, methamphetamine)"),
    "injects": ("0/1", "-", "1 = injected drugs in the 30 days before enrolment"),
    "unemployed": ("0/1", "-", "1 = unemployed at enrolment"),
    "depression": ("integer", "points (0-63)", "depression score at enrolment (BDI-like)"),
    "prior_treatments": ("integer >= 0", "episodes", "number of earlier treatment episodes"),
    "coach": ("string (optional)", "-", "peer coach, for clustering by coach; empty without a coach (usual care)"),
    "coach_match": ("0/1 (optional)", "-", "1 = client matched with their coach (primary substance or lived "
                    "experience); empty without a coach"),
    "linkage_time": ("integer >= 1 (optional)", "days", "days to linkage to care (e.g. first MOUD dose) or to the "
                     "end of its observation"),
    "linkage_ending": ("linked | an outcome (optional)", "-", "linked, or the ending that came before linkage"),
    "linkage_day": ("integer >= 1 (optional)", "days", "day of linkage to care; empty when never linked"),
    "events_time": ("integer >= time (optional)", "days", "days to the end of observation of recurrent episodes, "
                    "when they are followed past a dropout"),
    "events_ending": ("end_of_follow_up | lost_to_follow_up | incarcerated | died (optional)", "-",
                      "how observation of recurrent episodes ended"),
    "time": ("integer >= 1", "days", "days from enrolment to the end of observation"),
    "outcome": ("dropout | retained | lost_to_follow_up | incarcerated | died", "-",
                "how observation ended: dropout is the event; retained and lost_to_follow_up are censored; "
                "incarcerated and died are competing endings"),
    "event": ("0/1", "-", "1 = dropout (outcome == 'dropout'), else 0"),
}

_MAX_IDS = 5


def _ids(df: pd.DataFrame, mask: np.ndarray | pd.Series) -> str:
    mask = np.asarray(mask, dtype=bool)
    if "participant_id" in df.columns:
        vals = df["participant_id"].to_numpy()[mask][:_MAX_IDS]
        label = "participant_id"
    else:
        vals = np.flatnonzero(mask)[:_MAX_IDS] + 1
        label = "row"
    more = int(mask.sum()) - len(vals)
    shown = ", ".join(str(v) for v in vals)
    return f"{label} {shown}" + (f" and {more} more" if more > 0 else "")


def _show(value: object) -> str:
    """repr of a value without numpy's type wrapper (2, not np.int64(2))."""
    item = getattr(value, "item", None)
    return repr(item() if callable(item) else value)


def _check_binary(df: pd.DataFrame, col: str, problems: list[str]) -> None:
    s = df[col]
    if not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)):
        problems.append(f"column {col!r} must be 0/1; got type {s.dtype}")
        return
    bad = (~s.isin([0, 1]) & s.notna()).to_numpy()  # missing is missing: NA is not a wrong value
    if bad.any():
        problems.append(f"column {col!r} must be 0/1 (or missing); {int(bad.sum())} value(s) are not (e.g. "
                        f"{_show(s[bad].iloc[0])}) at {_ids(df, bad)}")


def missing_values(df: pd.DataFrame, columns: "tuple[str, ...] | list[str]" = COVARIATES) -> dict[str, int]:
    """The covariates recorded for some participants but missing (NA) for others, with how many are missing.

    >>> import pandas as pd
    >>> missing_values(pd.DataFrame({"age": [30, None, 41], "female": [None] * 3}), ("age", "female"))
    {'age': 1}
    """
    absent = set(not_recorded(df, columns))
    return {c: int(df[c].isna().sum()) for c in columns
            if c in df.columns and c not in absent and df[c].isna().any()}


def not_recorded(df: pd.DataFrame, columns: "tuple[str, ...] | list[str]" = COVARIATES) -> tuple[str, ...]:
    """The covariates a cohort does not record: absent, or missing (NA) for every participant.

    A programme export without a covariate gives a column that is missing for everyone, never a made-up
    value: tables show it as "not recorded" and models leave it out.

    >>> import pandas as pd
    >>> not_recorded(pd.DataFrame({"age": [30, 41], "female": [float("nan")] * 2}), ("age", "female", "injects"))
    ('female', 'injects')
    """
    return tuple(c for c in columns if c not in df.columns or (len(df) > 0 and bool(df[c].isna().all())))
def _check_coach(df: pd.DataFrame, problems: list[str]) -> None:
    """``coach``: labels (text or whole numbers), present in the peer arm; ``coach_match``: 0/1, only with a coach."""
    coach = df["coach"] if "coach" in df.columns else None
    if coach is not None:
        s = coach.astype("object")
        has = s.notna().to_numpy()
        codes, uniques = pd.factorize(s, use_na_sentinel=True)  # check each distinct label once
        bad_u = [isinstance(v, (bool, np.bool_)) or (isinstance(v, (float, np.floating)) and not float(v).is_integer())
                 or (isinstance(v, str) and not v.strip()) for v in uniques]
        bad = np.append(np.array(bad_u, dtype=bool), False)[codes]
        if bad.any():
            problems.append(f"column 'coach' must hold coach labels (text or whole numbers); {int(bad.sum())} value(s) "
                            f"are not (e.g. {_show(s[bad].iloc[0])}) at {_ids(df, bad)}")
        if "arm" in df.columns:
            peer_missing = (df["arm"].astype("object") == "peer").to_numpy() & ~has
            if peer_missing.any():
                problems.append(f"column 'coach' has missing values in the peer arm at {_ids(df, peer_missing)} "
                                "(every peer-arm participant has a coach; leave the column out if coaches are not "
                                "recorded)")
    if "coach_match" not in df.columns:
        return
    m = df["coach_match"]
    if coach is None:
        problems.append("column 'coach_match' needs the 'coach' column (a match is between a client and a coach)")
    if not (pd.api.types.is_numeric_dtype(m) or pd.api.types.is_bool_dtype(m)) and m.notna().any():
        problems.append(f"column 'coach_match' must be 0/1 or missing; got type {m.dtype}")
        return
    given = m.notna().to_numpy()
    bad = given & ~m.isin([0, 1]).to_numpy()
    if bad.any():
        problems.append(f"column 'coach_match' must be 0/1 or missing; {int(bad.sum())} value(s) are not (e.g. "
                        f"{_show(m[bad].iloc[0])}) at {_ids(df, bad)}")
    if coach is not None:
        orphan = given & coach.isna().to_numpy()
        if orphan.any():
            problems.append(f"column 'coach_match' is given without a coach at {_ids(df, orphan)} (leave it missing "
                            "where 'coach' is missing)")


def _check_follow_up_columns(df: pd.DataFrame, problems: list[str]) -> None:
    """The optional linkage and episode follow-up columns: whole days >= 1 and known endings, in pairs."""
    for time_col, ending_col, endings in (("linkage_time", "linkage_ending", LINKAGE_ENDINGS),
                                          ("events_time", "events_ending", EPISODE_ENDINGS)):
        given = [c for c in (time_col, ending_col) if c in df.columns]
        if len(given) == 1:
            other = ending_col if given[0] == time_col else time_col
            problems.append(f"column {given[0]!r} needs the column {other!r} (they come as a pair)")
        if time_col in df.columns:
            t = pd.to_numeric(df[time_col], errors="coerce")
            bad = (t.isna() | (t < 1) | (t.fillna(1) % 1 != 0)).to_numpy()
            if bad.any():
                problems.append(f"column {time_col!r} must hold whole days >= 1; {int(bad.sum())} value(s) are not "
                                f"(e.g. {_show(df[time_col][bad].iloc[0])}) at {_ids(df, bad)}")
            elif time_col == "events_time" and "time" in df.columns and pd.api.types.is_numeric_dtype(df["time"]):
                early = (t < df["time"]).to_numpy()
                if early.any():
                    problems.append(f"column 'events_time' must be at least 'time' (episodes are followed past a "
                                    f"dropout, never less); {int(early.sum())} value(s) are not, at {_ids(df, early)}")
        if ending_col in df.columns:
            bad = ~df[ending_col].astype("object").isin(endings).to_numpy()
            if bad.any():
                vals = sorted({str(v) for v in df[ending_col][bad]})[:_MAX_IDS]
                problems.append(f"column {ending_col!r} must be one of {', '.join(endings)}; got "
                                f"{', '.join(map(repr, vals))} at {_ids(df, bad)}")
    if "linkage_day" in df.columns:
        d = pd.to_numeric(df["linkage_day"], errors="coerce")
        bad = ((d.isna() & df["linkage_day"].notna()) | (d < 1) | (d.fillna(1) % 1 != 0)).to_numpy()
        if bad.any():
            problems.append(f"column 'linkage_day' must hold whole days >= 1 (empty when never linked); "
                            f"{int(bad.sum())} value(s) are not, at {_ids(df, bad)}")


def validate_cohort(df: pd.DataFrame, *, allow_extra: bool = False) -> pd.DataFrame:
    """Check a cohort against the canonical schema and report every problem at once.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per participant.
    allow_extra : bool, default False
        Accept columns beyond the canonical ones (those of :data:`OPTIONAL_COLUMNS`, such as ``coach`` and
        ``linkage_time``, are always accepted and checked).

    Returns
    -------
    pandas.DataFrame
        ``df`` itself, unchanged, when valid.

    Raises
    ------
    SchemaError
        Listing each problem (missing or extra columns, wrong types, times <= 0, unknown
        outcomes, ``event`` inconsistent with ``outcome``, duplicate ids, a peer-arm participant without a
        coach, a ``coach_match`` that is not 0/1 or is given without a coach), naming the column and
        up to five offending participant ids. ``err.problems`` holds them as a list.
    """
    if not isinstance(df, pd.DataFrame):
        raise SchemaError(f"a cohort must be a pandas DataFrame; got {type(df).__name__}")
    problems: list[str] = []
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        problems.append(f"missing column(s): {', '.join(missing)}")
    extra = [c for c in df.columns if c not in COLUMNS and c not in OPTIONAL_COLUMNS]
    if extra and not allow_extra:
        shown = ", ".join(str(c)[:40] for c in extra[:_MAX_IDS])
        more = f" and {len(extra) - _MAX_IDS:,} more" if len(extra) > _MAX_IDS else ""
        problems.append(f"unexpected column(s): {shown}{more}")
    if len(df) == 0:
        problems.append("the cohort has no rows")

    if "participant_id" in df.columns:
        pid = df["participant_id"]
        if pid.isna().any():
            problems.append(f"column 'participant_id' has {int(pid.isna().sum())} missing value(s)")
        dup = pid.duplicated(keep=False).to_numpy()
        if dup.any():
            problems.append(f"column 'participant_id' has duplicate ids: {_ids(df, dup)}")
    if "site" in df.columns and df["site"].isna().any():
        problems.append(f"column 'site' has missing values at {_ids(df, df['site'].isna())}")
    _check_coach(df, problems)
    _check_follow_up_columns(df, problems)
    if "arm" in df.columns:
        arm = df["arm"].astype("object")
        bad = ~arm.isin(ARMS).to_numpy()
        if bad.any():
            vals = sorted({str(v) for v in arm[bad]})[:_MAX_IDS]
            problems.append(f"column 'arm' must be one of {', '.join(ARMS)}; got {', '.join(map(repr, vals))} "
                            f"at {_ids(df, bad)}")
    if "enrolled_on" in df.columns:
        s = df["enrolled_on"]
        if not pd.api.types.is_datetime64_any_dtype(s):
            parsed = pd.to_datetime(s, errors="coerce", format="ISO8601")
            bad = (parsed.isna() & s.notna()).to_numpy() | s.isna().to_numpy()
        else:
            bad = s.isna().to_numpy()
        if bad.any():
            problems.append(f"column 'enrolled_on' must be a date (YYYY-MM-DD); {int(bad.sum())} value(s) are not, "
                            f"at {_ids(df, bad)}")
    absent = set(not_recorded(df))  # a covariate missing for everyone is "not recorded", not invalid
    for col in BINARY_COVARIATES:
        if col in df.columns and col not in absent:
            _check_binary(df, col, problems)
    for col, lo in (("age", 0), ("depression", 0), ("prior_treatments", 0)):
        if col in df.columns and col not in absent:
            s = df[col]
            if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
                problems.append(f"column {col!r} must be numeric; got type {s.dtype}")
                continue
            bad = (s.notna() & (s < lo)).to_numpy()  # missing is missing: NA is not a wrong value
            if bad.any():
                problems.append(f"column {col!r} must be a number >= {lo} (or missing); {int(bad.sum())} value(s) are not, "
                                f"at {_ids(df, bad)}")
    if "prior_treatments" in df.columns and pd.api.types.is_numeric_dtype(df["prior_treatments"]):
        s = df["prior_treatments"]
        bad = (s.notna() & (s != np.floor(s))).to_numpy()
        if bad.any():
            problems.append(f"column 'prior_treatments' must be whole numbers; at {_ids(df, bad)}")
    if "time" in df.columns:
        s = df["time"]
        if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
            problems.append(f"column 'time' must be whole days (integers >= 1); got type {s.dtype}")
        else:
            bad = (s.isna() | (s < 1) | ~np.isfinite(s.astype(float))).to_numpy()
            if bad.any():
                problems.append(f"column 'time' must be a finite number of days >= 1; {int(bad.sum())} value(s) are not "
                                f"(e.g. {_show(s[bad].iloc[0])}) at {_ids(df, bad)}")
            frac = (s.notna() & (s != np.floor(s))).to_numpy()
            if frac.any():
                problems.append(f"column 'time' must be whole days; {int(frac.sum())} value(s) are not, at {_ids(df, frac)}")
    known = None  # rows whose outcome is one of OUTCOMES (the others are reported above)
    if "outcome" in df.columns:
        oc = df["outcome"].astype("object")
        known = oc.isin(OUTCOMES).to_numpy()
        if not known.all():
            bad = ~known
            vals = sorted({str(v) for v in oc[bad]})[:_MAX_IDS]
            problems.append(f"column 'outcome' must be one of {', '.join(OUTCOMES)}; got {', '.join(map(repr, vals))} "
                            f"at {_ids(df, bad)}")
    if "event" in df.columns:
        n_before = len(problems)
        _check_binary(df, "event", problems)
        if known is not None and len(problems) == n_before:
            # rows with an unknown outcome are reported above; check the others all the same
            expected = (df["outcome"].astype("object") == "dropout").to_numpy()
            bad = known & (df["event"].to_numpy().astype(bool) != expected)
            if bad.any():
                problems.append(f"column 'event' must be 1 exactly when outcome is 'dropout'; "
                                f"{int(bad.sum())} row(s) disagree, at {_ids(df, bad)}")
    if problems:
        head = f"the cohort has {len(problems)} problem(s): " + "; ".join(problems)
        raise SchemaError(head, problems)
    return df


#: Widest table read (columns): programme exports have tens of columns; a far wider file is not one.
MAX_COLUMNS = 5_000
#: Text encodings tried, in order, for CSV files without ``encoding``.
ENCODINGS: tuple[str, ...] = ("utf-8", "cp1252")


def csv_header(path: Path, encoding: str | None) -> tuple[list[str], str]:
    """The header row's names and the encoding that reads the file's first megabyte."""
    import csv

    with open(path, "rb") as fh:
        head = fh.read(1 << 20)
    tried = (encoding,) if encoding else ENCODINGS
    for enc in tried:
        try:
            text = head.decode(enc)
        except UnicodeDecodeError as exc:
            if len(head) == 1 << 20 and exc.start >= len(head) - 4 and enc == "utf-8":  # a character cut at the megabyte boundary
                text = head[: exc.start].decode(enc)
            else:
                continue
        except LookupError:
            raise DataError(f"unknown text encoding {encoding!r} (e.g. utf-8, cp1252, latin-1)") from None
        first = next(csv.reader(io.StringIO(text.lstrip("\ufeff"))), [])
        return first, ("utf-8-sig" if enc == "utf-8" and text.startswith("\ufeff") else enc)
    raise DataError(f"cannot read {str(path)!r}: it is not {' or '.join(tried)} text; give its encoding "
                    "(--encoding latin-1, for example)")


def say_encoding(path: Path, used: str, given: str | None) -> None:
    if given is None and used not in ("utf-8", "utf-8-sig"):
        import warnings

        from peerstudy.exceptions import PeerstudyWarning

        warnings.warn(f"{str(path)!r} is not UTF-8 text; it was read as {used} (Windows-1252, a superset of "
                      "Latin-1): check accented names, or give the encoding", PeerstudyWarning, stacklevel=3)


def unique_header(names: list[str], path: Path) -> None:
    if len(names) > MAX_COLUMNS:
        raise DataError(f"{str(path)!r} has {len(names):,} columns; at most {MAX_COLUMNS:,} are read "
                        "(is this the right file?)")
    seen: dict[str, int] = {}
    for name in names:
        seen[name] = seen.get(name, 0) + 1
    twice = [f"{name!r} ({k} times)" for name, k in seen.items() if k > 1]
    if twice:
        raise DataError(f"{str(path)!r} has duplicate column names: {', '.join(twice[:5])}; every column needs "
                        "its own name")


def read_table(path: str | os.PathLike, *, columns: list[str] | None = None,
               encoding: str | None = None) -> pd.DataFrame:
    """Read a CSV or Parquet file as it is (no type coercion beyond the format's own).

    ``columns`` reads only those of the named columns that exist (absent ones are left out, so the
    caller can name them in its own error); reading fewer columns of a large file is much faster.
    A CSV is read as UTF-8 and, failing that, as Windows-1252 (a superset of Latin-1), unless
    ``encoding`` is given; the encoding used is in ``df.attrs["encoding"]``.

    Raises
    ------
    DataError
        The file is missing, unreadable, not .csv/.parquet, has duplicate column names or more than
        :data:`MAX_COLUMNS` columns.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file not found: {str(path)!r}")
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".txt"):
            header, enc = csv_header(path, encoding)
            unique_header(header, path)
            use = None if columns is None else [c for c in columns if c in header]
            df = pd.read_csv(path, usecols=use, encoding=enc)
            df.attrs["encoding"] = enc
            say_encoding(path, enc, encoding)
            return df
        if suffix in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            names = pq.read_schema(path).names
            unique_header(names, path)
            return pd.read_parquet(path, columns=None if columns is None else [c for c in columns if c in names])
    except DataError:
        raise
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"cannot read {str(path)!r}: {str(exc)[:200]}") from None
    except Exception as exc:  # pyarrow raises its own error types for corrupt files
        if type(exc).__module__.startswith("pyarrow"):
            raise DataError(f"cannot read {str(path)!r}: {str(exc)[:200]}") from None
        raise
    raise DataError(f"data file must be .csv or .parquet; got {str(path)!r}")


def _coerce(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    if "enrolled_on" in df.columns and not pd.api.types.is_datetime64_any_dtype(df["enrolled_on"]):
        parsed = pd.to_datetime(df["enrolled_on"], errors="coerce", format="ISO8601")
        if not (parsed.isna() & df["enrolled_on"].notna()).any():
            df["enrolled_on"] = parsed
    for col in ("site", "arm", "outcome"):
        if col in df.columns and df[col].dtype == object:
            df[col] = df[col].astype(str).where(df[col].notna())
    return df


def read_cohort(path: str | os.PathLike, *, validate: bool = True) -> pd.DataFrame:
    """Read a canonical cohort from CSV or Parquet and (by default) validate it.

    Raises
    ------
    DataError
        The file cannot be read.
    SchemaError
        The file is not a valid cohort; every problem is listed.
    """
    df = _coerce(read_table(path))
    if validate:
        validate_cohort(df)
    return df


def _iso_dates(s: pd.Series) -> pd.Categorical:
    """Dates as YYYY-MM-DD strings, formatting each distinct date once (fast for large cohorts)."""
    codes, uniques = pd.factorize(s)
    labels = np.datetime_as_string(uniques.to_numpy().astype("datetime64[D]"), unit="D")
    return pd.Categorical.from_codes(codes, categories=pd.Index(labels)) if len(labels) else pd.Categorical([])


def write_cohort(df: pd.DataFrame, path: str | os.PathLike, *, metadata: dict[str, str] | None = None) -> None:
    """Write a cohort atomically as CSV or Parquet (by the file's suffix).

    Dates are written as ``YYYY-MM-DD``. For Parquet, ``metadata`` (e.g. seed and scenario) is
    stored in the file's key-value metadata. The same frame always gives the same bytes.

    Raises
    ------
    DataError
        Unknown suffix, or the folder is missing or not writable.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise DataError(f"output must end in .csv or .parquet; got {str(path)!r}")
    with atomic_path(path) as tmp:
        if suffix == ".csv":
            out = df
            if "enrolled_on" in df.columns and pd.api.types.is_datetime64_any_dtype(df["enrolled_on"]):
                out = df.assign(enrolled_on=_iso_dates(df["enrolled_on"]))
            out.to_csv(tmp, index=False, lineterminator="\n")
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(df, preserve_index=False)
            if "enrolled_on" in df.columns and pd.api.types.is_datetime64_any_dtype(df["enrolled_on"]):
                i = table.schema.get_field_index("enrolled_on")
                table = table.set_column(i, "enrolled_on", table.column(i).cast(pa.date32()))
            if metadata:
                meta = dict(table.schema.metadata or {})
                meta.update({f"peerstudy.{k}".encode(): str(v).encode() for k, v in metadata.items()})
                table = table.replace_schema_metadata(meta)
            pq.write_table(table, tmp, compression="zstd")
