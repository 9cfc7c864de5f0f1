"""Report notebooks 04 (study design) and 05 (programme data), run by the runner on small settings.

Recorded numbers are compared with (a) rpact's stored output (tests/reference/design_rpact_*.csv) for the
events and power of the formula, (b) the same package calls run directly (the notebooks pass parameters
and record results faithfully), (c) the planted mistakes of the messy export, as
``peerstudy.make_data.messy_export`` generates them, for the flow, and (d) simulation truth within Monte
Carlo error. A run on the export given as ``--data`` checks privacy: no row-level data in the HTML or
results, and counts from 1 to 10 shown as "<11".
"""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from peerstudy._io import sha256_file
from peerstudy.design.power import power_survival, sample_size
from peerstudy.design.study import run_study
from peerstudy.exceptions import DataError
from peerstudy.data.programme import read_export
from peerstudy.make_data import messy_export
from peerstudy.report import list_notebooks, read_notebook_spec, run_report
from peerstudy.scenario import preset
from peerstudy.survival import analyse_cohort
from peerstudy.simulation.truth import compute_truth

ROOT = Path(__file__).resolve().parents[1]
NB = ROOT / "notebooks"
NB04, NB05 = NB / "04-study-design.ipynb", NB / "05-programme-data.ipynb"
EXPORT = ROOT / "data" / "synthetic" / "messy_export.csv"
MAPPING = ROOT / "data" / "synthetic" / "messy_export.mapping.yaml"
REF = ROOT / "tests" / "reference"
SEED, N, REPS = 5, 400, 60
GRID = {"allocation": ["individual", "cluster"], "effect_stops_day": [None, 90]}
# the planted mistakes of messy_export() under the names of the rules that catch them
RULES = {"reason typo": "unknown reason", "missing date": "missing admission date", "duplicate id": "duplicate id",
         "discharge before admission": "discharge before admission"}


