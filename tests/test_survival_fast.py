"""peerstudy.survival.fast against R's survival package (tests/reference/fast_path.R) and lifelines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from peerstudy.exceptions import AnalysisError, ParameterError, SchemaError
from peerstudy.survival import fast

REF = Path(__file__).parent / "reference"
COVS = ["peer", "age", "homeless", "depression"]


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return pd.read_csv(REF / "fast_path_data.csv")


@pytest.fixture(scope="module")
def r_ref() -> pd.DataFrame:
    return pd.read_csv(REF / "fast_path_r.csv").set_index("set")


def _sets(data):
    for k, x in data.groupby("set"):
        yield k, x


def test_logrank_equals_survdiff(data, r_ref):
    for k, x in _sets(data):
        res = fast.logrank_batch(x.time.to_numpy(), x.event.to_numpy(), x.peer.to_numpy())
        ref = r_ref.loc[k]
        assert res.o_minus_e[0] == pytest.approx(ref.logrank_o_minus_e, abs=1e-9)
        assert res.variance[0] == pytest.approx(ref.logrank_var, rel=1e-9)
        assert res.chi2[0] == pytest.approx(ref.logrank_chisq, rel=1e-9)


def test_cox_arm_only_equals_coxph_efron(data, r_ref):
    for k, x in _sets(data):
        res = fast.cox_batch(x.time.to_numpy(), x.event.to_numpy(), x.peer.to_numpy(), cluster=x.site.to_numpy())
        ref = r_ref.loc[k]
        assert res.converged[0]
        assert res.coef[0, 0] == pytest.approx(ref.cox_coef, abs=1e-6)
        assert res.se[0, 0] == pytest.approx(ref.cox_se, abs=1e-6)
        assert res.loglik[0] == pytest.approx(ref.cox_loglik, abs=1e-6)
        assert res.robust_se[0, 0] == pytest.approx(ref.cox_robust_se, abs=1e-6)


def test_adjusted_cox_and_cluster_robust_se_equal_r(data, r_ref):
    for k, x in _sets(data):
        res = fast.cox_batch(x.time.to_numpy(), x.event.to_numpy(), x[COVS].to_numpy()[None], cluster=x.site.to_numpy())
        ref = r_ref.loc[k]
        for j, name in enumerate(COVS):
            assert res.coef[0, j] == pytest.approx(ref[f"adj_coef_{name}"], abs=1e-6), (k, name)
            assert res.se[0, j] == pytest.approx(ref[f"adj_se_{name}"], abs=1e-6), (k, name)
            assert res.robust_se[0, j] == pytest.approx(ref[f"adj_robust_se_{name}"], abs=1e-6), (k, name)


@pytest.mark.parametrize("tau", [90, 180])
def test_rmst_equals_survfit_rmean(data, r_ref, tau):
    for k, x in _sets(data):
        res = fast.rmst_batch(x.time.to_numpy(), x.event.to_numpy(), x.peer.to_numpy(), tau=tau)
        ref = r_ref.loc[k]
        assert res.rmst_usual_care[0] == pytest.approx(ref[f"rmst{tau}_usual_care"], abs=1e-6)
        assert res.rmst_peer[0] == pytest.approx(ref[f"rmst{tau}_peer"], abs=1e-6)
        assert res.se_usual_care[0] == pytest.approx(ref[f"rmst{tau}_se_usual_care"], abs=1e-6)
        assert res.se_peer[0] == pytest.approx(ref[f"rmst{tau}_se_peer"], abs=1e-6)


def test_batched_equals_one_at_a_time(data):
    same = data[data.set.isin([0, 3])]  # two sets, padded to a common size by taking the first 250 of set 0
    a = same[same.set == 0].head(250)
    b = same[same.set == 3]
    T = np.stack([a.time, b.time]); E = np.stack([a.event, b.event]); G = np.stack([a.peer, b.peer])
    X = np.stack([a[COVS].to_numpy(), b[COVS].to_numpy()])
    S = np.stack([a.site, b.site])
    both = fast.cox_batch(T, E, X, cluster=S)
    for i in range(2):
        one = fast.cox_batch(T[i], E[i], X[i][None], cluster=S[i])
        np.testing.assert_allclose(both.coef[i], one.coef[0], rtol=0, atol=1e-12)
        np.testing.assert_allclose(both.robust_se[i], one.robust_se[0], rtol=0, atol=1e-12)
    lr = fast.logrank_batch(T, E, G)
    assert lr.chi2[1] == pytest.approx(fast.logrank_batch(T[1], E[1], G[1]).chi2[0], abs=1e-12)


def test_cox_equals_lifelines_without_ties():
    from lifelines import CoxPHFitter

    rng = np.random.default_rng(7)
    n = 300
    x = np.column_stack([rng.integers(0, 2, n), rng.normal(size=n)])
    t = rng.exponential(1 / np.exp(0.3 * x[:, 0] - 0.5 * x[:, 1])) * 100 + 0.01
    e = (rng.random(n) < 0.8).astype(int)
    cph = CoxPHFitter().fit(pd.DataFrame({"t": t, "e": e, "a": x[:, 0], "b": x[:, 1]}), "t", "e",
                           fit_options={"precision": 1e-12})
    res = fast.cox_batch(t, e, x[None])
    np.testing.assert_allclose(res.coef[0], cph.params_.to_numpy(), atol=1e-6)
    np.testing.assert_allclose(res.se[0], cph.standard_errors_.to_numpy(), atol=1e-6)


def test_results_serialise_and_show(data):
    x = data[data.set == 4]
    res = fast.cox_batch(x.time.to_numpy(), x.event.to_numpy(), x.peer.to_numpy())
    d = res.to_dict()
    assert set(d) == {"coef", "se", "robust_se", "loglik", "iterations", "converged"}
    assert np.isnan(res.robust_se).all()  # no cluster given
    assert "<table>" in res._repr_html_() and "1 data sets" in repr(res)


def test_monotone_likelihood_is_flagged_not_fitted():
    t = np.arange(1, 21, dtype=float)
    g = (t > 10).astype(int)
    e = 1 - g  # only usual care has dropouts: the peer log-HR runs to -infinity
    res = fast.cox_batch(t, e, g)
    assert not res.converged[0] and np.isnan(res.coef[0, 0])


def test_input_errors():
    with pytest.raises(SchemaError, match="event has shape"):
        fast.logrank_batch(np.ones((2, 5)), np.ones((2, 4)), np.ones((2, 5)))
    with pytest.raises(SchemaError, match="time must be finite and > 0 for every participant; got 0"):
        fast.logrank_batch([1, 0, 3], [1, 1, 0], [0, 1, 1])
    with pytest.raises(SchemaError, match="event must be 0 or 1; got 2"):
        fast.logrank_batch([1, 2, 3], [1, 2, 0], [0, 1, 1])
    with pytest.raises(SchemaError, match="event must be 0 or 1; got 0.5"):
        fast.logrank_batch([1, 2, 3], [1, 0.5, 0], [0, 1, 1])
    with pytest.raises(SchemaError, match="group must be 0"):
        fast.rmst_batch([1, 2, 3], [1, 1, 0], [0, 2, 1], tau=2)
    with pytest.raises(SchemaError, match="time must be numeric; got dtype <U1"):
        fast.logrank_batch(["a", "b", "c"], [1, 1, 0], [0, 1, 1])
    with pytest.raises(ParameterError, match="max_iter must be a whole number >= 1; got 0"):
        fast.cox_batch([1, 2, 3], [1, 1, 0], [0, 1, 1], max_iter=0)
    with pytest.raises(ParameterError, match="tau must be a number of days > 0; got -1"):
        fast.rmst_batch([1, 2, 3], [1, 1, 0], [0, 1, 1], tau=-1)
    with pytest.raises(AnalysisError, match="both arms"):
        fast.rmst_batch([1, 2, 3], [1, 1, 0], [1, 1, 1], tau=2)
    with pytest.raises(SchemaError, match=r"X must have shape \(n_sets, n, p\)"):
        fast.cox_batch([1, 2, 3], [1, 1, 0], np.ones((3, 2, 2)))
    with pytest.raises(SchemaError, match="cluster codes must be whole numbers >= 0"):
        fast.cox_batch([1, 2, 3], [1, 1, 0], [0, 1, 1], cluster=[0, -1, 1])
