"""The privacy audit of a report folder: can a count from 1 to 10, an id or an exact date be read or worked out?

:func:`audit_report` reads every file of a report (the HTML pages' text, tables and image descriptions, the
JSON documents, CSV tables, executed notebooks and SVG figures) and lists each *finding*: the file, the place in
it (the notebook cell of a page, the key path of a JSON document, the row and column of a CSV table) and what
was found. A report of real data (``peerstudy report --data``) runs it on itself before it is moved into place
and is not written if anything is found; ``peerstudy audit REPORT_DIR`` runs it on any report folder.

What counts as a finding
------------------------
* **small count**: a whole number from 1 to 10 where a count of people is shown: under a count key of a JSON
  document (:data:`peerstudy.present.privacy.COUNT_KEYS`), in a count column of a CSV or HTML table (``people``,
  ``dropouts``, ``n``, ``n_event`` ...), as ``k (p%)`` in a table cell, or in text as "6 people", "6 event(s)",
  "n = 6", "events = 6", "6 were excluded".
* **derivable difference**: two published counts whose difference is from 1 to 10 and is itself a count: the
  records received and the people analysed, a group's people and its dropouts (``n`` and ``events`` /
  ``observed``), a table line with a known total and exactly one hidden cell.
* **full-precision share**: a share (survival, cumulative incidence, retention) given to more than 2 decimals in
  a JSON document: 0.7647058823529411 is 13/17.
* **participant id**: a column or key named for participant ids, or (when the data's ids are given) any of them
  that can be told from a number (with a letter, or of 6 or more digits).
* **exact date**: a calendar date (``YYYY-MM-DD``) outside a time stamp of the report's own making.
* **kept output**: an executed notebook of a private report that still holds outputs (object reprs, arrays).

The checks look for how peerstudy's pages write numbers; they are a safety net behind the suppression of
:mod:`peerstudy.present.privacy`, not a proof that no combination of published numbers can be solved.

Examples
--------
>>> import json, pathlib, tempfile
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "results.json").write_text(json.dumps({"flow": {"received": 60, "analysed": 54}}))
>>> print(audit_report(d).findings[0])
results.json, flow: derivable difference: received 60 - analysed 54 = 6
"""

from __future__ import annotations

import csv
import html
import io
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from peerstudy.exceptions import DataError
from peerstudy.present.privacy import COUNT_KEYS, SHARE_KEYS, THRESHOLD

__all__ = ["Finding", "AuditResult", "audit_report"]

#: Table column headers (lower case) whose cells are counts of people.
COUNT_HEADERS: frozenset[str] = frozenset({
    "n", "people", "dropouts", "events", "n_event", "n_risk", "n_censor", "n_ending", "at risk", "number at risk",
    "observed dropouts", "records", "count", "records with this problem", "excluded for this reason", "all",
    "total", "participants", "usual care", "peer coach", "usual_care", "peer", "observed"})
#: Pairs (total, part) of keys in one JSON mapping whose difference is a count.
LINKED_KEYS: tuple[tuple[str, str], ...] = (("received", "analysed"), ("n", "events"), ("n", "observed"),
                                           ("n", "dropouts"))
#: Column or key names that hold participant ids.
ID_NAMES: frozenset[str] = frozenset({"participant_id", "participant id", "client id", "client_id", "patient_id",
                                      "record_id", "person_id"})
_COUNT_WORDS = (r"people|persons?|participants?|records?|dropouts?|drop-outs?|events?|event\(s\)|deaths?|"
                r"rows?|row\(s\)|endings?|incarcerations?|were excluded|was excluded|excluded|analysed|"
                r"had dropped out|still in treatment|with a peer coach|with usual care")
