"""Random command lines, files and values for every verb: exit 0 or 2, short lines, nothing left on failure.

Runs ``peerstudy.cli.main`` in this process (fast); the examples are derandomised in CI (tests/conftest.py).
A few of the nastiest inputs also run in a subprocess under a 2 GB address-space limit.
"""

from __future__ import annotations

import contextlib
import io
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path
from unittest import mock

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peerstudy.cli import main

ROOT = Path(__file__).resolve().parents[1]
def fuzz(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)

SCENARIO = Path(ROOT / "src" / "peerstudy" / "presets" / "null_effect.yaml").read_text()
MAPPING = Path(ROOT / "src" / "peerstudy" / "data" / "programme" / "mappings" / "canonical.yaml").read_text()
COLUMNS = ["participant_id", "site", "arm", "enrolled_on", "age", "female", "time", "event", "outcome", "x", ""]


class _ReachedNotebooks(BaseException):
    """``report`` got past every check to the point of starting kernels (slow): counted as a success."""


def _stop(*_a, **_k):
    raise _ReachedNotebooks


def files(folder: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(folder)): (None if p.is_dir() else p.read_bytes()) for p in sorted(folder.rglob("*"))}


def run_cli(argv: list[str], folder: Path) -> tuple[int, str]:
    """Run the command in ``folder``; fail on a traceback, an exit status other than 0/2, a long line or
    (on failure) anything left behind or changed."""
    before = files(folder)
    err, out = io.StringIO(), io.StringIO()
    here = os.getcwd()
    os.chdir(folder)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out), \
                mock.patch("peerstudy.report.runner._kernel_name", _stop):
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse
                code = exc.code if isinstance(exc.code, int) else 2
            except _ReachedNotebooks:
                return 0, ""
    finally:
        os.chdir(here)
    text = err.getvalue()
    assert code in (0, 2), f"exit {code} for {argv!r}:\n{text[-3000:]}"
    long = [line for line in text.splitlines() if len(line) > 500]
    assert not long, f"a stderr line of {len(long[0])} characters for {argv!r}"
    if code != 0:
        assert "Traceback" not in text, text
        assert files(folder) == before, f"files left or changed after exit {code} for {argv!r}"
    return code, text




@pytest.mark.parametrize("args", [["scenarios", "x" * 600], ["simulate", "--n", "x" * 600]])
def test_argparse_messages_are_short(tmp_path, args):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), pytest.raises(SystemExit):
        main(args)
    assert max(len(line) for line in err.getvalue().splitlines()) <= 500


# ----- vocabularies ---------------------------------------------------------------------------------------
small_ints = st.integers(-3, 400).map(str)
huge_ints = st.sampled_from([str(10**8), str(10**12), str(2**63), "-" + "9" * 30, "1" * 5000, "1e3", "0x10"])
floats = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr),
                   st.sampled_from(["0.5", "0.8", "1", "0", "-1", "1e308", "nan", "inf", "0.05", "1e-300"]))
junk = st.one_of(st.text(max_size=30), st.sampled_from(["", " ", "=", "--", "-p", "a=b=c", "\x00", "é" * 3,
                                                        "x" * 600, "../..", "/", ".", "~"]))
ints = st.one_of(small_ints, huge_ints, junk)
numbers = st.one_of(floats, small_ints, junk)
paths = st.sampled_from(["cohort.csv", "scen.yaml", "map.yaml", "data.csv", "data.parquet", "adir", "missing.csv", "new.csv",
                         "new.parquet", "out", "adir/sub", "data.truth.json", ""])
presets = st.sampled_from(["null_effect", "outpatient_default", "nope", "scen.yaml", "missing.yaml", "adir", ""])
sets = st.one_of(st.sampled_from(["hazard_ratio=0.7", "n=60", "n=100000000", "hazard_ratio=-1", "covariates.age.mean=200",
                                  "contacts.enabled=true", "nope=1", "hazard_ratio=[", "n=&a", "=", "x"]),
                 st.builds(lambda k, v: f"{k}={v}", st.sampled_from(["hazard_ratio", "n", "n_sites", "seed",
                                                                      "start_date", "covariates.age.sd"]), junk))

