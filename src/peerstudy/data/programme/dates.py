"""Cohorts from dated exports: admission and discharge dates, reasons, arms, sites and covariates.
"""

from __future__ import annotations
from typing import Any
import numpy as np
import pandas as pd
from peerstudy.exceptions import DataError
from peerstudy.data.schema import ARMS, BINARY_COVARIATES, COVARIATES
from peerstudy.data.programme.checks import SHOW, Built, Checker, did_you_mean
from peerstudy.data.programme.mapping import BINARY_WORDS, norm



def lookup_codes(series: pd.Series, table: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Map values through a normalised table via their unique values: (mapped, unknown mask, unknown values)."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    keys = [norm(u) for u in uniques]
    mapped_u = np.array([table.get(k) for k in keys] + [None], dtype=object)
    mapped = mapped_u[codes]  # code -1 (missing) picks the trailing None
    unknown_u = np.array([table.get(k) is None for k in keys] + [False])
    unknown = unknown_u[codes]
    bad_vals = [str(u) for u, k in zip(uniques, keys) if table.get(k) is None]
    return mapped, unknown, bad_vals


#: Dates outside these bounds are typing errors (0001-01-01, 3000-01-01), not treatment episodes.
DATE_RANGE = (np.datetime64("1900-01-01", "D"), np.datetime64("2100-12-31", "D"))


def _plausible(dates: np.ndarray, column: str, ck: Checker) -> np.ndarray:
    """Flag dates outside :data:`DATE_RANGE` as row problems and blank them (so they set no cut-off)."""
    out = ~np.isnat(dates) & ((dates < DATE_RANGE[0]) | (dates > DATE_RANGE[1]))
    ck.row_problem("impossible date", column, out,
                   f"column {column!r} has dates outside {DATE_RANGE[0]} to {DATE_RANGE[1]}")
    return np.where(out, np.datetime64("NaT", "D"), dates)


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
    table = {**BINARY_WORDS, **{k: int(v) for k, v in table.items()}}
    mapped, unknown, _ = lookup_codes(series, table)
    missing = series.isna().to_numpy()
    out = np.where(unknown | missing, -1, mapped).astype(np.int64) if len(series) else np.zeros(0, np.int64)
    return out, unknown | missing


def build_dates(raw: pd.DataFrame, m: dict[str, Any], cutoff: Any, first_row: int) -> Built:
    """Check a dated export (admission and discharge dates, reasons) and derive the canonical columns.

    ``m`` is a checked mapping (:func:`~peerstudy.data.programme.mapping.load_mapping`), ``cutoff`` the data
    cut-off (None: the latest date in the file) and ``first_row`` the spreadsheet row of the first record.
    Returns a :class:`~peerstudy.data.programme.checks.Built` whose ``columns`` hold one array per canonical
    column over all rows (the checker says which rows to keep). Every check runs, so every problem is reported.
    """
    ck = Checker(len(raw), first_row)
    get = _columns(raw, m, ck)
    _check_ids_and_sites(get, m["columns"], ck)
    arm = _arm(get, m, ck)
    adm, dis, reason = _dates_and_reasons(get, m, ck)
    values, unavailable = _covariates(get, m, ck)
    if any(p.rule in ("missing column", "no rows") for p in ck.problems) or adm is None or dis is None \
            or reason is None:
        return Built(ck, unavailable=tuple(unavailable))
    cut = _cutoff(adm, dis, cutoff)
    if cut is None:
        return Built(ck, unavailable=tuple(unavailable))
    ck.exclude("admitted after the data cut-off", ~np.isnat(adm) & (adm > cut))
    frame = _derive(get, arm, adm, dis, reason, values, cut)
    if "coach_match" in get:
        frame["coach_match"] = _coach_match(get, m, ck)
    return Built(ck, columns=frame, cutoff=str(cut), unavailable=tuple(unavailable))


def _columns(raw: pd.DataFrame, m: dict[str, Any], ck: Checker) -> dict[str, pd.Series]:
    """The export's columns by canonical field; missing required columns and an empty file are problems."""
    cols, optional = m["columns"], set(m["optional"])
    file_cols = [str(c) for c in raw.columns]
    for f, c in cols.items():
        if c not in raw.columns and f not in optional and c not in optional:
            ck.file_problem("missing column", c, f"missing column {c!r} (for {f}){did_you_mean(str(c), file_cols)}")
    if len(raw) == 0:
        ck.file_problem("no rows", None, "the export has no rows")
    return {f: raw[c] for f, c in cols.items() if c in raw.columns}


def _check_ids_and_sites(get: dict[str, pd.Series], cols: dict[str, Any], ck: Checker) -> None:
    if "participant_id" in get:
        pid = get["participant_id"]
        c = cols["participant_id"]
        ck.row_problem("missing id", c, pid.isna().to_numpy(), f"column {c!r} has missing ids")
        dup = (pid.duplicated(keep=False) & pid.notna()).to_numpy()
        ck.row_problem("duplicate id", c, dup, f"column {c!r} has duplicate ids "
                       f"({', '.join(map(repr, pd.unique(pid[dup])[:SHOW].tolist()))})")
    if "site" in get:
        c = cols["site"]
        ck.row_problem("missing site", c, get["site"].isna().to_numpy(), f"column {c!r} has missing sites")


def _arm(get: dict[str, pd.Series], m: dict[str, Any], ck: Checker) -> np.ndarray | None:
    """Arms through the mapping's values; unknown or missing arms and a file with one arm are problems."""
    if "arm" not in get:
        return None
    c = m["columns"]["arm"]
    table = m["values"].get("arm") or {a: a for a in ARMS}
    arm, unknown, bad = lookup_codes(get["arm"], table)
    missing = get["arm"].isna().to_numpy()
    ck.row_problem("missing arm", c, missing, f"column {c!r} has missing values")
    if unknown.any():
        hint = "; ".join(f"{v!r}{did_you_mean(v, list(table))}" for v in bad[:SHOW])
        ck.row_problem("unknown arm", c, unknown, f"column {c!r} has unknown value(s) {hint} "
                       f"(known: {', '.join(table)})")
    levels = set(arm[~(unknown | missing)])
    if len(arm) and len(levels) < 2:
        ck.file_problem("one arm", c, f"column {c!r} has only one arm ({', '.join(sorted(levels)) or 'none'}); "
                        f"a comparison needs both {' and '.join(ARMS)}")
    return arm


def _dates_and_reasons(get: dict[str, pd.Series], m: dict[str, Any], ck: Checker
                       ) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """Admission and discharge dates and discharge reasons, with the checks that tie them together."""
    cols, fmt = m["columns"], m["date_format"]
    adm = dis = reason = None
    if "admitted_on" in get:
        c = cols["admitted_on"]
        adm, bad = _parse_dates(get["admitted_on"], fmt)
        ck.row_problem("missing admission date", c, get["admitted_on"].isna().to_numpy(),
                       f"column {c!r} (admission date) is empty")
        ck.row_problem("unparseable date", c, bad, f"column {c!r} has dates that do not parse as {fmt}")
        adm = _plausible(adm, c, ck)
    if "discharged_on" in get:
        c = cols["discharged_on"]
        dis, bad = _parse_dates(get["discharged_on"], fmt)
        ck.row_problem("unparseable date", c, bad, f"column {c!r} has dates that do not parse as {fmt}")
        dis = _plausible(dis, c, ck)
    if "reason" in get:
        c = cols["reason"]
        reason, unknown, bad = lookup_codes(get["reason"], m["reasons"])
        if unknown.any():
            hint = "; ".join(f"{v!r}{did_you_mean(v, m['reason_labels'])}" for v in bad[:SHOW])
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
    return adm, dis, reason


def _covariates(get: dict[str, pd.Series], m: dict[str, Any], ck: Checker) -> tuple[dict[str, np.ndarray], list[str]]:
    """Covariate values by field (binary through the mapping's values, numbers range-checked), and the
    fields the export does not record."""
    values: dict[str, np.ndarray] = {}
    unavailable = [f for f in ("arm",) if f not in m["columns"]]
    for f in COVARIATES:
        if f not in get:
            unavailable.append(f)
            continue
        c, s = m["columns"][f], get[f]
        if f in BINARY_COVARIATES:
            v, bad = _binary(s, m["values"].get(f, {}))
            ck.row_problem("invalid value", c, bad & s.notna().to_numpy(),
                           f"column {c!r} ({f}) must be 0/1 or a value in the mapping")
            ck.row_problem("missing value", c, s.isna().to_numpy(), f"column {c!r} ({f}) has missing values")
            values[f] = v
            continue
        values[f] = _number(f, c, s, m, ck)
    return values, unavailable


def _coach_match(get: dict[str, pd.Series], m: dict[str, Any], ck: Checker) -> np.ndarray:
    """0/1 coach-client matches (through ``values.coach_match``), None where missing; other values are problems."""
    c, s = m["columns"]["coach_match"], get["coach_match"]
    v, bad = _binary(s, m["values"].get("coach_match", {}))
    given = s.notna().to_numpy()
    ck.row_problem("invalid value", c, bad & given, f"column {c!r} (coach_match) must be 0/1, empty or a value in "
                   "the mapping")
    if "coach" in get:
        ck.row_problem("match without coach", c, given & get["coach"].isna().to_numpy(),
                       f"column {c!r} (coach_match) is given where {m['columns']['coach']!r} (coach) is empty")
    return np.where(bad, None, v).astype(object)


def _number(f: str, c: Any, s: pd.Series, m: dict[str, Any], ck: Checker) -> np.ndarray:
    if f in m["values"]:
        mapped, unknown, _ = lookup_codes(s, m["values"][f])
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
    return num


def _cutoff(adm: np.ndarray, dis: np.ndarray, cutoff: Any) -> np.datetime64 | None:
    """The data cut-off: the one given, else the latest admission or discharge date in the file."""
    if cutoff is None:
        all_dates = np.concatenate([adm[~np.isnat(adm)], dis[~np.isnat(dis)]])
        return all_dates.max() if len(all_dates) else None
    try:
        return np.datetime64(pd.Timestamp(cutoff).date(), "D")
    except (ValueError, TypeError):
        raise DataError(f"cutoff must be a date YYYY-MM-DD; got {cutoff!r}") from None


def _derive(get: dict[str, pd.Series], arm: np.ndarray, adm: np.ndarray, dis: np.ndarray, reason: np.ndarray,
            values: dict[str, np.ndarray], cut: np.datetime64) -> dict[str, np.ndarray]:
    """Days in treatment (both ends counted) and endings, to the cut-off; invalid rows are masked out later."""
    n = len(adm)
    ended = ~np.isnat(dis) & (dis <= cut)
    end = np.where(ended, dis, cut)
    with np.errstate(invalid="ignore"):
        days = (end - adm).astype("timedelta64[D]").astype(float) + 1
    frame = {
        "participant_id": get["participant_id"].to_numpy(),
        "site": get["site"].to_numpy(dtype=object),
        "arm": arm,
        "enrolled_on": adm.astype("datetime64[s]"),
        # a covariate the export does not record is missing for everyone (NaN), never a made-up 0
        **{f: values.get(f, np.full(n, np.nan)) for f in COVARIATES},
        "time": days,
        "outcome": np.where(ended, reason, "retained").astype(object),
    }
    if "coach" in get:
        frame["coach"] = get["coach"].to_numpy(dtype=object)
    return frame
