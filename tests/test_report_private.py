"""Private reports (``peerstudy report --data``): they pass the privacy audit at 15, 40 and 800 people, a report
broken to leak fails it naming the cell, a leaking notebook stops the report with nothing written, and an export
lacking half the covariates makes a report that says which were not recorded."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from peerstudy.cli import main
from peerstudy.data.programme import to_export
from peerstudy.exceptions import PrivacyAuditError, ReportError
from peerstudy.make_data import messy_export
from peerstudy.present.audit import audit_report
from peerstudy.report import run_report
from peerstudy.simulation.cohort import simulate_cohort

pytestmark = pytest.mark.slow

NB = Path(__file__).resolve().parents[1] / "src" / "peerstudy" / "notebooks"
NB02, NB05 = NB / "02-retention-analysis.ipynb", NB / "05-programme-data.ipynb"


def _messy(folder: Path, n: int) -> tuple[Path, Path, list[str]]:
    """A programme export of ``n`` records with planted mistakes (peerstudy.make_data), excluded by the mapping."""
    frame, mapping, _ = messy_export(n, rng=n)
    export, mpath = folder / f"export{n}.csv", folder / f"export{n}.mapping.yaml"
    frame.to_csv(export, index=False)
    mpath.write_text(yaml.safe_dump({**mapping, "invalid_rows": "exclude"}, sort_keys=False))
    return export, mpath, frame["Client ID"].tolist()


def _canonical(folder: Path, n: int, drop: tuple[str, ...] = ()) -> tuple[Path, Path, list[str]]:
    """A simulated cohort of ``n`` written as a canonical export, without the columns ``drop``."""
    cohort = simulate_cohort("outpatient_default", rng=n, n=n)
    export, mpath = folder / f"canonical{n}.csv", folder / f"canonical{n}.mapping.yaml"
    to_export(cohort).drop(columns=list(drop)).to_csv(export, index=False)
    mpath.write_text(yaml.safe_dump({"extends": "canonical", "optional": ["coach", "coach_match", *drop]}))
    return export, mpath, [str(i) for i in cohort["participant_id"]]


@pytest.fixture(scope="module")
def report40(tmp_path_factory):
    folder = tmp_path_factory.mktemp("r40")
    export, mapping, ids = _messy(folder, 40)
    rep = run_report([NB05], data=str(export), mapping=str(mapping), out=folder / "rep", progress=False)
    return rep, ids


def _check_private(rep, ids) -> None:
    audit = audit_report(rep.path, ids=ids)
    assert audit.passed, audit.summary(10)
    assert rep.manifest["privacy"]["small_counts_suppressed"]
    for nb in rep.path.glob("*.ipynb"):  # the kept notebooks carry no outputs (no reprs, no arrays)
        cells = json.loads(nb.read_text())["cells"]
        assert not [c for c in cells if c.get("outputs")], nb.name


def test_a_private_report_of_40_people_passes_its_audit(report40):
    rep, ids = report40
    _check_private(rep, ids)
    flow = rep.results["05-programme-data"]["flow"]
    assert flow["excluded_total"] == "<11" and flow["received"] == "suppressed"


def test_a_private_report_of_15_people_passes_its_audit(tmp_path):
    export, mapping, ids = _canonical(tmp_path, 15)
    rep = run_report([NB05], data=str(export), mapping=str(mapping), out=tmp_path / "rep", progress=False)
    _check_private(rep, ids)
    assert "not shown" in rep.results["05-programme-data"]["summary"]  # no share of 15 people is published


def test_a_private_report_of_800_people_passes_its_audit(tmp_path):
    export, mapping, ids = _messy(tmp_path, 800)
    rep = run_report([NB02, NB05], data=str(export), mapping=str(mapping), out=tmp_path / "rep", progress=False)
    _check_private(rep, ids)
    assert rep.results["05-programme-data"]["flow"]["analysed"] == "794"


def test_a_report_broken_to_leak_fails_the_audit_naming_the_cell(report40, tmp_path, capsys):
    rep, ids = report40
    broken = tmp_path / "broken"
    shutil.copytree(rep.path, broken)
    page = broken / "05-programme-data.html"
    body = page.read_text()
    cells = [m.start() for m in re.finditer(r'<div[^>]*class="[^"]*\bjp-Cell\b', body)]
    at = cells[4]  # the table of problems by rule
    page.write_text(body[:at] + '<div class="jp-Cell"><p>3 records were excluded for a duplicate id</p></div>'
                    + body[at:])
    audit = audit_report(broken)
    assert [(f.file, f.cell, f.kind) for f in audit.findings] == [("05-programme-data.html", "cell 4", "small count")]
    results = json.loads((broken / "results.json").read_text())
    results["05-programme-data"]["flow"]["received"] = 40
    (broken / "results.json").write_text(json.dumps(results))
    assert main(["audit", str(broken)]) == 3
    err = capsys.readouterr().err
    assert "05-programme-data.html, cell 4: small count" in err
    assert "results.json, 05-programme-data.flow: derivable difference: received 40 - analysed" in err


def test_a_leaking_notebook_stops_the_report_and_nothing_is_written(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell('scenario: str = "outpatient_default"\nseed: int = 1\ndata: str = ""\n'
                                          'mapping: str = ""',
                                          metadata={"tags": ["parameters"]}),
                nbformat.v4.new_markdown_cell("# Leaky"),
                nbformat.v4.new_code_cell("import peerstudy as ps\n"
                                          "cohort = ps.load_report_cohort(data=data, mapping=mapping)\n"
                                          "print(f'{min(len(cohort.data), 7)} people dropped out on day 3')")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    leaky = tmp_path / "nbs" / "10-leaky.ipynb"
    leaky.parent.mkdir()
    nbformat.write(nb, leaky)
    export, mapping, _ = _canonical(tmp_path, 30)
    with pytest.raises(PrivacyAuditError, match=r"failed its privacy audit .*10-leaky.html, cell \d: small count: '7 people dropped out"):
        run_report([leaky], data=str(export), mapping=str(mapping), out=tmp_path / "rep", progress=False)
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == ["canonical30.csv", "canonical30.mapping.yaml", "nbs"]  # no report, no .failed, no build


def test_a_failed_private_report_keeps_no_count_and_no_output(tmp_path):
    export, mapping, _ = _canonical(tmp_path, 15)
    # 15 people and nine covariates: the adjusted Cox model of page 02 cannot be fitted
    with pytest.raises(ReportError) as err:
        run_report([NB02], data=str(export), mapping=str(mapping), out=tmp_path / "rep", progress=False)
    failed = tmp_path / "rep.failed"
    manifest = (failed / "manifest.json").read_text()
    assert not re.search(r"(?<![\w.<])([1-9]|10) (event|dropout|term)", manifest + str(err.value))
    cells = json.loads((failed / "02-retention-analysis.ipynb").read_text())["cells"]
    assert not [c for c in cells if c.get("outputs")]


def test_a_report_of_an_export_lacking_half_the_covariates_says_which(tmp_path):
    lacking = ("homeless", "injects", "depression", "prior_treatments")
    export, mapping, ids = _canonical(tmp_path, 200, drop=lacking)
    rep = run_report([NB02, NB05], data=str(export), mapping=str(mapping), out=tmp_path / "rep", progress=False)
    assert {v["status"] for v in rep.manifest["notebooks"].values()} == {"ok"}
    line = rep.results["05-programme-data"]["summary"]
    assert "Not recorded in these data: homeless, injects, depression, prior treatments" in line
    assert rep.manifest["data"]["not_recorded"] == list(lacking)
    cox = rep.results["02-retention-analysis"]["analysis"]["cox"]["terms"]
    assert set(cox) == {"arm[peer]", "age", "female", "stimulant_use", "unemployed"}
    page = (rep.path / "02-retention-analysis.html").read_text()
    assert "not recorded" in page
    _check_private(rep, ids)
