"""HTML views of the survival results (their ``_repr_html_``), built from a few escaped pieces.

Every cell, caption and paragraph passes through :func:`html.escape`, so labels taken from the data
(arm names, sites, endings) are shown as text. Numbers are formatted by :func:`num` (``-`` for a
missing value); intervals are written ``lower – upper`` with an en dash.
"""

from __future__ import annotations

import html
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

__all__ = ["num", "html_table", "frame_table", "terms_html", "paragraph", "bullet_list"]

#: column label of each ratio kept in a term dictionary
_RATIO_LABEL = {"hr": "HR", "time_ratio": "time ratio"}


def num(value: Any, spec: str = ".3f", missing: str = "-") -> str:
    """``value`` formatted with ``spec``, or ``missing`` when it is ``None`` or NaN."""
    if value is None:
        return missing
    try:
        if np.isnan(value):
            return missing
    except TypeError:
        return str(value)
    return format(value, spec)


def html_table(header: Sequence[str], rows: Iterable[Sequence[Any]], *, caption: str | None = None,
               footer: str | None = None) -> str:
    """A ``<table>`` with a caption, a header row and body rows (every cell escaped), then a footer paragraph."""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return (f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
            + (paragraph(footer) if footer else ""))


def frame_table(frame: Any, *, caption: str | None = None, spec: str = ".3f", index: bool = False) -> str:
    """A pandas DataFrame as :func:`html_table`, floats formatted with ``spec``."""
    cols = [str(c) for c in frame.columns]
    header = ([str(frame.index.name or "")] if index else []) + cols
    rows = []
    for key, values in zip(frame.index, frame.itertuples(index=False)):
        cells = [num(v, spec) if isinstance(v, (float, np.floating)) else v for v in values]
        rows.append(([key] if index else []) + cells)
    return html_table(header, rows, caption=caption)


def terms_html(title: str, terms: Mapping[str, Mapping[str, float]], ratio: str = "hr", footer: str = "") -> str:
    """The table of a regression's term dictionary: coefficient, SE (robust when present), ratio, 95% CI, p."""
    rows = [(name, num(t["coef"], ".4f"), num(t.get("robust_se", t["se"]), ".4f"), num(t[ratio]),
             f"{num(t['ci_lower'])} – {num(t['ci_upper'])}", num(t["p"], ".3g")) for name, t in terms.items()]
    header = ("term", "coef", "SE", _RATIO_LABEL.get(ratio, ratio), "95% CI", "p")
    return html_table(header, rows, caption=title, footer=footer or None)


def paragraph(text: str, *, bold: bool = False) -> str:
    """``<p>text</p>`` (escaped), optionally in bold."""
    inner = html.escape(text)
    return f"<p><b>{inner}</b></p>" if bold else f"<p>{inner}</p>"


def bullet_list(items: Iterable[str]) -> str:
    """``<ul>`` of escaped items; empty string for no items."""
    lis = "".join(f"<li>{html.escape(str(i))}</li>" for i in items)
    return f"<ul>{lis}</ul>" if lis else ""
