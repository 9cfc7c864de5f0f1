"""peerstudy: simulate, design and analyse evaluations of peer recovery support.

Retention is the number of days from enrolment to leaving treatment; dropout is the event. Data flows one
way: scenario -> simulation -> cohort -> survival / design -> results -> present -> report.

This module is the front door: the verbs people use, importable as ``import peerstudy as ps``.

>>> import peerstudy as ps
>>> cohort = ps.simulate_cohort(ps.preset("outpatient_default"), rng=1, n=300)
>>> results = ps.analyse_cohort(cohort, covariates=["age"])
>>> results.n
300

Names load lazily (PEP 562), so ``import peerstudy`` is quick and the command line starts fast. The
modules behind them are documented in the API reference; ``ps.plots``, ``ps.tables``, ``ps.privacy``
and ``ps.wording`` are the presentation modules, for notebooks.
"""

from __future__ import annotations

import importlib
from typing import Any

from peerstudy.exceptions import PeerstudyError

__version__ = "0.1.0"

if importlib.import_module("os").environ.get("PEERSTUDY_PRIVATE", "") not in ("", "0"):
    # a kernel of a report of real data: its warnings must not print small counts or code paths
    importlib.import_module("peerstudy.present.privacy").private_warnings()

#: front-door name -> (module, attribute); attribute None means the module itself
_FRONT: dict[str, tuple[str, str | None]] = {
    # scenarios
    "Scenario": ("peerstudy.scenario", "Scenario"),
    "PRESETS": ("peerstudy.scenario", "PRESETS"),
    "preset": ("peerstudy.scenario", "preset"),
    "load_scenario": ("peerstudy.scenario", "load_scenario"),
    "as_observational": ("peerstudy.scenario", "as_observational"),
    # simulation
    "simulate_cohort": ("peerstudy.simulation.cohort", "simulate_cohort"),
    "simulate_with_contacts": ("peerstudy.simulation.cohort", "simulate_with_contacts"),
    "simulate_with_visits": ("peerstudy.simulation.cohort", "simulate_with_visits"),
    "simulate_with_events": ("peerstudy.simulation.cohort", "simulate_with_events"),
    "compute_truth": ("peerstudy.simulation.truth", "compute_truth"),
    # data
    "COVARIATES": ("peerstudy.data.schema", "COVARIATES"),
    "read_cohort": ("peerstudy.data.schema", "read_cohort"),
    "write_cohort": ("peerstudy.data.schema", "write_cohort"),
    "validate_cohort": ("peerstudy.data.schema", "validate_cohort"),
    "load_mapping": ("peerstudy.data.programme.mapping", "load_mapping"),
    "read_export": ("peerstudy.data.programme.export", "read_export"),
    "validate_export": ("peerstudy.data.programme.export", "validate_export"),
    "read_events": ("peerstudy.data.programme.events", "read_events"),
    "write_programme_examples": ("peerstudy.make_data", "write_programme_examples"),
    # survival
    "kaplan_meier": ("peerstudy.survival.km", "kaplan_meier"),
    "logrank_test": ("peerstudy.survival.logrank", "logrank_test"),
    "rmst": ("peerstudy.survival.rmst", "rmst"),
    "cumulative_incidence": ("peerstudy.survival.competing", "cumulative_incidence"),
    "fit_cox": ("peerstudy.survival.cox.engine", "fit_cox"),
    "fit_cause_specific_cox": ("peerstudy.survival.cox.engine", "fit_cause_specific_cox"),
    "fit_frailty_cox": ("peerstudy.survival.cox.frailty", "fit_frailty_cox"),
    "fit_effect_modification": ("peerstudy.survival.cox.modification", "fit_effect_modification"),
    "cox_zph": ("peerstudy.survival.cox.zph", "cox_zph"),
    "fit_fine_gray": ("peerstudy.survival.cox.finegray", "fit_fine_gray"),
    "fit_weibull_aft": ("peerstudy.survival.cox.aft", "fit_weibull_aft"),
    "fit_aft": ("peerstudy.survival.parametric", "fit_aft"),
    "compare_aft": ("peerstudy.survival.parametric", "compare_aft"),
    "turnbull": ("peerstudy.survival.interval", "turnbull"),
    "fit_interval_weibull": ("peerstudy.survival.interval", "fit_interval_weibull"),
    "iptw_analysis": ("peerstudy.survival.observational.iptw", "iptw_analysis"),
    "iptw_standard_errors": ("peerstudy.survival.observational.iptw", "iptw_standard_errors"),
    "timevarying_cox": ("peerstudy.survival.observational.timevarying", "timevarying_cox"),
    "landmark_analysis": ("peerstudy.survival.observational.timevarying", "landmark_analysis"),
    "naive_ever_contact": ("peerstudy.survival.observational.timevarying", "naive_ever_contact"),
    "gformula_survival": ("peerstudy.survival.observational.gformula", "gformula_survival"),
    "aipw_survival": ("peerstudy.survival.observational.aipw", "aipw_survival"),
    "weighted_comparison": ("peerstudy.survival.observational.overlap", "weighted_comparison"),
    "adjusted_analysis": ("peerstudy.survival.observational.adjusted", "adjusted_analysis"),
    "evalue": ("peerstudy.survival.observational.sensitivity", "evalue"),
    "evalue_hazard_ratio": ("peerstudy.survival.observational.sensitivity", "evalue_hazard_ratio"),
    "evalue_risks": ("peerstudy.survival.observational.sensitivity", "evalue_risks"),
    "permutation_test": ("peerstudy.survival.permutation", "permutation_test"),
    "design_of": ("peerstudy.survival.primary", "design_of"),
    "primary_analysis": ("peerstudy.survival.primary", "primary_analysis"),
    "analyse_cohort": ("peerstudy.survival.analyse", "analyse_cohort"),
    "linkage_incidence": ("peerstudy.survival.outcomes", "linkage_incidence"),
    "risk_contrast": ("peerstudy.survival.outcomes", "risk_contrast"),
    "follow_up_rates": ("peerstudy.survival.outcomes", "follow_up_rates"),
    "barc_mixed_model": ("peerstudy.survival.outcomes", "barc_mixed_model"),
    "impute": ("peerstudy.survival.missing", "impute"),
    "pool_cox": ("peerstudy.survival.missing", "pool_cox"),
    # recurrent events
    "recurrent_data": ("peerstudy.survival.recurrent", "recurrent_data"),
    "mean_cumulative_function": ("peerstudy.survival.recurrent", "mean_cumulative_function"),
    "ghosh_lin": ("peerstudy.survival.recurrent", "ghosh_lin"),
    "mcf_test": ("peerstudy.survival.recurrent", "mcf_test"),
    "fit_andersen_gill": ("peerstudy.survival.recurrent", "fit_andersen_gill"),
    "fit_pwp": ("peerstudy.survival.recurrent", "fit_pwp"),
    "fit_negative_binomial": ("peerstudy.survival.recurrent", "fit_negative_binomial"),
    "analyse_recurrent": ("peerstudy.survival.recurrent", "analyse_recurrent"),
    # design
    "power_survival": ("peerstudy.design.power", "power_survival"),
    "sample_size": ("peerstudy.design.power", "sample_size"),
    "design_effect": ("peerstudy.design.power", "design_effect"),
    "operating_characteristics": ("peerstudy.design.study", "operating_characteristics"),
    "group_sequential_design": ("peerstudy.design.sequential", "group_sequential_design"),
    "sample_size_sequential": ("peerstudy.design.sequential", "sample_size_sequential"),
    "power_sequential": ("peerstudy.design.sequential", "power_sequential"),
    "simulate_sequential": ("peerstudy.design.monitoring", "simulate_sequential"),
    "power_nonph": ("peerstudy.design.nonph", "power_nonph"),
    "curves_from_scenario": ("peerstudy.design.nonph", "curves_from_scenario"),
    "piecewise_curves": ("peerstudy.design.nonph", "piecewise_curves"),
    "simulate_nonph": ("peerstudy.design.weighted", "simulate_nonph"),
    "sample_size_competing": ("peerstudy.design.competing", "sample_size_competing"),
    "sample_size_cluster": ("peerstudy.design.cluster", "sample_size_cluster"),
    "power_cluster": ("peerstudy.design.cluster", "power_cluster"),
    "run_study": ("peerstudy.design.study", "run_study"),
    # the published evidence
    "load_peer_trials": ("peerstudy.evidence.trials", "load_peer_trials"),
    "trial_effects": ("peerstudy.evidence.trials", "trial_effects"),
    "effect_sizes": ("peerstudy.evidence.meta", "effect_sizes"),
    "meta_analysis": ("peerstudy.evidence.meta", "meta_analysis"),
    "leave_one_out": ("peerstudy.evidence.meta", "leave_one_out"),
    "subgroup_analysis": ("peerstudy.evidence.meta", "subgroup_analysis"),
    "egger_test": ("peerstudy.evidence.meta", "egger_test"),
    "hazard_ratio_from_odds_ratio": ("peerstudy.evidence.trials", "hazard_ratio_from_odds_ratio"),
    "implied_hazard_ratio": ("peerstudy.evidence.trials", "implied_hazard_ratio"),
    # reports and the notebook API
    "run_report": ("peerstudy.report", "run_report"),
    "load_report_cohort": ("peerstudy.report.notebook", "load_report_cohort"),
    "record": ("peerstudy.report.notebook", "record"),
    "summary": ("peerstudy.report.notebook", "summary"),
    "retention_truth": ("peerstudy.report.notebook", "retention_truth"),
    "audit_report": ("peerstudy.present.audit", "audit_report"),
    # presentation modules
    "plots": ("peerstudy.present.plots", None),
    "tables": ("peerstudy.present.tables", None),
    "privacy": ("peerstudy.present.privacy", None),
    "wording": ("peerstudy.present.wording", None),
}

__all__ = ["PeerstudyError", "__version__", *_FRONT]


def __getattr__(name: str) -> Any:
    try:
        module, attr = _FRONT[name]
    except KeyError:
        raise AttributeError(f"module 'peerstudy' has no attribute {name!r}") from None
    mod = importlib.import_module(module)
    value = mod if attr is None else getattr(mod, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_FRONT))
