"""Pages for people: warnings become Notes, printed lines text, tables labelled and formatted; formats checked."""

from __future__ import annotations

import nbformat
import numpy as np
import pandas as pd
import pytest

from peerstudy.exceptions import ParameterError
from peerstudy.report import assemble
from peerstudy.report.runner import report_command


def _notebook() -> nbformat.NotebookNode:
    frame = pd.DataFrame({"term": ["arm[peer]", "age"], "tau": [30.0, 20000.0], "p": [1.55e-05, 0.4123],
                          "covered": [True, False], "ci_lower": [np.nan, 0.1234567]})
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Title\n\n**Purpose.** Why.\n\n**How to run.** `make report` and so on.\n\nMore."),
        nbformat.v4.new_code_cell("x", outputs=[
            nbformat.v4.new_output("stream", name="stderr", text=(
                "/home/someone/.venv/lib/python3.12/site-packages/peerstudy/survival/cox/zph.py:121: "
                "PeerstudyWarning: proportional hazards look violated (p < 0.05) for: arm\n"
                "  zph = cox_zph(res.cox)\n")),
            nbformat.v4.new_output("stream", name="stdout", text="log-rank: chi-squared 5.0 on 1 df\n"),
            nbformat.v4.new_output("execute_result", data={"text/html": frame.to_html(), "text/plain": "x"},
                                   execution_count=1),
        ]),
    ]
    return nb


def test_warnings_become_notes_without_paths_and_printed_lines_become_text():
    nb = _notebook()
    notes = assemble.clean_outputs(nb)
    assert notes == ["Proportional hazards look violated (p < 0.05) for: arm."]
    outs = nb.cells[1].outputs
    assert [o.output_type for o in outs] == ["display_data", "execute_result"]  # stderr gone
    assert outs[0].data["text/html"] == '<p class="ps-text">log-rank: chi-squared 5.0 on 1 df</p>'
    table = outs[1].data["text/html"]
    for raw in ("arm[peer]", "NaN", "True", "False", "1.55e-05", "20000.0", "<th>0</th>", "ci_lower", ">tau<"):
        assert raw not in table, raw
    for shown in ("Peer coach vs usual care", "&lt;0.001", "0.41", "yes", "no", "20,000", "Horizon (days)",
                  "95% CI from", "Age (years)", "–"):
        assert shown in table, shown


def test_a_page_gets_its_command_and_a_notes_box(tmp_path):
    nb = _notebook()
    nb.cells[1].outputs[2].data["image/png"] = ""
    path = tmp_path / "02-page.ipynb"
    nbformat.write(nb, path)
    page = assemble.export_html(path, show_code=False, command="peerstudy report --scenario ed_bridge").read_text()
    assert "This page was made by" in page and "peerstudy report --scenario ed_bridge" in page
    assert "make report" not in page and 'class="ps-notes"' in page and "Notes</h2>" in page
    assert "site-packages" not in page and "cdnjs" not in page


def test_the_command_of_a_report_names_no_machine_paths():
    cmd = report_command(data="/home/someone/private/export.csv", mapping="/home/someone/m.yaml",
                         parameters={"seed": 7}, out="/home/someone/reports/r1", formats=["html", "pdf"])
    assert cmd == "peerstudy report --data export.csv --mapping m.yaml -p seed=7 --out r1 --format html,pdf"
    assert report_command(scenario="ed_bridge") == "peerstudy report --scenario ed_bridge"


def test_formats_are_checked():
    assert assemble.check_formats(None) == ("html",)
    assert assemble.check_formats("html,figures") == ("html", "figures")
    assert assemble.check_formats(["pdf"]) == ("html", "single", "pdf")
    with pytest.raises(ParameterError, match="--format must be a comma-separated list of .*got html,docx"):
        assemble.check_formats("html,docx")


def test_the_cli_rejects_an_unknown_format_with_exit_2(tmp_path):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "peerstudy", "report", "--format", "docx", "--out",
                           str(tmp_path / "r")], capture_output=True, text=True)
    assert done.returncode == 2 and "--format must be" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "r").exists()
