"""Assembly of a report folder: HTML pages from executed notebooks and the index.

A page is written for people, not programmers (:func:`export_html`):

* **Notes, not stderr.** Warnings a notebook printed (stderr) become a plain-language "Notes" box at the top of
  the page: the warning's message only, without its category, source line or any file path.
* **Text, not monospace.** Lines a notebook printed (stdout) become paragraphs.
* **Tables for people.** Every table (pandas frames, stylers, result objects) is rewritten with
  :func:`peerstudy.present.wording.format_column`: labels instead of codes (``arm[peer]`` is "Peer coach vs usual
  care", ``ci_lower`` "95% CI from"), p-values as "<0.001", no 0-1-2 index, a dash for a missing value, yes/no for
  True/False, whole numbers with thousands separators.
* **How to run** shows the command that made this report (``command``), not a generic one.
* Figures carry their alt text (:func:`_with_alt_text`).
"""

from __future__ import annotations
import html
import re
from pathlib import Path
from typing import Any, Mapping, Sequence
from peerstudy.report.parameters import NotebookSpec

#: Style added to every page: readable tables, the Notes box, printed lines as text.
PAGE_CSS = """
table.ps-table { border-collapse: collapse; margin: .6rem 0 1rem; font-size: .9rem;
  font-variant-numeric: tabular-nums; border: none; }
.jp-RenderedHTMLCommon table.ps-table th, .jp-RenderedHTMLCommon table.ps-table td { padding: .3rem .7rem; border: none;
  border-bottom: 1px solid #e3e3e3; text-align: left; vertical-align: top; max-width: 28rem; white-space: normal; }
.jp-RenderedHTMLCommon table.ps-table .ps-num { text-align: right; }
.jp-RenderedHTMLCommon table.ps-table tbody th { text-align: left; font-weight: 600; }
.jp-RenderedHTMLCommon table.ps-table thead th { border-bottom: 2px solid #888; font-weight: 600; }
.jp-RenderedHTMLCommon table.ps-table tbody tr:nth-child(odd) { background: #fafafa; }
.jp-RenderedHTMLCommon table.ps-table caption { caption-side: top; text-align: left; font-weight: 600; padding-bottom: .3rem; }
.ps-notes { border: 1px solid #c9d7e8; background: #f3f7fb; border-radius: 6px; padding: .6rem 1rem; margin: 1rem 0; }
.ps-notes h2 { font-size: 1rem; margin: 0 0 .3rem; }
.ps-notes ul { margin: .2rem 0 0 1.2rem; padding: 0; }
p.ps-text { margin: .4rem 0; }
.jp-OutputArea-output img { max-width: 100%; height: auto; }
@media print { .jp-Cell { break-inside: avoid; } h2 { break-after: avoid; } }
"""


