"""The shared input checks: one error class per fault, the same message for the same fault in every estimator."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from peerstudy import survival as S
from peerstudy.exceptions import AnalysisError, ParameterError, SchemaError
from peerstudy.survival import _validate as V
from peerstudy.survival.cox.frailty import fit_frailty_cox
from peerstudy.survival.rmst import rmst
from peerstudy.survival.observational import timevarying as TV

REF = Path(__file__).parent / "reference"


@pytest.fixture(scope="module")
def cohort():
    """The core cohort with endings (outcome), covariates and a site column."""
    return pd.read_csv(REF / "survival_core_cohort.csv").head(400)


@pytest.fixture(scope="module")
def contacts(cohort):
    log = pd.read_csv(REF / "observational_contacts.csv")
    t = cohort.set_index("participant_id")["time"]
    log = log[log["participant_id"].isin(t.index)]
    return log[log["day"] <= log["participant_id"].map(t)]


@pytest.fixture(scope="module")
def bands():
    return pd.DataFrame({"time_lower": [0.0, 1, 30, 30, 45], "time_upper": [1.0, 2, 45, np.inf, 60],
                         "x": [0.0, 1, 0, 1, 1]})


ARM_COVS = ["age", "homeless"]
#: every public estimator, called with one column that is not in the data ("nope")
MISSING = {
    "kaplan_meier": lambda d, c, b: S.kaplan_meier(d, time="nope"),
    "kaplan_meier(weights=)": lambda d, c, b: S.kaplan_meier(d, weights="nope"),
    "logrank_test": lambda d, c, b: S.logrank_test(d, group="nope"),
    "logrank_test(strata=)": lambda d, c, b: S.logrank_test(d, strata="nope"),
    "rmst": lambda d, c, b: rmst(d, tau=90, event="nope"),
    "cumulative_incidence": lambda d, c, b: S.cumulative_incidence(d, ending="nope"),
    "ending_codes": lambda d, c, b: S.ending_codes(d, "nope"),
    "turnbull": lambda d, c, b: S.turnbull(b, upper="nope"),
    "fit_interval_weibull": lambda d, c, b: S.fit_interval_weibull(b, covariates=["nope"]),
    "interval_arrays": lambda d, c, b: S.interval_arrays(b, lower="nope"),
    "analyse_cohort": lambda d, c, b: S.analyse_cohort(d, covariates=["nope"]),
    "analyse_cohort(ending=)": lambda d, c, b: S.analyse_cohort(d, ending="nope"),
    "fit_cox": lambda d, c, b: S.fit_cox(d, covariates=["arm", "nope"]),
    "fit_cox(strata=)": lambda d, c, b: S.fit_cox(d, strata="nope"),
    "fit_cox(cluster=)": lambda d, c, b: S.fit_cox(d, cluster="nope"),
    "fit_cox(start=)": lambda d, c, b: S.fit_cox(d, start="nope"),
    "fit_cause_specific_cox": lambda d, c, b: S.fit_cause_specific_cox(d, ending="nope"),
    "fit_fine_gray": lambda d, c, b: S.fit_fine_gray(d, time="nope"),
    "fit_weibull_aft": lambda d, c, b: S.fit_weibull_aft(d, event="nope"),
    "fit_aft": lambda d, c, b: S.fit_aft(d, covariates=["nope"]),
    "compare_aft": lambda d, c, b: S.compare_aft(d, arm="nope"),
    "treatment_indicator": lambda d, c, b: S.treatment_indicator(d, treatment="nope"),
    "fit_propensity": lambda d, c, b: S.fit_propensity(d, covariates=["age", "nope"]),
    "fit_propensity(formula=)": lambda d, c, b: S.fit_propensity(d, formula="age + nope"),
    "iptw_weights": lambda d, c, b: S.iptw_weights(d, covariates=["nope"]),
    "balance_table": lambda d, c, b: S.balance_table(d, covariates=["nope"]),
    "weighted_kaplan_meier": lambda d, c, b: S.weighted_kaplan_meier(d, weights="nope"),
    "iptw_cox": lambda d, c, b: S.iptw_cox(d, weights=np.ones(len(d)), treatment="nope"),
    "weighted_rmst_difference": lambda d, c, b: S.weighted_rmst_difference(d, tau=90, covariates=["nope"]),
    "iptw_analysis": lambda d, c, b: S.iptw_analysis(d, covariates=ARM_COVS, time="nope", n_boot=0),
    "iptw_standard_errors": lambda d, c, b: S.iptw_standard_errors(d, S.iptw_weights(d, covariates=ARM_COVS),
                                                                   time="nope"),
    "validate_contacts": lambda d, c, b: S.validate_contacts(c, d, day="nope"),
    "contact_intervals": lambda d, c, b: S.contact_intervals(d, c, event="nope"),
    "timevarying_cox": lambda d, c, b: S.timevarying_cox(d, c, covariates=["nope"]),
    "landmark_analysis": lambda d, c, b: S.landmark_analysis(d, c, time="nope"),
    "naive_ever_contact": lambda d, c, b: TV.naive_ever_contact(d, c, id="nope"),
    "permutation_test": lambda d, c, b: S.permutation_test(d, time="nope"),
    "permutation_allocations": lambda d, c, b: S.permutation_allocations(d, cluster="nope"),
    "fit_frailty_cox": lambda d, c, b: fit_frailty_cox(d, covariates=["arm"], frailty="nope"),
    "linkage_incidence": lambda d, c, b: S.linkage_incidence(d, time="nope"),
    "risk_contrast": lambda d, c, b: S.risk_contrast(d, outcome="nope"),
    "impute": lambda d, c, b: S.impute(d, columns=["nope"]),
    "follow_up_rates": lambda d, c, b: S.follow_up_rates(d, d, by=("nope",)),
    "barc_mixed_model": lambda d, c, b: S.barc_mixed_model(d, outcome="nope"),
    "recurrent_data": lambda d, c, b: S.recurrent_data(d, d.iloc[:0], time="nope"),
    "analyse_recurrent": lambda d, c, b: S.analyse_recurrent(d, d.iloc[:0], time="nope"),
}


@pytest.mark.parametrize("name", list(MISSING))
def test_missing_column_is_one_error_naming_it(name, cohort, contacts, bands):
    with pytest.raises(SchemaError, match=r"missing column\(s\) 'nope'") as err:
        MISSING[name](cohort, contacts, bands)
    assert "missing column 'nope'" in err.value.problems[0]


def test_every_public_estimator_is_covered():
    estimators = {n for n in S.__all__ if n[0].islower()}
    covered = {k.split("(")[0] for k in MISSING}
    # take results or arrays, not a data frame with named columns
    no_columns = {"rmst_from_curve", "rmst_from_km", "rmst_table", "cox_zph", "finegray_expand",
                  "effective_sample_size", "refit_weights",
                  # pool imputed data sets (survival.missing), not a data frame
                  "pool", "pool_cox", "pool_km", "pool_logistic", "pool_risk_difference", "pool_scalar", "pool_rmst",
                  # take RecurrentData (survival.recurrent.recurrent_data checks the columns)
                  "mcf_test", "fit_marginal_rate", "fit_pwp", "mean_cumulative_function", "ghosh_lin",
                  "fit_andersen_gill", "fit_negative_binomial", "counting_process"}
    assert estimators - no_columns - covered == set()


# --------------------------------------------------------------------------------------------- bad values
@pytest.mark.parametrize("call, match", [
    (lambda d: S.kaplan_meier(d.assign(time=d.time.where(d.index != 2, -4))),
     r"column 'time' \(time\) must be > 0; got -4 at row\(s\) 3"),
    (lambda d: S.logrank_test(d.assign(event=np.where(d.index == 0, 2, d.event))),
     r"column 'event' \(event\) must be 0/1 \(1 = event, 0 = censored\); got 2 at row\(s\) 1"),
    (lambda d: S.fit_cox(d.assign(event=np.where(d.index == 0, 2, d.event))),
     r"column 'event' \(event\) must be 0/1 \(1 = event, 0 = censored\); got 2 at row\(s\) 1"),
    (lambda d: S.fit_aft(d.assign(event=np.where(d.index == 0, 2, d.event))),
     r"column 'event' \(event\) must be 0/1 \(1 = event, 0 = censored\); got 2 at row\(s\) 1"),
    (lambda d: S.fit_cox(d, covariates=["arm", "age"], weights=np.where(d.index == 1, -2.5, 1.0)),
     r"weights must be finite and > 0; 1 are not \(e.g. -2.5 at row\(s\) 2\)"),
    (lambda d: S.kaplan_meier(d.assign(site=d.site.where(d.index != 0, None)), group="site"),
     r"column 'site' \(group\) has 1 missing value\(s\) at row\(s\) 1"),
    (lambda d: S.fit_cox(d.assign(age=d.age.astype(float).where(d.index != 0, np.nan)), covariates=["age"]),
     r"column 'age' \(covariate\) has 1 missing or infinite value\(s\) at row\(s\) 1"),
    (lambda d: S.fit_propensity(d.assign(age=d.age.astype(float).where(d.index != 0, np.nan)),
                                covariates=["age"]),
     r"column 'age' \(propensity covariate\) has 1 missing value\(s\) at row\(s\) 1"),
    (lambda d: S.cumulative_incidence(d.assign(time=d.time.astype(str))),
     r"column 'time' \(time\) must be numeric; got type object"),
])
def test_bad_values_are_schema_errors(cohort, call, match):
    with pytest.raises(SchemaError, match=match):
        call(cohort)


@pytest.mark.parametrize("call, match", [
    (lambda d: S.fit_cox(d.assign(female=0), covariates=["female"]), r"covariate 'female' is constant \(every value is 0\)"),
    (lambda d: S.fit_aft(d.assign(female=0), covariates=["female"]), r"covariate 'female' is constant"),
    (lambda d: S.fit_propensity(d.assign(age=30), covariates=["age"]), r"propensity covariate 'age' is constant"),
    (lambda d: S.fit_interval_weibull(pd.DataFrame({"time_lower": [0.0, 2], "time_upper": [1.0, 3], "x": 1.0}),
                                      covariates=["x"]), r"covariate 'x' is constant"),
    (lambda d: S.logrank_test(d.assign(event=0)), "no events"),
    (lambda d: S.fit_cox(d.assign(event=0)), r"column 'event' \(event\) has no events"),
    (lambda d: S.fit_aft(d.assign(event=0)), r"column 'event' \(event\) has no events"),
    (lambda d: S.logrank_test(d.assign(arm="peer")), r"column 'arm' \(group\) needs at least 2 levels"),
    (lambda d: S.fit_cause_specific_cox(d, cause="relapse"), "cause 'relapse' does not occur in column 'outcome'"),
    (lambda d: S.fit_fine_gray(d, cause="relapse"), "cause 'relapse' does not occur in column 'outcome'"),
    (lambda d: fit_frailty_cox(d.assign(event=0), covariates=["arm"]), r"column 'event' \(event\) has no events"),
])
def test_impossible_requests_are_analysis_errors(cohort, call, match):
    with pytest.raises(AnalysisError, match=match):
        call(cohort)


@pytest.mark.parametrize("call, match", [
    (lambda d: S.kaplan_meier(d, conf_level=0), "conf_level must be between 0 and 1; got 0"),
    (lambda d: rmst(d, tau=90, conf_level=True), "conf_level must be between 0 and 1; got True"),
    (lambda d: S.kaplan_meier(d, horizons=(30, -1)), "horizons must be positive numbers of days; got -1"),
    (lambda d: S.cumulative_incidence(d, horizons=[np.int64(0)]), "horizons must be positive numbers of days; got 0"),
    (lambda d: rmst(d, tau=0), "tau must be positive numbers of days; got 0"),
    (lambda d: S.logrank_test(d, rho=np.float64(-0.5)), "rho must be a number >= 0; got -0.5"),
    (lambda d: S.fit_cox(d, ties="exact"), "ties must be one of 'efron', 'breslow'; got 'exact'"),
    (lambda d: S.fit_cause_specific_cox(d, ties="exact"), "ties must be one of 'efron', 'breslow'; got 'exact'"),
    (lambda d: S.analyse_cohort(d, ties="exact"), "ties must be one of 'efron', 'breslow'; got 'exact'"),
    (lambda d: S.fit_aft(d, distribution="gamma"), "distribution must be one of"),
    (lambda d: S.fit_cox(d, covariates=[]), "covariates is empty"),
    (lambda d: S.kaplan_meier(d, weights=np.ones(3)), r"weights must have one value per row \(400\); got shape"),
    (lambda d: S.fit_cause_specific_cox(d, cause="retained"), "cause 'retained' is also listed in censored"),
    (lambda d: S.weighted_rmst_difference(d, tau=90, covariates=ARM_COVS, n_boot=np.int64(5)),
     "n_boot must be a whole number >= 20; got 5"),
    (lambda d: S.cox_zph(S.fit_cox(d), transform="sqrt"), "transform must be one of"),
    (lambda d: S.permutation_test(d, design="stepped_wedge"), "design must be one of 'individual', 'cluster'"),
    (lambda d: fit_frailty_cox(d, covariates=["arm"], ties="exact"), "ties must be one of 'efron', 'breslow'"),
    (lambda d: fit_frailty_cox(d, covariates=[]), "covariates is empty"),
])
def test_bad_options_are_parameter_errors(cohort, call, match):
    with pytest.raises(ParameterError, match=match):
        call(cohort)


def test_messages_show_plain_values(cohort):
    """Values in messages read as Python literals (``2``, ``-0.5``), never as ``np.int64(2)``."""
    calls = [
        lambda: S.kaplan_meier(cohort.assign(event=np.where(cohort.index == 0, 2, cohort.event))),
        lambda: S.kaplan_meier(cohort, horizons=[np.int64(-3)]),
        lambda: S.logrank_test(cohort, gamma=np.float64(-0.5)),
        lambda: S.fit_cox(cohort.assign(female=np.int64(0)), covariates=["female"]),
        lambda: S.fit_cox(cohort.assign(arm=np.int64(1)), covariates=["arm"]),
        lambda: S.fit_propensity(cohort, covariates=["age"], treated=np.int64(3)),
        lambda: S.kaplan_meier(cohort.assign(site=1), group="site", horizons=[np.float64(np.nan)]),
    ]
    for call in calls:
        with pytest.raises((SchemaError, AnalysisError, ParameterError)) as err:
            call()
        assert not re.search(r"np\.|numpy", str(err.value)), str(err.value)


def test_show_and_row_list():
    assert V.show(np.int64(2)) == "2" and V.show(2.0) == "2" and V.show(np.float64(0.25)) == "0.25"
    assert V.show("ten") == "'ten'" and V.show(np.bool_(True)) == "True" and V.show(None) == "None"
    assert V.row_list(np.array([0, 1, 0, 1, 1, 1, 1, 1, 1], bool)) == "row(s) 2, 4, 5, 6, 7 and 2 more"


def test_level_order_follows_r_factors():
    assert V.level_order(pd.Series(["peer", "usual_care", "peer"])) == ["usual_care", "peer"]
    assert V.level_order(pd.Series(pd.Categorical(["S10", "S2"], categories=["S2", "S10", "S3"]))) == ["S2", "S10"]
    assert V.level_order(pd.Series([3, 1, 2, 1])) == [1, 2, 3]
    codes, labels = V.group_codes(pd.DataFrame({"g": pd.Categorical(["b", "a", "b"], categories=["b", "a"])}), "g")
    assert labels == ("b", "a") and codes.tolist() == [0, 1, 0]


def test_a_categorical_covariate_with_too_many_levels_is_refused_quickly():
    import time

    import numpy as np
    import pandas as pd

    from peerstudy.exceptions import AnalysisError
    from peerstudy.survival.cox.engine import fit_cox
    from peerstudy.survival.observational.weighting import fit_propensity

    rng = np.random.default_rng(3)
    n = 20_000
    df = pd.DataFrame({"time": rng.integers(1, 180, n), "event": rng.integers(0, 2, n),
                       "arm": pd.Categorical(rng.choice(["usual_care", "peer"], n)),
                       "clinic": [f"c{i}" for i in rng.integers(0, 1000, n)], "age": rng.normal(35, 10, n)})
    t0 = time.perf_counter()
    with pytest.raises(AnalysisError, match=r"'clinic' has 1,000 levels; at most 100 can be model terms: group"):
        fit_cox(df, covariates=["arm", "clinic"])
    with pytest.raises(AnalysisError, match=r"'clinic' has 1,000 levels"):
        fit_propensity(df, covariates=["age", "clinic"], treatment="arm", treated="peer")
    assert time.perf_counter() - t0 < 10
