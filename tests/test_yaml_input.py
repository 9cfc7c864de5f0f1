"""Hostile and careless YAML: scenario and mapping files, --set values. One line, exit 2, nothing written."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from peerstudy._yaml import MAX_BYTES, parse_yaml
from peerstudy.cli import main
from peerstudy.exceptions import ScenarioError, SchemaError

MESSY = Path(__file__).resolve().parents[1] / "data" / "synthetic" / "messy_export.csv"


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _run_cli(argv: list[str], folder: Path, capsys) -> tuple[int, str]:
    before = _snapshot(folder)
    code = main(argv)
    err = capsys.readouterr().err
    assert _snapshot(folder) == before, "the command changed files although it failed"
    return code, err


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert len(lines[0]) <= 500
    return lines[0]


BAD_SCENARIOS = {
    "alias.yaml": (b"base: outpatient_default\na: &x [1, 2]\nb: *x\n", "YAML anchors (&x) are not supported"),
    "bomb.yaml": (b"a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                  b"c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n",
                  "YAML anchors (&a) are not supported"),
    "dup.yaml": (b"n: 300\nn: 400\n", "line 2: key 'n' is given twice"),
    "deep.yaml": (b"[" * 50_000, "nesting deeper than 20 levels"),
    "latin1.yaml": ("description: Northg\u00e1te\n".encode("latin-1"), "is not UTF-8 text (byte 0xe1 at offset 19)"),
    "list.yaml": (b"- n\n- 300\n", "a scenario must be a mapping of field names to values; got list"),
    "date.yaml": (b"start_date: 2025-02-30\n", "start_date must be a real date written YYYY-MM-DD; got '2025-02-30'"),
    "month.yaml": (b"start_date: 2025-13-01\n", "start_date must be a real date written YYYY-MM-DD; got '2025-13-01'"),
    "nullcov.yaml": (b"base: outpatient_default\ncovariates: null\n", "covariates must be a mapping of its fields"),
}


@pytest.mark.parametrize("name", sorted(BAD_SCENARIOS))
def test_bad_scenario_files_get_one_line_and_exit_2(name, tmp_path, capsys):
    content, expected = BAD_SCENARIOS[name]
    path = tmp_path / name
    path.write_bytes(content)
    code, err = _run_cli(["simulate", "--scenario", str(path), "--n", "20", "--out", str(tmp_path / "c.csv")],
                         tmp_path, capsys)
    assert code == 2
    line = _one_line(err)
    assert expected in line and name in line


def test_utf16_scenario_with_bom_is_read(tmp_path):
    path = tmp_path / "utf16.yaml"
    path.write_bytes("base: null_effect\nn: 40\n".encode("utf-16"))
    assert main(["simulate", "--scenario", str(path), "--out", str(tmp_path / "c.csv")]) == 0
    assert (tmp_path / "c.csv").is_file()


def test_oversized_file_is_refused_before_parsing(tmp_path, capsys):
    path = tmp_path / "big.yaml"
    path.write_bytes(b"# " + b"x" * MAX_BYTES + b"\n")
    code, err = _run_cli(["simulate", "--scenario", str(path), "--out", str(tmp_path / "c.csv")], tmp_path, capsys)
    assert code == 2 and f"at most {MAX_BYTES:,} are read" in _one_line(err)


def test_alias_bomb_is_refused_quickly_and_small():
    """The 403-byte bomb that took 18 s and 1.8 GB is refused in a fresh process within a second and 200 MB."""
    bomb = "\n".join([f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9 if i else ["lol"] * 9) + "]"
                      for i in range(9)])
    code = ("import sys, time, resource\nfrom peerstudy._yaml import parse_yaml\nfrom peerstudy.exceptions import "
            "ScenarioError\nt = time.perf_counter()\ntry:\n    parse_yaml(sys.stdin.read(), where='x', error=ScenarioError)\n"
            "except ScenarioError as e:\n    print(len(str(e)), time.perf_counter() - t)\n")
    out = subprocess.run([sys.executable, "-c", code], input=bomb, capture_output=True, text=True, check=True,
                         preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (2 * 1024 ** 3, 2 * 1024 ** 3)))
    length, seconds = out.stdout.split()
    assert int(length) < 200 and float(seconds) < 1.0


def test_set_values_are_parsed_strictly(tmp_path, capsys):
    code, err = _run_cli(["simulate", "--scenario", "null_effect", "--set", "n=300", "--set", "n=400",
                          "--out", str(tmp_path / "c.csv")], tmp_path, capsys)
    assert code == 2 and "--set gives 'n' twice" in _one_line(err)
    with pytest.raises(ScenarioError, match="YAML anchors"):
        parse_yaml("&a [1]", where="--set x", error=ScenarioError)


@pytest.mark.parametrize("value, expected", [
    ("follow_up_days=100000", "follow_up_days must be a whole number from 1 to 3,653; got 100000"),
    ("weibull_shape=1.0e-9", "weibull_shape must be in [0.05, 20]; got 1e-09"),
    ("start_date=20250106", "start_date must be a real date written YYYY-MM-DD; got 20250106"),
    ("start_date=9999-12-01", "start_date must be a date in the years 1900-2100; got '9999-12-01'"),
    ("start_date=0001-01-01", "start_date must be a date in the years 1900-2100; got '0001-01-01'"),
    ("n=100000000", "n must be a whole number from 2 to 20,000,000; got 100000000"),
])
def test_unbounded_or_malformed_scenario_values(value, expected, tmp_path, capsys):
    code, err = _run_cli(["simulate", "--scenario", "outpatient_default", "--n", "20", "--set", value,
                          "--out", str(tmp_path / "c.csv")], tmp_path, capsys)
    assert code == 2
    line = _one_line(err)
    assert expected in line


def test_long_values_are_elided_in_errors(tmp_path, capsys):
    code, err = _run_cli(["simulate", "--scenario", "outpatient_default", "--set", "hazard_ratio=" + "9" * 5000,
                          "--out", str(tmp_path / "c.csv")], tmp_path, capsys)
    assert code == 2
    line = _one_line(err)
    assert "hazard_ratio must be" in line and "..." in line


# --- mapping files -----------------------------------------------------------------------------------
SECRET = "root:x:0:0:token-7f3a9c"


@pytest.fixture()
def mapping_dir(tmp_path):
    (tmp_path / "shadow").write_text(SECRET + "\n")
    (tmp_path / "token.yaml").write_text(SECRET + "\n")
    sub = tmp_path / "proj"
    sub.mkdir()
    return sub


BAD_MAPPINGS = {
    "abs.yaml": ("extends: {root}/shadow\n", "'extends' must name a built-in mapping (canonical, teds) or a .yaml file"),
    "rel.yaml": ("extends: ../shadow\n", "'extends' must name a built-in mapping (canonical, teds) or a .yaml file"),
    "reltok.yaml": ("extends: ../token.yaml\n", "in the same folder (no paths)"),
    "self.yaml": ("extends: self.yaml\n", "'extends' goes round in a circle"),
    "columns.yaml": ("columns: [a, b]\n", "mapping 'columns' must be a table of key: value lines; got ['a', 'b']"),
    "arm.yaml": ("extends: canonical\nvalues:\n  arm: [peer, usual_care]\n",
                 "mapping 'values.arm' must be a table of code: value lines"),
    "age.yaml": ("extends: canonical\nage_range: 5\n", "mapping 'age_range' must be [lowest, highest] ages in years; got 5"),
    "fmt.yaml": ("extends: canonical\ndate_format: \"%Q\"\n", "mapping 'date_format' must be ISO8601 or a date format"),
    "list.yaml": ("- a\n- b\n", "must hold settings (key: value lines); it holds a list"),
    "scalar.yaml": ("just text\n", "must hold settings (key: value lines); it holds a str"),
    "dupkey.yaml": ("extends: canonical\nname: a\nname: b\n", "key 'name' is given twice"),
}


@pytest.mark.parametrize("name", sorted(BAD_MAPPINGS))
def test_bad_mapping_files_are_refused_without_echoing_files(name, mapping_dir, capsys):
    text, expected = BAD_MAPPINGS[name]
    path = mapping_dir / name
    path.write_text(text.format(root=mapping_dir.parent))
    before = _snapshot(mapping_dir.parent)
    code = main(["validate", str(MESSY), "--mapping", str(path)])
    err = capsys.readouterr().err
    assert _snapshot(mapping_dir.parent) == before
    assert code == 2
    line = _one_line(err)
    assert expected in line
    assert "token-7f3a9c" not in err


def test_a_cycle_of_two_mappings_is_named(mapping_dir):
    (mapping_dir / "a.yaml").write_text("extends: b.yaml\n")
    (mapping_dir / "b.yaml").write_text("extends: a.yaml\n")
    from peerstudy.data.programme import load_mapping

    with pytest.raises(SchemaError, match=r"goes round in a circle: .*a\.yaml -> .*b\.yaml -> .*a\.yaml"):
        load_mapping(mapping_dir / "a.yaml")


def test_extends_a_sibling_file_resolves_beside_the_mapping(mapping_dir, monkeypatch, tmp_path):
    (mapping_dir / "base.yaml").write_text("extends: canonical\ninvalid_rows: exclude\n")
    (mapping_dir / "site.yaml").write_text("extends: base.yaml\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # resolved against the mapping's folder, not the working directory
    from peerstudy.data.programme import load_mapping

    assert load_mapping(str(mapping_dir / "site.yaml"))["invalid_rows"] == "exclude"
    assert os.getcwd() == str(elsewhere)