_TEXT_COUNT = re.compile(rf"(?<![\w.,$<\-])(\d{{1,2}})\s+(?:{_COUNT_WORDS})\b", re.IGNORECASE)
_N_EQUALS = re.compile(r"\b(?:n|events|dropouts|people|observed|at risk)\s*[=:]\s*(\d{1,2})(?![\d.,])", re.IGNORECASE)
_CELL_COUNT = re.compile(r"^\s*(\d{1,3}(?:,\d{3})*)\s*\(\s*\d+(?:\.\d+)?\s*%\s*\)\s*$")
_DATE = re.compile(r"(?<![\d-])(?:19|20|21)\d{2}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])(?![\dT:])")
_RECEIVED = re.compile(r"(\d[\d,]*)\s+records?\s+received", re.IGNORECASE)
_ANALYSED = re.compile(r"(\d[\d,]*)\s+(?:people|participants|records)\s+(?:were\s+)?analysed", re.IGNORECASE)
_HIDDEN = ("<11", "suppressed", "--")
#: Table rows whose numbers are not counts of people (table 1's sites, means and medians; days; ratios).
_NOT_PEOPLE = re.compile(r"\b(sites?|mean|median|sd|iqr|score|age|days?|hazard|ratio|test|p)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Finding:
    """One thing a report must not show: the file, where in it, what kind of disclosure and what was seen."""

    file: str
    cell: str
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"{self.file}, {self.cell}: {self.kind}: {self.detail}"

    def to_dict(self) -> dict[str, str]:
        return {"file": self.file, "cell": self.cell, "kind": self.kind, "detail": self.detail}


@dataclass(frozen=True)
class AuditResult:
    """The findings of :func:`audit_report` over the files it read."""

    path: str
    files: tuple[str, ...]
    findings: tuple[Finding, ...] = field(default=())

    @property
    def passed(self) -> bool:
        """True when nothing was found."""
        return not self.findings

    def summary(self, limit: int = 3) -> str:
        """One line: the number of findings and the first ``limit`` of them."""
        if self.passed:
            return f"privacy audit passed: {len(self.files)} file(s) checked, nothing found"
        shown = "; ".join(str(f) for f in self.findings[:limit])
        more = f"; and {len(self.findings) - limit} more" if len(self.findings) > limit else ""
        return f"{len(self.findings)} finding(s): {shown}{more}"

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "passed": self.passed, "files": list(self.files),
                "findings": [f.to_dict() for f in self.findings]}

    def __str__(self) -> str:
        lines = [self.summary(limit=0).split(":")[0] if not self.passed else self.summary()]
        lines += [f"  - {f}" for f in self.findings]
        return "\n".join(lines)


def _number(text: str) -> int | None:
    m = re.match(r"^\s*(\d{1,3}(?:,\d{3})*|\d+)\s*(?:\(|$)", text)
    return int(m.group(1).replace(",", "")) if m else None


