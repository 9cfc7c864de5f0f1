"""Problems found in an export, the validation report, and the CONSORT-style flow.
"""

from __future__ import annotations
import difflib
import html
import re
from dataclasses import dataclass
from typing import Any
import numpy as np
import pandas as pd

__all__ = ["Problem", "ValidationReport", "Built"]


SHOW = 5


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


def flow_html(flow: dict[str, Any]) -> str:
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
                f"{self.n_rows} rows)<ul>{items}</ul>{flow_html(self.flow)}</div>")


def rows_text(rows: np.ndarray) -> str:
    shown = ", ".join(str(int(r)) for r in rows[:SHOW])
    more = len(rows) - SHOW
    return f"row{'s' if len(rows) > 1 else ''} {shown}" + (f" and {more} more" if more > 0 else "")


class Checker:
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
                                     f"{text} at {rows_text(rows)}"))
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


def did_you_mean(name: str, options: list[str]) -> str:
    norm = {re.sub(r"[\s_\-]+", "", str(o).lower()): str(o) for o in options}
    hit = difflib.get_close_matches(re.sub(r"[\s_\-]+", "", name.lower()), list(norm), n=1, cutoff=0.6)
    return f" (did you mean {norm[hit[0]]!r}?)" if hit else ""


@dataclass(frozen=True)
class Built:
    """What a layout's builder (:func:`~peerstudy.data.programme.dates.build_dates`,
    :func:`~peerstudy.data.programme.teds.build_teds`) makes of an export.

    Attributes
    ----------
    checker : Checker
        Every problem found, with rows.
    columns : dict of str to numpy.ndarray, or None
        The canonical columns, one array per column over all rows (invalid rows are dropped later);
        None when a file-level problem (missing column, no rows) stops the build.
    intervals : pandas.DataFrame or None
        ``(time_lower, time_upper]`` retention intervals where the layout has its own (TEDS-D bands);
        None means they follow from ``time`` and ``outcome``.
    cutoff : str or None
        The data cut-off used (ISO date), for dated layouts.
    unavailable : tuple of str
        Covariates the export does not record.
    """

    checker: Checker
    columns: dict | None = None
    intervals: pd.DataFrame | None = None
    cutoff: str | None = None
    unavailable: tuple[str, ...] = ()
