"""TEDS-D, the public-use Treatment Episode Data Set - Discharges: layout, codebook and reader.

TEDS-D has one row per discharge from a state-reported substance-use treatment episode. It has no
dates: the length of stay ``LOS`` is coded 1-30 (days) and, beyond 30 days, in bands
(:data:`LOS_BANDS`). A stay known only to a band is *interval-censored*; :func:`teds_intervals`
turns ``LOS`` and ``REASON`` into the ``(time_lower, time_upper]`` retention interval used by
:mod:`peerstudy.survival.interval`:

* dropout (REASON 2 or 3 by default) on day ``d`` (LOS 1-30): ``(d - 1, d]``; in a band
  ``[a, b]``: ``(a - 1, b]``; in the open band (more than 365 days): right-censored at 365.
* any other ending on day ``d``: right-censored at ``d``; in a band ``[a, b]``: right-censored at
  the band's middle ``(a - 1 + b) / 2`` by default (``censor_at="middle"``), the life-table
  (actuarial) convention that withdrawals within a grouping interval happen on average halfway
  through it. ``censor_at="lower"`` (at ``a``, the least the stay is known to have lasted) and
  ``"upper"`` (at ``b``) bracket it.

Why it matters: when competing endings are themselves known only to a band, the dropout curve is
not identified within the band. Turnbull's NPMLE then puts each band's dropouts after its
withdrawals wherever it may, so at the band ends it equals the life table with withdrawals at the
band's start whatever ``censor_at`` inside the band (a conservative, lower curve); with
``censor_at="upper"`` it is the upper bound. The Weibull regression uses the censoring time as
given, and with the middle it recovers simulated truth (``tests/test_teds.py``). The NPMLE of
the time to leaving treatment for any reason (:func:`discharge_intervals`) has no such problem.

The codebook values (:data:`CODEBOOK`) follow the SAMHSA TEDS-D public-use file; ``-9`` is missing.
:func:`peerstudy.simulation.teds.simulate_teds` writes a synthetic file in the same layout and codes
from Weibull draws with known truth.
"""

from __future__ import annotations
from typing import Any
import numpy as np
import pandas as pd
import math
from peerstudy.data.programme.checks import SHOW, Built, Checker, did_you_mean
from peerstudy.data.programme.dates import lookup_codes

__all__ = ["MISSING", "LOS_BANDS", "AGE_BANDS", "STIMULANT_SUB1", "CODEBOOK", "TEDS_COLUMNS", "REQUIRED", "los_range", "teds_intervals", "discharge_intervals"]


MISSING = -9


#: LOS code -> (first day, last day) of the band; codes 1-30 are single days. ``inf`` = open band.
LOS_BANDS: dict[int, tuple[int, float]] = {31: (31, 45), 32: (46, 60), 33: (61, 90), 34: (91, 120),
                                           35: (121, 180), 36: (181, 365), 37: (366, math.inf)}


#: AGE code -> (lower, upper) years of the band and the midpoint used as the ``age`` covariate.
AGE_BANDS: dict[int, tuple[int, int | None, float]] = {
    1: (12, 14, 13.0), 2: (15, 17, 16.0), 3: (18, 20, 19.0), 4: (21, 24, 22.5), 5: (25, 29, 27.0),
    6: (30, 34, 32.0), 7: (35, 39, 37.0), 8: (40, 44, 42.0), 9: (45, 49, 47.0), 10: (50, 54, 52.0),
    11: (55, 64, 59.5), 12: (65, None, 70.0),
}


#: SUB1 codes counted as stimulant use.
STIMULANT_SUB1: tuple[int, ...] = (3, 10, 11, 12)


_STATES = {1: "Alabama", 2: "Alaska", 4: "Arizona", 5: "Arkansas", 6: "California", 8: "Colorado", 9: "Connecticut",
           10: "Delaware", 11: "District of Columbia", 12: "Florida", 13: "Georgia", 15: "Hawaii", 16: "Idaho",
           17: "Illinois", 18: "Indiana", 19: "Iowa", 20: "Kansas", 21: "Kentucky", 22: "Louisiana", 23: "Maine",
           24: "Maryland", 25: "Massachusetts", 26: "Michigan", 27: "Minnesota", 28: "Mississippi", 29: "Missouri",
           30: "Montana", 31: "Nebraska", 32: "Nevada", 33: "New Hampshire", 34: "New Jersey", 35: "New Mexico",
           36: "New York", 37: "North Carolina", 38: "North Dakota", 39: "Ohio", 40: "Oklahoma", 41: "Oregon",
           42: "Pennsylvania", 44: "Rhode Island", 45: "South Carolina", 46: "South Dakota", 47: "Tennessee",
           48: "Texas", 49: "Utah", 50: "Vermont", 51: "Virginia", 53: "Washington", 54: "West Virginia",
           55: "Wisconsin", 56: "Wyoming", 72: "Puerto Rico"}