OPTIONS = {
    "simulate": {"--scenario": presets, "--n": st.one_of(st.integers(2, 300).map(str), ints), "--seed": ints,
                 "--set": sets, "--out": paths},
    "study": {"--scenario": presets, "--set": sets, "--reps": st.one_of(st.integers(2, 4).map(str), ints),
              "--n": st.one_of(st.integers(40, 150).map(str), ints), "--seed": ints,
              "--grid": st.one_of(st.sampled_from(["hazard_ratio=0.7,1.0", "n=50", "hazard_ratio=", "nope=1,2",
                                                   "hazard_ratio=[0.7", "n=1e9"]), junk),
              "--methods": st.one_of(st.sampled_from(["cox", "logrank,rmst", "nope", ","]), junk),
              "--tau": ints, "--alpha": numbers, "--chunk-size": ints, "--out": paths},
    "validate": {"--mapping": st.sampled_from(["map.yaml", "canonical", "teds", "nope", "scen.yaml"]),
                 "--cutoff": st.one_of(st.sampled_from(["2025-06-01", "2025-13-01", "1000-01-01"]), junk)},
    "analyse": {"--out": paths, "--time": st.sampled_from(COLUMNS), "--event": st.sampled_from(COLUMNS),
                "--arm": st.sampled_from(COLUMNS + ["none"]), "--covariates": st.sampled_from(["age", "age,x", ","]),
                "--strata": st.sampled_from(COLUMNS), "--horizons": st.one_of(st.sampled_from(["30,90", "0", "-1,x"]),
                                                                               junk),
                "--ending": st.sampled_from(COLUMNS), "--mapping": st.sampled_from(["map.yaml", "canonical", "nope"]),
                "--adjust": st.sampled_from(["iptw", "nope"]), "--propensity": st.sampled_from(["age", "", "nope"])},
    "report": {"--scenario": presets, "-p": st.one_of(
                   st.builds(lambda k, v: f"{k}={v}", st.sampled_from(["seed", "n", "scenario", "nope", ""]),
                             st.one_of(ints, junk)), junk),
               "--only": st.sampled_from(["01", "nope", "02-x"]), "--out": paths,
               "--workers": ints, "--data": paths, "--mapping": st.sampled_from(["map.yaml", "canonical"])},
    "power": {"--hr": numbers, "--alpha": numbers, "--power": numbers, "--events": numbers,
              "--allocation": numbers, "--method": st.sampled_from(["schoenfeld", "freedman", "x"]),
              "--control-median": numbers, "--accrual": numbers, "--follow-up": numbers,
              "--lost": numbers, "--by": numbers, "--loss-rate": numbers, "--n": ints,
              "--looks": st.one_of(st.integers(0, 4).map(str), ints), "--design": st.sampled_from(["OF", "asP", "x"]),
              "--sided": st.sampled_from(["1", "2", "3"]), "--information-rates": st.sampled_from(["0.5,1", "1", "x"]),
              "--futility": st.sampled_from(["0", "0,0", "x"]), "--cluster-size": numbers, "--icc": numbers},
    "scenarios": {},
}
FLAGS = {"study": ["--no-progress"], "report": ["--show-code", "--quiet"], "power": ["--json", "--fixed-follow-up", "--binding-futility"],
         "analyse": ["--exclude-invalid"], "simulate": [], "validate": [], "scenarios": []}
POSITIONAL = {"validate": paths, "analyse": paths}
REQUIRED = {"simulate": {"--scenario": "null_effect", "--out": "new.csv"},
            "study": {"--scenario": "null_effect", "--out": "out"},
            "analyse": {"--out": "out"}, "power": {"--hr": "0.7"}}


