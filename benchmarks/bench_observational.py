"""Benchmark: IPTW and contact-log analyses at scale, and the size of the biases they remove.

Times (wall-clock seconds, shared 2-core machine) on the ``observational`` preset:
propensity + weights + balance, IPTW Cox and weighted KM at n = 100,000; the contact log to
(start, stop] intervals and the time-varying Cox at n = 100,000; the weighted RMST bootstrap
(200 resamples, propensity refitted each time) at n = 20,000; the stacked-equation SEs of the IPTW Cox and KM
(which count the propensity model) at n = 100,000, and the whole IPTW analysis with its 200-resample bootstrap of
the KM, Cox and RMST at n = 20,000. Metrics also report how far the
naive and IPTW hazard ratios are from the marginal truth (in SEs) on a frailty-free variant.
"""

from __future__ import annotations

import time
import warnings


def _t(f, *a, **k):
    t0 = time.perf_counter()
    out = f(*a, **k)
    return out, round(time.perf_counter() - t0, 3)


def run() -> dict:
    from peerstudy.scenario import apply_overrides, preset
    from peerstudy.data.schema import COVARIATES
    from peerstudy.simulation.cohort import simulate_cohort, simulate_with_contacts
    from peerstudy.survival.cox.engine import fit_cox
    from peerstudy.survival.observational.iptw import (iptw_analysis, iptw_cox, iptw_standard_errors,
                                                       weighted_kaplan_meier, weighted_rmst_difference)
    from peerstudy.survival.observational.timevarying import contact_intervals, timevarying_cox
    from peerstudy.survival.observational.weighting import iptw_weights

    warnings.simplefilter("ignore")
    m: dict = {}
    cohort, log = simulate_with_contacts("observational", rng=1, n=100_000)
    m["n"], m["sessions"] = len(cohort), len(log)
    w, m["weights_s"] = _t(iptw_weights, cohort, covariates=list(COVARIATES))
    _, m["iptw_cox_s"] = _t(iptw_cox, cohort, weights=w, cluster="site")
    _, m["weighted_km_s"] = _t(weighted_kaplan_meier, cohort, weights=w)
    _, m["stacked_se_s"] = _t(iptw_standard_errors, cohort, w)
    iv, m["intervals_s"] = _t(contact_intervals, cohort, log)
    m["interval_rows"] = len(iv)
    covs = ["arm", *[c for c in COVARIATES if c not in ("female", "prior_treatments")]]
    _, m["timevarying_cox_s"] = _t(timevarying_cox, cohort, log, covariates=covs, strata="site")
    small = cohort.iloc[:20_000].reset_index(drop=True)
    _, m["rmst_bootstrap_200_n20000_s"] = _t(weighted_rmst_difference, small, tau=180, covariates=list(COVARIATES),
                                             n_boot=200, rng=1)
    _, m["iptw_analysis_bootstrap_200_n20000_s"] = _t(iptw_analysis, small, covariates=list(COVARIATES), n_boot=200,
                                                      rng=1)
    # bias in SE units on a frailty-free variant (marginal truth: the randomised scenario, n = 200,000)
    sc = apply_overrides(preset("observational"), {"frailty_variance": 0.0})
    truth = fit_cox(simulate_cohort(sc.replace(allocation="individual"), rng=2, n=200_000), covariates=["arm"]).coef[0]
    df = simulate_cohort(sc, rng=3, n=50_000)
    naive = fit_cox(df, covariates=["arm"])
    adj = iptw_cox(df, weights=iptw_weights(df, covariates=list(COVARIATES)))
    m["naive_bias_in_se"] = round(float((naive.coef[0] - truth) / naive.se[0]), 2)
    m["iptw_bias_in_se"] = round(float((adj.coef[0] - truth) / adj.robust_se[0]), 2)
    targets = {
        "iptw_weights_100k_s": {"limit": 5.0, "value": m["weights_s"]},
        "iptw_cox_100k_s": {"limit": 2.0, "value": m["iptw_cox_s"]},
        "contact_intervals_100k_s": {"limit": 2.0, "value": m["intervals_s"]},
        "timevarying_cox_100k_s": {"limit": 10.0, "value": m["timevarying_cox_s"]},
        "rmst_bootstrap_200_20k_s": {"limit": 10.0, "value": m["rmst_bootstrap_200_n20000_s"]},
        "stacked_se_100k_s": {"limit": 2.0, "value": m["stacked_se_s"]},
        "iptw_analysis_bootstrap_200_20k_s": {"limit": 15.0, "value": m["iptw_analysis_bootstrap_200_n20000_s"]},
        "naive_bias_in_se_at_least": {"limit": 5.0, "value": abs(m["naive_bias_in_se"])},
        "iptw_bias_in_se_at_most": {"limit": 3.0, "value": abs(m["iptw_bias_in_se"])},
    }
    for name, t in targets.items():
        t["ok"] = bool(t["value"] >= t["limit"]) if name.endswith("at_least") else bool(t["value"] <= t["limit"])
    return {"metrics": m, "targets": targets,
            "notes": ["limits: interactive use at n = 100,000 (a few seconds per analysis)",
                      "bias targets: naive misses the marginal HR by >= 5 SE, IPTW within 3 SE (n = 50,000)"]}
