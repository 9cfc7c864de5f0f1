"""Shared frailty Cox model against R's coxph(... + frailty()) (stored by tests/reference/frailty.R)."""

from __future__ import annotations

import doctest
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from peerstudy.exceptions import AnalysisError, ConvergenceWarning, ParameterError, SchemaError
from peerstudy.survival.cox import frailty as frailty_module
from peerstudy.survival.cox.frailty import FrailtyCoxResult, fit_frailty_cox

REF = Path(__file__).parent / "reference"
R = json.loads((REF / "frailty.json").read_text())
COVS = ["arm", "age", "homeless"]
R_NAMES = {"armpeer": "arm[peer]"}

# reference case -> (data file, covariates, cluster, distribution, keyword arguments)
CASES = {
    "cluster_gamma": ("frailty_cluster.csv", ["arm"], "site", "gamma", {}),
    "cohort_gamma": ("frailty_cohort.csv", COVS, "site", "gamma", {}),
    "cohort_gamma_breslow": ("frailty_cohort.csv", COVS, "site", "gamma", {"ties": "breslow"}),
    "cohort_gamma_eps": ("frailty_cohort.csv", COVS, "site", "gamma", {"eps": 1e-10, "outer_max": 30}),
    "cohort_gaussian": ("frailty_cohort.csv", COVS, "site", "gaussian", {}),
    "few_gamma": ("frailty_few_sites.csv", COVS, "site", "gamma", {}),
    "few_gaussian": ("frailty_few_sites.csv", COVS, "site", "gaussian", {}),
    "rats_gamma": ("frailty_rats.csv", ["rx"], "litter", "gamma", {"event": "status"}),
    "rats_gaussian": ("frailty_rats.csv", ["rx"], "litter", "gaussian", {"event": "status"}),
}


@pytest.fixture(scope="module")
def frames():
    return {f: pd.read_csv(REF / f) for f in {c[0] for c in CASES.values()}}


@pytest.fixture(scope="module")
def fits(frames):
    out = {}
    for name, (file, covs, cluster, dist, kw) in CASES.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)   # R's outer.max stops some searches
            out[name] = fit_frailty_cox(frames[file], covariates=covs, frailty=cluster, distribution=dist, **kw)
    return out


def _rel(a, b):
    """Largest relative difference; NaN where R gives NaN must be NaN here too (R's se2 of a cluster-level
    covariate under the sparse frailty information)."""
    a = np.asarray(a, dtype=float)
    b = np.asarray([np.nan if v == "NaN" else v for v in np.atleast_1d(b)], dtype=float)
    assert np.array_equal(np.isnan(a), np.isnan(b))
    keep = ~np.isnan(b)
    return float(np.max(np.abs(a[keep] / b[keep] - 1))) if keep.any() else 0.0


def _by_term(fit, r, key):
    names = [R_NAMES.get(n, n) for n in r["coef"]]
    return [fit.terms[n][key] for n in names], list(r[key].values())


