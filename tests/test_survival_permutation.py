"""peerstudy.survival.permutation: randomisation tests against full enumeration, R's survival and the null.

The brute-force references here share no code with the module: statistics are computed from first principles
by plain loops over dropout days, allocations listed with itertools. R's survdiff/coxph values for every
allocation of a small cluster design are in tests/reference/permutation.json (tests/reference/permutation.R).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from peerstudy.exceptions import AnalysisError, ParameterError, SchemaError
from peerstudy.scenario import preset
from peerstudy.simulation.cohort import simulate_cohort
from peerstudy.survival.permutation import EXACT_MAX, permutation_allocations, permutation_test

REFERENCE = Path(__file__).parent / "reference"


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return pd.read_csv(REFERENCE / "permutation_data.csv")


@pytest.fixture(scope="module")
def ref() -> dict:
    return json.loads((REFERENCE / "permutation.json").read_text())


# ----- first-principles statistics (plain loops, no peerstudy code) ---------------------------------------
def risk_sets(time, event, peer):
    """(d, d1, n, n1) at each distinct dropout day: dropouts (peer dropouts) and at risk (peer at risk)."""
    out = []
    for day in sorted(set(time[event == 1].tolist())):
        at_risk = time >= day
        died = (time == day) & (event == 1)
        out.append((int(died.sum()), int((died & peer).sum()), int(at_risk.sum()), int((at_risk & peer).sum())))
    return out


def o_minus_e(time, event, peer):
    return sum(d1 - d * n1 / n for d, d1, n, n1 in risk_sets(time, event, peer))


def logrank_z(time, event, peer):
    u = v = 0.0
    for d, d1, n, n1 in risk_sets(time, event, peer):
        u += d1 - d * n1 / n
        if n > 1:
            v += d * (n - d) / (n - 1) * (n1 / n) * (1 - n1 / n)
    return u / math.sqrt(v) if v > 0 else 0.0


def efron_score(time, event, peer):
    """Cox score at beta = 0 with Efron ties: the l-th of d tied dropouts sees n - l at risk, n1 - l d1 / d peer."""
    return sum(d1 - sum((n1 - l * d1 / d) / (n - l) for l in range(d)) for d, d1, n, n1 in risk_sets(time, event, peer))


BRUTE = {"logrank": o_minus_e, "logrank_z": logrank_z, "cox": efron_score}


def brute_p(values, observed):
    """Exact two-sided p: share of allocations with |S| >= |S_obs| (ties to 1e-9, as documented)."""
    return sum(abs(v) >= abs(observed) - 1e-9 * max(1.0, abs(observed)) for v in values) / len(values)


def arrays(df, arm="arm"):
    return df.time.to_numpy(), df.event.to_numpy(), (df[arm] == "peer").to_numpy()


def site_allocations(sites, k):
    return [set(c) for c in itertools.combinations(sites, k)]


# ----- (a) exactness ----------------------------------------------------------------------------------------
def test_observed_statistics_match_survdiff_and_coxph(data, ref):
    t, e, g = arrays(data)
    obs = ref["observed"]
    assert o_minus_e(t, e, g) == pytest.approx(obs["o_minus_e"], abs=1e-10)
    assert obs["obs"]["peer"] - obs["exp"]["peer"] == pytest.approx(obs["o_minus_e"], abs=1e-10)
    assert e[g].sum() == obs["obs"]["peer"] and e[~g].sum() == obs["obs"]["usual_care"]
    assert logrank_z(t, e, g) ** 2 == pytest.approx(obs["chisq"], rel=1e-10)
    assert efron_score(t, e, g) == pytest.approx(obs["efron_score"], abs=1e-10)
    for statistic, expected in (("logrank", obs["o_minus_e"]), ("logrank_z", -math.sqrt(obs["chisq"])),
                                ("cox", obs["efron_score"])):
        res = permutation_test(data, design="cluster", statistic=statistic)
        assert res.observed == pytest.approx(expected, abs=1e-10)


@pytest.mark.parametrize("statistic", ["logrank", "logrank_z", "cox"])
def test_cluster_p_equals_brute_force_enumeration(data, ref, statistic):
    t, e, _ = arrays(data)
    sites = sorted(data.site.unique())
    allocations = site_allocations(sites, 4)
    assert len(allocations) == 70
    values = [BRUTE[statistic](t, e, data.site.isin(a).to_numpy()) for a in allocations]
    observed = BRUTE[statistic](t, e, (data.arm == "peer").to_numpy())
    res = permutation_test(data, design="cluster", cluster="site", statistic=statistic)
    assert res.exact and res.n_allocations == 70 and res.n_permutations == 70 and res.mcse == 0.0
    assert res.observed == pytest.approx(observed, abs=1e-10)
    assert res.p_value == brute_p(values, observed)
    assert res.p_value == pytest.approx(ref["cluster"][f"p_{statistic}"], abs=1e-12)
    assert res.n_as_extreme == round(res.p_value * 70)


@pytest.mark.parametrize("statistic", ["logrank", "logrank_z", "cox"])
def test_every_cluster_allocation_as_observed(data, ref, statistic):
    """Each of the 70 allocations taken as the observed one: statistic = R's, p = brute-force enumeration."""
    t, e, _ = arrays(data)
    key = {"logrank": "o_minus_e", "logrank_z": "chisq", "cox": "efron_score"}[statistic]
    allocations = [set(a["peer_sites"]) for a in ref["cluster"]["allocations"]]
    r_values = [a[key] for a in ref["cluster"]["allocations"]]
    values = [BRUTE[statistic](t, e, data.site.isin(a).to_numpy()) for a in allocations]
    for alloc, r_value, value in zip(allocations, r_values, values):
        relabelled = data.assign(arm=np.where(data.site.isin(alloc), "peer", "usual_care"))
        res = permutation_test(relabelled, design="cluster", statistic=statistic)
        got = res.observed ** 2 if statistic == "logrank_z" else res.observed
        assert got == pytest.approx(r_value, abs=1e-9)
        assert res.p_value == brute_p(values, value)