#: column -> {code: label}: the value labels of the TEDS-D public-use codebook used here (-9 = missing).
CODEBOOK: dict[str, dict[int, str]] = {
    "REASON": {1: "Treatment completed", 2: "Dropped out of treatment", 3: "Terminated by facility",
               4: "Transferred to another treatment program or facility", 5: "Incarcerated", 6: "Death",
               7: "Other"},
    "LOS": {**{d: f"{d} day{'s' if d > 1 else ''}" for d in range(1, 31)},
            31: "31 to 45 days", 32: "46 to 60 days", 33: "61 to 90 days", 34: "91 to 120 days",
            35: "121 to 180 days", 36: "181 to 365 days", 37: "More than a year"},
    "SERVICES_D": {1: "Detox, 24-hour, hospital inpatient", 2: "Detox, 24-hour, free-standing residential",
                   3: "Rehab/residential, hospital (non-detox)", 4: "Rehab/residential, short term (30 days or fewer)",
                   5: "Rehab/residential, long term (more than 30 days)", 6: "Ambulatory, intensive outpatient",
                   7: "Ambulatory, non-intensive outpatient", 8: "Ambulatory, detoxification"},
    "SUB1": {1: "None", 2: "Alcohol", 3: "Cocaine/crack", 4: "Marijuana/hashish", 5: "Heroin",
             6: "Non-prescription methadone", 7: "Other opiates and synthetics", 8: "PCP", 9: "Hallucinogens",
             10: "Methamphetamine/speed", 11: "Other amphetamines", 12: "Other stimulants", 13: "Benzodiazepines",
             14: "Other tranquilizers", 15: "Barbiturates", 16: "Other sedatives or hypnotics", 17: "Inhalants",
             18: "Over-the-counter medications", 19: "Other drugs"},
    "AGE": {k: (f"{lo}-{hi} years" if hi is not None else f"{lo} years and older") for k, (lo, hi, _) in AGE_BANDS.items()},
    "GENDER": {1: "Male", 2: "Female"},
    "LIVARAG": {1: "Homeless", 2: "Dependent living", 3: "Independent living"},
    "EMPLOY": {1: "Full-time", 2: "Part-time", 3: "Unemployed", 4: "Not in labor force"},
    "PSOURCE": {1: "Individual (includes self-referral)", 2: "Alcohol/drug use care provider",
                3: "Other health care provider", 4: "School (educational)", 5: "Employer/EAP",
                6: "Other community referral", 7: "Court/criminal justice referral/DUI/DWI"},
    "IDU": {0: "IDU not reported", 1: "IDU reported"},
    "NOPRIOR": {0: "No prior treatment episodes", 1: "One or more prior treatment episodes"},
    "STFIPS": _STATES,
}


#: Columns of the synthetic file, in the public-use file's naming.
TEDS_COLUMNS: tuple[str, ...] = ("CASEID", "DISYR", "STFIPS", "AGE", "GENDER", "LIVARAG", "EMPLOY", "PSOURCE",
                                 "SUB1", "IDU", "NOPRIOR", "SERVICES_D", "REASON", "LOS")


#: Columns the reader needs; the others are optional (their covariate is then unavailable).
REQUIRED: tuple[str, ...] = ("LOS", "REASON", "STFIPS", "AGE")


