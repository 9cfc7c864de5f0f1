"""Sphinx configuration of the peerstudy documentation (``make docs``)."""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
# document the package beside these docs (the source tree), whatever peerstudy is installed elsewhere
sys.path.insert(0, str(DOCS.parent / "src"))
sys.path.insert(0, str(DOCS / "_ext"))

import peerstudy

project = "peerstudy"
author = "peerstudy developers"
copyright = "peerstudy developers, MIT licence"
release = peerstudy.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "myst_parser",
    "peerstudy_docs",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
templates_path = ["_templates"]

# Markdown (MyST)
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# API reference
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"members": True}
autodoc_typehints = "none"  # numpydoc sections carry the types
autodoc_member_order = "bysource"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False



def _autosummary_warns_not_crashes() -> None:
    """Sphinx 9's stub generator crashes (instead of warning) on a name whose parent module cannot be imported
    either: ``import_ivar_by_name`` re-raises an ``ImportExceptionGroup`` that ``generate_autosummary_docs``
    does not catch. Turn it into the ``ImportError`` it expects, so a wrong name in ``api.rst`` is reported as
    an ordinary "[autosummary] failed to import" warning (which ``-W`` still makes fatal)."""
    from sphinx.ext.autosummary import ImportExceptionGroup, generate

    original = generate.import_ivar_by_name

    def import_ivar_by_name(*args, **kwargs):
        try:
            return original(*args, **kwargs)
        except ImportExceptionGroup as exc:
            raise ImportError(str(exc)) from exc

    generate.import_ivar_by_name = import_ivar_by_name


_autosummary_warns_not_crashes()

# HTML
html_theme = "pydata_sphinx_theme"
html_title = f"peerstudy {release}"
html_static_path = ["_static"]
html_css_files = ["peerstudy.css"]
html_show_sourcelink = False
html_theme_options = {
    "navigation_with_keys": False,
    "header_links_before_dropdown": 6,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": [],
}
html_sidebars = {"**": []}
smartquotes_action = "qe"  # keep "--option" as two hyphens (no en dash) in generated option tables