def test_stratified_cluster_p_equals_enumeration(data, ref):
    t, e, g = arrays(data)
    strata = data.groupby("site").stratum.first()
    a_sites, b_sites = sorted(strata.index[strata == "A"]), sorted(strata.index[strata == "B"])
    allocations = [set(a) | set(b) for a in itertools.combinations(a_sites, 2)
                   for b in itertools.combinations(b_sites, 2)]
    assert len(allocations) == 36
    values = [o_minus_e(t, e, data.site.isin(a).to_numpy()) for a in allocations]
    res = permutation_test(data, design="cluster", strata="stratum")
    assert res.exact and res.n_allocations == 36 and res.n_blocks == 2
    assert res.p_value == brute_p(values, o_minus_e(t, e, g))
    assert res.p_value == pytest.approx(ref["cluster_stratified"]["p_logrank"], abs=1e-12)
    r_values = sorted(a["o_minus_e"] for a in ref["cluster_stratified"]["allocations"])
    np.testing.assert_allclose(sorted(values), r_values, atol=1e-9)


@pytest.mark.parametrize("statistic", ["logrank", "logrank_z"])
def test_individual_within_site_p_equals_enumeration(data, ref, statistic):
    sub = data[data.site.isin(ref["individual"]["sites"])].reset_index(drop=True)
    t, e, g = arrays(sub, "arm_within")
    per_site = []
    for site in sorted(sub.site.unique()):
        idx = np.flatnonzero(sub.site == site)
        per_site.append(list(itertools.combinations(idx, int(g[idx].sum()))))
    values = []
    for choice in itertools.product(*per_site):
        peer = np.zeros(len(sub), dtype=bool)
        peer[[i for c in choice for i in c]] = True
        values.append(BRUTE[statistic](t, e, peer))
    assert len(values) == ref["individual"]["n_allocations"] == 1200
    res = permutation_test(sub, design="individual", arm="arm_within", cluster="site", statistic=statistic)
    assert res.exact and res.n_allocations == 1200 and res.n_blocks == 3
    assert res.p_value == brute_p(values, BRUTE[statistic](t, e, g))
    assert res.p_value == pytest.approx(ref["individual"][f"p_{statistic}"], abs=1e-12)
    if statistic == "logrank":
        assert res.observed == pytest.approx(ref["individual"]["o_minus_e"], abs=1e-10)