def export_html(ipynb: Path, *, show_code: bool, command: str | None = None) -> Path:
    """Write ``ipynb`` as a page for people beside it (``NAME.html``); ``command`` is the one that made it."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(ipynb, as_version=4)
    notes = clean_outputs(nb)
    _how_to_run(nb, command, ipynb.stem)
    _add_notes(nb, notes)
    exporter = HTMLExporter(template_name="lab", exclude_input=not show_code, exclude_input_prompt=True,
                            exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": ipynb.stem}})
    body = _with_alt_text(body, nb)
    body = strip_external_scripts(body.replace("</head>", f"<style>{PAGE_CSS}</style>\n</head>", 1))
    target = ipynb.with_suffix(".html")
    target.write_text(body, encoding="utf-8")
    return target


# --- outputs -------------------------------------------------------------------------------------------------

_WARNING_LINE = re.compile(r"^(?:.*?:\d+: )?(?:[A-Za-z_.]*Warning): (?P<msg>.*)$")
_PATH = re.compile(r"(?:[A-Za-z]:)?(?:[\\/][\w.\-@+~]+){2,}[\\/]?")


def plain_note(text: str) -> list[str]:
    """The messages of a stderr stream as notes: warnings' messages without category, source line or paths.

    >>> plain_note("/tmp/x/y.py:12: PeerstudyWarning: only 8 events\\n  warnings.warn(note)\\n")
    ['Only 8 events.']
    """
    notes: list[str] = []
    for line in text.splitlines():
        if not line.strip() or line.startswith((" ", "\t")):  # a warning's source line, indented
            continue
        m = _WARNING_LINE.match(line.strip())
        msg = m.group("msg") if m else line.strip()
        msg = _PATH.sub(lambda p: Path(p.group(0)).name or "a file", msg).strip()
        if msg:
            msg = msg[0].upper() + msg[1:]
            notes.append(msg if msg.endswith((".", "!", "?")) else msg + ".")
    return notes


def clean_outputs(nb: Any) -> list[str]:
    """Rewrite ``nb``'s outputs for people (in place) and return the notes taken from its stderr."""
    notes: list[str] = []
    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
        kept = []
        for out in cell.get("outputs", []):
            kind = out.get("output_type")
            if kind == "stream" and out.get("name") == "stderr":
                notes += [n for n in plain_note(out.get("text", "")) if n not in notes]
                continue
            if kind == "stream":
                lines = [ln for ln in out.get("text", "").splitlines() if ln.strip()]
                if lines:
                    kept.append(_html_output("".join(f'<p class="ps-text">{html.escape(_PATH.sub(_name, ln))}</p>'
                                                     for ln in lines)))
                continue
            data = out.get("data", {})
            if "text/html" in data and "<table" in "".join(data["text/html"]):
                data["text/html"] = people_tables("".join(data["text/html"]))
            kept.append(out)
        cell["outputs"] = kept
    return notes


def _name(match: "re.Match[str]") -> str:
    return Path(match.group(0)).name


def _html_output(text: str) -> Any:
    import nbformat

    return nbformat.v4.new_output("display_data", data={"text/html": text, "text/plain": ""})


def people_tables(fragment: str) -> str:
    """Every ``<table>`` of an HTML fragment formatted for people: labels, p-values, no range index, no NaN.

    >>> out = people_tables('<table class="dataframe"><thead><tr><th></th><th>tau</th><th>p</th></tr></thead>'
    ...                     '<tbody><tr><th>0</th><td>30.0</td><td>1.55e-05</td></tr></tbody></table>')
    >>> "Horizon (days)" in out and "&lt;0.001" in out and "<th>0</th>" not in out
    True
    """
    from bs4 import BeautifulSoup

    from peerstudy.present.wording import format_column, label

    soup = BeautifulSoup(fragment, "html.parser")
    for style in soup.find_all("style"):
        if "dataframe" in style.get_text():  # pandas' own table style: the page's replaces it
            style.decompose()
    for table in soup.find_all("table"):
        styled = str(table.get("id", "")).startswith("T_")  # a pandas Styler: its author formatted the numbers
        _drop_range_index(table)
        _merge_index_name_row(table)
        head = table.find("thead")
        header_rows = head.find_all("tr") if head else []
        headers: list[str] = []
        if header_rows:
            for th in header_rows[-1].find_all(["th", "td"]):
                text = th.get_text(strip=True)
                th.string = _header(label(text, header=True)) if text else ""
                headers.append(text)
            for row in header_rows[:-1]:
                for th in row.find_all(["th", "td"]):
                    text = th.get_text(strip=True)
                    th.string = _header(label(text, header=True)) if text else ""
        body_rows = [r for r in (table.find("tbody") or table).find_all("tr") if r.parent.name != "thead"]
        grid = [r.find_all(["th", "td"]) for r in body_rows]
        width = max((len(r) for r in grid), default=0)
        for j in range(width):
            col = [r[j] for r in grid if len(r) == width]
            if not col:
                continue
            header = headers[j] if j < len(headers) else ""
            texts = format_column([c.get_text(strip=True) for c in col], header, numbers=not styled)
            numeric = all(_is_number(t) for t in texts)
            for c, t in zip(col, texts):
                if c.find(True) is None:  # plain text cells only: links, images and markup stay as they are
                    c.string = t
                if numeric:
                    c["class"] = [*c.get("class", []), "ps-num"]
            if numeric and header_rows:
                cells = header_rows[-1].find_all(["th", "td"])
                if j < len(cells):
                    cells[j]["class"] = [*cells[j].get("class", []), "ps-num"]
        table["class"] = [*table.get("class", []), "ps-table"]
        if table.has_attr("border"):
            del table["border"]
    return str(soup)