@pytest.mark.parametrize("case", list(CASES))
def test_matches_r(fits, case):
    fit, r = fits[case], R[case]
    for key, tol in (("coef", 1e-5), ("se", 1e-4), ("se2", 1e-4)):
        mine, theirs = _by_term(fit, r, key)
        assert _rel(mine, theirs) < tol, key
    assert abs(fit.variance / r["theta"] - 1) < 1e-5
    assert fit.sparse == r["sparse"]
    assert (fit.iterations, fit.newton_iterations) == tuple(r["iter"])
    assert fit.loglik == pytest.approx(r["loglik"][1], rel=1e-9)
    assert fit.loglik_null == pytest.approx(r["loglik"][0], rel=1e-9)
    assert fit.loglik_cox == pytest.approx(r["cox_loglik"], rel=1e-9)
    assert np.allclose(list(fit.frailties.values()), r["frail"], rtol=1e-5, atol=1e-7)
    assert fit.frailty_chisq == pytest.approx(r["frailty_chisq"], rel=1e-5)
    assert fit.frailty_df == pytest.approx(r["frailty_df"], rel=1e-5)
    assert fit.frailty_p == pytest.approx(r["frailty_p"], rel=1e-4)
    assert (fit.n, fit.events, fit.clusters) == (r["n"], r["events"], r["clusters"])
    hist = np.array(fit.history).T
    assert np.allclose(hist, np.array(r["history"]), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("case", [c for c in CASES if CASES[c][3] == "gamma"])
def test_gamma_integrated_likelihood_test_matches_r(fits, case):
    fit, r = fits[case], R[case]
    assert fit.integrated_loglik == pytest.approx(r["i_loglik"], rel=1e-9)
    assert fit.lrt_chisq == pytest.approx(r["lrt_chisq"], rel=1e-6)
    assert fit.lrt_p == pytest.approx(r["lrt_p"], rel=1e-4)


def test_published_rats_example(fits):
    # ?frailty / Therneau & Grambsch: coxph(Surv(time, status) ~ rx + frailty(litter), rats) prints
    # rx 0.727 (se 0.318, se2 0.313), variance of random effect 2.02, I-likelihood -217.5
    fit = fits["rats_gamma"]
    t = fit.terms["rx"]
    assert (round(t["coef"], 3), round(t["se"], 3), round(t["se2"], 3)) == (0.727, 0.318, 0.313)
    assert round(fit.variance, 2) == 2.02
    assert round(fit.integrated_loglik, 1) == -217.5


def test_result_shape(fits):
    fit = fits["cohort_gamma"]
    assert isinstance(fit, FrailtyCoxResult)
    d = fit.to_dict()
    assert list(d)[:4] == ["distribution", "variance", "terms", "lrt_p"]
    assert d["distribution"] == "gamma" and d["se_shown"] == "se"
    assert list(d["terms"]) == ["arm[peer]", "age", "homeless"]
    assert set(d["terms"]["arm[peer]"]) == {"coef", "se", "se2", "hr", "ci_lower", "ci_upper", "z", "p"}
    t = d["terms"]["arm[peer]"]
    assert t["hr"] == pytest.approx(np.exp(t["coef"]))
    assert t["ci_lower"] == pytest.approx(np.exp(t["coef"] - 1.959963984540054 * t["se"]))
    assert t["z"] == pytest.approx(t["coef"] / t["se"])
    json.dumps(d)
    html = fit._repr_html_()
    assert "arm[peer]" in html and "gamma frailty" in html
    with pytest.raises(AttributeError):
        fit.variance = 1.0


def test_gaussian_laplace_test(fits):
    fit = fits["cohort_gaussian"]
    assert fit.lrt_chisq == pytest.approx(2 * (fit.integrated_loglik - fit.loglik_cox))
    assert 0 < fit.lrt_p < 1e-6      # 12 sites simulated with frailty variance 0.3
    assert fit.lrt_p == pytest.approx(0.5 * __import__("scipy").stats.chi2.sf(fit.lrt_chisq, 1))


def test_exact_frailty_information(frames):
    """The O(n) frailty kernels against the dense information of the one-hot design and a numeric Hessian."""
    df = frames["frailty_few_sites.csv"]
    data = frailty_module._prepare(df, COVS, "site", "time", "event", "efron")
    model = frailty_module._Model(data, "gaussian")
    assert not model.sparse
    fit = model.fit(np.zeros(model.p), np.zeros(data.G), 0.5)
    dense = model.frailty_information(fit)
    model.sparse = True
    fit_s = frailty_module._Inner(**{**fit.__dict__, "eta": data.Xc @ fit.beta + fit.b[data.cl]})
    kernel = model.frailty_information(fit_s)
    assert np.allclose(kernel, dense, rtol=1e-10, atol=1e-10)
    # the sparse information's diagonal (R's coxfit5 'fdiag') is the diagonal of the exact block
    _, _, _, _, (fd, _, _), second, _ = model._evaluate(fit.beta, fit.b, 0.5)
    assert np.allclose(fd - second, np.diag(dense), rtol=1e-10)
    # shift invariance: the partial likelihood does not change when every log-frailty moves together
    assert np.allclose(dense.sum(axis=1), 0, atol=1e-8)

    def pl(bvec):
        return frailty_module._cox_sums(data, data.Xc, data.Xc @ fit.beta + bvec[data.cl])[0]
    h = 1e-4
    num = np.empty((data.G, data.G))
    for g in range(data.G):
        for k in range(data.G):
            e_g, e_k = np.eye(data.G)[g] * h, np.eye(data.G)[k] * h
            num[g, k] = -(pl(fit.b + e_g + e_k) - pl(fit.b + e_g - e_k) - pl(fit.b - e_g + e_k)
                          + pl(fit.b - e_g - e_k)) / (4 * h * h)
    assert np.allclose(num, dense, rtol=1e-4, atol=1e-3)


def _simulate(seed, *, n=4000, sites=40, theta=0.3, hr=0.7, distribution="gamma"):
    rng = np.random.default_rng(seed)
    site = rng.integers(0, sites, n)
    if distribution == "gamma":
        w = rng.gamma(1 / theta, theta, sites)
    else:
        w = np.exp(rng.normal(0, np.sqrt(theta), sites))
    arm = rng.choice(["usual_care", "peer"], n)
    age = rng.normal(32, 6, n)
    t = rng.exponential(90 / (w[site] * np.where(arm == "peer", hr, 1.0) * np.exp(0.02 * (age - 32))))
    end = rng.uniform(30, 180, n)
    return pd.DataFrame({"site": [f"site{s:02d}" for s in site], "arm": arm, "age": age,
                         "time": np.maximum(1, np.ceil(np.minimum(t, end))), "event": (t <= end).astype(int)})


@pytest.mark.slow
@pytest.mark.parametrize("distribution", ["gamma", "gaussian"])
def test_recovers_simulated_frailty(distribution):
    df = _simulate(7, distribution=distribution)
    kw = {"eps": 1e-10, "outer_max": 60} if distribution == "gamma" else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit = fit_frailty_cox(df, covariates=["arm", "age"], distribution=distribution, **kw)
    arm, age = fit.terms["arm[peer]"], fit.terms["age"]
    assert abs(arm["coef"] - np.log(0.7)) < 3 * arm["se"]
    assert abs(age["coef"] - 0.02) < 3 * age["se"]
    assert abs(fit.variance - 0.3) < 0.15            # about 2 SE of theta with 40 sites
    assert fit.lrt_p < 1e-10


def test_no_frailty_gives_large_p():
    df = _simulate(3, n=2000, sites=20, theta=1e-12, distribution="gaussian")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit = fit_frailty_cox(df, covariates=["arm"])
    assert fit.variance < 0.05
    assert fit.lrt_p > 0.05


def test_warns_when_r_search_stops_early(frames):
    with pytest.warns(ConvergenceWarning, match="stopped after 10 outer iterations"):
        fit_frailty_cox(frames["frailty_cohort.csv"], covariates=COVS)


def test_doctest_examples():
    result = doctest.testmod(frailty_module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


# --------------------------------------------------------------------------------------------- errors
@pytest.fixture()
def small():
    return _simulate(1, n=300, sites=6)


@pytest.mark.parametrize("kw, col", [({"frailty": "clinic"}, "clinic"), ({"covariates": ["arm", "bmi"]}, "bmi"),
                                     ({"time": "days"}, "days"), ({"event": "dropout"}, "dropout")])
def test_missing_column(small, kw, col):
    with pytest.raises(SchemaError, match=f"'{col}'"):
        fit_frailty_cox(small, **kw)


def test_one_cluster(small):
    with pytest.raises(AnalysisError, match="at least 2 levels"):
        fit_frailty_cox(small.assign(site="only"))


def test_no_events(small):
    with pytest.raises(AnalysisError, match="no events"):
        fit_frailty_cox(small.assign(event=0))


def test_bad_distribution(small):
    with pytest.raises(ParameterError, match="'weibull'"):
        fit_frailty_cox(small, distribution="weibull")


@pytest.mark.parametrize("kw, value", [({"method": "aic"}, "'aic'"), ({"ties": "exact"}, "'exact'"),
                                       ({"eps": 0}, "0"), ({"outer_max": 0}, "0")])
def test_bad_parameters(small, kw, value):
    with pytest.raises(ParameterError, match=value):
        fit_frailty_cox(small, **kw)


def test_frailty_column_as_covariate(small):
    with pytest.raises(ParameterError, match="also a covariate"):
        fit_frailty_cox(small, covariates=["arm", "site"])


def test_bad_time(small):
    with pytest.raises(SchemaError, match=r"column 'time' \(time\) must be > 0"):
        fit_frailty_cox(small.assign(time=small.time - 500))


def test_default_method_accepted(small):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = fit_frailty_cox(small, distribution="gaussian", method="reml")
        b = fit_frailty_cox(small, distribution="gaussian")
    assert a.method == "reml" and a.variance == b.variance