def los_range(los: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and last day a LOS code allows (days 1-30 exact; bands; ``inf`` for the open band).

    Codes outside 1-37 give NaN.
    """
    los = np.asarray(los, dtype=float)
    first = np.full(los.shape, np.nan)
    last = np.full(los.shape, np.nan)
    day = (los >= 1) & (los <= 30) & (los == np.floor(los))
    first[day] = last[day] = los[day]
    for code, (a, b) in LOS_BANDS.items():
        m = los == code
        first[m], last[m] = a, b
    return first, last


def teds_intervals(los: np.ndarray, dropout: np.ndarray, *, censor_at: str = "middle") -> tuple[np.ndarray, np.ndarray]:
    """Dropout intervals ``(lower, upper]`` in days from LOS codes (see the module docstring).

    Parameters
    ----------
    los : array of int
        TEDS-D LOS codes (1-37).
    dropout : array of bool
        Whether the discharge ended in dropout (the event).
    censor_at : {"middle", "lower", "upper"}
        Where in its band a stay that ended otherwise than by dropout is right-censored.
    """
    if censor_at not in ("middle", "lower", "upper"):
        from peerstudy.exceptions import ParameterError

        raise ParameterError(f"censor_at must be 'middle', 'lower' or 'upper'; got {censor_at!r}")
    first, last = los_range(los)
    dropout = np.asarray(dropout, dtype=bool)
    band = (first != last) & np.isfinite(last)
    cens = {"lower": first, "upper": np.where(band, last, first),
            "middle": np.where(band, (first - 1 + last) / 2, first)}[censor_at]
    lower = np.where(dropout, first - 1, cens)
    upper = np.where(dropout, last, np.inf)
    return lower, upper


def discharge_intervals(los: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Intervals ``(lower, upper]`` of the time to leaving treatment for any reason (open band: > 365)."""
    first, last = los_range(los)
    return first - 1, last


def build_teds(raw: pd.DataFrame, m: dict[str, Any], first_row: int
                ) -> Built:
    """Check a TEDS-D file against the codebook and derive the canonical columns and banded intervals.

    Returns a :class:`~peerstudy.data.programme.checks.Built` with ``intervals`` from :func:`teds_intervals`.
    """
    n = len(raw)
    ck = Checker(n, first_row)
    file_cols = [str(c) for c in raw.columns]
    for c in REQUIRED:
        if c not in raw.columns:
            ck.file_problem("missing column", c, f"missing TEDS-D column {c!r}{did_you_mean(c, file_cols)}")
    if n == 0:
        ck.file_problem("no rows", None, "the export has no rows")
    if any(p.rule in ("missing column", "no rows") for p in ck.problems):
        return Built(ck)
    codes: dict[str, np.ndarray] = {}
    for c in [c for c in TEDS_COLUMNS if c in raw.columns and c not in ("CASEID", "DISYR")]:
        v = pd.to_numeric(raw[c], errors="coerce").to_numpy(float)
        allowed = np.array(list(CODEBOOK[c]) + [MISSING], dtype=float)
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
                            f"{did_you_mean(str(c), file_cols)}")
            continue
        keep = [keep] if not isinstance(keep, (list, tuple)) else keep
        ck.exclude(f"{c} not in {', '.join(map(str, keep))}", ~np.isin(codes[c], np.array(keep, float)))
    used = ["LOS", "REASON", "STFIPS", "AGE", "GENDER", "LIVARAG", "SUB1", "IDU", "EMPLOY", "NOPRIOR"]
    for c in used:
        if c in codes:
            ck.exclude(f"{c} missing (-9)", codes[c] == MISSING)
    if any(p.rule == "missing column" for p in ck.problems):
        return Built(ck)
    reason, unknown, bad = lookup_codes(pd.Series(codes["REASON"]), m["reasons"])
    unknown &= codes["REASON"] != MISSING
    ck.row_problem("unknown reason", "REASON", unknown & np.isin(codes["REASON"], list(CODEBOOK["REASON"])),
                   f"column 'REASON' has codes the mapping does not map ({', '.join(bad[:SHOW])})")
    first, last = los_range(codes["LOS"])
    outcome = np.where(pd.isna(reason), "lost_to_follow_up", reason).astype(object)
    dropout = outcome == "dropout"
    lower, upper = teds_intervals(codes["LOS"], dropout, censor_at=m["censor_at"])
    time = np.where(np.isfinite(last), last, first)
    time = np.where(np.isnan(time), 1, time)
    unavailable = ["arm", "enrolled_on", "depression"]

    def flag(c: str, cond: np.ndarray) -> np.ndarray:
        if c not in codes:
            unavailable.append({"GENDER": "female", "LIVARAG": "homeless", "SUB1": "stimulant_use", "IDU": "injects",
                                "EMPLOY": "unemployed", "NOPRIOR": "prior_treatments"}[c])
            return np.full(n, np.nan)  # not recorded: missing for everyone, never a made-up 0
        return cond.astype(np.int64)

    age_mid = {k: v[2] for k, v in AGE_BANDS.items()}
    year = pd.to_numeric(raw["DISYR"], errors="coerce") if "DISYR" in raw.columns else pd.Series(np.nan, index=raw.index)
    year = year.fillna(1970).clip(1900, 2200).astype(int)
    frame = {
        "participant_id": pid_values,
        "site": [CODEBOOK["STFIPS"].get(int(s), "missing") if s == s else "missing" for s in codes["STFIPS"]],
        "arm": np.full(n, "usual_care", dtype=object),
        "enrolled_on": pd.to_datetime(year.astype(str) + "-01-01").to_numpy().astype("datetime64[s]"),
        "age": np.array([age_mid.get(int(a), np.nan) if a == a else np.nan for a in codes["AGE"]]),
        "female": flag("GENDER", codes.get("GENDER", np.zeros(n)) == 2),
        "homeless": flag("LIVARAG", codes.get("LIVARAG", np.zeros(n)) == 1),
        "stimulant_use": flag("SUB1", np.isin(codes.get("SUB1", np.zeros(n)), STIMULANT_SUB1)),
        "injects": flag("IDU", codes.get("IDU", np.zeros(n)) == 1),
        "unemployed": flag("EMPLOY", codes.get("EMPLOY", np.zeros(n)) == 3),
        "depression": np.full(n, np.nan),  # TEDS-D has no depression score
        "prior_treatments": np.nan_to_num(codes["NOPRIOR"]).astype(np.int64) if "NOPRIOR" in codes
        else flag("NOPRIOR", np.zeros(n)),
        "time": time,
        "outcome": outcome,
    }
    intervals = pd.DataFrame({"time_lower": lower, "time_upper": upper})
    return Built(ck, columns=frame, intervals=intervals, unavailable=tuple(dict.fromkeys(unavailable)))
