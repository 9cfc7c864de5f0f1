"""Assembly of a report folder: HTML pages from executed notebooks and the index.
"""

from __future__ import annotations
import html
from pathlib import Path
from typing import Any, Mapping, Sequence
from peerstudy.report.parameters import NotebookSpec



def export_html(ipynb: Path, *, show_code: bool) -> Path:
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(ipynb, as_version=4)
    exporter = HTMLExporter(template_name="lab", exclude_input=not show_code, exclude_input_prompt=True,
                            exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": ipynb.stem}})
    body = _with_alt_text(body, nb)
    target = ipynb.with_suffix(".html")
    target.write_text(body, encoding="utf-8")
    return target


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
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>peerstudy report</title>
<style>body{{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;line-height:1.45}}
li{{margin-bottom:1.2rem}} .summary{{margin:.3rem 0}} .meta{{color:#666;font-size:.85rem;margin:0}}</style></head>
<body><h1>peerstudy report</h1>
<p>From {source}{commit}. Created {html.escape(manifest['created'])}. {privacy}</p>
<ul>{''.join(items)}</ul>
<p class="meta">Numbers: <a href="results.json">results.json</a>. Provenance: <a href="manifest.json">manifest.json</a>.</p>
</body></html>
"""
