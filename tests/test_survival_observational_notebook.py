"""Notebook 06 shows naive, IPTW, g-formula and AIPW beside the truth and the E-value, in observational words.

The notebook is executed end to end under papermill by tests/test_survival_observational.py
(test_notebook_runs_on_a_small_scenario); here its content is checked without running it again.
"""

import json
import re
from pathlib import Path

NB = Path(__file__).parents[1] / "src" / "peerstudy" / "notebooks" / "06-observational.ipynb"


def _cells():
    return json.loads(NB.read_text(encoding="utf-8"))["cells"]


def test_calls_the_front_door_for_every_estimator():
    code = "\n".join("".join(c["source"]) for c in _cells() if c["cell_type"] == "code")
    for call in ("ps.gformula_survival(", "ps.aipw_survival(", "ps.evalue_risks(", "ps.evalue_hazard_ratio(",
                 "iptw_analysis(", '"truth"', "wording.retention_sentence(", "wording.rmst_sentence(",
                 "wording.hazard_ratio_sentence(", "se_stacked"):
        assert call in code, call
    assert not re.search(r"^\s*(def|class)\s", code, flags=re.M)


def test_observational_wording():
    text = "\n".join("".join(c["source"]) for c in _cells() if c["cell_type"] == "markdown")
    assert "was associated with" in text and "E-value" in text
    start = text.index("## Standardisation (g-formula)")
    mine = text[start:]
    for verb in ("caused", "causes", "led to", "improved retention", "reduced dropout"):
        assert verb not in mine, verb


def test_every_cell_has_an_id_and_no_outputs():
    for c in _cells():
        assert c.get("id")
        if c["cell_type"] == "code":
            assert c["outputs"] == [] and c["execution_count"] is None


def test_no_cluster_sandwich_on_a_handful_of_sites():
    code = "\n".join("".join(c["source"]) for c in _cells() if c["cell_type"] == "code")
    assert 'cluster="site"' not in code
    text = "\n".join("".join(c["source"]) for c in _cells() if c["cell_type"] == "markdown")
    assert "by participant" in text


def test_reading_is_generated_not_fixed():
    cells = _cells()
    i = next(k for k, c in enumerate(cells) if "".join(c["source"]).startswith("## Reading the results"))
    assert cells[i + 1]["cell_type"] == "code" and "display(Markdown(" in "".join(cells[i + 1]["source"])