class _Audit:
    def __init__(self, root: Path, threshold: int, ids: frozenset[str], private: bool):
        self.root = root
        self.threshold = threshold
        self.ids = ids
        self.private = private
        self.findings: list[Finding] = []

    def add(self, file: Path, cell: str, kind: str, detail: str) -> None:
        self.findings.append(Finding(str(file.relative_to(self.root)), cell, kind, detail[:160]))

    # --- text ------------------------------------------------------------------------------------------
    def text(self, file: Path, cell: str, text: str) -> None:
        for m in _TEXT_COUNT.finditer(text):
            if 1 <= int(m.group(1)) < self.threshold:
                self.add(file, cell, "small count", f"'{_around(text, m)}'")
        for m in _N_EQUALS.finditer(text):
            if 1 <= int(m.group(1)) < self.threshold:
                self.add(file, cell, "small count", f"'{_around(text, m)}'")
        rec, ana = _RECEIVED.search(text), _ANALYSED.search(text)
        if rec and ana:
            r, a = int(rec.group(1).replace(",", "")), int(ana.group(1).replace(",", ""))
            if 1 <= r - a < self.threshold:
                self.add(file, cell, "derivable difference", f"{r} received - {a} analysed = {r - a}")
        for m in _DATE.finditer(text):
            self.add(file, cell, "exact date", f"'{_around(text, m)}'")
        if self.ids:
            for word in set(re.findall(r"[\w-]+", text)):
                if word in self.ids:
                    self.add(file, cell, "participant id", f"id {word!r}")

    # --- tables ----------------------------------------------------------------------------------------
    def table(self, file: Path, cell: str, header: list[str], rows: list[list[str]]) -> None:
        head = [h.strip().lower() for h in header]
        for j, h in enumerate(head):
            if h in ID_NAMES:
                self.add(file, cell, "participant id", f"a column {header[j]!r}")
        for i, row in enumerate(rows):
            label = row[0].strip() if row else ""
            if _NOT_PEOPLE.search(label):  # sites, means, medians, days: not counts of people
                continue
            for j, value in enumerate(row):
                v = value.strip()
                name = head[j] if j < len(head) else ""
                where = f"row {label or i + 1!r}, column {header[j] if j < len(header) else j!r}"
                m = _CELL_COUNT.match(v)
                if m and 1 <= int(m.group(1).replace(",", "")) < self.threshold:
                    self.add(file, cell, "small count", f"{where}: {v!r}")
                elif name in COUNT_HEADERS and re.fullmatch(r"\d+(\.0)?", v) and 1 <= float(v) < self.threshold:
                    self.add(file, cell, "small count", f"{where}: {v!r}")
                if _DATE.search(v):
                    self.add(file, cell, "exact date", f"{where}: {v!r}")
                if self.ids and v in self.ids:
                    self.add(file, cell, "participant id", f"{where}")
        self._totals(file, cell, header, rows)

    def _totals(self, file: Path, cell: str, header: list[str], rows: list[list[str]]) -> None:
        """A line with a visible total and exactly one hidden cell gives the hidden one back."""
        head = [h.strip().lower() for h in header]
        tot_col = next((j for j, h in enumerate(head) if h in ("all", "total")), None)
        if tot_col is None:
            return
        for row in rows:
            if len(row) <= tot_col or row[0].strip().lower() in ("total", "all"):
                continue
            total = _number(row[tot_col])
            cells = [c.strip() for j, c in enumerate(row) if 0 < j != tot_col]
            hidden = [c for c in cells if c in _HIDDEN]
            shown = [_number(c) for c in cells if c not in _HIDDEN]
            if total is not None and len(hidden) == 1 and all(x is not None for x in shown):
                gap = total - sum(shown)  # type: ignore[arg-type]
                if 1 <= gap < self.threshold:
                    self.add(file, cell, "derivable difference",
                             f"row {row[0].strip()!r}: total {total} minus the shown cells = {gap}")

    # --- files -----------------------------------------------------------------------------------------
    def html_file(self, file: Path) -> None:
        body = file.read_text(encoding="utf-8", errors="replace")
        parts = re.split(r'(?=<div[^>]*class="[^"]*\bjp-Cell\b)', body)
        cells = parts[1:] if len(parts) > 1 else parts
        for k, chunk in enumerate(cells):
            name = f"cell {k}" if len(parts) > 1 else "page"
            chunk = re.sub(r"<(script|style)\b.*?</\1>", " ", chunk, flags=re.S | re.I)
            chunk = re.sub(r'src="data:[^"]*"', "", chunk)
            for t in re.findall(r"<table\b.*?</table>", chunk, flags=re.S | re.I):
                header, rows = _html_table(t)
                self.table(file, name, header, rows)
            alts = " ".join(html.unescape(a) for a in re.findall(r'\balt="([^"]*)"', chunk))
            no_tables = re.sub(r"<table\b.*?</table>", " ", chunk, flags=re.S | re.I)
            plain = html.unescape(re.sub(r"<[^>]+>", " ", no_tables))
            self.text(file, name, re.sub(r"\s+", " ", plain + " " + alts))

    def json_file(self, file: Path) -> None:
        try:
            doc = json.loads(file.read_text(encoding="utf-8"))
        except ValueError:
            self.add(file, "file", "unreadable", "not valid JSON")
            return
        self._walk(file, doc, [], False)

    def _walk(self, file: Path, v: Any, path: list[str], counted: bool) -> None:
        where = ".".join(path) or "top"
        key = path[-1] if path else ""
        if isinstance(v, Mapping):
            for total, part in LINKED_KEYS:
                a, b = _count_value(v.get(total)), _count_value(v.get(part))
                if a is not None and b is not None and 1 <= a - b < self.threshold:
                    self.add(file, where, "derivable difference", f"{total} {a:g} - {part} {b:g} = {a - b:g}")
            for k, x in v.items():
                if str(k).lower() in ID_NAMES and x not in (None, [], ""):
                    self.add(file, f"{where}.{k}", "participant id", f"key {k!r}")
                self._walk(file, x, [*path, str(k)], counted or k in COUNT_KEYS)
            return
        if isinstance(v, list):
            if key == "rows" and v and all(isinstance(x, int) for x in v):
                self.add(file, where, "row numbers", f"{len(v)} row number(s) of the data")
                return
            for i, x in enumerate(v):
                self._walk(file, x, [*path, str(i)], counted)
            return
        c = _count_value(v) if counted else None
        if c is not None and 1 <= c < self.threshold and key not in ("threshold",):
            self.add(file, where, "small count", f"{key} = {v}")
        elif key in SHARE_KEYS or (len(path) > 1 and path[-2] in SHARE_KEYS):
            if isinstance(v, float) and not isinstance(v, bool) and round(v, 2) != v:
                self.add(file, where, "full-precision share", f"{v!r}")
        if isinstance(v, str):
            if key != "created":
                for m in _DATE.finditer(v):
                    self.add(file, where, "exact date", f"'{_around(v, m)}'")
            if key in ("summary", "error", "message", "cell_source", "notes") or path[:1] == ["notes"]:
                self.text(file, where, v)
            if self.ids and v in self.ids:
                self.add(file, where, "participant id", "a value that is an id of the data")

    def csv_file(self, file: Path) -> None:
        text = file.read_text(encoding="utf-8", errors="replace")
        rows = list(csv.reader(io.StringIO(text)))
        if not rows:
            return
        header, body = rows[0], rows[1:]
        head = [h.strip().lower() for h in header]
        for j, h in enumerate(head):
            if h in ID_NAMES:
                self.add(file, f"column {header[j]!r}", "participant id", "a column of ids")
        for i, row in enumerate(body, start=2):
            for j, value in enumerate(row):
                v = value.strip()
                name = head[j] if j < len(head) else ""
                if name in COUNT_HEADERS | COUNT_KEYS and re.fullmatch(r"\d+(\.0+)?", v) and 1 <= float(v) < self.threshold:
                    self.add(file, f"row {i}, column {header[j]!r}", "small count", f"{v}")
                if _DATE.search(v):
                    self.add(file, f"row {i}, column {header[j] if j < len(header) else j!r}", "exact date", v)

    def notebook_file(self, file: Path) -> None:
        try:
            nb = json.loads(file.read_text(encoding="utf-8"))
        except ValueError:
            self.add(file, "file", "unreadable", "not a valid notebook")
            return
        for k, c in enumerate(nb.get("cells", [])):
            outs = c.get("outputs") or []
            if outs and self.private:
                self.add(file, f"cell {k}", "kept output", f"{len(outs)} output(s) kept in a private report")
            for o in outs:
                for text in _output_texts(o):
                    self.text(file, f"cell {k}", text)

    def svg_file(self, file: Path) -> None:
        body = file.read_text(encoding="utf-8", errors="replace")
        texts = re.findall(r"<(?:title|desc|text)\b[^>]*>(.*?)</(?:title|desc|text)>", body, flags=re.S)
        self.text(file, "figure", html.unescape(re.sub(r"<[^>]+>", " ", " ".join(texts))))


