"""The three report notebooks, run by the runner on small cohorts.

Key numbers in results.json are compared (a) with the same analysis run directly through the
package on the same seed (the notebooks pass parameters and record results faithfully) and
(b) with the simulation truth within Monte Carlo error. A run on a data file checks privacy:
small counts are hidden in tables and in results.json, and the data file's SHA-256 is recorded.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from peerstudy._io import sha256_file
from peerstudy.report import list_notebooks, read_notebook_spec, run_report
from peerstudy.data.schema import COVARIATES, write_cohort
from peerstudy.simulation.cohort import simulate_cohort
from peerstudy.survival import analyse_cohort, fit_fine_gray

SEED, N = 3, 400
MINE = ["01", "02", "03"]  # other notebooks (design, observational) have their own tests


def test_every_notebook_declares_the_common_parameters_and_opens_with_a_header():
    paths = list_notebooks()
    assert {"01-simulate-cohort", "02-retention-analysis", "03-competing-endings"} <= {p.stem for p in paths}
    for p in paths:
        spec = read_notebook_spec(p)
        declared = {k: v.type for k, v in spec.parameters.items()}
        assert {"scenario": "str", "seed": "int"}.items() <= declared.items()  # what the runner needs
        if p.stem[:2] in MINE:
            assert {"n": "int", "data": "str", "mapping": "str"}.items() <= declared.items()
        assert all(v.help for v in spec.parameters.values()), f"{p.name}: every parameter needs a # help"
        nb = json.loads(p.read_text())
        first = nb["cells"][0]
        assert first["cell_type"] == "markdown" and "**How to run.**" in "".join(first["source"])
        code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
        assert not re.search(r"^\s*(def|class)\s", code, flags=re.M), f"{p.name} defines a function or class"


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    out = tmp_path_factory.mktemp("nb") / "sim"
    return run_report(scenario="outpatient_default", parameters={"seed": str(SEED), "n": str(N)}, out=out,
                      only=MINE, progress=False)


@pytest.fixture(scope="module")
def direct():
    df = simulate_cohort("outpatient_default", rng=SEED, n=N)
    res = analyse_cohort(df, covariates=COVARIATES, cluster="site", horizons=(30, 90, 180))
    return df, json.loads(json.dumps(res.to_dict(), default=float).replace("NaN", "null"))


def test_results_equal_the_package_run_directly(simulated, direct):
    df, expected = direct
    got = simulated.results["02-retention-analysis"]["analysis"]
    assert got["n"] == N and got["events"] == int(df["event"].sum())
    for arm in ("usual_care", "peer"):
        for day in ("30", "90", "180"):
            assert got["km"][arm]["survival"][day] == pytest.approx(expected["km"][arm]["survival"][day], abs=1e-12)
    assert got["cox"]["terms"]["arm[peer]"]["coef"] == pytest.approx(expected["cox"]["terms"]["arm[peer]"]["coef"],
                                                                     rel=1e-9)
    assert got["logrank"]["statistic"] == pytest.approx(expected["logrank"]["statistic"], rel=1e-9)
    fg = fit_fine_gray(df, covariates=("arm",)).to_dict()
    got_fg = simulated.results["03-competing-endings"]["fine_gray"]
    assert got_fg["terms"]["arm[peer]"]["hr"] == pytest.approx(fg["terms"]["arm[peer]"]["hr"], rel=1e-9)


def test_estimates_near_the_simulation_truth(simulated, direct):
    df, _ = direct
    truth = df.attrs["truth"]
    res = simulated.results["02-retention-analysis"]["analysis"]
    for arm in ("usual_care", "peer"):
        s = res["km"][arm]["survival"]["90"]
        mc_se = np.sqrt(s * (1 - s) / res["km"][arm]["n"])
        assert abs(s - truth["estimands"]["net_survival"][arm]["90"]) < 4 * mc_se
        m, se = res["rmst"]["180"][arm]["estimate"], res["rmst"]["180"][arm]["se"]
        assert abs(m - truth["estimands"]["rmst"]["180"][arm]) < 4 * se
    # the primary analysis (stratified by site, adjusted for every covariate) against its own estimand
    primary = res["primary"]
    assert primary["method"] == "cox_stratified" and primary["estimand_key"] == "conditional"
    term = primary["term"]
    assert abs(term["coef"] - truth["estimands"]["log_hazard_ratio"]["conditional"]) < 4 * term["se"]
    cif = simulated.results["03-competing-endings"]["cif"]["cif"]["dropout"]["usual_care"]["180"]
    true_cif = truth["estimands"]["cif"]["dropout"]["usual_care"]["180"]
    assert abs(cif - true_cif) < 4 * np.sqrt(true_cif * (1 - true_cif) / (N / 2))


def test_summaries_are_built_from_the_results(simulated):
    res = simulated.results["02-retention-analysis"]["analysis"]
    line = simulated.results["02-retention-analysis"]["summary"]
    peer, uc = (round(100 * res["km"][a]["survival"]["90"]) for a in ("peer", "usual_care"))
    assert line.startswith(f"At 90 days, {peer}% of people with a peer coach were still in treatment, "
                           f"against {uc}% with usual care")
    days = round(res["rmst"]["180"]["difference"]["estimate"])
    assert f"peer support added {abs(days)} days" in line or f"took away {abs(days)} days" in line
    index = (simulated.path / "index.html").read_text()
    for name in ("01-simulate-cohort", "02-retention-analysis", "03-competing-endings"):
        assert simulated.results[name]["summary"].replace("'", "&#x27;") in index
    m = simulated.manifest
    assert m["seed"] == SEED and m["scenario"]["resolved"]["n"] == N and m["data"] is None
    assert all(v["status"] == "ok" for v in m["notebooks"].values())


def test_report_from_a_data_file_hides_small_counts(tmp_path):
    df = simulate_cohort("outpatient_default", rng=8, n=160)
    path = tmp_path / "programme.csv"
    write_cohort(df, path)
    rep = run_report(data=str(path), only=["01", "03"], out=tmp_path / "reports" / "programme", progress=False)
    assert rep.manifest["data"]["sha256"] == sha256_file(path)
    assert rep.manifest["privacy"]["small_counts_suppressed"] is True
    assert rep.manifest["seed"] is None and rep.manifest["scenario"] is None
    endings = rep.results["01-simulate-cohort"]["endings"]
    cells = [v for col in endings.values() for v in col.values()]
    assert "<11" in cells
    leading = [int(c.split()[0].replace(",", "")) for c in cells if c not in ("<11", "suppressed")]
    assert not any(1 <= v <= 10 for v in leading)
    page = (rep.path / "01-simulate-cohort.html").read_text()
    assert "&lt;11" in page
    assert "participant_id" not in page  # no row-level data
    assert "simulated" not in rep.results["01-simulate-cohort"]["summary"]