def _header(text: str) -> str:
    """A column header starting with a capital ("hazard ratio" -> "Hazard ratio"); symbols (p, df) stay."""
    if len(text) > 2 and text[0].islower() and not text.startswith(("log ", "p ")):
        return text[0].upper() + text[1:]
    return text


def _is_number(text: str) -> bool:
    return bool(re.fullmatch(r"[<>−–-]?[\d,]*\.?\d+%?|–", text.strip()))


def _drop_range_index(table: Any) -> None:
    """Remove a 0, 1, 2, ... row index (pandas' default), which means nothing to a reader."""
    body = table.find("tbody")
    if body is None:
        return
    rows = body.find_all("tr", recursive=False)
    firsts = [r.find(["th", "td"]) for r in rows]
    if not rows or any(f is None or f.name != "th" for f in firsts):
        return
    if [f.get_text(strip=True) for f in firsts] != [str(i) for i in range(len(rows))]:
        return
    for f in firsts:
        f.decompose()
    head = table.find("thead")
    for row in head.find_all("tr") if head else []:
        first = row.find(["th", "td"])
        if first is not None and not first.get_text(strip=True):
            first.decompose()


def _merge_index_name_row(table: Any) -> None:
    """pandas writes an index's name in a second header row of its own; put it in the corner of the first."""
    head = table.find("thead")
    rows = head.find_all("tr") if head else []
    if len(rows) != 2:
        return
    cells = rows[1].find_all(["th", "td"])
    names = [c.get_text(strip=True) for c in cells]
    top = rows[0].find_all(["th", "td"])
    if not names or not names[0] or any(names[1:]) or not top or top[0].get_text(strip=True):
        return
    top[0].string = names[0]
    rows[1].decompose()


# --- page text -----------------------------------------------------------------------------------------------

def _how_to_run(nb: Any, command: str | None, name: str) -> None:
    """Replace the notebook's "How to run" paragraph with the command that made this report."""
    if not command:
        return
    for cell in nb.cells:
        if cell.get("cell_type") != "markdown" or "**How to run.**" not in cell.source:
            continue
        paras = cell.source.split("\n\n")
        for i, para in enumerate(paras):
            if para.lstrip().startswith("**How to run.**"):
                paras[i] = (f"**How to run.** This page was made by `{command}`. Change a parameter with "
                            f"`-p NAME=VALUE` (`peerstudy report --help` lists the options); on its own, run "
                            f"`papermill {name}.ipynb out.ipynb` or open the notebook in JupyterLab.")
        cell.source = "\n\n".join(paras)
        return


def _add_notes(nb: Any, notes: Sequence[str]) -> None:
    """A "Notes" box after the page's introduction, holding what the notebook warned about."""
    if not notes:
        return
    import nbformat

    items = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
    box = nbformat.v4.new_markdown_cell(f'<div class="ps-notes" role="note"><h2>Notes</h2><ul>{items}</ul></div>')
    at = next((i + 1 for i, c in enumerate(nb.cells) if c.get("cell_type") == "markdown"), 0)
    nb.cells.insert(at, box)