def _valid_cohort() -> str:
    if not _COHORT:
        from peerstudy.data.schema import write_cohort
        from peerstudy.scenario import load_scenario
        from peerstudy.simulation.cohort import simulate_cohort

        with tempfile.TemporaryDirectory() as tmp:
            write_cohort(simulate_cohort(load_scenario("null_effect").replace(n=80), rng=1), Path(tmp) / "c.csv")
            _COHORT.append((Path(tmp) / "c.csv").read_text())
    return _COHORT[0]


_COHORT: list[str] = []


@st.composite
def argv(draw) -> list[str]:
    verb = draw(st.sampled_from(sorted(OPTIONS)))
    words = [verb]
    if verb in POSITIONAL and draw(st.integers(0, 5)):
        words.append(draw(st.one_of(st.just("cohort.csv"), POSITIONAL[verb])))
    for name, usual in REQUIRED.get(verb, {}).items():  # mostly present, mostly sensible
        if draw(st.integers(0, 7)):
            words += [name, draw(st.one_of(st.just(usual), st.just(usual), OPTIONS[verb][name]))]
    names = sorted(OPTIONS[verb])
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.integers(0, 9))
        if kind < 7 and names:
            name = draw(st.sampled_from(names))
            words += [name, draw(OPTIONS[verb][name])]
        elif kind < 9 and FLAGS[verb]:
            words.append(draw(st.sampled_from(FLAGS[verb])))
        else:
            words.append(draw(junk))
    if verb == "study":  # bounded work: one process, a few replicates of small cohorts
        words += ["--workers", "1", "--no-progress", "--n", draw(st.integers(40, 150).map(str)),
                  "--reps", draw(st.one_of(st.integers(2, 3).map(str), ints))]
    if verb == "simulate" and "--n" not in words:
        words += ["--n", "80"]
    return words


def mutated_cohort(draw) -> str:
    """The valid cohort with a few cells changed and perhaps a column dropped."""
    lines = [line.split(",") for line in _valid_cohort().splitlines()]
    for _ in range(draw(st.integers(0, 3))):
        r = draw(st.integers(0, len(lines) - 1))
        c = draw(st.integers(0, len(lines[0]) - 1))
        lines[r][c] = draw(st.sampled_from(["", "-1", "nan", "1e400", "x", "9" * 30, "2025-02-30", "peer", "0", "2"]))
    if draw(st.booleans()):
        c = draw(st.integers(0, len(lines[0]) - 1))
        lines = [row[:c] + row[c + 1:] for row in lines]
    return "\n".join(",".join(row) for row in lines) + "\n"


def random_csv(draw) -> str:
    cols = draw(st.lists(st.sampled_from(COLUMNS), min_size=0, max_size=6))
    cell = st.one_of(st.integers(-5, 400).map(str), st.sampled_from(["", "nan", "peer", "usual_care", "dropout",
                                                                      "2025-01-06", "1e400", "-0", "S1"]),
                     st.text(max_size=8).filter(lambda s: "\n" not in s and "\r" not in s))
    rows = draw(st.lists(st.lists(cell, min_size=len(cols), max_size=len(cols)), max_size=12))
    return "\n".join([",".join(cols)] + [",".join(r) for r in rows]) + "\n"


yaml_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(), st.text(max_size=12)),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.one_of(st.sampled_from(["n", "name", "hazard_ratio", "covariates",
                                                                       "columns", "layout", "values", "age"]),
                                                      st.text(max_size=8)), inner, max_size=4)),
    max_leaves=12)


@st.composite
def yaml_text(draw, base: str) -> bytes:
    kind = draw(st.integers(0, 4))
    if kind == 0:
        return draw(st.binary(max_size=200))
    if kind == 1:
        return yaml.safe_dump(draw(yaml_values), allow_unicode=True).encode()
    if kind == 2:  # a real file with one line changed
        lines = base.splitlines()
        i = draw(st.integers(0, len(lines) - 1))
        lines[i] = draw(st.one_of(junk, st.sampled_from(["n: 1e12", "a: &x [1]", "b: *x", "n: [[[[[[[[", "n: -1",
                                                           "hazard_ratio: .nan", "name: 7", "n: 100000000"])))
        return "\n".join(lines).encode()
    if kind == 3:
        return base.encode() + yaml.safe_dump(draw(yaml_values)).encode()
    return draw(st.sampled_from([b"\xff\xfe\x00", b"a: [" * 5000, b"x: " + b"9" * 5000, b"- " * 100,
                                 b"\xef\xbb\xbfname: x\n"]))