def test_notebooks_are_listed_declare_their_parameters_and_are_thin():
    stems = [p.stem for p in list_notebooks()]
    assert "04-study-design" in stems and "05-programme-data" in stems
    expected = {NB04: {"scenario": "str", "seed": "int", "reps": "int", "n": "int"},
                NB05: {"scenario": "str", "seed": "int", "data": "str", "mapping": "str"}}
    for path, params in expected.items():
        spec = read_notebook_spec(path)
        declared = {k: v.type for k, v in spec.parameters.items()}
        assert params.items() <= declared.items(), (path.name, declared)
        assert all(v.help for v in spec.parameters.values()), f"{path.name}: every parameter needs a # help"
        nb = json.loads(path.read_text())
        first = "".join(nb["cells"][0]["source"])
        assert nb["cells"][0]["cell_type"] == "markdown" and "**Purpose.**" in first and "**How to run.**" in first
        code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
        assert not re.search(r"^\s*(def|class)\s|\blambda\b", code, flags=re.M), f"{path.name} defines a function"
        assert all(not c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code"), "commit without outputs"
    assert read_notebook_spec(NB04).parameters["reps"].default <= 300  # the default report stays fast


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    out = tmp_path_factory.mktemp("nb45") / "sim"
    return run_report([NB04, NB05], scenario="outpatient_default",
                      parameters={"seed": str(SEED), "n": str(N), "reps": str(REPS)}, out=out, progress=False)


def test_formula_numbers_equal_rpact_and_the_design_module(simulated):
    got = simulated.results["04-study-design"]
    ref = pd.read_csv(REF / "design_rpact_samplesize.csv")
    row = ref[(ref.hazard_ratio == 0.8) & (ref.alpha == 0.05) & (ref.power == 0.8) & (ref.allocation == 0.5)
              & (ref.method == "schoenfeld")].iloc[0]
    need = got["sample_size"]
    assert need["events_exact"] == pytest.approx(row["events"], rel=1e-6)
    assert need["events"] == math.ceil(row["events"])
    pw = pd.read_csv(REF / "design_rpact_power.csv")
    prow = pw[(pw.hazard_ratio == 0.8) & (pw.alpha == 0.05) & (pw.events == need["events"])
              & (pw.allocation == 0.5) & (pw.method == "schoenfeld")].iloc[0]
    assert need["power"] == pytest.approx(prow["power"], rel=1e-6)
    # participants from the scenario's timing: exponential retention matched to the true retention at the end
    sc = preset("outpatient_default").replace(n=N)
    end = compute_truth(sc).to_dict()["estimands"]["net_survival"]["usual_care"][str(sc.follow_up_days)]
    timing = dict(allocation=0.5, control_median=sc.follow_up_days * math.log(2) / -math.log(end),
                  accrual=sc.enrolment_days, follow_up=sc.follow_up_days, follow_up_type="fixed",
                  dropout_per_year=1 - math.exp(math.log(1 - sc.loss_to_follow_up_per_year) - sc.incarceration_rate
                                                - sc.death_rate))
    assert need["subjects"] == sample_size(0.8, **timing).subjects
    assert got["planned_power"]["power"] == pytest.approx(power_survival(0.8, subjects=N, **timing).power, rel=1e-12)
    by_hr = {r["hazard ratio"]: r for r in got["by_hazard_ratio"]}
    assert by_hr[0.7]["dropouts needed"] == sample_size(0.7, **timing).events
    assert by_hr[0.9]["participants needed"] == sample_size(0.9, **timing).subjects


def test_simulation_equals_the_study_run_directly_and_agrees_with_the_formula(simulated):
    got = simulated.results["04-study-design"]
    direct = run_study(preset("outpatient_default"), n=N, reps=REPS, seed=SEED, methods=("logrank", "cox_robust"),
                       grid=GRID)
    d = json.loads(json.dumps(direct.to_dict(), default=float).replace("NaN", "null"))
    assert got["study"]["reps"] == REPS and got["study"]["seed"] == SEED
    for g, e in zip(got["study"]["grid"], d["grid"]):
        assert g["point"] == e["point"]
        for method in ("logrank", "cox_robust"):
            assert g["methods"][method]["power"] == pytest.approx(e["methods"][method]["power"], abs=1e-12)
            assert g["methods"][method]["bias"] == pytest.approx(e["methods"][method]["bias"], abs=1e-12)
    sim = got["simulated"]
    base = d["grid"][0]
    # people randomised, no cap: the log-rank test sits on the formula for the dropouts seen (Monte Carlo error)
    assert abs(sim["power"] - base["analytic"]["power_schoenfeld"]) < 4 * sim["power_mcse"]
    # a cap at day 90 costs power: the formula at the designed hazard ratio cannot see it
    assert base["analytic"]["power_schoenfeld"] - sim["power_cap"] > 3 * sim["power_cap_mcse"]
    # sites randomised: the estimate varies far more than when people are (design effect well above 1)
    assert sim["design_effect_sites"] > 2
    assert sim["icc_sites"] == pytest.approx((sim["design_effect_sites"] - 1) / (N / 8 - 1))


def test_design_summary_is_built_from_the_numbers(simulated):
    got = simulated.results["04-study-design"]
    line = got["summary"]
    need, sim = got["sample_size"], got["simulated"]
    assert f"must observe about {need['events']:,} dropouts" in line
    assert f"about {need['subjects']:,} participants" in line
    assert f"The planned {N:,} participants give {got['planned_power']['power']:.0%} power by the formula" in line
    assert f"and {sim['power']:.0%} (95% interval" in line and f"in {REPS} simulated studies" in line
    assert f"simulated power falls to {sim['power_cap']:.0%}" in line
    index = (simulated.path / "index.html").read_text()
    assert line.replace("'", "&#x27;") in index


def test_programme_flow_matches_the_planted_mistakes_and_the_analysis(simulated):
    got = simulated.results["05-programme-data"]
    frame, _, planted = messy_export()
    flow = got["flow"]
    assert flow["received"] == len(frame)
    assert flow["excluded"] == {RULES[k]: len(v) for k, v in planted.items()}
    assert flow["excluded_total"] == sum(len(v) for v in planted.values())
    assert flow["analysed"] == len(frame) - flow["excluded_total"]
    data = read_export(EXPORT, mapping=MAPPING, invalid_rows="exclude")
    assert {k: v for k, v in flow.items() if k in ("received", "excluded", "analysed")} == data.flow
    assert flow["arms"] == data.cohort["arm"].astype(str).value_counts().to_dict()
    assert {p["rule"]: p["rows"] for p in got["problems"]} == {RULES[k]: len(v) for k, v in planted.items()}
    res = analyse_cohort(data.cohort, horizons=(30, 90, 180)).to_dict()
    for arm in ("usual_care", "peer"):
        for day in ("30", "90", "180"):
            assert got["analysis"]["retention"][arm][day] == pytest.approx(res["km"][arm]["survival"][day], abs=1e-12)
    assert got["analysis"]["hazard_ratio"]["hr"] == pytest.approx(res["cox"]["terms"]["arm[peer]"]["hr"], rel=1e-9)
    assert got["summary"].startswith(f"Of {len(frame)} records received, {flow['excluded_total']} were excluded (")
    assert simulated.manifest["notebooks"]["05-programme-data"]["status"] == "ok"


def test_report_from_the_export_as_data_hides_rows_and_small_counts(tmp_path):
    export = tmp_path / "programme_export.csv"
    shutil.copyfile(EXPORT, export)
    mapping = yaml.safe_load(MAPPING.read_text())
    mapping["invalid_rows"] = "exclude"  # the runner reads the data once before any kernel starts
    mapping_path = tmp_path / "programme.mapping.yaml"
    mapping_path.write_text(yaml.safe_dump(mapping))
    rep = run_report([NB05], data=str(export), mapping=str(mapping_path), out=tmp_path / "rep", progress=False)
    assert rep.manifest["data"]["sha256"] == sha256_file(export) and rep.manifest["privacy"]["small_counts_suppressed"]
    got = rep.results["05-programme-data"]
    flow = got["flow"]
    # 60 received beside 54 analysed would give back the 6 excluded: the total is suppressed with them
    assert flow["received"] == "suppressed" and flow["excluded_total"] == "<11" and flow["analysed"] == "54"
    assert set(flow["excluded"].values()) == {"<11"}
    assert all(p["rows"] == "<11" for p in got["problems"])
    text = json.dumps(got)
    assert not re.search(r"\bC1\d{3}\b", text) and '"rows": [' not in text
    page = (rep.path / "05-programme-data.html").read_text()
    assert ">&lt;11<" in page and "><11<" not in page  # escaped in every table cell
    ids = set(pd.read_csv(EXPORT, dtype=str)["Client ID"])
    assert not [i for i in ids if re.search(rf"\b{i}\b", page)], "participant ids in the report"
    assert not re.search(r"\bat rows? \d", page)  # problem messages (with row numbers) are not shown
    assert "participant_id" not in page
    assert "simulated" not in got["summary"]


# ----- the figures the notebooks use (peerstudy.present.plots.design) -----------------------------------


def _texts(ax) -> str:
    return "\n".join(t.get_text() for t in ax.texts)


def test_plot_flow_shows_every_count_or_hides_small_ones():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from peerstudy.present.plots import design as plots_design

    flow = read_export(EXPORT, mapping=MAPPING, invalid_rows="exclude").flow
    ax = plots_design.plot_flow(flow, arms={"usual_care": 30, "peer": 24})
    shown = _texts(ax)
    assert f"Records received\n{flow['received']}" in shown and f"Analysed\n{flow['analysed']}" in shown
    assert all(f"{k}: {v}" in shown for k, v in flow["excluded"].items()) and "<11" not in shown
    hidden = _texts(plots_design.plot_flow(flow, arms={"usual_care": 30, "peer": 24}, suppress=True))
    assert all(f"{k}: <11" in hidden for k in flow["excluded"]) and "Excluded: <11" in hidden
    # one small arm among two with a known total: its partner is hidden too (complementary suppression)
    lone = _texts(plots_design.plot_flow({"received": 40, "excluded": {}, "analysed": 40},
                                         arms={"usual_care": 35, "peer": 5}, suppress=True))
    assert "Usual care\nsuppressed" in lone and "Peer coach\n<11" in lone and "Analysed\n40" in lone
    with pytest.raises(DataError, match=r"flow does not add up: received 60 != analysed 50 \+ excluded 6"):
        plots_design.plot_flow({**flow, "analysed": 50})
    with pytest.raises(DataError, match=r"plot_flow needs flow keys 'analysed'"):
        plots_design.plot_flow({"received": 3, "excluded": {}})
    plt.close("all")


def test_design_figures_draw_their_tables_and_name_missing_columns():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from peerstudy.present.plots import design as plots_design

    curves = pd.DataFrame({"hazard_ratio": [0.8, 0.8, 0.9, 0.9], "subjects": [400, 800, 400, 800],
                           "power": [0.4, 0.7, 0.15, 0.25]})
    ax = plots_design.plot_power_curves(curves, mark=800)
    assert len(ax.lines) == 4 and [t.get_text() for t in ax.get_legend().get_texts()] == ["HR 0.8", "HR 0.9"]
    assert list(ax.lines[0].get_ydata()) == [0.4, 0.7]
    table = pd.DataFrame({"design": ["a", "a", "b", "b"], "method": ["logrank", "cox_robust"] * 2,
                          "power": [0.6, 0.7, 0.3, 0.4], "power_mcse": [0.03] * 4, "formula": [0.65, 0.65, 0.66, 0.66]})
    ax = plots_design.plot_simulation_vs_formula(table)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]
    assert "simulated, Cox, site-robust SE" in [t.get_text() for t in ax.get_legend().get_texts()]
    with pytest.raises(DataError, match=r"plot_events_participants needs column\(s\) 'subjects'"):
        plots_design.plot_events_participants(pd.DataFrame({"follow_up": [90], "events": [631]}))
    with pytest.raises(DataError, match=r"plot_design_effect needs a pandas DataFrame; got dict"):
        plots_design.plot_design_effect({"icc": [0.0]})
    with pytest.raises(DataError, match="needs at least one row"):
        plots_design.plot_power_curves(curves.iloc[:0])
    plt.close("all")