def _around(text: str, m: "re.Match[str]", width: int = 30) -> str:
    return re.sub(r"\s+", " ", text[max(0, m.start() - width): m.end() + width]).strip()


def _html_table(t: str) -> tuple[list[str], list[list[str]]]:
    def cells(row: str) -> list[str]:
        found = re.findall(r"<t[hd]\b[^>]*>(.*?)</t[hd]>", row, flags=re.S | re.I)
        return [html.unescape(re.sub(r"<[^>]+>", " ", c)).strip() for c in found]

    rows = [cells(r) for r in re.findall(r"<tr\b.*?</tr>", t, flags=re.S | re.I)]
    rows = [r for r in rows if r]
    if not rows:
        return [], []
    return rows[0], rows[1:]


def _output_texts(out: Mapping[str, Any]) -> Iterable[str]:
    if "text" in out:
        yield "".join(out["text"]) if isinstance(out["text"], list) else str(out["text"])
    for mime, v in (out.get("data") or {}).items():
        if mime.startswith("text/"):
            yield "".join(v) if isinstance(v, list) else str(v)


def _id_like(text: str) -> bool:
    """Ids worth looking for: with a letter, or of 6 or more digits (1, 2, 3 ... cannot be told from numbers)."""
    return bool(re.search(r"[A-Za-z]", text)) or len(re.sub(r"\D", "", text)) >= 6


