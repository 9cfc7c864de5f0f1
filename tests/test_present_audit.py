"""The privacy audit (peerstudy.present.audit) and ``peerstudy audit``: each kind of finding, named by file and cell."""

from __future__ import annotations

import json

import pytest

from peerstudy.cli import main
from peerstudy.exceptions import DataError
from peerstudy.present.audit import audit_report


def _page(*cells: str) -> str:
    return "<html><body>" + "".join(f'<div class="jp-Cell jp-CodeCell">{c}</div>' for c in cells) + "</body></html>"


def _table(header, *rows) -> str:
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def test_a_clean_folder_passes(tmp_path):
    (tmp_path / "p.html").write_text(_page("<p>Of 200 records received, &lt;11 were excluded.</p>",
                                           _table(["", "usual care", "peer coach", "all"],
                                                  ["dropout", "40 (20%)", "50 (25%)", "90"],
                                                  ["died", "&lt;11", "suppressed", "12"])))
    (tmp_path / "results.json").write_text(json.dumps({"km": {"peer": {"n": 100, "events": 40,
                                                                       "survival": {"90": 0.62}}}}))
    audit = audit_report(tmp_path)
    assert audit.passed, audit.summary()
    assert set(audit.files) == {"p.html", "results.json"}


@pytest.mark.parametrize("cell,kind", [
    ("<p>6 people were excluded</p>", "small count"),
    ("<p>Kaplan-Meier, n = 7</p>", "small count"),
    (_table(["", "usual care"], ["Female, n (%)", "4 (13%)"]), "small count"),
    (_table(["group", "people", "dropouts"], ["peer", "30", "8"]), "small count"),
    (_table(["", "usual care", "peer coach", "all"], ["retained", "16", "&lt;11", "26"]), "derivable difference"),
    ("<p>Of 60 records received, &lt;11 were excluded and 54 people were analysed.</p>", "derivable difference"),
    ("<p>enrolled on 2024-03-05</p>", "exact date"),
    (_table(["participant_id", "time"], ["C1001", "30"]), "participant id"),
    ('<img alt="6 dropouts in the first week" src="x.png">', "small count"),
])
def test_each_kind_of_leak_is_found_in_its_cell(tmp_path, cell, kind):
    (tmp_path / "02-page.html").write_text(_page("<p>fine</p>", "<p>also fine: 120 people</p>", cell))
    audit = audit_report(tmp_path, private=True)
    assert not audit.passed
    f = audit.findings[0]
    assert (f.file, f.cell, f.kind) == ("02-page.html", "cell 2", kind), str(f)


def test_json_findings_are_named_by_key_path(tmp_path):
    doc = {"02-retention": {"analysis": {"km": {"peer": {"n": 17, "events": "<11",
                                                         "survival": {"90": 0.7647058823529411}}},
                                         "logrank": {"groups": {"peer": {"n": 40, "observed": 34.0}}}},
                            "flow": {"excluded": {"duplicate id": 3}}}}
    (tmp_path / "results.json").write_text(json.dumps(doc))
    found = {(f.cell, f.kind) for f in audit_report(tmp_path).findings}
    assert ("02-retention.analysis.km.peer.survival.90", "full-precision share") in found
    assert ("02-retention.analysis.logrank.groups.peer", "derivable difference") in found
    assert ("02-retention.flow.excluded.duplicate id", "small count") in found


def test_csv_counts_and_kept_notebook_outputs_are_found(tmp_path):
    (tmp_path / "km_curves.csv").write_text("group,time,n_risk,n_event\npeer,3,40,2\n")
    nb = {"cells": [{"cell_type": "code", "source": "zph", "outputs": [
        {"output_type": "execute_result", "data": {"text/plain": "ZphResult(time=array([1., 2., 4.]))"}}]}]}
    (tmp_path / "02.ipynb").write_text(json.dumps(nb))
    found = {(f.file, f.cell, f.kind) for f in audit_report(tmp_path, private=True).findings}
    assert ("km_curves.csv", "row 2, column 'n_event'", "small count") in found
    assert ("02.ipynb", "cell 0", "kept output") in found


def test_ids_of_the_data_are_found_anywhere(tmp_path):
    (tmp_path / "p.html").write_text(_page("<p>the longest stay was C1044's</p>"))
    assert not audit_report(tmp_path).findings
    assert audit_report(tmp_path, ids=["C1044"]).findings[0].kind == "participant id"


def test_the_cli_exits_3_naming_file_and_cell_and_2_on_a_missing_folder(tmp_path, capsys):
    (tmp_path / "05-programme-data.html").write_text(_page("<p>ok</p>", "<p>5 records were excluded</p>"))
    assert main(["audit", str(tmp_path)]) == 3
    err = capsys.readouterr().err
    assert "05-programme-data.html, cell 1: small count" in err
    assert main(["audit", str(tmp_path / "nope")]) == 2
    assert "report folder not found" in capsys.readouterr().err
    (tmp_path / "05-programme-data.html").write_text(_page("<p>ok</p>"))
    assert main(["audit", str(tmp_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["passed"] is True
    with pytest.raises(DataError):
        audit_report(tmp_path / "05-programme-data.html")
