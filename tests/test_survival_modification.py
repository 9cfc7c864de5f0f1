"""Effect modification (survival.cox.modification): R's coxph with an interaction, and recovery of a known truth."""

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from peerstudy.exceptions import AnalysisError, FewClustersWarning, ParameterError, SchemaError
from peerstudy.survival.cox.modification import fit_effect_modification, own_clusters

REF = Path(__file__).parent / "reference"


@pytest.fixture(scope="module")
def cohort():
    return pd.read_csv(REF / "coaches_cohort.csv")


@pytest.fixture(scope="module")
def r_fits():
    return json.loads((REF / "coaches.json").read_text())


CASES = {
    "naive": dict(modifier="coach_match"),
    "robust": dict(modifier="coach_match", cluster="coach"),
    "frailty_gamma": dict(modifier="coach_match", frailty="coach"),
    "frailty_gamma_covariates": dict(modifier="coach_match", frailty="coach", covariates=["age", "homeless"]),
    "homeless_robust": dict(modifier="homeless", cluster="site", covariates=["age"]),
    "homeless_breslow": dict(modifier="homeless", ties="breslow"),
}


def _r_name(term: str, *, nested: bool) -> str:
    """R's name of a term: peer / peer:match (nested, numeric columns) or armpeer / armpeer:homeless."""
    arm = "peer" if nested else "armpeer"
    return (term.replace("arm[peer]", arm).replace("coach_match[1]", "match").replace("homeless[1]", "homeless"))


@pytest.mark.parametrize("case", list(CASES))
def test_strata_and_interaction_equal_r(case, cohort, r_fits):
    ref = r_fits[case]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the frailty search warns where R does (inner loop at theta 1)
        res = fit_effect_modification(cohort, **CASES[case])
    ours = dict(zip((_r_name(t, nested=res.nested) for t in res.fit_terms), res.fit_coef))
    assert set(ours) == set(ref["terms"])
    np.testing.assert_allclose([ours[t] for t in ref["terms"]], ref["coef"], rtol=1e-6)
    levels = list(res.strata)
    for lev, r in zip(levels, ref["strata"]):
        assert res.strata[lev]["coef"] == pytest.approx(r["coef"], rel=1e-6)
        assert res.strata[lev]["se"] == pytest.approx(r["se"], rel=1e-6)
    term = next(iter(res.interaction["terms"].values()))
    assert term["coef"] == pytest.approx(ref["interaction"]["coef"], rel=1e-6)
    assert term["se"] == pytest.approx(ref["interaction"]["se"], rel=1e-6)
    assert res.interaction["chisq"] == pytest.approx(ref["interaction"]["chisq"], rel=1e-6)
    assert res.interaction["p"] == pytest.approx(ref["interaction"]["p"], rel=1e-6)
    assert res.interaction["df"] == ref["interaction"]["df"] == 1
    if "theta" in ref:
        assert res.fit["variance"] == pytest.approx(ref["theta"], rel=1e-6)
    assert res.nested == (CASES[case]["modifier"] == "coach_match")


def test_few_coaches_warn_for_the_sandwich(cohort):
    with pytest.warns(FewClustersWarning, match=r"rests on 12 clusters of 'coach' in the peer arm \(fewer than 30\)"):
        fit_effect_modification(cohort, "coach_match", cluster="coach")


def test_result_reads_and_serialises(cohort):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fit_effect_modification(cohort, "coach_match", cluster="coach")
    d = json.loads(json.dumps(res.to_dict()))
    assert d["levels"] == ["0", "1"] and d["reference_arm"] == "usual_care" and d["treated_arm"] == "peer"
    assert d["model"] == "cox_cluster_robust" and d["cluster"] == "coach" and d["nested"] is True
    s = d["strata"]["1"]
    assert s["ci_lower"] < s["hr"] < s["ci_upper"]
    assert s["hr"] == pytest.approx(np.exp(s["coef"]))
    assert "arm[peer]:coach_match[1]" in d["interaction"]["terms"]
    html = res._repr_html_()
    assert "coach_match = 1" in html and "Wald" in html