def _with_alt_text(body: str, nb: Any) -> str:
    """Give each figure its description: the ``alt`` a plot put in its output's metadata (the lab template
    writes a placeholder instead). Images are matched by their base64 data; a figure without one is described
    by its notebook's title."""
    import re

    alts: dict[str, str] = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data, meta = out.get("data", {}), out.get("metadata", {})
            png = data.get("image/png")
            alt = (meta.get("image/png") or {}).get("alt") if isinstance(meta.get("image/png"), dict) else None
            if png and alt:
                alts["".join(png).replace("\n", "")[:200]] = alt

    def fix(match: "re.Match[str]") -> str:
        tag = match.group(0)
        found = re.search(r'src="data:image/png;base64,([^"]+)"', tag)
        alt = alts.get(found.group(1).replace("\n", "")[:200]) if found else None
        if alt is None:
            return tag
        tag = re.sub(r'\salt="[^"]*"', "", tag)
        return tag.replace("<img", f'<img alt="{html.escape(alt, quote=True)}"', 1)

    return re.sub(r"<img\b[^>]*>", fix, body)


def index_html(specs: Sequence[NotebookSpec], statuses: Sequence[dict[str, Any]], results: Mapping[str, Any],
                manifest: Mapping[str, Any]) -> str:
    by_name = {st["name"]: st for st in statuses}
    items = []
    for s in specs:
        st = by_name[s.name]
        line = results.get(s.name, {}).get("summary", "")
        items.append(
            f'<li><a href="{html.escape(st["html"])}">{html.escape(s.title)}</a>'
            f'<p class="summary">{html.escape(line)}</p>'
            f'<p class="meta">{html.escape(s.name)} &middot; {st["seconds"]:.1f} s</p></li>')
    if manifest.get("data"):
        source = f"data file {html.escape(Path(manifest['data']['path']).name)} (SHA-256 {manifest['data']['sha256'][:12]}...)"
    else:
        sc = manifest["scenario"]
        source = f"simulated scenario {html.escape(sc['name'])}, seed {manifest['seed']}"
    git = manifest.get("git") or {}
    commit = f", peerstudy commit {git['commit'][:10]}{' (modified)' if git.get('dirty') else ''}" if git else ""
    privacy = ("Counts from 1 to 10 are shown as &lt;11, and numbers hidden so that they cannot be worked out from "
               "the others as &ldquo;suppressed&rdquo;; shares are shown only where they reveal no such count."
               if manifest["privacy"]["small_counts_suppressed"]
               else "Synthetic data: counts are shown as they are.")
    how = (f'<p class="meta">Made by <code>{html.escape(manifest["command"])}</code>.</p>'
           if manifest.get("command") else "")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>peerstudy report</title>
