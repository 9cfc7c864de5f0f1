"""Observational evaluations: propensity weighting (:mod:`.weighting`), IPTW analyses (:mod:`.iptw`),
standard errors that count the propensity model (:mod:`.stacked`), time-varying exposure to coaching
(:mod:`.timevarying`), standardised Cox curves (:mod:`.gformula`), doubly robust estimates (:mod:`.aipw`), overlap weights and trimming (:mod:`.overlap`), E-values (:mod:`.sensitivity`)
and the one-call comparison of ``peerstudy analyse --adjust`` (:mod:`.adjusted`)."""

from peerstudy.survival.observational.adjusted import ADJUST_METHODS, AdjustedAnalysis, adjusted_analysis
from peerstudy.survival.observational.aipw import aipw_survival
from peerstudy.survival.observational.gformula import AdjustedRisk, gformula_survival
from peerstudy.survival.observational.overlap import (ESTIMANDS, WeightedComparison, crump_keep, estimand_weights,
                                                      weighted_comparison)
from peerstudy.survival.observational.sensitivity import (EValue, evalue, evalue_hazard_ratio, evalue_odds_ratio,
                                                          evalue_risks)
from peerstudy.survival.observational.iptw import (N_BOOT, IPTWAnalysis, RMSTDifference, WeightedKaplanMeier,
                                                   iptw_analysis, iptw_cox, iptw_standard_errors,
                                                   weighted_kaplan_meier,
                                                   weighted_rmst_difference)
from peerstudy.survival.observational.timevarying import (WINDOW_DAYS, ContactEffect, contact_intervals,
                                                          landmark_analysis, naive_ever_contact, timevarying_cox,
                                                          validate_contacts)
from peerstudy.survival.observational.weighting import (ESS_FRACTION, MAX_WEIGHT, MIN_CELL, IPTWeights,
                                                        PropensityModel, balance_table, effective_sample_size,
                                                        fit_propensity, iptw_weights, refit_weights,
                                                        treatment_indicator)

__all__ = ["PropensityModel", "IPTWeights", "fit_propensity", "iptw_weights", "effective_sample_size",
           "balance_table", "treatment_indicator", "refit_weights", "MAX_WEIGHT", "ESS_FRACTION", "MIN_CELL",
           "WeightedKaplanMeier", "RMSTDifference", "IPTWAnalysis", "weighted_kaplan_meier", "iptw_cox",
           "weighted_rmst_difference", "iptw_analysis", "iptw_standard_errors", "N_BOOT", "validate_contacts", "contact_intervals",
           "timevarying_cox", "landmark_analysis", "naive_ever_contact", "ContactEffect", "WINDOW_DAYS",
           "gformula_survival", "AdjustedRisk", "aipw_survival", "weighted_comparison", "WeightedComparison",
           "estimand_weights", "crump_keep", "ESTIMANDS", "EValue", "evalue", "evalue_hazard_ratio",
           "evalue_odds_ratio", "evalue_risks", "adjusted_analysis", "AdjustedAnalysis", "ADJUST_METHODS"]
