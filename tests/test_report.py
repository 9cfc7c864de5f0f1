"""The papermill runner: typed parameters, parallel runs, HTML, index, results, manifest, atomicity.

Runs the small notebooks in tests/notebooks/ (the real notebooks are exercised in test_notebooks.py).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from peerstudy.exceptions import PeerstudyError

from peerstudy import report as rp
from peerstudy.report import runner
from peerstudy.cli import main
from peerstudy.exceptions import DataError, ParameterError, ReportError

NB_DIR = Path(__file__).parent / "notebooks"


# ---------------------------------------------------------------- parameter declarations

def test_parse_parameters_types_defaults_help_and_optional():
    src = ('# comment lines and blank lines are fine\n\n'
           'scenario: str = "outpatient_default"  # preset name or YAML\n'
           'seed: int = 7  # random seed\n'
           'alpha: float = 0.05\n'
           'show: bool = True  # a flag # with a hash\n'
           'label: str | None = None  # optional\n'
           'limit: Optional[int] = 3\n')
    ps = rp.parse_parameters(src)
    assert list(ps) == ["scenario", "seed", "alpha", "show", "label", "limit"]
    assert ps["seed"] == rp.Parameter("seed", "int", 7, "random seed", False)
    assert ps["alpha"].help == "" and ps["alpha"].default == 0.05
    assert ps["show"].help == "a flag # with a hash"
    assert ps["label"].optional and ps["label"].type == "str"
    assert ps["limit"].optional and ps["limit"].default == 3


@pytest.mark.parametrize("src, match", [
    ("seed = 1", r"line 1 .* must read 'name: type = default  # help'; got 'seed = 1'"),
    ("seed: list = []", r"parameter 'seed' .* has type 'list'"),
    ("seed: int = 1.5", r"parameter 'seed' must be int; got 1.5"),
    ("seed: int = make()", r"default of parameter 'seed' .* must be a literal"),
    ("seed: int = 1\nseed: int = 2", r"declared twice"),
    ("seed: int = (", r"not valid Python"),
])
def test_malformed_parameter_cells_are_refused(src, match):
    with pytest.raises(ParameterError, match=match):
        rp.parse_parameters(src, where="x.ipynb")


@pytest.mark.parametrize("kind, raw, value", [
    ("int", "12", 12), ("int", "-3", -3), ("float", "0.5", 0.5), ("float", "2", 2.0),
    ("bool", "true", True), ("bool", "No", False), ("bool", "1", True), ("str", " a b ", " a b "),
])
def test_coerce_command_line_text(kind, raw, value):
    assert rp.Parameter("x", kind, None if kind != "str" else "", optional=False).coerce(raw) == value


@pytest.mark.parametrize("kind, raw", [("int", "1.5"), ("int", "seven"), ("int", "1e3"), ("float", "nan"),
                                       ("float", "x"), ("bool", "maybe"), ("int", True), ("str", 3)])
def test_coerce_refuses_wrong_types_naming_parameter_and_value(kind, raw):
    with pytest.raises(ParameterError, match=rf"parameter 'x' must be {kind}; got {raw!r}"):
        rp.Parameter("x", kind, None).coerce(raw)


def test_optional_accepts_none():
    p = rp.Parameter("x", "float", None, optional=True)
    assert p.coerce("none") is None and p.coerce("") is None and p.coerce("2.5") == 2.5


def test_notebook_specs_and_validation_per_notebook():
    specs = [rp.read_notebook_spec(p) for p in rp.list_notebooks(NB_DIR)]
    assert [s.name for s in specs] == ["10-small", "20-second"]
    assert specs[0].title == "A small test report"
    typed = rp.validate_parameters(specs, {"seed": "4", "n": "10", "scale": "3"})
    assert typed == {"10-small": {"seed": 4, "scale": 3.0}, "20-second": {"seed": 4, "n": 10}}
    with pytest.raises(ParameterError, match=r"unknown parameter 'sede' \(did you mean 'seed'\?\)"):
        rp.validate_parameters(specs, {"sede": "1"})
    with pytest.raises(ParameterError, match=r"parameter 'n' must be int; got '1.5' \(notebook 20-second\)"):
        rp.validate_parameters(specs, {"n": "1.5"})


def test_only_selects_by_prefix_stem_or_name_and_refuses_unknown():
    assert [p.name for p in rp.list_notebooks(NB_DIR, only=["20"])] == ["20-second.ipynb"]
    assert [p.name for p in rp.list_notebooks(NB_DIR, only=["10-small.ipynb", "20-second"])] == \
        ["10-small.ipynb", "20-second.ipynb"]
    with pytest.raises(ParameterError, match="--only '99' matches no notebook; available: 10-small, 20-second"):
        rp.list_notebooks(NB_DIR, only=["99"])


def test_record_without_a_runner_writes_nothing(monkeypatch, tmp_path):
    monkeypatch.delenv(rp.RESULTS_ENV, raising=False)
    assert rp.record("x", 1) == 1
    target = tmp_path / "r.json"
    monkeypatch.setenv(rp.RESULTS_ENV, str(target))
    rp.record("a", {"b": float("nan")})
    rp.summary("One line.")
    assert json.loads(target.read_text()) == {"a": {"b": None}, "summary": "One line."}
    with pytest.raises(ParameterError, match="summary must be non-empty text"):
        rp.summary("  ")


# ---------------------------------------------------------------- refused before any kernel starts

@pytest.fixture
def no_kernels(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("a kernel was started")
    monkeypatch.setattr(runner, "_run_jobs", boom)


@pytest.mark.parametrize("argv, message", [
    (["-p", "seed=abc"], "parameter 'seed' must be int; got 'abc'"),
    (["-p", "sed=3"], "unknown parameter 'sed' (did you mean 'seed'?)"),
    (["-p", "seed"], "-p expects NAME=VALUE; got 'seed'"),
    (["--only", "nope"], "--only 'nope' matches no notebook"),
    (["--scenario", "outpatient_defualt"], "unknown preset 'outpatient_defualt'"),
    (["--mapping", "m.yaml"], "--mapping needs --data FILE"),
])
def test_cli_bad_input_exits_2_naming_it_and_writes_nothing(argv, message, tmp_path, capsys, no_kernels):
    out = tmp_path / "rep"
    t0 = time.perf_counter()
    code = main(["report", "--notebooks", str(NB_DIR), "--out", str(out), *argv])
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []
    assert time.perf_counter() - t0 < 10


@pytest.mark.parametrize("content, suffix, match", [
    (b"PAR1 this is not parquet", ".parquet", "cannot read"),
    (b"participant_id,time\n1,5\n", ".csv", "missing column"),
    (None, ".csv", "data file not found"),
])
def test_unreadable_data_file_fails_before_kernels_leaving_nothing(content, suffix, match, tmp_path, no_kernels):
    data = tmp_path / f"programme{suffix}"
    if content is not None:
        data.write_bytes(content)
    out = tmp_path / "reports" / "programme"
    with pytest.raises((DataError, ValueError), match=match):
        rp.run_report(data=str(data), notebook_dir=NB_DIR, only=["10"], out=out, progress=False)
    assert not (tmp_path / "reports").exists() or list((tmp_path / "reports").iterdir()) == []


# ---------------------------------------------------------------- never destroy what the user made

def _snapshot(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _user_folder(tmp_path):
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "export.csv").write_bytes((Path(__file__).parents[1] / "data" / "synthetic" / "messy_export.csv").read_bytes())
    (proj / "map.yaml").write_bytes(
        (Path(__file__).parents[1] / "data" / "synthetic" / "messy_export.mapping.yaml").read_bytes())
    (proj / "notes.txt").write_text("my notes")
    return proj


@pytest.mark.parametrize("where, message", [
    ("proj", "is a folder peerstudy did not make and it is not empty"),
    (".", "is the working folder or holds it"),
    ("proj/notes.txt", "is an existing file; peerstudy writes a folder there and never replaces a file"),
])
def test_report_out_never_replaces_the_users_files(where, message, tmp_path, monkeypatch, capsys, no_kernels):
    proj = _user_folder(tmp_path)
    monkeypatch.chdir(proj if where == "." else tmp_path)
    before = _snapshot(tmp_path)
    code = main(["report", "--data", str(proj / "export.csv"), "--mapping", str(proj / "map.yaml"),
                 "--out", where])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert _snapshot(tmp_path) == before


def test_report_out_refuses_a_peerstudy_folder_that_holds_the_data(tmp_path, capsys, no_kernels):
    out = tmp_path / "rep"
    out.mkdir()
    (out / ".peerstudy-output").write_text("{}")
    (out / "export.csv").write_bytes((Path(__file__).parents[1] / "data" / "synthetic" / "messy_export.csv").read_bytes())
    before = _snapshot(tmp_path)
    code = main(["report", "--data", str(out / "export.csv"), "--out", str(out)])
    assert code == 2 and "holds the data file" in capsys.readouterr().err
    assert _snapshot(tmp_path) == before


# ---------------------------------------------------------------- real runs of the small notebooks

@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("rep") / "small"
    report = rp.run_report(notebook_dir=NB_DIR, parameters={"seed": "3", "n": "5", "label": "hello"},
                           out=out, progress=False)
    return report


def test_report_folder_has_html_index_results_and_manifest(built):
    d = built.path
    names = sorted(p.name for p in d.iterdir())
    assert names == [".peerstudy-output", "10-small.html", "10-small.ipynb", "20-second.html", "20-second.ipynb",
                     "index.html", "manifest.json", "results.json"]
    results = json.loads((d / "results.json").read_text())
    assert results["10-small"] == {"value": 6.0, "label": "hello",
                                   "summary": "The value is 6 for scenario outpatient_default."}
    assert results["20-second"]["n_seen"] == 5


def test_manifest_provenance(built):
    m = json.loads((built.path / "manifest.json").read_text())
    assert m["seed"] == 3
    assert m["scenario"]["name"] == "outpatient_default" and m["scenario"]["resolved"]["n"] == 5
    assert m["data"] is None and m["privacy"]["small_counts_suppressed"] is False
    assert m["parameters"]["10-small"] == {"scenario": "outpatient_default", "seed": 3, "scale": 2.0,
                                           "label": "hello", "fail": False, "data": "", "mapping": ""}
    assert {"peerstudy", "papermill", "nbconvert", "pandas", "python"} <= set(m["packages"])
    for name in ("10-small", "20-second"):
        nb = m["notebooks"][name]
        assert nb["status"] == "ok" and nb["seconds"] > 0 and nb["html"] == f"{name}.html"
    assert m["git"] is None or len(m["git"]["commit"]) == 40


def test_index_links_every_report_with_its_summary(built):
    index = (built.path / "index.html").read_text()
    assert 'href="10-small.html"' in index and 'href="20-second.html"' in index
    assert "The value is 6 for scenario outpatient_default." in index
    assert "Second report with n = 5." in index


def test_html_hides_code_by_default_and_keeps_figures(built):
    page = (built.path / "10-small.html").read_text()
    assert "asked to fail" not in page and "matplotlib_inline" not in page
    assert "data:image/png;base64" in page


def test_a_report_replaces_its_own_earlier_folder_and_cleans_a_killed_build(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "again"
    rp.run_report(notebook_dir=NB_DIR, only=["20"], out=out, progress=False)
    (out / "stale.html").write_text("from an earlier run")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale_build = tmp_path / f".again.building-{dead.stdout.strip()}-xyz"
    stale_build.mkdir()
    rp.run_report(notebook_dir=NB_DIR, only=["20"], out=out, progress=False)
    assert not (out / "stale.html").exists() and (out / "index.html").is_file()
    assert not stale_build.exists()


def test_show_code_keeps_code(tmp_path):
    rep = rp.run_report(notebook_dir=NB_DIR, only=["20"], out=tmp_path / "code", show_code=True, progress=False)
    page = (rep.path / "20-second.html").read_text()
    assert "n_seen" in page


def test_failing_notebook_names_cell_keeps_it_and_leaves_previous_report(tmp_path):
    out = tmp_path / "rep"
    out.mkdir()
    (out / ".peerstudy-output").write_text("{}")  # a previous report of peerstudy's
    (out / "index.html").write_text("previous complete report")
    with pytest.raises(ReportError, match=r"notebook 10-small failed at cell 6 \(In \[4\]\) `line 2: raise ValueError\('asked to fail'\)` of 10-small.ipynb: ValueError: asked to fail") as err:
        rp.run_report(notebook_dir=NB_DIR, parameters={"fail": "yes"}, only=["10"], out=out, progress=False)
    assert "executed notebook kept in" in str(err.value)
    assert sorted(p.name for p in out.iterdir()) == [".peerstudy-output", "index.html"]
    assert (out / "index.html").read_text() == "previous complete report"
    failed = tmp_path / "rep.failed"
    assert (failed / "10-small.ipynb").is_file()
    assert json.loads((failed / "manifest.json").read_text())["notebooks"]["10-small"]["status"] == "failed"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep", "rep.failed"]  # no temporary folders left


def test_programme_export_with_a_mapping_is_read_through_programme(tmp_path):
    from peerstudy.data.programme import to_export
    from peerstudy.simulation.cohort import simulate_cohort

    cohort = simulate_cohort("outpatient_default", rng=2, n=50)
    path = tmp_path / "export.csv"
    to_export(cohort).to_csv(path, index=False)
    info = rp.check_data(str(path), "canonical")
    assert info["rows"] == 50 and info["mapping"] == {"spec": "canonical", "sha256": None}
    loaded = rp.load_report_cohort(data=str(path), mapping="canonical")
    assert loaded.real and loaded.suppress and loaded.truth is None
    assert sorted(loaded.data["time"]) == sorted(cohort["time"])


def test_data_file_needs_the_chosen_notebooks_to_take_data(tmp_path, no_kernels):
    with pytest.raises(ParameterError, match=r"notebook\(s\) 20-second take no 'data' parameter"):
        rp.run_report(data=str(tmp_path / "x.csv"), notebook_dir=NB_DIR, only=["20-second"], out=tmp_path / "r",
                      progress=False)
    assert list(tmp_path.iterdir()) == []


def test_data_report_leaves_out_simulation_only_notebooks(tmp_path, no_kernels):
    # by default only notebooks declaring `data` run on a data file; here 10-small does, 20-second does not,
    # so the run goes on to read the (missing) data file: the error is about the file, not about 20-second
    with pytest.raises(PeerstudyError, match=r"not found"):
        rp.run_report(data=str(tmp_path / "x.csv"), notebook_dir=NB_DIR, out=tmp_path / "r", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_data_report_excludes_invalid_rows_and_puts_the_flow_in_the_manifest():
    from pathlib import Path

    syn = Path(__file__).resolve().parents[1] / "data" / "synthetic"
    info = rp.check_data(str(syn / "messy_export.csv"), str(syn / "messy_export.mapping.yaml"))
    assert info["rows"] == 54
    flow = info["flow"]
    # 6 excluded: with 54 analysed (published in every table), 60 received would give the 6 back
    assert flow["received"] == "suppressed" and flow["analysed"] == "54" and flow["excluded_total"] == "<11"
    assert set(flow["excluded"].values()) == {"<11"}  # 1-2 rows per reason: suppressed in the manifest too
    cohort = rp.load_report_cohort(data=str(syn / "messy_export.csv"), mapping=str(syn / "messy_export.mapping.yaml"))
    assert cohort.real and cohort.flow["analysed"] == 54


def test_figures_carry_their_alt_text_into_the_html(tmp_path):
    """A figure's one-sentence description reaches the report page's <img alt=...>."""
    import re

    import nbformat

    from peerstudy.report.assemble import _with_alt_text

    nb = nbformat.v4.new_notebook()
    out = nbformat.v4.new_output("display_data", data={"image/png": "QUJD\n"},
                                 metadata={"image/png": {"alt": "Curves of retention by arm."}})
    nb.cells = [nbformat.v4.new_code_cell("plot()", outputs=[out])]
    body = '<p><img alt="No description has been provided for this image" src="data:image/png;base64,QUJD"/></p>'
    fixed = _with_alt_text(body, nb)
    assert re.findall(r'alt="([^"]*)"', fixed) == ["Curves of retention by arm."]


def test_a_full_disk_leaves_the_previous_report_and_no_build_folder(tmp_path, monkeypatch, capsys):
    import errno

    out = tmp_path / "rep"
    rp.run_report(notebook_dir=NB_DIR, only=["20"], out=out, progress=False)
    before = _snapshot(tmp_path)

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(runner, "write_json", full)
    code = main(["report", "--notebooks", str(NB_DIR), "--only", "20", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len([e for e in err if "error:" in e]) == 1 and "No space left on device" in err[-1]
    assert _snapshot(tmp_path) == before
