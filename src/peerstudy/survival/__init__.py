"""Survival estimators for retention and their immutable result objects.

Submodules: :mod:`.km` (Kaplan-Meier, weighted or not), :mod:`.logrank`, :mod:`.rmst`, :mod:`.competing`
(Aalen-Johansen), :mod:`.interval` (Turnbull, interval-censored Weibull), :mod:`.cox` (engine, ``cox.zph``,
Fine-Gray, Weibull AFT), :mod:`.parametric` (AFT families: Weibull, log-normal, log-logistic),
:mod:`.observational` (weighting, IPTW, time-varying exposure), :mod:`.permutation` (randomisation tests),
:mod:`.outcomes` (linkage, 6-month outcomes, follow-up rates, BARC-10 mixed model), :mod:`.missing` (multiple
imputation and Rubin's rules), :mod:`.fast` (batched fits for
:mod:`.observational` (weighting, IPTW, time-varying exposure), :mod:`.recurrent` (recurrent events),
:mod:`.permutation` (randomisation tests), :mod:`.fast` (batched fits for
simulation studies) and :mod:`.analyse` (the ``results.json`` orchestrator). Input checks shared by all
estimators are in :mod:`._validate`, display helpers in :mod:`._display`.

The public names are re-exported here lazily (PEP 562; the function ``rmst`` is ``peerstudy.rmst`` or
``peerstudy.survival.rmst.rmst``, since ``peerstudy.survival.rmst`` is its module), so ``from peerstudy.survival import fit_cox`` works
and importing one estimator does not import the others.
"""

from __future__ import annotations

import importlib
from typing import Any

#: public name -> submodule that defines it
_EXPORTS: dict[str, str] = {
    "KaplanMeierCurve": "km",
    "KaplanMeierResult": "km",
    "kaplan_meier": "km",
    "CONF_TYPES": "km",
    "LogrankResult": "logrank",
    "logrank_test": "logrank",
    "RMSTResult": "rmst",
    "rmst_from_curve": "rmst",
    "rmst_from_km": "rmst",
    "rmst_table": "rmst",
    "CumulativeIncidenceCurve": "competing",
    "CumulativeIncidenceResult": "competing",
    "cumulative_incidence": "competing",
    "ending_codes": "competing",
    "TurnbullResult": "interval",
    "IntervalWeibullResult": "interval",
    "turnbull": "interval",
    "fit_interval_weibull": "interval",
    "interval_arrays": "interval",
    "AnalysisResults": "analyse",
    "analyse_cohort": "analyse",
    "TIES": "analyse",
    "CoxResult": "cox",
    "fit_cox": "cox",
    "fit_cause_specific_cox": "cox",
    "EVENTS_PER_TERM": "cox",
    "ZphResult": "cox",
    "cox_zph": "cox",
    "PH_ALPHA": "cox",
    "FineGrayResult": "cox",
    "fit_fine_gray": "cox",
    "finegray_expand": "cox",
    "AftResult": "cox",
    "fit_weibull_aft": "cox",
    "FrailtyCoxResult": "cox",
    "fit_frailty_cox": "cox",
    "RecurrentData": "recurrent",
    "RecurrentResults": "recurrent",
    "MCFResult": "recurrent",
    "recurrent_data": "recurrent",
    "counting_process": "recurrent",
    "mean_cumulative_function": "recurrent",
    "ghosh_lin": "recurrent",
    "mcf_test": "recurrent",
    "fit_andersen_gill": "recurrent",
    "fit_marginal_rate": "recurrent",
    "fit_pwp": "recurrent",
    "fit_negative_binomial": "recurrent",
    "analyse_recurrent": "recurrent",
    "PermutationResult": "permutation",
    "permutation_test": "permutation",
    "permutation_allocations": "permutation",
    "STATISTICS": "permutation",
    "DESIGNS": "permutation",
    "EXACT_MAX": "permutation",
    "ENUMERATE_MAX": "permutation",
    "AFTFamilyResult": "parametric",
    "fit_aft": "parametric",
    "compare_aft": "parametric",
    "PropensityModel": "observational",
    "IPTWeights": "observational",
    "fit_propensity": "observational",
    "iptw_weights": "observational",
    "effective_sample_size": "observational",
    "balance_table": "observational",
    "treatment_indicator": "observational",
    "refit_weights": "observational",
    "MAX_WEIGHT": "observational",
    "ESS_FRACTION": "observational",
    "MIN_CELL": "observational",
    "WeightedKaplanMeier": "observational",
    "RMSTDifference": "observational",
    "IPTWAnalysis": "observational",
    "weighted_kaplan_meier": "observational",
    "iptw_cox": "observational",
    "weighted_rmst_difference": "observational",
    "iptw_analysis": "observational",
    "iptw_standard_errors": "observational",
    "N_BOOT": "observational",
    "validate_contacts": "observational",
    "contact_intervals": "observational",
    "timevarying_cox": "observational",
    "landmark_analysis": "observational",
    "naive_ever_contact": "observational",
    "ContactEffect": "observational",
    "WINDOW_DAYS": "observational",
    "linkage_incidence": "outcomes",
    "RiskContrast": "outcomes",
    "risk_contrast": "outcomes",
    "FollowUpRates": "outcomes",
    "follow_up_rates": "outcomes",
    "MixedModelResult": "outcomes",
    "barc_mixed_model": "outcomes",
    "ImputedData": "missing",
    "PooledResult": "missing",
    "impute": "missing",
    "pool": "missing",
    "pool_scalar": "missing",
    "pool_cox": "missing",
    "pool_logistic": "missing",
    "pool_risk_difference": "missing",
    "pool_rmst": "missing",
    "pool_km": "missing",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    sub = _EXPORTS.get(name)
    if sub is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{sub}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