def test_exact_is_automatic_below_the_threshold_and_on_request_above(data):
    sub = data[data.site.isin(["S1", "S2", "S3", "S4", "S5"])]
    n_alloc = 6 * 10 * 20 * 10 * 6
    assert n_alloc > EXACT_MAX
    auto = permutation_test(sub, arm="arm_within", n_permutations=500, rng=1)
    assert not auto.exact and auto.n_permutations == 500 and auto.n_allocations == n_alloc
    forced = permutation_test(sub, arm="arm_within", exact=True)
    assert forced.exact and forced.n_permutations == n_alloc and forced.mcse == 0.0
    small = permutation_test(data, design="cluster", exact=False, n_permutations=300, rng=1)
    assert not small.exact and small.n_permutations == 300 and small.n_allocations == 70


# ----- (b) the re-randomisation keeps the design ---------------------------------------------------------
def test_within_site_permutation_keeps_each_sites_peer_count(data):
    alloc = permutation_allocations(data, design="individual", arm="arm_within", cluster="site",
                                    n_permutations=2000, rng=3)
    assert alloc.shape == (2000, len(data)) and alloc.dtype == bool
    observed = data.groupby("site").arm_within.apply(lambda s: int((s == "peer").sum()))
    for site, count in observed.items():
        cols = (data.site == site).to_numpy()
        assert np.all(alloc[:, cols].sum(axis=1) == count)
        # each participant is peer with probability count / size
        freq = alloc[:, cols].mean(axis=0)
        p = count / cols.sum()
        assert np.all(np.abs(freq - p) < 5 * math.sqrt(p * (1 - p) / 2000))
    assert len({row.tobytes() for row in alloc}) > 1900  # about 5e8 allocations: almost all distinct


def test_cluster_permutation_moves_whole_sites(data):
    alloc = permutation_allocations(data, design="cluster", exact=False, n_permutations=500, rng=3)
    site = data.site.to_numpy()
    for row in alloc:
        peer_sites = set(site[row])
        assert len(peer_sites) == 4
        assert np.array_equal(row, np.isin(site, list(peer_sites)))
    strat = permutation_allocations(data, design="cluster", strata="stratum", exact=False, n_permutations=500, rng=3)
    stratum = data.stratum.to_numpy()
    for row in strat:
        assert len(set(site[row & (stratum == "A")])) == 2 and len(set(site[row & (stratum == "B")])) == 2
    full = permutation_allocations(data, design="cluster")
    listed = {frozenset(site[row]) for row in full}
    assert len(full) == 70 and listed == {frozenset(a) for a in site_allocations(sorted(set(site)), 4)}


# ----- (c) seeding and chunking --------------------------------------------------------------------------
def test_same_seed_same_result_int_or_generator(data):
    kw = dict(design="individual", arm="arm_within", n_permutations=999)
    a = permutation_test(data, rng=11, **kw)
    b = permutation_test(data, rng=11, **kw)
    c = permutation_test(data, rng=np.random.default_rng(11), **kw)
    assert a == b == c
    d = permutation_allocations(data, arm="arm_within", n_permutations=50, rng=12)
    assert not np.array_equal(d, permutation_allocations(data, arm="arm_within", n_permutations=50, rng=11))


@pytest.mark.parametrize("exact", [False, True])
def test_result_does_not_depend_on_chunking(data, exact):
    kw = dict(design="cluster", exact=exact, n_permutations=1001, rng=5, statistic="logrank_z")
    results = [permutation_test(data, chunk_size=size, **kw) for size in (None, 1, 7, 64, 5000)]
    assert all(r == results[0] for r in results)
    ind = dict(arm="arm_within", n_permutations=301, rng=5)
    allocs = [permutation_allocations(data, chunk_size=size, **ind) for size in (None, 1, 13, 1000)]
    assert all(np.array_equal(x, allocs[0]) for x in allocs)


