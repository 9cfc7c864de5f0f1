"""One confounding-adjusted comparison of the arms by name, as ``peerstudy analyse --adjust METHOD`` runs it.

:func:`adjusted_analysis` runs ``"gformula"`` (:mod:`.gformula`), ``"aipw"`` (:mod:`.aipw`, with the IPTW
estimator with censoring weights beside it) or ``"overlap"`` (:mod:`.overlap`, overlap weights, or another
estimand) and adds E-values (:mod:`.sensitivity`) for the risk difference at each horizon, and for the weighted
hazard ratio where there is one. The result is the ``results.json`` entry of the method, JSON-ready, with
tables for spreadsheets and one line for the terminal. Observational wording throughout: arms "were
associated with" differences.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from peerstudy.exceptions import ParameterError
from peerstudy.survival._validate import check_choice, horizon_key
from peerstudy.survival.observational.aipw import aipw_survival
from peerstudy.survival.observational.gformula import gformula_survival
from peerstudy.survival.observational.overlap import weighted_comparison
from peerstudy.survival.observational.sensitivity import evalue_hazard_ratio, evalue_risks

__all__ = ["ADJUST_METHODS", "AdjustedAnalysis", "adjusted_analysis", "risk_evalues"]

#: methods of :func:`adjusted_analysis`
ADJUST_METHODS = ("gformula", "aipw", "overlap")


def risk_evalues(block: dict, labels: Sequence[str], horizons: Iterable[float]) -> dict[str, Any]:
    """E-values of the risk difference at each horizon (through the risk ratio of the same risks)."""
    out = {}
    for h in horizons:
        k = horizon_key(h)
        p1, p0 = block["risk"][labels[1]][k]["estimate"], block["risk"][labels[0]][k]["estimate"]
        if not (0 < p1 <= 1 and 0 < p0 <= 1):
            out[k] = None
            continue
        ratio = block.get("ratio", {}).get(k)
        lo = hi = None
        if ratio is not None and ratio["se"] > 0 and np.isfinite(ratio["se"]):
            # limits on the log scale (delta method), always positive
            s = ratio["se"] / ratio["estimate"]
            z = 1.959963984540054
            lo, hi = ratio["estimate"] * np.exp(-z * s), ratio["estimate"] * np.exp(z * s)
        out[k] = evalue_risks(p1, p0, lo, hi).to_dict()
    return out


@dataclass(frozen=True)
class AdjustedAnalysis:
    """The entry of one method in ``results.json`` (``payload``), its CSV tables and a summary line."""

    method: str
    payload: dict
    tables: dict
    summary: str
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return self.payload


def _line(method: str, d: dict, labels: Sequence[str], day: str) -> str:
    diff = d["difference"][day]
    rd = d["rmst_difference"]
    return (f"{method}: {labels[1]} was associated with a risk of dropout by day {day} that differed by "
            f"{100 * diff['estimate']:+.1f} points (95% CI {100 * diff['ci_lower']:+.1f} to "
            f"{100 * diff['ci_upper']:+.1f}) and {rd['estimate']:+.1f} days in treatment over {rd['horizon']} days "
            f"(RMST difference), against {labels[0]}")


def adjusted_analysis(df: pd.DataFrame, method: str, *, covariates: Sequence[str] = (),
                      propensity: Sequence[str] = (), treatment: str = "arm", time: str = "time",
                      event: str = "event", horizons: Iterable[float] = (30, 90, 180), ties: str = "efron",
                      se: str = "influence", n_boot: int = 200, trim: float | None = None,
                      estimand: str = "overlap", rng: Any = 0) -> AdjustedAnalysis:
    """Run one adjusted comparison by name (see the module docstring).

    Parameters
    ----------
    df : pandas.DataFrame
    method : {"gformula", "aipw", "overlap"}
    covariates : sequence of str
        Outcome (Cox) model covariates for ``gformula`` and ``aipw``.
    propensity : sequence of str
        Propensity model covariates for ``aipw`` (default: ``covariates``) and ``overlap``.
    treatment, time, event, horizons, ties
    se : {"influence", "bootstrap"}
        For ``gformula`` and ``aipw``; ``overlap`` always reports the naive SE and a bootstrap refitting the
        propensity model (``n_boot`` resamples).
    n_boot : int
    trim : float, optional
        Crump trimming for ``overlap``.
    estimand : {"overlap", "ate", "att"}
        Weights of ``overlap``.
    rng : int, Generator or None, default 0
        Bootstrap seed (recorded).

    Raises
    ------
    ParameterError
        Unknown method; a method without the covariates it needs.
    """
    check_choice(method, ADJUST_METHODS, name="method")
    covariates, propensity = list(covariates), list(propensity)
    if method in ("gformula", "aipw") and not covariates:
        raise ParameterError(f"--adjust {method} needs --covariates A,B,... (the confounders of the Cox outcome model)")
    if method == "overlap" and not propensity:
        raise ParameterError("--adjust overlap needs --propensity A,B,... (the covariates of the propensity model)")
    if method == "gformula":
        res = gformula_survival(df, covariates=covariates, treatment=treatment, time=time, event=event,
                                horizons=horizons, ties=ties, se=se, n_boot=n_boot, rng=rng)
        d = res.to_dict()
        d["sensitivity"] = {"risk_difference": risk_evalues(d, res.labels, res.horizons)}
        tables = {"gformula": res.table(), "gformula_curves": res.curves}
        labels, hz, notes = res.labels, res.horizons, res.notes
    elif method == "aipw":
        both = aipw_survival(df, covariates=covariates, propensity=propensity or None, treatment=treatment,
                             time=time, event=event, horizons=horizons, ties=ties, se=se, n_boot=n_boot, rng=rng)
        res = both["aipw"]
        d = res.to_dict()
        d["iptw_ipcw"] = {k: v for k, v in both["iptw"].to_dict().items() if k != "model"}
        d["sensitivity"] = {"risk_difference": risk_evalues(d, res.labels, res.horizons)}
        tables = {"aipw": res.table(), "aipw_iptw": both["iptw"].table(), "aipw_curves": res.curves}
        labels, hz, notes = res.labels, res.horizons, res.notes
    else:
        res = weighted_comparison(df, propensity=propensity, estimand=estimand, trim=trim, treatment=treatment,
                                  time=time, event=event, horizons=horizons, ties=ties, n_boot=n_boot, rng=rng)
        d = res.to_dict()
        hr = d["hazard_ratio"]
        _, e = df[time], df[event]
        share = float(np.mean(np.asarray(e) == 1))
        d["sensitivity"] = {"risk_difference": risk_evalues(d, res.labels, res.horizons),
                            "hazard_ratio": evalue_hazard_ratio(hr["estimate"], hr["ci_lower"], hr["ci_upper"],
                                                                outcome_share=share).to_dict()}
        tables = {"overlap": res.table()}
        labels, hz, notes = res.labels, res.horizons, res.notes
    day = horizon_key(max(hz))
    ev = d["sensitivity"]["risk_difference"].get(day)
    line = _line(method, d, labels, day)
    if ev is not None:
        line += f"; E-value {ev['evalue']:.2f} (confidence limit {ev['evalue_ci']:.2f})" if ev["evalue_ci"] else ""
    return AdjustedAnalysis(method=method, payload=d, tables=tables, summary=line, notes=tuple(notes))
