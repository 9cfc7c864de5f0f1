"""The documentation builds with no Sphinx warning (as ``make docs`` does), and its generated pages are there."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

for _module in ("sphinx", "myst_parser", "numpydoc", "pydata_sphinx_theme"):
    pytest.importorskip(_module, reason="the documentation toolchain is not installed")


@pytest.fixture(scope="module")
def built(root, tmp_path_factory):
    out = tmp_path_factory.mktemp("docs") / "html"
    env = {**os.environ, "PYTHONWARNINGS": "ignore::DeprecationWarning"}
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", "docs", str(out)],
        cwd=root, capture_output=True, text=True, env=env, timeout=600, check=False,
    )
    warnings = [line for line in proc.stderr.splitlines() if "WARNING" in line or "ERROR" in line]
    assert proc.returncode == 0, "sphinx-build -W failed:\n" + ("\n".join(warnings) or proc.stderr[-4000:])
    return out


def test_docs_build_without_warnings(built):
    for page in ("index", "getting-started", "cli", "scenarios", "mapping", "analysis-guide", "evidence",
                 "architecture", "api"):
        assert (built / f"{page}.html").is_file(), page


def test_cli_reference_is_generated_from_the_parser(built):
    from peerstudy.cli import build_parser

    html = (built / "cli.html").read_text(encoding="utf-8")
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for verb, verb_parser in sub.choices.items():
        assert f"usage: peerstudy {verb}" in html, verb
        for action in verb_parser._actions:
            if action.__class__.__name__ == "_HelpAction":
                continue
            for option in action.option_strings:
                assert option in html, (verb, option)


def test_scenario_reference_lists_every_field(built):
    import dataclasses

    from peerstudy import scenario

    html = (built / "scenarios.html").read_text(encoding="utf-8")
    for cls in (scenario.Scenario, scenario.Covariates, scenario.BinaryCovariate, scenario.NumericCovariate,
                scenario.CountCovariate, scenario.Assignment, scenario.Contacts):
        for field in dataclasses.fields(cls):
            assert f">{field.name}<" in html, (cls.__name__, field.name)
    for name in scenario.PRESETS:
        assert f'id="preset-{name.replace("_", "-")}"' in html, name


def test_docs_speak_only_of_the_project(built):
    # the hand-written pages; architecture.md describes the package's history and is kept by its own authors
    for page in sorted(set(built.glob("*.html")) - {built / "architecture.html"}):
        text = page.read_text(encoding="utf-8")
        for word in ("EVIDENCE.md", "DESIGN.md", "shared/domain", "/work/"):
            assert word not in text, (page.name, word)


def test_api_reference_lists_every_front_door_function(root):
    import inspect

    import peerstudy as ps

    listed = (root / "docs" / "api.rst").read_text(encoding="utf-8")
    for name in ps.__all__:
        if inspect.isfunction(getattr(ps, name)):
            assert f"   peerstudy.{name}\n" in listed, f"peerstudy.{name} is missing from docs/api.rst"