<style>body{{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;line-height:1.45}}
li{{margin-bottom:1.2rem}} .summary{{margin:.3rem 0}} .meta{{color:#666;font-size:.85rem;margin:0}}</style></head>
<body><h1>peerstudy report</h1>
<p>From {source}{commit}. Created {html.escape(manifest['created'])}. {privacy}</p>
<ul>{''.join(items)}</ul>
{how}<p class="meta">Numbers: <a href="results.json">results.json</a>. Provenance: <a href="manifest.json">manifest.json</a>.</p>
</body></html>
"""


# --- one file and a PDF ----------------------------------------------------------------------------------------

#: Formats a report can be written in besides its folder of pages (which is always made).
FORMATS = ("html", "figures", "single", "pdf")

_EXTERNAL_SCRIPT = re.compile(r'<script[^>]*\ssrc="https?://[^"]*"[^>]*>\s*</script>'
                              r'|<script\b[^>]*>(?:(?!</script>).)*?https?://cdn(?:(?!</script>).)*</script>', re.I | re.S)
_PRINT_CSS = """
@page { size: A4; margin: 14mm 12mm; }
.ps-page { break-before: page; }
.ps-index { font-family: system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.45; }
.ps-index li { margin-bottom: 1.2rem; } .ps-index .summary { margin: .3rem 0; }
.ps-index .meta { color: #666; font-size: .85rem; margin: 0; }
@media print { .jp-Notebook { padding: 0 !important; } img { break-inside: avoid; } }
"""


def check_formats(formats: Sequence[str] | str | None) -> tuple[str, ...]:
    """The formats asked for, checked: a comma-separated string or a sequence of :data:`FORMATS`.

    >>> check_formats("html,pdf")
    ('html', 'single', 'pdf')
    """
    from peerstudy.exceptions import ParameterError

    items = [f.strip().lower() for f in (formats.split(",") if isinstance(formats, str) else (formats or ["html"]))]
    bad = [f for f in items if f not in FORMATS]
    if bad or not items:
        raise ParameterError(f"--format must be a comma-separated list of {', '.join(FORMATS)}; got "
                             f"{','.join(items) if items else repr(formats)}")
    chosen = {"html", *items}
    if "pdf" in chosen:
        chosen.add("single")  # the PDF is printed from the one-file report
    return tuple(f for f in FORMATS if f in chosen)


def find_chromium() -> str:
    """The headless browser that prints PDFs: ``$PEERSTUDY_CHROMIUM``, else ``chromium`` on the PATH."""
    import os
    import shutil

    from peerstudy.exceptions import ParameterError

    for candidate in (os.environ.get("PEERSTUDY_CHROMIUM"), shutil.which("chromium"), shutil.which("chromium-browser"),
                      shutil.which("google-chrome"), "/usr/bin/chromium"):
        if candidate and Path(candidate).is_file():
            return candidate
    raise ParameterError("--format pdf needs Chromium (chromium on the PATH, or PEERSTUDY_CHROMIUM); none was found: "
                         "install it, or leave pdf out of --format")


def strip_external_scripts(page: str) -> str:
    """A page without the scripts nbconvert loads from the internet (require.js, MathJax): it opens offline."""
    return _EXTERNAL_SCRIPT.sub("", page)


def single_html(folder: Path, pages: Sequence[tuple[str, str]], index: str) -> str:
    """The whole report as one self-contained HTML file: the index, then each page (images are inline already).

    ``pages`` are ``(name, html file name)`` in the report's order; links of the index point within the file.
    """
    styles: list[str] = []
    sections: list[str] = []
    for i, (name, file) in enumerate(pages):
        text = (folder / file).read_text(encoding="utf-8")
        if i == 0:  # every page carries the same template style: once is enough
            styles = re.findall(r"<style[^>]*>.*?</style>", text.split("</head>", 1)[0], flags=re.S)
        body = re.search(r"<body([^>]*)>(.*)</body>", text, flags=re.S)
        attrs, inner = (body.group(1), body.group(2)) if body else ("", text)
        sections.append(f'<div class="ps-page" id="page-{html.escape(name)}"{attrs}>{inner}</div>')
    index_body = re.search(r"<body[^>]*>(.*)</body>", index, flags=re.S)
    index_inner = index_body.group(1) if index_body else index
    for _, file in pages:
        index_inner = index_inner.replace(f'href="{html.escape(file)}"', f'href="#page-{html.escape(Path(file).stem)}"')
    index_inner = re.sub(r'<p class="meta">Numbers:.*?</p>', "", index_inner, flags=re.S)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>peerstudy report</title>\n"
            + "\n".join(styles) + f"\n<style>{_PRINT_CSS}</style>\n</head>\n<body>\n"
            + f'<div class="ps-index">{index_inner}</div>\n' + "\n".join(sections) + "\n</body></html>\n")


def print_pdf(page: Path, target: Path, *, chromium: str | None = None, timeout: float = 120.0) -> Path:
    """Print ``page`` to ``target`` with headless Chromium (A4, no header or footer)."""
    import subprocess

    from peerstudy.exceptions import ReportError

    exe = chromium or find_chromium()
    args = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run", "--disable-sync", "--no-pdf-header-footer",
            f"--print-to-pdf={target}", page.resolve().as_uri()]
    try:
        done = subprocess.run(args, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise ReportError(f"Chromium did not print the PDF within {timeout:g} s") from None
    if done.returncode != 0 or not target.is_file() or target.stat().st_size == 0:
        last = (done.stderr.decode(errors="replace").strip().splitlines() or ["no message"])[-1]
        raise ReportError(f"Chromium could not print the PDF (exit {done.returncode}): {last}")
    return target