@pytest.mark.parametrize("statistic", ["logrank", "logrank_z", "cox"])
def test_monte_carlo_p_recomputed_from_its_allocations(data, statistic):
    """The Monte Carlo p-value equals (1 + b) / (1 + B) computed by brute force over the same allocations."""
    kw = dict(design="individual", arm="arm_within", n_permutations=300, rng=21)
    res = permutation_test(data, statistic=statistic, **kw)
    alloc = permutation_allocations(data, **kw)
    t, e, g = arrays(data, "arm_within")
    obs = BRUTE[statistic](t, e, g)
    values = [BRUTE[statistic](t, e, row) for row in alloc]
    b = sum(abs(v) >= abs(obs) - 1e-9 * max(1.0, abs(obs)) for v in values)
    assert res.n_as_extreme == b
    assert res.p_value == (1 + b) / 301
    assert res.mcse == pytest.approx(math.sqrt(res.p_value * (1 - res.p_value) / 300))


# ----- (d) Monte Carlo vs exact --------------------------------------------------------------------------
@pytest.mark.parametrize("statistic", ["logrank", "logrank_z"])
def test_monte_carlo_p_within_3_mcse_of_exact(data, statistic):
    sub = data[data.site.isin(["S1", "S2", "S3", "S4", "S5"])]
    kw = dict(arm="arm_within", statistic=statistic)
    exact = permutation_test(sub, exact=True, **kw)
    mc = permutation_test(sub, exact=False, n_permutations=20_000, rng=2024, **kw)
    assert 0.05 < exact.p_value < 0.95
    assert abs(mc.p_value - exact.p_value) <= 3 * mc.mcse
    cl_exact = permutation_test(data, design="cluster", strata="stratum")
    cl_mc = permutation_test(data, design="cluster", strata="stratum", exact=False, n_permutations=5000, rng=7)
    assert abs(cl_mc.p_value - cl_exact.p_value) <= 3 * cl_mc.mcse


# ----- (e) level under the null --------------------------------------------------------------------------
def _null_rates(scenario, design, reps, seed, exact_too):
    rejections = {"monte_carlo": 0, "exact": 0}
    for s in np.random.SeedSequence(seed).spawn(reps):
        s_data, s_perm = s.spawn(2)
        df = simulate_cohort(scenario, rng=s_data)
        mc = permutation_test(df, design=design, exact=False, n_permutations=199, rng=s_perm)
        rejections["monte_carlo"] += mc.p_value <= 0.05
        if exact_too:
            ex = permutation_test(df, design=design)
            assert ex.exact and ex.n_allocations == math.comb(16, 8)
            rejections["exact"] += ex.p_value <= 0.05
    return {k: v / reps for k, v in rejections.items()}


def test_cluster_randomisation_test_holds_its_level_under_the_null():
    """HR 1 with site frailty (where the naive log-rank rejects far too often): rejection at 0.05 ~ 0.05."""
    reps = 300
    rates = _null_rates(preset("cluster_randomised").replace(hazard_ratio=1.0), "cluster", reps, 20260401, True)
    mcse = math.sqrt(0.05 * 0.95 / reps)
    assert abs(rates["monte_carlo"] - 0.05) <= 3 * mcse
    assert abs(rates["exact"] - 0.05) <= 3 * mcse


def test_within_site_randomisation_test_holds_its_level_under_the_null():
    reps = 300
    scenario = preset("outpatient_default").replace(hazard_ratio=1.0)
    rates = _null_rates(scenario, "individual", reps, 20260402, False)
    assert abs(rates["monte_carlo"] - 0.05) <= 3 * math.sqrt(0.05 * 0.95 / reps)


# ----- behaviour and errors ------------------------------------------------------------------------------
def test_row_order_and_arm_coding_do_not_matter(data):
    base = permutation_test(data, design="cluster", statistic="logrank_z")
    shuffled = data.sample(frac=1.0, random_state=1)
    assert permutation_test(shuffled, design="cluster", statistic="logrank_z").p_value == base.p_value
    coded = data.assign(arm=(data.arm == "peer").astype(int))
    res = permutation_test(coded, design="cluster", statistic="logrank_z")
    assert res.levels == ("0", "1") and res.p_value == base.p_value
    assert res.observed == pytest.approx(base.observed, abs=1e-12)