def workspace(draw) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="fuzz-"))
    (folder / "scen.yaml").write_bytes(draw(yaml_text(SCENARIO)))
    (folder / "map.yaml").write_bytes(draw(yaml_text(MAPPING)))
    (folder / "data.csv").write_text(random_csv(draw), encoding="utf-8", errors="surrogatepass")
    (folder / "cohort.csv").write_text(mutated_cohort(draw) if draw(st.integers(0, 2)) else _valid_cohort())
    (folder / "adir").mkdir()
    (folder / "adir" / "keep.txt").write_text("the user's")
    return folder


_CLEANUP: list[Path] = []


@pytest.fixture(autouse=True, scope="module")
def _remove_workspaces():
    yield
    import shutil

    for folder in _CLEANUP:
        shutil.rmtree(folder, ignore_errors=True)


# ----- the fuzz tests -------------------------------------------------------------------------------------
@fuzz(45)
@given(st.data())
def test_random_command_lines(data):
    folder = workspace(data.draw)
    _CLEANUP.append(folder)
    run_cli(data.draw(argv()), folder)


@fuzz(15)
@given(st.data())
def test_random_scenario_files(data):
    folder = workspace(data.draw)
    _CLEANUP.append(folder)
    verb = data.draw(st.sampled_from(["simulate", "study"]))
    args = (["simulate", "--scenario", "scen.yaml", "--n", "60", "--seed", "1", "--out", "c.csv"] if verb == "simulate"
            else ["study", "--scenario", "scen.yaml", "--reps", "2", "--n", "60", "--methods", "cox", "--workers", "1",
                  "--no-progress", "--out", "st"])
    run_cli(args, folder)


@fuzz(20)
@given(st.data())
def test_random_data_and_mapping_files(data):
    folder = workspace(data.draw)
    _CLEANUP.append(folder)
    args = data.draw(st.sampled_from([
        ["validate", "data.csv"], ["validate", "data.csv", "--mapping", "map.yaml"], ["validate", "cohort.csv"],
        ["analyse", "cohort.csv", "--out", "res"], ["analyse", "cohort.csv", "--ending", "outcome", "--out", "adir"],
        ["validate", "data.csv", "--mapping", "canonical"], ["analyse", "data.csv", "--out", "res"],
        ["analyse", "data.csv", "--mapping", "map.yaml", "--out", "res"],
        ["analyse", "data.csv", "--ending", "outcome", "--out", "res"],
    ]))
    run_cli(args, folder)


# ----- under a memory limit -------------------------------------------------------------------------------
NASTY = [
    ["simulate", "--scenario", "null_effect", "--n", str(10**8), "--out", "c.csv"],
    ["simulate", "--scenario", "null_effect", "--set", "n=100000000", "--out", "c.csv"],
    ["study", "--scenario", "null_effect", "--reps", str(10**12), "--workers", "1", "--out", "st"],
    ["report", "-p", "seed=" + "1" * 5000, "--out", "r"],
    ["simulate", "--scenario", "bomb.yaml", "--out", "c.csv"],
]
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n" for p, c in zip("abcdefgh", "bcdefghi"))


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (2 * 1024**3, 2 * 1024**3))


def test_nastiest_inputs_under_a_memory_limit(tmp_path):
    (tmp_path / "bomb.yaml").write_text(BOMB)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-m", "peerstudy", *args], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_limit_memory)
             for args in NASTY]
    for args, proc in zip(NASTY, procs):
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 2, (args[:3], proc.returncode, err[-2000:])
        assert err.count("\n") == 1 and len(err) < 500, err[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bomb.yaml"]