def test_own_clusters_only_for_usual_care(cohort):
    out = own_clusters(cohort, "coach")
    uc = (cohort["arm"] == "usual_care").to_numpy()
    assert out["coach"].notna().all()
    assert out.loc[uc, "coach"].nunique() == uc.sum()                # one cluster each
    assert (out.loc[~uc, "coach"] == cohort.loc[~uc, "coach"]).all()  # coaches as they were
    broken = cohort.copy()
    broken.loc[np.flatnonzero(~uc)[0], "coach"] = np.nan           # a peer-arm client without a coach
    assert own_clusters(broken, "coach") is broken                    # left for the analysis to refuse


def test_bad_input_is_named(cohort):
    with pytest.raises(ParameterError, match="cluster or frailty, not both"):
        fit_effect_modification(cohort, cluster="coach", frailty="coach")
    broken = cohort.copy()
    peer_row = np.flatnonzero(cohort["arm"] == "peer")[0]
    broken.loc[peer_row, "coach_match"] = np.nan
    with pytest.raises(SchemaError, match=r"column 'coach_match' \(effect modifier\) has 1 missing value\(s\) in the treated arm"):
        fit_effect_modification(broken)
    part = cohort.copy()
    part.loc[np.flatnonzero(cohort["arm"] == "usual_care")[0], "coach_match"] = 1
    with pytest.raises(SchemaError, match="missing for some but not all of the reference arm"):
        fit_effect_modification(part)
    with pytest.raises(AnalysisError, match="needs at least 2 levels"):
        fit_effect_modification(cohort.assign(coach_match=np.where(cohort["arm"] == "peer", 1.0, np.nan)))
    with pytest.raises(SchemaError, match="missing column"):
        fit_effect_modification(cohort, "no_such_column")
    none = cohort.assign(event=np.where((cohort["arm"] == "peer") & (cohort["coach_match"] == 1), 0, cohort["event"]))
    with pytest.raises(AnalysisError, match="no events in the treated arm at coach_match = 1"):
        fit_effect_modification(none)
    with pytest.raises(ParameterError, match="distribution must be one of"):
        fit_effect_modification(cohort, frailty="coach", distribution="lognormal")


_FLAT = {f"covariates.{c}.hazard_ratio": 1.0 for c in ("age", "homeless", "stimulant_use", "injects", "unemployed",
                                                       "depression")}


def test_recovers_the_simulated_match_effect_without_heterogeneity():
    """No covariate effects and no frailty: the Cox model's strata are the simulated hazard ratios (4 SE)."""
    from peerstudy.scenario import apply_overrides, preset
    from peerstudy.simulation.cohort import simulate_cohort

    sc = apply_overrides(preset("coach_clustered"), {**_FLAT, "n": 40_000, "n_sites": 20, "coaches.per_site": 50,
                                                     "frailty_variance": 0.0, "coaches.frailty_variance": 0.0})
    truth = simulate_cohort(sc, rng=5, n=2).attrs["truth"]["coach"]
    res = fit_effect_modification(simulate_cohort(sc, rng=5), cluster="coach")
    inter = res.interaction["terms"]["arm[peer]:coach_match[1]"]
    assert abs(inter["coef"] - truth["log_match_hazard_ratio"]) < 4 * inter["se"]
    for lev, key in (("0", "log_hazard_ratio_unmatched"), ("1", "log_hazard_ratio_matched")):
        assert abs(res.strata[lev]["coef"] - truth[key]) < 4 * res.strata[lev]["se"]


def test_frailty_model_recovers_the_match_effect_under_coach_frailty():
    """Coach frailty 0.3 and the covariates: the frailty Cox with covariates recovers the match effect (4 SE).

    (Its strata against usual care are not the conditional hazard ratios: usual care has no coach frailty, which
    clusters of one do not represent; see the module docstring.)"""
    from peerstudy.scenario import apply_overrides, preset
    from peerstudy.simulation.cohort import simulate_cohort

    sc = apply_overrides(preset("coach_clustered"), {"n": 40_000, "n_sites": 20, "coaches.per_site": 50,
                                                     "frailty_variance": 0.0, "coaches.frailty_variance": 0.3})
    df = simulate_cohort(sc, rng=6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fit_effect_modification(df, frailty="coach", covariates=["age", "homeless", "stimulant_use", "injects",
                                                                       "unemployed", "depression"])
    inter = res.interaction["terms"]["arm[peer]:coach_match[1]"]
    assert abs(inter["coef"] - np.log(0.8)) < 4 * inter["se"]
    assert res.fit["variance"] > 0.1 and res.fit["lrt_p"] < 1e-6
