"""``peerstudy evidence`` end to end: the pooled table equals metafor's stored output; bad flags exit 2 naming them."""

from __future__ import annotations

import json
import math

import pytest

from peerstudy.cli import main
from peerstudy.evidence import meta_analysis, trial_effects

from conftest import REFERENCE

R = json.loads((REFERENCE / "metafor.json").read_text())


@pytest.mark.parametrize("method", ["REML", "DL", "FE"])
@pytest.mark.parametrize("hk", [False, True])
def test_json_equals_metafor_for_the_odds_ratio(capsys, method, hk):
    assert main(["evidence", "--method", method, "--json"] + (["--hartung-knapp"] if hk else [])) == 0
    out = json.loads(capsys.readouterr().out)
    ref = R["trials"][f"{method}_{'knha' if hk else 'z'}"]
    p = out["pooled"]
    got = [p["estimate"], p["se"], p["pvalue"], p["ci_lower"], p["ci_upper"], p["tau2"], p["q"], p["i2"]]
    want = [ref["b"], ref["se"], ref["pval"], ref["ci_lb"], ref["ci_ub"], ref["tau2"], ref["QE"], ref["I2"]]
    assert got == pytest.approx(want, rel=1e-6, abs=1e-10)
    assert [s["weight"] for s in out["studies"]] == pytest.approx(ref["weights"], rel=1e-6)
    assert p["estimate_reported"] == pytest.approx(math.exp(ref["b"]), rel=1e-6)
    assert out["measure"] == "OR" and out["test"] == ("knha" if hk else "z")
    assert [s["study_id"] for s in out["studies"]] == R["trials"]["study_id"]


@pytest.mark.parametrize("measure", ["rr", "RD"])
def test_other_measures_are_the_package_call(capsys, measure):
    assert main(["evidence", "--measure", measure, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    eff = trial_effects(measure=measure.upper())
    res = meta_analysis(eff["yi"], eff["vi"], measure=measure.upper())
    assert out["pooled"]["estimate"] == pytest.approx(res.estimate, rel=1e-12)
    assert out["measure"] == measure.upper()
    if measure.upper() == "RD":  # an additive measure is reported as it is
        assert out["pooled"]["estimate_reported"] == out["pooled"]["estimate"]


def test_text_table_shows_every_study_the_pooled_row_and_heterogeneity(capsys):
    assert main(["evidence", "--hartung-knapp"]) == 0
    text = capsys.readouterr().out
    eff = trial_effects()
    res = meta_analysis(eff["yi"], eff["vi"], measure="OR", test="knha")
    for r in eff.itertuples():
        assert r.label in text and f"{r.unfavourable_peer}/{r.n_peer}" in text
    assert "pooled (REML, Hartung-Knapp)" in text and f"{math.exp(res.estimate):.2f}" in text
    assert f"I2 = {res.i2:.1f}%" in text and "prediction interval" in text


@pytest.mark.parametrize("argv,flag", [
    (["--measure", "SMD"], "--measure"),
    (["--method", "PM"], "--method"),
    (["--hartung-knapp=yes"], "--hartung-knapp"),
    (["--json", "extra"], "unrecognized arguments"),
])
def test_bad_flags_exit_2_with_one_line_naming_the_flag(capsys, argv, flag):
    with pytest.raises(SystemExit) as exc:
        main(["evidence"] + argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and flag in err[0] and "Traceback" not in err[0]
