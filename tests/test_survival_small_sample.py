"""The Mancl-DeRouen small-sample cluster sandwich against its R implementation (tests/reference/small_sample.R),
the few-clusters warning, and the input rules."""

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from peerstudy.exceptions import AnalysisError, FewClustersWarning, ParameterError
from peerstudy.survival.cox.engine import fit_cox
from peerstudy.survival.cox.small_sample import cluster_information

REF = Path(__file__).parent / "reference"
R = json.loads((REF / "small_sample.json").read_text())


def _cohort(name):
    return pd.read_csv(REF / name)


@pytest.mark.parametrize("case, file, covariates", [
    ("cluster_arm", "frailty_cluster.csv", ["arm"]),
    ("few_sites_adjusted", "frailty_few_sites.csv", ["arm", "age", "homeless"]),
])
def test_md_variance_equals_r(case, file, covariates):
    ref = R[case]
    fit = fit_cox(_cohort(file), covariates=covariates, cluster="site", small_sample="md")
    np.testing.assert_allclose(fit.coef, np.atleast_1d(ref["coef"]), rtol=1e-7)  # both converge to ~1e-9
    np.testing.assert_allclose(fit.var, np.atleast_2d(ref["md_var"]), rtol=1e-7)
    assert fit.n_clusters == ref["n_clusters"] and fit.df == ref["df"] and fit.variance == "robust_md"
    terms = fit.to_dict()["terms"]
    for i, t in enumerate(fit.terms):
        for key in ("p", "ci_lower", "ci_upper"):
            assert terms[t][key] == pytest.approx(np.atleast_1d(ref[key])[i], rel=1e-7)
        assert terms[t]["df"] == ref["df"]


def test_md_is_larger_than_the_plain_sandwich_and_plain_equals_r():
    for case, file, cov in (("cluster_arm", "frailty_cluster.csv", ["arm"]),
                            ("few_sites_adjusted", "frailty_few_sites.csv", ["arm", "age", "homeless"])):
        with pytest.warns(FewClustersWarning):
            plain = fit_cox(_cohort(file), covariates=cov, cluster="site")
        np.testing.assert_allclose(plain.robust_se, np.atleast_1d(R[case]["robust_se"]), rtol=1e-8)
        md = fit_cox(_cohort(file), covariates=cov, cluster="site", small_sample="md")
        assert np.all(md.robust_se > plain.robust_se)


def test_information_of_the_clusters_sums_to_the_information_and_ignores_centring():
    df = _cohort("frailty_few_sites.csv")
    fit = fit_cox(df, covariates=["arm", "age", "homeless"], cluster="site", small_sample="md", ties="breslow")
    d = fit.internals["data"]
    om = cluster_information(d.X, d.stop, d.start, d.status, d.strata, d.cluster, fit.coef)
    np.testing.assert_allclose(om.sum(axis=0), np.linalg.inv(fit.internals["naive_var"]), rtol=1e-8)
    shifted = cluster_information(d.X + np.array([3.0, -40.0, 1.0]), d.stop, d.start, d.status, d.strata, d.cluster,
                                  fit.coef)
    np.testing.assert_allclose(shifted, om, rtol=1e-7, atol=1e-9)


def test_few_clusters_warning_names_the_number_and_the_options():
    with pytest.warns(FewClustersWarning, match=r"rests on 4 clusters.*small_sample='md', t on 3 df.*permutation"):
        fit_cox(_cohort("frailty_few_sites.csv"), covariates=["arm"], cluster="site")


def test_no_warning_with_many_clusters_or_with_the_correction():
    df = _cohort("frailty_few_sites.csv").reset_index().rename(columns={"index": "pid"})
    with warnings.catch_warnings():
        warnings.simplefilter("error", FewClustersWarning)
        fit_cox(df, covariates=["arm"], cluster="pid")
        fit_cox(df, covariates=["arm"], cluster="site", small_sample="md")


def test_small_sample_needs_a_cluster_and_a_known_method():
    df = _cohort("frailty_few_sites.csv")
    with pytest.raises(ParameterError, match="give cluster=COLUMN"):
        fit_cox(df, covariates=["arm"], small_sample="md")
    with pytest.raises(ParameterError, match="small_sample"):
        fit_cox(df, covariates=["arm"], cluster="site", small_sample="kc2")


def test_stratifying_by_the_allocation_unit_is_refused_clearly():
    with pytest.raises(AnalysisError, match=r"'arm\[peer\]' is constant within every stratum"):
        fit_cox(_cohort("frailty_cluster.csv"), covariates=["arm"], strata="site")