def test_result_object(data):
    res = permutation_test(data, design="cluster", strata="stratum")
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.p_value = 0.5
    d = res.to_dict()
    assert json.loads(json.dumps(d))["p_value"] == res.p_value
    assert {"statistic", "observed", "p_value", "mcse", "n_permutations", "exact", "n_allocations", "design",
            "method"} <= set(d)
    assert d["method"].startswith("exact randomisation test (sites permuted within strata of 'stratum')")
    html = res._repr_html_()
    assert "<table>" in html and "exact" in html and f"{res.p_value:.4g}" in html
    mc = permutation_test(data, arm="arm_within", n_permutations=100, rng=1)
    assert "MCSE" in mc._repr_html_() and mc.method.startswith("Monte Carlo randomisation test (participants")


def test_missing_columns_are_schema_errors(data):
    for option, name in (("arm", "group"), ("cluster", "clinic"), ("strata", "region"), ("time", "days"),
                         ("event", "dropout")):
        with pytest.raises(SchemaError, match=repr(name)):
            permutation_test(data, design="cluster", **{option: name})


def test_cluster_design_needs_site_level_arm_and_strata(data):
    with pytest.raises(AnalysisError, match=r"'arm_within' \(arm\) is not constant within cluster 'S1'"):
        permutation_test(data, design="cluster", arm="arm_within")
    mixed = data.assign(stratum=np.where(data.participant_id == 2, "B", data.stratum))
    with pytest.raises(AnalysisError, match=r"'stratum' \(strata\) is not constant within cluster 'S1'"):
        permutation_test(mixed, design="cluster", strata="stratum")


def test_designs_with_one_allocation_are_refused(data):
    with pytest.raises(AnalysisError, match="only one allocation.*design='cluster'"):
        permutation_test(data, design="individual", cluster="site")  # arm is constant within each site
    one_site = data[data.site.isin(["S1", "S2"])].assign(arm=lambda d: np.where(d.site == "S1", "peer", "usual_care"))
    assert permutation_test(one_site, design="cluster").n_allocations == 2
    with pytest.raises(AnalysisError, match="needs at least 2 levels"):
        permutation_test(data[data.site == "S2"], design="cluster")  # one arm level: one allocation
    with pytest.raises(AnalysisError, match="only one allocation"):
        permutation_test(one_site, design="cluster", strata="site")


@pytest.mark.parametrize("kw, match", [
    (dict(design="stepped_wedge"), "design must be one of 'individual', 'cluster'; got 'stepped_wedge'"),
    (dict(statistic="wilcoxon"), "statistic must be one of .*got 'wilcoxon'"),
    (dict(n_permutations=0), "n_permutations must be a whole number .*got 0"),
    (dict(n_permutations=99.5), "n_permutations .*got 99.5"),
    (dict(n_permutations=True), "n_permutations .*got True"),
    (dict(exact="yes"), "exact must be None .*got 'yes'"),
    (dict(chunk_size=0), "chunk_size must be a whole number >= 1; got 0"),
    (dict(design="cluster", cluster=None), "cluster must name .*got None"),
])
def test_bad_options_are_parameter_errors(data, kw, match):
    with pytest.raises(ParameterError, match=match):
        permutation_test(data, **{"arm": "arm_within", **kw})


def test_other_analysis_errors(data):
    with pytest.raises(ParameterError, match="exact=True would enumerate 504,000,000 allocations"):
        permutation_test(data, arm="arm_within", exact=True)
    with pytest.raises(AnalysisError, match="no events in column 'event'"):
        permutation_test(data.assign(event=0), arm="arm_within")
    three = data.assign(arm_within=np.where(data.participant_id == 1, "phone", data.arm_within))
    with pytest.raises(AnalysisError, match="exactly two levels; it has 3"):
        permutation_test(three, arm="arm_within")
    with pytest.raises(SchemaError, match=r"'time' \(time\) must be > 0"):
        permutation_test(data.assign(time=data.time - 3), arm="arm_within")
