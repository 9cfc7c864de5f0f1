"""The curated table of published comparisons of peer recovery support, and effects computed from it.

``peer_trials.csv`` (shipped with the package) holds one row per published comparison of peer recovery
support against usual care or another comparator that reports retention, dropout, relapse, overdose or
linkage to treatment. Every number in it was read from the source named in the row (``url``, ``doi``,
``where_found`` says which passage); nothing is imputed. Columns:

``study_id``, ``label``, ``year``; ``design`` (``rct``, ``cluster_rct``, ``quasi_experimental``,
``before_after``, ``cohort``); ``setting`` (``emergency_department``, ``hospital``, ``outpatient``,
``moud``, ``recovery_centre``, ``community``: outreach outside a clinic, e.g. by telephone after recruitment at a
syringe service programme); ``intervention``, ``comparator``; ``n_peer``, ``n_control`` (people
analysed); ``outcome`` and ``outcome_direction`` (``lower_is_better`` for harms such as overdose or
dropout, ``higher_is_better`` for retention or linkage); ``follow_up_months``; ``events_peer``,
``events_control`` (people with the outcome) and ``counts_from`` (``reported``: counts printed in the
source; ``percentages``: the only whole numbers that give the printed percentages of the printed group
sizes); ``reported_pct_peer``, ``reported_pct_control`` (percent, as printed); ``reported_measure``,
``reported_estimate``, ``reported_ci_lower``, ``reported_ci_upper`` (an effect the source states, 95% CI),
``reported_p``, ``reported_adjustment``; ``citation``, ``doi`` (where the source gives one), ``url`` (where a
reader can open the source), ``where_found`` (the passage or table each number is printed in), ``notes`` (what
the row leaves out and why, e.g. a secondary outcome or an effect from a different model) and ``retrieved_from``
(the address the numbers were read at; often the same page as ``url``).

One outcome per study: the outcome the study was designed around where it names one, so that no study is counted
twice in a pooled estimate.

The outcomes differ (an overdose, retention on medication, a referral), so effects are pooled as odds
ratios of the *unfavourable* outcome: an odds ratio does not depend on which of an outcome and its
complement is counted (the odds ratio of the complement is its reciprocal), where a risk ratio does.
Below 1 favours peer support.
"""

from __future__ import annotations

import math
from importlib import resources

import numpy as np
import pandas as pd

from peerstudy.evidence.meta import effect_sizes
from peerstudy.exceptions import DataError, ParameterError

__all__ = ["load_peer_trials", "trial_effects", "hazard_ratio_from_odds_ratio", "implied_hazard_ratio",
           "DESIGNS", "SETTINGS"]

#: Designs and settings a row may have, with the words reports use for them.
DESIGNS = {"rct": "randomised trial", "cluster_rct": "cluster-randomised trial",
           "quasi_experimental": "quasi-experimental comparison", "before_after": "before-after comparison",
           "cohort": "cohort comparison"}
SETTINGS = {"emergency_department": "emergency department", "hospital": "hospital ward", "outpatient": "outpatient",
            "moud": "MOUD clinic", "recovery_centre": "recovery community centre", "community": "community outreach"}


def load_peer_trials() -> pd.DataFrame:
    """The curated evidence table (a new DataFrame each call), one row per published comparison.

    Examples
    --------
    >>> trials = load_peer_trials()
    >>> {"navigator_2024", "suzuki_2023"} <= set(trials["study_id"])
    True
    >>> bool(trials["url"].str.startswith("https://").all())
    True
    """
    with resources.files("peerstudy").joinpath("evidence", "peer_trials.csv").open("rb") as fh:
        return pd.read_csv(fh)


def _unfavourable(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    higher = (table["outcome_direction"] == "higher_is_better").to_numpy()
    unknown = ~table["outcome_direction"].isin(["higher_is_better", "lower_is_better"])
    if unknown.any():
        bad = table.loc[unknown, "outcome_direction"].iloc[0]
        raise DataError(f"outcome_direction must be 'higher_is_better' or 'lower_is_better'; got {bad!r}")
    ep, ec = table["events_peer"].to_numpy(float), table["events_control"].to_numpy(float)
    npeer, nctrl = table["n_peer"].to_numpy(float), table["n_control"].to_numpy(float)
    return np.where(higher, npeer - ep, ep), np.where(higher, nctrl - ec, ec)


def trial_effects(table: pd.DataFrame | None = None, *, measure: str = "OR") -> pd.DataFrame:
    """The table with effects of peer support on the *unfavourable* outcome, ready to pool.

    Parameters
    ----------
    table : pandas.DataFrame, optional
        Rows of :func:`load_peer_trials` (default: all of them).
    measure : {"OR", "RR", "RD"}
        Log odds ratio (default, see the module notes), log risk ratio or risk difference of the
        unfavourable outcome (an overdose; *not* being retained; *not* being referred), peer minus comparison.

    Returns
    -------
    pandas.DataFrame
        The table's columns plus ``unfavourable_peer``, ``unfavourable_control``, ``yi`` and ``vi``.

    Examples
    --------
    >>> eff = trial_effects(measure="RR")
    >>> round(float(np.exp(eff.set_index("study_id").loc["navigator_2024", "yi"])), 3)
    0.858
    """
    table = load_peer_trials() if table is None else table.copy()
    missing = [c for c in ("n_peer", "n_control", "events_peer", "events_control", "outcome_direction")
               if c not in table.columns]
    if missing:
        raise DataError(f"the evidence table needs column(s) {', '.join(missing)}")
    bad_p, bad_c = _unfavourable(table)
    es = effect_sizes(bad_p, table["n_peer"], bad_c, table["n_control"], measure=measure)
    return table.assign(unfavourable_peer=bad_p.astype(int), unfavourable_control=bad_c.astype(int),
                        yi=es["yi"].to_numpy(), vi=es["vi"].to_numpy())


def _check_unit(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise ParameterError(f"{name} must be in (0, 1); got {value!r}")
    return float(value)


def hazard_ratio_from_odds_ratio(odds_ratio: float, control_risk: float) -> float:
    """The hazard ratio that, under proportional hazards, turns ``control_risk`` into the risk the odds ratio gives.

    With control risk ``p0`` by the end of follow-up, the peer risk is ``p1 = OR p0 / (1 - p0 + OR p0)``
    and the hazard ratio ``log(1 - p1) / log(1 - p0)``: the effect on the scale the power formulas use.

    Examples
    --------
    >>> round(hazard_ratio_from_odds_ratio(0.5, 0.4), 4)
    0.5632
    """
    if isinstance(odds_ratio, bool) or not isinstance(odds_ratio, (int, float)) or not odds_ratio > 0:
        raise ParameterError(f"odds_ratio must be > 0; got {odds_ratio!r}")
    p0 = _check_unit("control_risk", control_risk)
    p1 = odds_ratio * p0 / (1 - p0 + odds_ratio * p0)
    return math.log1p(-p1) / math.log1p(-p0)


def implied_hazard_ratio(event_free_peer: float, event_free_control: float) -> float:
    """The proportional-hazards hazard ratio of two event-free proportions at the same time: ``log S1 / log S0``.

    Examples
    --------
    >>> round(implied_hazard_ratio(242 / 323, 230 / 325), 4)
    0.835
    """
    s1 = _check_unit("event_free_peer", event_free_peer)
    s0 = _check_unit("event_free_control", event_free_control)
    return math.log(s1) / math.log(s0)
