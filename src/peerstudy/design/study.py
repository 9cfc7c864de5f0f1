"""Simulation studies in the ADEMP frame (Morris, White & Crowther 2019, Stat Med 38:2074-102).

* **Aims**: compare analysis methods for a peer-support evaluation.
* **Data-generating mechanism**: a :class:`~peerstudy.scenario.Scenario` (or a grid of variations of
  one); replicate ``i`` is, draw for draw, the cohort :func:`peerstudy.simulation.cohort.simulate_arrays` makes
  from the replicate's generator (:func:`peerstudy.simulation.batch.simulate_replicates`).
* **Estimands** (:data:`ESTIMANDS`; each method is judged against its own, named in ``performance.json``):
  the log hazard ratio of dropout, peer vs usual care, that the method's model estimates
  (:func:`peerstudy.simulation.truth.cox_limit`): ``marginal`` (population-averaged) for the log-rank
  and the Cox models of the arm alone; ``within_site`` (given the site, averaged over covariates) for the
  Cox model stratified by site and the frailty model of the arm; ``conditional`` (the scenario's own,
  given site and covariates) for the covariate-adjusted Cox model, which ignores the sites (with site
  frailty its limit lies between the marginal and conditional values, a real attenuation the study shows);
  the difference in restricted mean time in treatment to ``tau`` days for ``rmst``; none for the
  randomisation test, which has only a type I error and power.
* **Methods** (:data:`METHODS`): ``logrank`` (Peto log-HR ``(O - E) / V`` with the log-rank test),
  ``cox`` (arm alone, model SE), ``cox_adjusted`` (arm plus the covariates that affect dropout),
  ``cox_robust`` (arm alone, SE robust to clustering by site), ``rmst`` (Kaplan-Meier RMST difference),
  all on the compiled fast path :mod:`peerstudy.survival.fast`; and, fitted replicate by replicate,
  ``cox_stratified`` (arm alone, stratified by site, model SE), ``cox_robust_small_sample`` (arm alone,
  Mancl-DeRouen site sandwich, t on G - 1 df), ``frailty`` (gamma shared-frailty Cox of the arm),
  ``permutation`` (the randomisation test of the log-rank statistic, re-randomising as the scenario's
  allocation did: sites for cluster allocation, participants within sites otherwise; :data:`PERMUTATIONS`
  re-randomisations or all of them) and ``primary`` (the design's primary analysis of
  :mod:`peerstudy.survival.primary`: ``cox_stratified`` for individual allocation, the small-sample
  sandwich with the randomisation test's p-value for cluster allocation).
  For scenarios with recurrent episodes
  (:data:`RECURRENT_METHODS`), ``andersen_gill`` (SE robust by participant), ``andersen_gill_naive`` (model
  SE, which ignores that a person's episodes share a frailty), estimand the log episode rate ratio
  ``log(recurrent.rate_ratio)``, and ``negative_binomial`` (counts over follow-up, log follow-up offset),
  estimand the log ratio of the arms' marginal mean numbers of episodes by the end of follow-up (the truth's
  ``mean_events``: what the count model estimates when every episode is observed to the end of follow-up or
  death, as with re-entries simulated), fitted per replicate by :mod:`peerstudy.survival.recurrent`.
  Episodes are followed to the cohort's ``time``, or with re-entries to their own end (dropout does not
  end it); re-entries themselves are not counted. Unadjusted methods estimate a
  marginal hazard ratio, which is closer to 1 than the conditional one when covariates or site
  frailty affect dropout (non-collapsibility): their "bias" against the conditional truth is real.
* **Performance measures**: power (rejection rate at ``alpha``), bias, empirical SE, model SE, relative
  error of the model SE, coverage of the ``1 - alpha`` Wald confidence interval (95% at the default
  ``alpha = 0.05``), each with its Monte Carlo SE
  (Morris et al. 2019, table 6).

Reproducibility: replicate ``i`` draws from ``SeedSequence(seed, spawn_key=(i,))``, the ``i``-th child of
``SeedSequence(seed).spawn(reps)``, whatever the chunking, number of workers or backend. Grid points share
the replicate streams (common random numbers), which makes differences between them more precise.

Scale-out: chunks of replicates run in-process (``workers=1``), in local processes
(``backend="processes"``) or on a Dask cluster (``backend="dask"``: pass ``scheduler="tcp://host:8786"``
for a real cluster started with ``dask scheduler`` and ``dask worker tcp://host:8786`` on each machine,
each with peerstudy installed; or a ``dask.distributed.Client``). With ``out`` given, each finished chunk is
written to ``out/chunks/`` and a rerun of the same study skips it (resume after an interruption).
"""

from __future__ import annotations
import html
import itertools
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence
import numpy as np
from peerstudy.exceptions import DataError, ParameterError
from peerstudy.scenario import Scenario, load_scenario
from peerstudy.simulation.batch import replicate_seed, simulate_replicates
from peerstudy.simulation.cohort import override

__all__ = ["replicate_seed", "simulate_replicates", "METHODS", "DEFAULT_METHODS", "ESTIMANDS", "PERMUTATIONS",
           "analyse_replicates", "performance", "StudyResult", "run_study", "estimand_of", "operating_characteristics",
           "RECURRENT_METHODS"]


#: the fast methods a study runs by default
DEFAULT_METHODS: tuple[str, ...] = ("logrank", "cox", "cox_adjusted", "cox_robust", "rmst")
#: Methods for recurrent episodes (scenarios with ``recurrent.enabled``); estimand the log episode rate ratio.
RECURRENT_METHODS: tuple[str, ...] = ("andersen_gill", "andersen_gill_naive", "negative_binomial")

#: every method a study can run
METHODS: tuple[str, ...] = DEFAULT_METHODS + ("cox_stratified", "cox_robust_small_sample", "frailty", "permutation",
                                              "primary")