def _count_value(v: Any) -> float | None:
    """A count as a number: a whole number, or text that is one ("54", "1,204"); else None."""
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)) and float(v).is_integer():
        return float(v)
    if isinstance(v, str) and re.fullmatch(r"\d{1,3}(,\d{3})*|\d+", v.strip()):
        return float(v.replace(",", ""))
    return None


def audit_report(path: "str | os.PathLike", *, private: bool | None = None, ids: Iterable[Any] | None = None,
                 threshold: int = THRESHOLD) -> AuditResult:
    """Scan every file of a report folder for what a report of real data must not show.

    Parameters
    ----------
    path : path
        A report folder (``peerstudy report --out DIR``), or any folder of files.
    private : bool, optional
        Whether the report is of real data; then executed notebooks must hold no outputs. Default: what the
        folder's ``manifest.json`` says (``privacy.small_counts_suppressed``), else True.
    ids : iterable, optional
        The data's participant ids: any of them found in a file is a finding.
    threshold : int, default 11

    Returns
    -------
    AuditResult
        ``passed``, ``findings`` (file, cell, kind, detail) and the files read.

    Raises
    ------
    DataError
        ``path`` is not a folder.
    """
    root = Path(path)
    if not root.is_dir():
        raise DataError(f"report folder not found: {str(root)!r}")
    if private is None:
        private = True
        manifest = root / "manifest.json"
        if manifest.is_file():
            try:
                private = bool(json.loads(manifest.read_text(encoding="utf-8"))["privacy"]["small_counts_suppressed"])
            except (ValueError, KeyError, TypeError):
                private = True
    audit = _Audit(root, int(threshold), frozenset(str(i) for i in (list(ids) if ids is not None else ()) if _id_like(str(i))), bool(private))
    files: list[str] = []
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        suffix = file.suffix.lower()
        reader = {".html": audit.html_file, ".htm": audit.html_file, ".json": audit.json_file,
                  ".csv": audit.csv_file, ".ipynb": audit.notebook_file, ".svg": audit.svg_file}.get(suffix)
        if reader is None:
            continue  # PNG and PDF figures are checked through their descriptions in the pages
        files.append(str(file.relative_to(root)))
        reader(file)
    unique = tuple(dict.fromkeys(audit.findings))
    return AuditResult(path=str(root), files=tuple(files), findings=unique)