#: re-randomisations of the ``permutation`` method per replicate (all allocations when there are fewer)
PERMUTATIONS = 999

_SLOW = ("cox_stratified", "cox_robust_small_sample", "frailty", "permutation", "primary")

_HR_METHODS = ("logrank", "cox", "cox_adjusted", "cox_robust", "cox_stratified", "cox_robust_small_sample",
               "frailty", "primary")

#: method -> the estimand it is judged against (keys of the truth's ``log_hazard_ratio``, or rmst / none)
ESTIMANDS: dict[str, str] = {"logrank": "marginal", "cox": "marginal", "cox_robust": "marginal",
                             "cox_robust_small_sample": "marginal", "cox_adjusted": "conditional",
                             "cox_stratified": "within_site", "frailty": "within_site",
                             "rmst": "rmst_difference", "permutation": "none",
                             "andersen_gill": "rate_ratio", "andersen_gill_naive": "rate_ratio",
                             "negative_binomial": "count_ratio"}

_ESTIMAND_TEXT = {
    "marginal": "population-averaged (marginal) log hazard ratio of the arm alone",
    "within_site": "log hazard ratio within site (given the site, averaged over covariates)",
    "conditional": "log hazard ratio given site and covariates, as simulated (the model ignores the sites)",
    "rmst_difference": "difference in restricted mean days in treatment to tau (peer - usual care)",
    "none": "a test only: type I error and power, no estimate",
    "rate_ratio": "log rate ratio of recurrent episodes, peer vs usual care, as simulated (a single ratio only "
                  "when the effect is constant: not with effect_stops_day or effect_while_coached)",
    "count_ratio": "log ratio of the marginal mean numbers of episodes by the end of follow-up (stopped at death), "
                   "peer vs usual care, from the truth",
}


_COLUMNS = ("rep", "method", "estimate", "se", "p_value", "reject", "ci_low", "ci_high", "converged", "events")


# ----- data-generating mechanism (lean, batched) ----------------------------------------------------
def _adjust_default(scenario: Scenario) -> tuple[str, ...]:
    cov = scenario.covariates
    return tuple(name for name in cov.__dataclass_fields__ if getattr(cov, name).hazard_ratio != 1.0)


# ----- methods ---------------------------------------------------------------------------------------
def analyse_replicates(data: Mapping[str, np.ndarray], *, methods: Sequence[str] = DEFAULT_METHODS,
                       adjust: Sequence[str] = (), tau: float, alpha: float = 0.05, allocation: str = "individual",
                       seed: int = 0, first: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """Apply each method to every replicate.

    Parameters
    ----------
    data : mapping
        Replicate arrays as :func:`peerstudy.simulation.batch.simulate_replicates` returns them.
    methods : sequence of str
        Any of :data:`METHODS`.
    adjust : sequence of str
        Covariates of ``cox_adjusted``.
    tau : float
        RMST horizon in days.
    alpha : float
        Two-sided significance level: ``reject`` is ``p_value < alpha`` and ``ci_low``/``ci_high`` bound the
        ``1 - alpha`` Wald interval ``estimate -/+ z_{1 - alpha/2} se``.

    Returns
    -------
    dict
        Method -> ``estimate`` (log-HR for the hazard-ratio methods, RMST difference in days for ``rmst``,
        NaN for ``permutation``), ``se``, ``p_value``, ``reject``, ``ci_low``, ``ci_high`` and ``converged``
        arrays (one entry per replicate). The replicate-by-replicate methods need ``data["site"]`` and
        ``allocation`` / ``seed`` / ``first`` (the scenario's allocation, the study seed and the index of the
        first replicate, for the randomisation test's streams).
    """
    from scipy.special import erfc, ndtri

    from peerstudy.survival import fast

    if not (isinstance(alpha, (int, float)) and not isinstance(alpha, bool) and 0 < alpha < 1):
        raise ParameterError(f"alpha must be in (0, 1); got {alpha!r}")
    z = float(ndtri(1.0 - alpha / 2.0))
    t, e, g = data["time"], data["event"], data["peer"]
    res: dict[str, dict[str, np.ndarray]] = {}

    def wald(est, se, conv):
        with np.errstate(invalid="ignore", divide="ignore"):
            p = erfc(np.abs(est / se) / math.sqrt(2.0))
        return {"estimate": est, "se": se, "p_value": p, "converged": conv}

    if "logrank" in methods:
        lr = fast.logrank_batch(t, e, g)
        res["logrank"] = {"estimate": lr.estimate, "se": lr.se, "p_value": lr.p_value,
                          "converged": np.isfinite(lr.estimate)}
    if "cox" in methods or "cox_robust" in methods:
        fit = fast.cox_batch(t, e, g, cluster=data["site"] if "cox_robust" in methods else None)
        if "cox" in methods:
            res["cox"] = wald(fit.coef[:, 0], fit.se[:, 0], fit.converged)
        if "cox_robust" in methods:
            res["cox_robust"] = wald(fit.coef[:, 0], fit.robust_se[:, 0], fit.converged)
    if "cox_adjusted" in methods:
        X = np.stack([g] + [data[c] for c in adjust], axis=-1).astype(np.float64)
        fit = fast.cox_batch(t, e, X)
        res["cox_adjusted"] = wald(fit.coef[:, 0], fit.se[:, 0], fit.converged)
    if "rmst" in methods:
        rm = fast.rmst_batch(t, e, g, tau=tau)
        res["rmst"] = wald(rm.difference, rm.se_difference, np.isfinite(rm.se_difference))
    wanted = [m for m in methods if m in RECURRENT_METHODS]
    if wanted:
        for m, (est, se, conv) in _recurrent_methods(data, wanted).items():
            res[m] = wald(est, se, conv)
    for r in res.values():
        with np.errstate(invalid="ignore"):
            r["reject"] = r["p_value"] < alpha
        r["ci_low"] = r["estimate"] - z * r["se"]
        r["ci_high"] = r["estimate"] + z * r["se"]
    slow = [m for m in methods if m in _SLOW]
    if slow:
        res.update(_replicate_by_replicate(data, slow, alpha=alpha, allocation=allocation, seed=seed, first=first))
    return {m: res[m] for m in methods}


def _replicate_by_replicate(data: Mapping[str, np.ndarray], methods: Sequence[str], *, alpha: float,
                            allocation: str, seed: int, first: int) -> dict[str, dict[str, np.ndarray]]:
    """The methods fitted one replicate at a time (the full estimators of :mod:`peerstudy.survival`)."""
    import warnings

    import pandas as pd
    from scipy import special, stats

    from peerstudy.exceptions import PeerstudyError
    from peerstudy.survival.cox.engine import fit_cox, fit_prepared
    from peerstudy.survival.cox.frailty import fit_frailty_cox
    from peerstudy.survival.permutation import permutation_test

    reps = data["time"].shape[0]
    cols = ("estimate", "se", "p_value", "ci_low", "ci_high", "converged")
    out = {m: {c: np.full(reps, np.nan) for c in cols} for m in methods}
    design = "cluster" if allocation == "cluster" else "individual"
    z = float(stats.norm.ppf(1 - alpha / 2))

    # scipy.stats' norm.sf, t.sf and t.ppf are these special functions; called directly, per replicate, they cost
    # a tenth as much
    def two_sided_normal(x: float) -> float:
        return 2.0 * float(special.ndtr(-abs(x)))

    def two_sided_t(x: float, df: int) -> float:
        return 2.0 * float(special.stdtr(df, -abs(x)))

    def t_quantile(df: int) -> float:
        return float(special.stdtrit(df, 1 - alpha / 2))

    def put(m: str, i: int, est: float, se: float, p: float, crit: float) -> None:
        o = out[m]
        o["estimate"][i], o["se"][i], o["p_value"][i] = est, se, p
        o["ci_low"][i], o["ci_high"][i], o["converged"][i] = est - crit * se, est + crit * se, 1.0

    for i in range(reps):
        frame = None

        def df() -> pd.DataFrame:   # the replicate as a cohort table, for the estimators that need one
            nonlocal frame
            if frame is None:
                frame = pd.DataFrame({"time": data["time"][i], "event": data["event"][i],
                                      "arm": np.where(data["peer"][i], "peer", "usual_care"), "site": data["site"][i]})
            return frame

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                md = perm = None
                coached = "coach" in data and design == "individual"
                if "primary" in methods and coached:   # clients clustered by coach: coach sandwich (survival.primary)
                    own = np.where(data["coach"][i] >= 0, data["coach"][i], -1 - np.arange(len(data["time"][i])))
                    f = fit_cox(df().assign(coach=own), covariates=["arm"], cluster="coach")
                    se = f.robust_se[0]
                    put("primary", i, f.coef[0], se, two_sided_normal(f.coef[0] / se), z)
                if "cox_stratified" in methods or ("primary" in methods and design == "individual" and not coached):
                    f = fit_prepared(_arm_data(data, i, by_site="strata"))
                    for m in ("cox_stratified", "primary"):
                        if m in methods and (m == "cox_stratified" or (design == "individual" and not coached)):
                            put(m, i, f.coef[0], f.se[0], two_sided_normal(f.coef[0] / f.se[0]), z)
                if "cox_robust_small_sample" in methods or ("primary" in methods and design == "cluster"):
                    md = fit_prepared(_arm_data(data, i, by_site="cluster"), small_sample="md")
                    t = t_quantile(md.df)
                    se = md.robust_se[0]
                    if "cox_robust_small_sample" in methods:
                        put("cox_robust_small_sample", i, md.coef[0], se, two_sided_t(md.coef[0] / se, md.df), t)
                if "permutation" in methods or ("primary" in methods and design == "cluster"):
                    perm = permutation_test(df(), design=design, cluster="site", n_permutations=PERMUTATIONS,
                                            rng=np.random.default_rng([seed, 0x7065726D, first + i]))
                    if "permutation" in methods:
                        o = out["permutation"]
                        o["p_value"][i], o["converged"][i] = perm.p_value, 1.0
                if "primary" in methods and design == "cluster":
                    put("primary", i, md.coef[0], md.robust_se[0], perm.p_value, t_quantile(md.df))
                if "frailty" in methods:
                    fr = fit_frailty_cox(df(), covariates=["arm"], frailty="site")
                    term = fr.terms["arm[peer]"]
                    put("frailty", i, term["coef"], term["se"], term["p"], z)
            except PeerstudyError:
                pass   # this replicate counts as failed for the method (converged stays NaN -> False)
    for o in out.values():
        o["converged"] = o["converged"] == 1.0
        with np.errstate(invalid="ignore"):
            o["reject"] = o["p_value"] < alpha
    return out


def _arm_data(data: Mapping[str, np.ndarray], i: int, *, by_site: str) -> Any:
    """Replicate ``i`` laid out for a Cox model of the arm, stratified by site (``by_site="strata"``) or with site
    clusters (``"cluster"``): the :class:`~peerstudy.survival.cox.engine.CoxData` that ``fit_cox(df,
    covariates=["arm"], strata="site")`` (or ``cluster="site"``) prepares from the replicate's table, built from the
    simulated arrays directly (they need none of the table's checks, which took half of each fit)."""
    from peerstudy.exceptions import AnalysisError
    from peerstudy.survival._validate import check_event_count
    from peerstudy.survival.cox.engine import CoxData

    peer = np.asarray(data["peer"][i], dtype=float)
    if peer.min() == peer.max():
        raise AnalysisError("categorical covariate 'arm' has a single level")
    status = np.asarray(data["event"][i], dtype=np.int64)
    check_event_count(status, event="event", params=["arm[peer]"])
    site = np.unique(np.asarray(data["site"][i]), return_inverse=True)[1].astype(np.int64)
    n = len(peer)
    return CoxData(X=np.ascontiguousarray(peer[:, None]), stop=np.asarray(data["time"][i], dtype=np.float64),
                   start=None, status=status, weights=np.ones(n), strata=site if by_site == "strata" else
                   np.zeros(n, dtype=np.int64), cluster=site if by_site == "cluster" else None, names=["arm[peer]"],
                   assign={"arm": [0]})


def _recurrent_methods(data: Mapping[str, Any], methods: Sequence[str]) -> dict[str, tuple[np.ndarray, ...]]:
    """Log rate ratio, SE and convergence of each recurrent-episode method in each replicate."""
    import warnings

    import pandas as pd

    from peerstudy.survival.recurrent import RecurrentData, fit_andersen_gill, fit_negative_binomial

    if "episode_person" not in data:
        raise ParameterError(f"methods {', '.join(methods)} need a scenario with recurrent episodes "
                             "(recurrent.enabled: true)")
    reps, n = data["time"].shape
    out = {m: (np.full(reps, np.nan), np.full(reps, np.nan), np.zeros(reps, dtype=bool)) for m in methods}
    ids = np.arange(1, n + 1)
    for r in range(reps):
        person = np.asarray(data["episode_person"][r], dtype=np.int64)
        # follow-up of episodes: the cohort's time, or with re-entries its own (dropout does not end it);
        # death is censoring here (the rate among people alive)
        end = data["episode_end"][r] if "episode_end" in data else data["time"][r]
        rd = RecurrentData(cohort=pd.DataFrame({"peer": data["peer"][r].astype(float)}), ids=ids,
                           end=end.astype(float), died=np.zeros(n, dtype=bool), person=person,
                           time=np.asarray(data["episode_day"][r], dtype=float))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                if "andersen_gill" in methods or "andersen_gill_naive" in methods:
                    fit = fit_andersen_gill(rd, covariates=["peer"])
                    for m, se in (("andersen_gill", fit.robust_se[0]), ("andersen_gill_naive", fit.se[0])):
                        if m in out:
                            out[m][0][r], out[m][1][r], out[m][2][r] = fit.coef[0], se, True
                if "negative_binomial" in methods:
                    nb = fit_negative_binomial(rd, covariates=["peer"]).terms["peer"]
                    out["negative_binomial"][0][r], out["negative_binomial"][1][r] = nb["coef"], nb["se"]
                    out["negative_binomial"][2][r] = True
            except Exception as exc:  # a replicate too small to fit: recorded as not converged
                if not isinstance(exc, (ValueError, np.linalg.LinAlgError)):
                    raise
    return out


def _run_chunk(spec: dict[str, Any], start: int, stop: int) -> dict[str, np.ndarray]:
    """Simulate and analyse replicates ``start..stop-1``; a flat dict of columns (cheap to ship between processes)."""
    scenario = Scenario.from_dict(spec["scenario"])
    cols: dict[str, list] = {c: [] for c in _COLUMNS}
    for a in range(start, stop, _BLOCK):  # blocks keep the arrays small enough for the cache
        _block(spec, scenario, a, min(a + _BLOCK, stop), cols)
    return {c: np.concatenate(v) for c, v in cols.items()}


_BLOCK = 128


def _block(spec: dict[str, Any], scenario: Scenario, start: int, stop: int, cols: dict[str, list]) -> None:
    data = simulate_replicates(scenario, range(start, stop), seed=spec["seed"], covariates=spec["adjust"])
    res = analyse_replicates(data, methods=spec["methods"], adjust=spec["adjust"], tau=spec["tau"], alpha=spec["alpha"],
                             allocation=scenario.allocation, seed=spec["seed"], first=start)
    events = data["event"].sum(axis=1)
    for method, r in res.items():
        cols["rep"].append(np.arange(start, stop))
        cols["method"].append(np.full(stop - start, method, dtype=object))
        for c in ("estimate", "se", "p_value", "reject", "ci_low", "ci_high"):
            cols[c].append(r[c])
        cols["converged"].append(np.asarray(r["converged"], dtype=bool))
        cols["events"].append(events)


# ----- performance measures ---------------------------------------------------------------------------
def performance(estimates: Any, truth: Mapping[str, float], *, alpha: float = 0.05) -> dict[str, dict[str, float]]:
    """Performance of each method with Monte Carlo SEs (Morris, White & Crowther 2019, table 6).

    Parameters
    ----------
    estimates : pandas.DataFrame
        Tidy replicate estimates with columns ``method``, ``estimate``, ``se``, ``p_value``, ``ci_low``,
        ``ci_high``, ``converged``.
    truth : mapping
        Method -> true value of its estimand (``None`` for a test without an estimate: power only).
    alpha : float
        Significance level for power.

    Returns
    -------
    dict
        Method -> ``reps`` (used), ``failed``, ``truth``, ``mean``, ``power``, ``bias``, ``empirical_se``,
        ``model_se``, ``relative_se_error``, ``coverage``, each measure with ``<name>_mcse``.
    """
    out: dict[str, dict[str, float]] = {}
    for method, d in estimates.groupby("method", sort=False):
        if truth[method] is None:   # a test only: its rejection rate
            ok = d["converged"].to_numpy(bool) & np.isfinite(d["p_value"].to_numpy())
            n = int(ok.sum())
            if n < 2:
                raise ParameterError(f"method {method!r} has {n} usable replicates; at least 2 are needed")
            rej = float(np.mean(d["p_value"].to_numpy()[ok] < alpha))
            out[str(method)] = {"reps": n, "failed": int((~ok).sum()), "truth": None, "power": rej,
                                "power_mcse": math.sqrt(rej * (1 - rej) / n)}
            continue
        ok = d["converged"].to_numpy(bool) & np.isfinite(d["estimate"].to_numpy()) & np.isfinite(d["se"].to_numpy())
        est, se = d["estimate"].to_numpy()[ok], d["se"].to_numpy()[ok]
        n = int(ok.sum())
        theta = float(truth[method])
        if n < 2:
            raise ParameterError(f"method {method!r} has {n} usable replicates; at least 2 are needed")
        rej = float(np.mean(d["p_value"].to_numpy()[ok] < alpha))
        cover = float(np.mean((d["ci_low"].to_numpy()[ok] <= theta) & (theta <= d["ci_high"].to_numpy()[ok])))
        emp = float(np.std(est, ddof=1))
        se2 = se * se
        mod = float(math.sqrt(se2.mean()))
        var_se2 = float(np.var(se2, ddof=1))
        rel = mod / emp - 1.0
        out[str(method)] = {
            "reps": n,
            "failed": int((~ok).sum()),
            "truth": theta,
            "mean": float(est.mean()),
            "power": rej,
            "power_mcse": math.sqrt(rej * (1 - rej) / n),
            "bias": float(est.mean() - theta),
            "bias_mcse": emp / math.sqrt(n),
            "empirical_se": emp,
            "empirical_se_mcse": emp / math.sqrt(2 * (n - 1)),
            "model_se": mod,
            "model_se_mcse": math.sqrt(var_se2 / (4 * n * mod * mod)),
            "relative_se_error": rel,
            "relative_se_error_mcse": (mod / emp) * math.sqrt(var_se2 / (4 * n * mod ** 4) + 1 / (2 * (n - 1))),
            "coverage": cover,
            "coverage_mcse": math.sqrt(cover * (1 - cover) / n),
        }
    return out


# ----- result ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StudyResult:
    """A finished simulation study.

    ``points`` holds one entry per grid point (one entry without a grid): ``{"point": {field: value},
    "scenario": dict, "truth": {method: value}, "estimands": {method: {"estimand", "meaning"}},
    "methods": {method: measures}, "analytic": {...}}``.
    ``estimates`` is the tidy table of replicate estimates (column ``point`` indexes ``points``).
    """

    reps: int
    seed: int
    methods: tuple[str, ...]
    alpha: float
    tau: int
    adjust: tuple[str, ...]
    points: tuple[dict, ...]
    estimates: Any = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The ``performance.json`` document; gridded studies list the points under ``grid``."""
        head = {"reps": self.reps, "seed": self.seed, "alpha": self.alpha, "tau": self.tau,
                "adjust": list(self.adjust), "methods_run": list(self.methods)}
        if len(self.points) == 1 and not self.points[0]["point"]:
            return {**head, **{k: v for k, v in self.points[0].items() if k != "point"}}
        return {**head, "grid": list(self.points)}

    def table(self):
        """Performance measures as a data frame, one row per (grid point, method)."""
        import pandas as pd

        rows = []
        for i, p in enumerate(self.points):
            for method, m in p["methods"].items():
                rows.append({"point": i, **{f"{k}": v for k, v in p["point"].items()}, "method": method, **m})
        return pd.DataFrame(rows)

    def _repr_html_(self) -> str:
        cols = ["power", "bias", "empirical_se", "model_se", "coverage"]
        parts = [f"<p>Simulation study: {self.reps} replicates, seed {self.seed}</p>"]
        for p in self.points:
            head = "".join(f"<th>{c}</th>" for c in ["method"] + cols)
            body = "".join(
                "<tr><td>" + html.escape(meth) + "</td>"
                + "".join(f"<td>{m[c]:.4f} ({m[c + '_mcse']:.4f})</td>" for c in cols) + "</tr>"
                for meth, m in p["methods"].items())
            cap = html.escape(", ".join(f"{k} = {v}" for k, v in p["point"].items()) or p["scenario"]["name"])
            parts.append(f"<table><caption>{cap} (Monte Carlo SE)</caption><tr>{head}</tr>{body}</table>")
        return "".join(parts)


# ----- orchestration -----------------------------------------------------------------------------------
def _grid_points(grid: Mapping[str, Sequence[Any]] | None) -> list[dict[str, Any]]:
    if not grid:
        return [{}]
    keys = list(grid)
    for k in keys:
        if isinstance(grid[k], (str, bytes)) or not isinstance(grid[k], Iterable) or len(list(grid[k])) == 0:
            raise ParameterError(f"grid[{k!r}] must be a non-empty list of values; got {grid[k]!r}")
    return [dict(zip(keys, values)) for values in itertools.product(*(list(grid[k]) for k in keys))]


def _truths(scenario: Scenario, methods: Sequence[str], tau: int) -> dict[str, float]:
    from peerstudy.simulation.truth import compute_truth

    t = compute_truth(scenario).to_dict()
    diffs = t["estimands"]["rmst_difference"]
    if "rmst" in methods and str(tau) not in diffs:
        raise ParameterError(f"tau must be one of the truth's horizons {sorted(int(h) for h in diffs)}; got {tau!r}")
    if any(m in RECURRENT_METHODS for m in methods) and not scenario.recurrent.enabled:
        raise ParameterError(f"methods {', '.join(m for m in methods if m in RECURRENT_METHODS)} need a scenario "
                             "with recurrent episodes (recurrent.enabled: true)")
    limits = t["estimands"].get("log_hazard_ratio") or {}
    out: dict[str, float | None] = {}
    for m in methods:
        key = estimand_of(m, scenario)
        if key == "rmst_difference":
            out[m] = diffs[str(tau)]
        elif key == "none":
            out[m] = None
        elif key == "rate_ratio":
            out[m] = math.log(scenario.recurrent.rate_ratio)
        elif key == "count_ratio":
            mean = t["recurrent"]["mean_events"]
            end = str(scenario.follow_up_days)
            out[m] = math.log(mean["peer"][end] / mean["usual_care"][end])
        else:
            out[m] = limits.get(key, t["log_hazard_ratio"])
    return out


def estimand_of(method: str, scenario: Scenario) -> str:
    """The estimand a study judges ``method`` against (:data:`ESTIMANDS`; ``primary`` follows the allocation)."""
    if method == "primary":
        return "marginal" if scenario.allocation == "cluster" or scenario.coaches.enabled else "within_site"
    return ESTIMANDS[method]


def estimands_block(scenario: Scenario, methods: Sequence[str]) -> dict[str, dict[str, str]]:
    """For ``performance.json``: each method's estimand, by key and in words."""
    return {m: {"estimand": estimand_of(m, scenario), "meaning": _ESTIMAND_TEXT[estimand_of(m, scenario)]}
            for m in methods}


def _analytic(scenario: Scenario, events_mean: float, alpha: float) -> dict[str, Any]:
    from peerstudy.design.power import power_for_events

    return {
        "events_mean": events_mean,
        "power_schoenfeld": power_for_events(scenario.hazard_ratio, events_mean, alpha=alpha,
                                             allocation=scenario.peer_fraction),
        "note": "Schoenfeld power at the conditional hazard ratio for the mean number of dropouts observed; "
                "it ignores clustering, covariates (non-collapsibility) and non-proportional effects",
    }


def _chunk_name(point: int, start: int, stop: int) -> str:
    return f"p{point:03d}_{start:09d}_{stop:09d}.npz"


def _save_chunk(folder: Path, name: str, cols: dict[str, np.ndarray]) -> None:
    from peerstudy._io import atomic_path

    arrays = {k: (v.astype(str) if v.dtype == object else v) for k, v in cols.items()}
    with atomic_path(folder / name, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)


def _load_chunk(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


#: Seconds to wait for a Dask scheduler to answer before giving up.
CONNECT_TIMEOUT = 8


def _connect(client_class: Any, address: Any):
    """A Dask client of the scheduler at ``address``, or one line naming it if none answers in time."""
    import logging

    quiet = [logging.getLogger(name) for name in ("distributed", "distributed.client", "distributed.comm")]
    levels = [lg.level for lg in quiet]
    for lg in quiet:
        lg.setLevel(logging.CRITICAL)
    try:
        return client_class(address, timeout=CONNECT_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - an unreachable or malformed address, reported in one line
        why = (str(exc).splitlines() or [type(exc).__name__])[0][:160]
        raise DataError(f"scheduler {str(address)[:200]!r}: no Dask scheduler answered within {CONNECT_TIMEOUT} s "
                        f"({why})") from None
    finally:
        for lg, level in zip(quiet, levels):
            lg.setLevel(level)


def _executor(backend: str, workers: int, scheduler: Any):
    """(submit function, as_completed, shutdown) for the chosen backend."""
    if backend == "dask":
        from dask.distributed import Client, as_completed

        if scheduler is None:
            raise ParameterError("the dask backend needs scheduler= (an address like 'tcp://host:8786' or a Client)")
        client = scheduler if isinstance(scheduler, Client) else _connect(Client, scheduler)
        own = client is not scheduler

        def submit(fn, *a):
            return client.submit(fn, *a, pure=False)

        return submit, as_completed, (client.close if own else (lambda: None))
    import concurrent.futures as cf
    import multiprocessing as mp

    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
    from peerstudy._io import die_with_parent

    pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=die_with_parent)
    return pool.submit, cf.as_completed, pool.shutdown


def run_study(
    scenario: "Scenario | str | Mapping[str, Any]",
    *,
    reps: int,
    seed: int = 0,
    methods: Sequence[str] = DEFAULT_METHODS,
    grid: Mapping[str, Sequence[Any]] | None = None,
    n: int | None = None,
    alpha: float = 0.05,
    tau: int | None = None,
    adjust: Sequence[str] | None = None,
    workers: int = 1,
    backend: str = "processes",
    scheduler: Any = None,
    chunk_size: int | None = None,
    out: "str | os.PathLike | None" = None,
    progress: bool = False,
) -> StudyResult:
    """Run a simulation study of ``methods`` on ``reps`` cohorts of ``scenario`` (per grid point).

    Parameters
    ----------
    scenario : Scenario, preset name, YAML path or dict
        The data-generating mechanism.
    reps : int
        Replicates per grid point (>= 2).
    seed : int
        Study seed (>= 0); replicate ``i`` uses ``SeedSequence(seed, spawn_key=(i,))``.
    methods : sequence of str
        Any of :data:`METHODS` (default :data:`DEFAULT_METHODS`, the fast ones).
    grid : mapping, optional
        Scenario field (dotted for covariates) -> values; the study runs at every combination.
    n : int, optional
        Participants per cohort (overrides the scenario's ``n``).
    alpha : float
        Two-sided significance level of the tests (power) and ``1 - alpha`` the level of the confidence
        intervals (coverage).
    tau : int, optional
        RMST horizon in days; default the scenario's ``follow_up_days``.
    adjust : sequence of str, optional
        Covariates of ``cox_adjusted``; default those with a hazard ratio other than 1.
    workers : int
        Local processes (1 = in this process).
    backend : {"processes", "dask"}
        Where chunks run; ``"dask"`` also when ``scheduler`` is given.
    scheduler : str or dask.distributed.Client, optional
        Dask scheduler address or client.
    chunk_size : int, optional
        Replicates per chunk (default ``reps / 16`` within 50 to 1000).
    out : path, optional
        Folder for finished chunks (``out/chunks``); a rerun resumes from them.
    progress : bool
        Show a tqdm progress bar (replicates done, time left) on stderr.

    Returns
    -------
    StudyResult

    Raises
    ------
    ParameterError
        An option is out of range or unknown (message names it).
    DataError
        ``out`` holds chunks of a different study.
    """
    import pandas as pd

    base = load_scenario(scenario)
    if n is not None:
        base = override(base, {"n": n})
    reps = _whole("reps", reps, 2)
    if reps > MAX_REPS:
        size = reps * max(len(tuple(methods)), 1) * _ROW_BYTES
        raise ParameterError(f"reps must be at most {MAX_REPS:,}; got {reps:,} (the estimates table alone would "
                             f"need about {size / 1e9:,.0f} GB of memory)")
    seed = _whole("seed", seed, 0)
    workers = _whole("workers", workers, 1)
    methods = tuple(methods)
    unknown = [m for m in methods if m not in METHODS + RECURRENT_METHODS]
    if unknown or not methods:
        raise ParameterError(f"methods must be some of {', '.join(METHODS + RECURRENT_METHODS)}; got {list(methods)!r}")
    if not (isinstance(alpha, (int, float)) and 0 < alpha < 1):
        raise ParameterError(f"alpha must be in (0, 1); got {alpha!r}")
    if scheduler is not None:
        backend = "dask"
    if backend not in ("processes", "dask"):
        raise ParameterError(f"backend must be 'processes' or 'dask'; got {backend!r}")
    points = _grid_points(grid)
    scenarios = [override(base, p) if p else base for p in points]  # descriptions name the changed fields
    tau = int(base.follow_up_days if tau is None else _whole("tau", tau, 1))
    if adjust is None:
        adjust = _adjust_default(base)
    adjust = tuple(adjust)
    known = tuple(base.covariates.__dataclass_fields__)
    bad = [c for c in adjust if c not in known]
    if bad:
        raise ParameterError(f"adjust must name covariates among {', '.join(known)}; got {bad!r}")
    if "cox_stratified" in methods and any(s.allocation == "cluster" for s in scenarios):
        raise ParameterError("method cox_stratified cannot run under cluster allocation: the arm is constant within "
                             "each site, so a model stratified by site has nothing to compare (use "
                             "cox_robust_small_sample, permutation or primary)")
    truths = [_truths(s, methods, tau) for s in scenarios]
    if chunk_size is None:  # independent of the workers, so a rerun with other workers still resumes
        chunk_size = min(1000, max(50, math.ceil(reps / 16)))
    chunk_size = _whole("chunk_size", chunk_size, 1)
    specs = [dict(scenario=s.to_dict(), seed=seed, methods=list(methods), adjust=list(adjust), tau=tau, alpha=alpha)
             for s in scenarios]
    tasks = [(p, a, min(a + chunk_size, reps)) for p in range(len(points)) for a in range(0, reps, chunk_size)]

    folder, made = _prepare_out(out, specs)
    results: dict[tuple[int, int, int], dict[str, np.ndarray]] = {}
    if folder is not None:
        for task in tasks:
            path = folder / _chunk_name(*task)
            if path.exists():
                try:
                    results[task] = _load_chunk(path)
                except Exception:  # noqa: BLE001 - an unreadable chunk (a damaged file) is run again
                    pass
    todo = [t for t in tasks if t not in results]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=reps * len(points), unit="rep", desc="replicates", initial=sum(b - a for _, a, b in results))

    saved: list[tuple[int, int, int]] = []

    def done(task, cols):
        results[task] = cols
        if folder is not None:
            try:
                _save_chunk(folder, _chunk_name(*task), cols)
            except OSError as exc:
                raise DataError(f"cannot write a chunk into {str(folder)!r}: {exc.strerror or exc}") from None
            saved.append(task)
        if bar is not None:
            bar.update(task[2] - task[1])

    try:
        if todo and backend == "processes" and workers == 1:
            for task in todo:
                done(task, _run_chunk(specs[task[0]], task[1], task[2]))
        elif todo:
            if backend == "processes":
                # compile (or load) the kernels once here, so forked workers inherit them ready to run
                _block(specs[0], scenarios[0], 0, 1, {c: [] for c in _COLUMNS})
            submit, as_completed, shutdown = _executor(backend, workers, scheduler)
            try:
                futures = {submit(_run_chunk, specs[t[0]], t[1], t[2]): t for t in todo}
                for fut in as_completed(list(futures)):
                    done(futures[fut], fut.result())
            finally:
                shutdown()
    except BaseException:
        if not saved:  # nothing to resume from: leave the folder as it was
            _remove_made(made)
        raise
    finally:
        if bar is not None:
            bar.close()

    frames = []
    out_points = []
    for p, (point, sc, truth) in enumerate(zip(points, scenarios, truths)):
        cols = [results[t] for t in tasks if t[0] == p]
        df = pd.DataFrame({c: np.concatenate([x[c] for x in cols]) for c in _COLUMNS})
        df["method"] = df["method"].astype(str)
        df = df.sort_values(["method", "rep"], key=lambda s: s.map(methods.index) if s.name == "method" else s,
                            kind="stable").reset_index(drop=True)
        df["truth"] = df["method"].map(truth)
        df.insert(0, "point", p)
        frames.append(df)
        events_mean = float(df.loc[df["method"] == methods[0], "events"].mean())
        out_points.append({"point": point, "scenario": sc.to_dict(), "truth": truth,
                           "estimands": estimands_block(sc, methods),
                           "methods": performance(df, truth, alpha=alpha), "analytic": _analytic(sc, events_mean, alpha)})
    estimates = pd.concat(frames, ignore_index=True)
    return StudyResult(reps=reps, seed=seed, methods=methods, alpha=float(alpha), tau=tau, adjust=adjust,
                       points=tuple(out_points), estimates=estimates)


#: Most replicates (per grid point) a study runs.
MAX_REPS = 1_000_000
#: Bytes per row of the estimates table (one replicate and method), for messages.
_ROW_BYTES = 200


def _whole(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ParameterError(f"{name} must be a whole number >= {minimum}; got {value!r}")
    return int(value)


#: What a study folder holds; an earlier study folder (chunks/study.json, no marker) holds nothing else.
_STUDY_FILES = frozenset({"chunks", "estimates.csv", "performance.json"})


def _earlier_study(root: Path) -> bool:
    from peerstudy._io import MARKER

    try:
        names = {p.name for p in root.iterdir()}
    except OSError:
        return False
    return (root / "chunks" / "study.json").is_file() and names <= _STUDY_FILES | {MARKER}


def check_study_dir(out: "str | os.PathLike", *, option: str = "--out") -> Path:
    """Refuse, before any work, a study folder peerstudy may not write into; its resolved path.

    Allowed: a new or empty folder, a folder peerstudy made (it holds :data:`peerstudy._io.MARKER`; a rerun
    resumes from its ``chunks``) or a study folder of an earlier version (only ``chunks/study.json``, chunks,
    ``estimates.csv`` and ``performance.json``). Anything else the user made is refused, never changed.
    """
    from peerstudy._io import check_output_dir

    root = Path(out).expanduser()
    if root.is_dir() and _earlier_study(root):
        return root.resolve()
    return check_output_dir(root, option=option)


def _prepare_out(out: Any, specs: list[dict]) -> "tuple[Path | None, list[Path]]":
    """The chunks folder (and the paths made here, removed if the study fails before its first chunk)."""
    from peerstudy._io import MARKER, atomic_path, dumps_json

    if out is None:
        return None, []
    root = check_study_dir(out)
    folder = root / "chunks"
    stamp = folder / "study.json"
    text = json.dumps(specs, sort_keys=True)
    if stamp.exists():
        try:
            same = stamp.read_text(encoding="utf-8") == text
        except (OSError, UnicodeDecodeError):
            same = False
        if not same:
            raise DataError(f"{str(folder)!r} holds chunks of a different study (scenario, seed, methods, tau or alpha "
                            "differ); use another --out folder or delete it")
    made: list[Path] = []
    try:
        for path in (root, folder):
            if not path.exists():
                path.mkdir(parents=path is root)
                made.append(path)
        if not (root / MARKER).exists():
            with atomic_path(root / MARKER) as tmp:
                tmp.write_text(dumps_json({"made_by": "peerstudy study"}), encoding="utf-8")
            made.append(root / MARKER)
        if not stamp.exists():
            with atomic_path(stamp) as tmp:
                tmp.write_text(text, encoding="utf-8")
            made.append(stamp)
    except OSError as exc:
        _remove_made(made)
        raise DataError(f"cannot create study folder {str(folder)!r}: {exc.strerror}") from None
    return folder, made


def _remove_made(made: list[Path]) -> None:
    """Remove, newest first, the files and (then empty) folders a study made before it failed."""
    import contextlib

    for path in reversed(made):
        with contextlib.suppress(OSError):
            path.rmdir() if path.is_dir() else path.unlink()


#: methods whose operating characteristics a design is shown with, by allocation
_OC_METHODS = {"individual": ("logrank", "cox", "cox_robust", "cox_stratified", "cox_robust_small_sample", "primary"),
               "cluster": ("logrank", "cox", "cox_robust", "cox_robust_small_sample", "permutation", "primary")}


def operating_characteristics(scenario: "Scenario | str", *, reps: int = 200, seed: int = 0, alpha: float = 0.05,
                              workers: int = 1) -> "Any":
    """Type I error, coverage and power of every analysis offered for the scenario's design, by simulation.

    Two studies of ``reps`` trials each: under the null (the scenario with hazard ratio 1: type I error and
    coverage of the ``1 - alpha`` CI, judged against each method's own estimand) and under the scenario's
    effect (power). A method ``holds`` its level when its type I error is at most ``alpha`` plus 2 Monte Carlo
    SEs and its coverage at least ``1 - alpha`` minus 2 (the Monte Carlo SE at the nominal value,
    ``sqrt(alpha (1 - alpha) / reps)``). A non-randomised scenario is shown as if participants had been
    randomised individually (its arm comparison is otherwise confounded, which no test corrects).

    Returns
    -------
    pandas.DataFrame
        One row per method: ``method``, ``estimand``, ``type_i_error`` and its ``type_i_mcse``, ``coverage`` and
        ``coverage_mcse`` (NaN for a test without an estimate), ``power`` and ``power_mcse``, ``holds``,
        ``primary`` (the design's default analysis), ``allocation``, ``reps``.
    """
    import pandas as pd

    sc = load_scenario(scenario)
    if sc.allocation == "observational":
        sc = sc.replace(allocation="individual")
    methods = _OC_METHODS[sc.allocation]
    effect = sc.hazard_ratio if sc.hazard_ratio != 1 else None
    null = run_study(sc.replace(hazard_ratio=1.0), reps=reps, seed=seed, methods=methods, alpha=alpha,
                     workers=workers).points[0]
    alt = (run_study(sc, reps=reps, seed=seed + 1, methods=methods, alpha=alpha, workers=workers).points[0]
           if effect is not None else None)
    band = 2 * math.sqrt(alpha * (1 - alpha) / reps)
    rows = []
    for m in methods:
        n0 = null["methods"][m]
        cov = n0.get("coverage", float("nan"))
        cov_se = n0.get("coverage_mcse", float("nan"))
        holds = n0["power"] <= alpha + band and (cov != cov or cov >= 1 - alpha - band)
        rows.append({"method": m, "estimand": null["estimands"][m]["estimand"], "type_i_error": n0["power"],
                     "type_i_mcse": n0["power_mcse"], "coverage": cov, "coverage_mcse": cov_se,
                     "power": alt["methods"][m]["power"] if alt else float("nan"),
                     "power_mcse": alt["methods"][m]["power_mcse"] if alt else float("nan"),
                     "holds": bool(holds), "primary": m == "primary", "allocation": sc.allocation, "reps": reps})
    return pd.DataFrame(rows)
