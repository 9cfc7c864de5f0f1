"""Standardised (g-formula) retention curves from a Cox model, as R's ``riskRegression::ate`` (G-formula).

A Cox model of dropout on the arm and the covariates, ``h(t | a, x) = h0(t) exp(b a + g'x)``, predicts each
person's retention under either arm. Averaging those predictions over everyone in the cohort gives the
retention curve the whole cohort would have had if everyone had had a peer coach, and if nobody had,

    S_a(t) = (1/n) sum_i exp(-L0(t) exp(b a + g'x_i)),

with ``L0`` the Breslow (or, with ``ties="efron"``, Efron-corrected) cumulative baseline hazard, as
``survfit.coxph`` and ``riskRegression::predictCox`` compute it. **Estimand**: the average effect over the
cohort (ATE) of the arm on retention (and on risk ``1 - S``, as riskRegression reports it), valid if the
Cox model is right and every confounder is among the covariates. The contrasts are the risk difference and
ratio (second arm minus / over the reference arm, ``peer`` vs ``usual_care``) at each day, and the
difference of restricted mean times in treatment (RMST, the area under ``S_a`` up to ``tau``).

Uncertainty, ``se="influence"`` (default): the influence function of the standardised risk, counting the
estimation of the coefficients and of the baseline hazard (riskRegression's ``known.nuisance = FALSE``):

    IF_i(t) = (S_i^a(t) - S_a(t)) / n - m(t) IF_i[L0](t) - L0(t) q(t)' IF_i[beta],

``m(t) = mean_k S_k^a(t) r_k``, ``q(t) = mean_k S_k^a(t) r_k x_k^a``, ``r_k = exp(beta'x_k^a)``; the RMST's is
the integral of the curve's. ``se="bootstrap"``: people are resampled with replacement, the Cox model is
refitted in each resample, and the SE is the standard deviation of the resampled estimates (percentile CIs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from peerstudy.exceptions import AnalysisError, ParameterError
from peerstudy.survival._display import frame_table, paragraph
from peerstudy.survival._validate import (as_list, check_choice, check_conf_level, check_horizons, check_number,
                                          group_codes, horizon_key, is_categorical, require_frame,
                                          time_event)
from peerstudy.survival.observational._coxfit import CoxModel, fit_cox_model, refit_beta
from peerstudy.survival.observational._kernels import mean_survival

__all__ = ["AdjustedRisk", "GFORMULA_ESTIMAND", "assemble", "gformula_survival", "SE_METHODS", "N_BOOT", "contrast_block"]

#: ways of computing standard errors
SE_METHODS = ("influence", "bootstrap")
#: default number of bootstrap resamples
N_BOOT = 200
GFORMULA_ESTIMAND = ("ATE: the average over the cohort of each person's risk under each arm (standardised Cox "
                     "model)")
#: count tied events in the coefficients' influence function (R's dfbeta); riskRegression 2022.11.28 counts one
#: event per distinct time there (see :meth:`~peerstudy.survival.observational._coxfit.CoxModel.iid_beta`)
_TIE_COUNTS = True


def _resolve_seed(rng: Any) -> int:
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        if rng < 0:
            raise ParameterError(f"rng seed must be >= 0; got {rng}")
        return int(rng)
    if rng is None:
        return int(np.random.SeedSequence().entropy % (2 ** 63))
    return int(np.random.default_rng(rng).integers(2 ** 63))


def _entry(est: float, se: float, z: float) -> dict[str, float]:
    return {"estimate": float(est), "se": float(se), "ci_lower": float(est - z * se), "ci_upper": float(est + z * se)}


def contrast_block(risk: np.ndarray, iid: np.ndarray | None, boot: np.ndarray | None, labels: Sequence[str],
                   horizons: Sequence[float], conf_level: float) -> dict[str, Any]:
    """Risk per arm, difference and ratio (second arm vs first) at each horizon, with SEs and CIs.

    ``risk`` is ``2 x H``; ``iid`` (``2 x n x H``) gives influence-function SEs, ``boot`` (``B x 2 x H``)
    bootstrap SEs and percentile CIs.
    """
    z = float(stats.norm.ppf(0.5 + conf_level / 2))
    diff = risk[1] - risk[0]
    ratio = risk[1] / risk[0]
    if iid is not None:
        se_r = np.sqrt((iid ** 2).sum(axis=1))
        d_iid = iid[1] - iid[0]
        se_d = np.sqrt((d_iid ** 2).sum(axis=0))
        with np.errstate(divide="ignore", invalid="ignore"):
            r_iid = (iid[1] - ratio * iid[0]) / risk[0]
        se_q = np.sqrt((r_iid ** 2).sum(axis=0))
    else:
        se_r = boot.std(axis=0, ddof=1)
        se_d = (boot[:, 1] - boot[:, 0]).std(axis=0, ddof=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            se_q = (boot[:, 1] / boot[:, 0]).std(axis=0, ddof=1)
    out: dict[str, Any] = {"risk": {}, "difference": {}, "ratio": {}}
    for a, lab in enumerate(labels):
        out["risk"][lab] = {horizon_key(h): _entry(risk[a, k], se_r[a, k], z) for k, h in enumerate(horizons)}
    for k, h in enumerate(horizons):
        out["difference"][horizon_key(h)] = _entry(diff[k], se_d[k], z)
        out["ratio"][horizon_key(h)] = _entry(ratio[k], se_q[k], z)
    if boot is not None:
        alpha = (1 - conf_level) / 2
        for a, lab in enumerate(labels):
            lo, hi = np.quantile(boot[:, a], [alpha, 1 - alpha], axis=0)
            for k, h in enumerate(horizons):
                out["risk"][lab][horizon_key(h)].update(ci_lower=float(lo[k]), ci_upper=float(hi[k]))
        for name, draws in (("difference", boot[:, 1] - boot[:, 0]), ("ratio", boot[:, 1] / boot[:, 0])):
            lo, hi = np.quantile(draws, [alpha, 1 - alpha], axis=0)
            for k, h in enumerate(horizons):
                out[name][horizon_key(h)].update(ci_lower=float(lo[k]), ci_upper=float(hi[k]))
    return out


@dataclass(frozen=True)
class AdjustedRisk:
    """Confounding-adjusted risk of dropout per arm (g-formula, IPTW or AIPW), with contrasts.

    Attributes
    ----------
    labels : tuple of str
        Arms, reference first (``usual_care``, ``peer``).
    horizons : tuple of float
    risk : numpy.ndarray
        ``2 x len(horizons)``: standardised risk of dropout ``1 - S_a(t)``.
    blocks : dict
        ``risk``/``difference``/``ratio`` entries with ``estimate``, ``se``, ``ci_lower``, ``ci_upper``.
    curves : pandas.DataFrame
        ``time`` and the standardised retention of each arm at every event time up to the last horizon.
    tau : float
        RMST horizon.
    rmst : dict
        ``{ARM: {"estimate", "se"}}`` and ``rmst_difference`` ``{"tau", "estimate", "se", "ci_lower", "ci_upper"}``.
    se_method : str
        ``"influence"`` or ``"bootstrap"``; ``n_boot``, ``seed``, ``n_failed`` for the bootstrap.
    model : dict
        The outcome Cox model (terms, coefficients, ties).
    """

    labels: tuple[str, str]
    horizons: tuple[float, ...]
    risk: np.ndarray
    blocks: dict
    curves: pd.DataFrame
    tau: float
    rmst: dict
    rmst_difference: dict
    se_method: str
    conf_level: float
    model: dict
    n: int
    n_boot: int = 0
    seed: int | None = None
    n_failed: int = 0
    notes: tuple[str, ...] = field(default=())
    method: str = "gformula"
    estimand: str = GFORMULA_ESTIMAND

    def to_dict(self) -> dict[str, Any]:
        """``{"method": "gformula", "estimand", "risk": {ARM: {DAY: {"estimate", "se", ...}}}, "difference",
        "ratio", "rmst", "rmst_difference", "se_method", "model", ...}`` (risk = 1 - retention)."""
        return {"method": self.method, "estimand": self.estimand, "arms": list(self.labels),
                "contrast": f"{self.labels[1]} - {self.labels[0]}", **self.blocks, "rmst": self.rmst,
                "rmst_difference": self.rmst_difference, "se_method": self.se_method,
                "conf_level": self.conf_level, "n": self.n, "n_boot": self.n_boot, "seed": self.seed,
                "n_failed": self.n_failed, "model": self.model, "notes": list(self.notes)}

    def table(self) -> pd.DataFrame:
        """One row per (arm or contrast, day): ``quantity``, ``group``, ``day``, ``estimate``, ``se``, CI."""
        rows = []
        for lab in self.labels:
            for h in self.horizons:
                rows.append({"quantity": "risk", "group": lab, "day": h, **self.blocks["risk"][lab][horizon_key(h)]})
        for q in ("difference", "ratio"):
            for h in self.horizons:
                rows.append({"quantity": q, "group": f"{self.labels[1]} vs {self.labels[0]}", "day": h,
                             **self.blocks[q][horizon_key(h)]})
        return pd.DataFrame(rows)

    def _repr_html_(self) -> str:
        d = self.rmst_difference
        return (frame_table(self.table(), caption=f"Adjusted risk of dropout ({self.method})")
                + paragraph(f"RMST difference to day {self.tau:g}: {d['estimate']:.2f} days "
                            f"({self.conf_level:.0%} CI {d['ci_lower']:.2f} to {d['ci_upper']:.2f}; "
                            f"SE by {self.se_method})"))


def _check_options(df: pd.DataFrame, *, se: str, horizons: Iterable[float], tau: float | None, conf_level: float,
                   n_boot: int, time: str, event: str) -> tuple[tuple[float, ...], float, float, int]:
    """The options shared by the g-formula and AIPW: horizons, ``tau`` (default the last horizon, within the
    follow-up), ``conf_level`` and, for the bootstrap, ``n_boot`` (>= 20); each error names the value."""
    check_choice(se, SE_METHODS, name="se")
    hz = check_horizons(horizons)
    (tau,) = check_horizons([max(hz) if tau is None else tau], name="tau")
    conf_level = check_conf_level(conf_level)
    if se == "bootstrap":
        n_boot = check_number(n_boot, name="n_boot", minimum=20, whole=True)
    t, _ = time_event(df, time, event)
    if tau > float(t.max()):
        raise ParameterError(f"tau must be within the follow-up (last time {float(t.max()):g} days); got {tau:g}")
    return hz, tau, conf_level, n_boot


def _arm_design(df: pd.DataFrame, treatment: str, covariates: Sequence[str], time: str, event: str,
                ties: str) -> tuple[CoxModel, tuple[str, str]]:
    _, labels = group_codes(df, treatment, role="treatment")
    if len(labels) != 2:
        raise AnalysisError(f"treatment column {treatment!r} must have exactly two levels; got {list(labels)}")
    if treatment in covariates:
        raise ParameterError(f"covariates must not include the treatment column {treatment!r}")
    if not is_categorical(df[treatment]) and set(labels) != {"0", "1"}:
        raise AnalysisError(f"a numeric treatment column {treatment!r} must be coded 0/1; got levels {list(labels)}")
    model = fit_cox_model(df, time=time, event=event, covariates=[treatment, *covariates], ties=ties)
    return model, (labels[0], labels[1])


def _grid(model: CoxModel, horizons: Sequence[float], tau: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Evaluation points: event times up to ``tau`` (RMST) and the horizons; index of the horizons in it;
    the widths of the RMST steps starting at each point (0 beyond ``tau``)."""
    pts = np.unique(np.concatenate([model.etimes[model.etimes < tau], np.asarray(horizons, dtype=float)]))
    nxt = np.minimum(np.append(pts[1:], np.inf), tau)
    widths = np.where(pts < tau, nxt - pts, 0.0)
    return pts, np.searchsorted(pts, np.asarray(horizons, dtype=float)), widths


#: people per block in the influence functions (bounds the memory of the n x time-points matrices)
_BLOCK = 4096
#: people per block in the bootstrap's standardised survival (a cache-sized single-precision buffer)
_SURV_BLOCK = 2048


def _standardised(model: CoxModel, pts: np.ndarray, value: float, iid: bool, at: np.ndarray | None = None,
                  widths: np.ndarray | None = None):
    """Standardised survival at ``pts`` with the arm set to ``value`` (raw scale) and, with ``iid``, its influence
    functions at ``pts[at]`` (``n x H``) and of the area ``sum(widths * S)`` (``n``), in blocks of people."""
    Xa = model.X.copy()
    Xa[:, 0] = value - model.means[0]
    r = np.exp(Xa @ model.beta)
    L = model.cumhaz_at(pts)
    if not iid:
        return mean_survival(r, L), None, None
    n = model.n
    S = np.zeros(len(pts))
    m = np.zeros(len(pts))
    q = np.zeros((len(pts), Xa.shape[1]))
    blocks = [slice(lo, min(lo + _BLOCK, n)) for lo in range(0, n, _BLOCK)]
    for b in blocks:
        Si = np.exp(-np.outer(r[b], L))
        Sr = Si * r[b][:, None]
        S += Si.sum(axis=0)
        m += Sr.sum(axis=0)
        q += Sr.T @ Xa[b]
    S, m, q = S / n, m / n, q / n
    ib = model.iid_beta(tie_counts=_TIE_COUNTS)
    iid_at = np.empty((n, len(at)))
    iid_area = np.empty(n)
    for b in blocks:
        Si = np.exp(-np.outer(r[b], L))
        iL = model.iid_cumhaz(pts, ib, rows=b)
        out = (Si - S) / n - iL * m - (ib[b] @ q.T) * L
        iid_at[b] = out[:, at]
        iid_area[b] = out @ widths
    return S, iid_at, iid_area


def _rmst(S: np.ndarray, widths: np.ndarray, t0: float) -> np.ndarray:
    """RMST from survival at the grid points (last axis): the first step runs from 0 at S = 1."""
    return t0 + (S * widths).sum(axis=-1)


def gformula_survival(df: pd.DataFrame, *, covariates: Sequence[str], treatment: str = "arm", time: str = "time",
                      event: str = "event", horizons: Iterable[float] = (30, 90, 180), tau: float | None = None,
                      ties: str = "efron", se: str = "influence", n_boot: int = N_BOOT, conf_level: float = 0.95,
                      rng: Any = None) -> AdjustedRisk:
    """Standardised (g-formula) risk of dropout per arm from a Cox model, with contrasts and the RMST difference.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per participant.
    covariates : sequence of str
        Confounders in the Cox model beside the arm (numeric as they are, categorical dummy-coded).
    treatment : str, default "arm"
        Two-level arm column; the first level in peerstudy's order (``usual_care``) is the reference.
    time, event : str
        Days in treatment and dropout (1) / censored (0).
    horizons : iterable of float, default (30, 90, 180)
        Days for risks and contrasts.
    tau : float, optional
        RMST horizon (default: the largest horizon).
    ties : {"efron", "breslow"}
    se : {"influence", "bootstrap"}
        Standard errors from the influence function (counting the model's estimation) or a bootstrap that
        refits the Cox model.
    n_boot : int, default 200
        Bootstrap resamples (>= 20) with ``se="bootstrap"``.
    conf_level : float, default 0.95
    rng : int, Generator or None
        Source of the resampling (its integer seed is recorded).

    Returns
    -------
    AdjustedRisk

    Raises
    ------
    SchemaError, AnalysisError, ParameterError
        As :func:`peerstudy.survival.cox.fit_cox`; a treatment column without two levels; a bad option.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> x = rng.normal(size=300); arm = np.where(rng.random(300) < 1 / (1 + np.exp(-x)), "peer", "usual_care")
    >>> t = np.ceil(rng.exponential(60 * np.exp(-0.5 * x) * np.where(arm == "peer", 1.3, 1.0)))
    >>> df = pd.DataFrame({"arm": arm, "x": x, "time": np.minimum(t, 120), "event": (t <= 120).astype(int)})
    >>> res = gformula_survival(df, covariates=["x"], horizons=[30, 90])
    >>> sorted(res.to_dict()["risk"])
    ['peer', 'usual_care']
    """
    require_frame(df)
    covariates = as_list(covariates)
    hz, tau, conf_level, n_boot = _check_options(df, se=se, horizons=horizons, tau=tau, conf_level=conf_level,
                                                 n_boot=n_boot, time=time, event=event)
    model, labels = _arm_design(df, treatment, covariates, time, event, ties)
    pts, at, widths = _grid(model, hz, tau)
    t0 = float(min(pts[0], tau)) if len(pts) else tau
    iid = se == "influence"
    S, iids, areas = [], [], []
    for value in (0.0, 1.0):
        s, i, area = _standardised(model, pts, value, iid, at, widths)
        S.append(s)
        iids.append(i)
        areas.append(area)
    S = np.vstack(S)
    rm = _rmst(S, widths, t0)
    seed, failed, boot, rboot, iid_risk, iid_rmst = None, 0, None, None, None, None
    if iid:
        iid_risk = -np.stack(iids)          # 2 x n x H
        iid_rmst = np.stack(areas)          # 2 x n
    else:
        seed = _resolve_seed(rng)
        boot, rboot, failed = _bootstrap(model, hz, tau, int(n_boot), seed)
    keep = pts <= max(hz)
    curves = pd.DataFrame({"time": pts[keep], labels[0]: S[0, keep], labels[1]: S[1, keep]})
    return assemble(labels=labels, horizons=hz, tau=tau, risk=1 - S[:, at], rmst=rm, iid_risk=iid_risk,
                    iid_rmst=iid_rmst, boot_risk=boot, boot_rmst=rboot, curves=curves, se_method=se,
                    conf_level=conf_level, n=model.n, n_boot=0 if iid else int(n_boot), seed=seed, failed=failed,
                    model={"terms": list(model.terms), "coef": dict(zip(model.terms, map(float, model.beta))),
                           "ties": ties})


def assemble(*, labels: tuple[str, str], horizons: tuple[float, ...], tau: float, risk: np.ndarray,
             rmst: np.ndarray, iid_risk: np.ndarray | None, iid_rmst: np.ndarray | None,
             boot_risk: np.ndarray | None, boot_rmst: np.ndarray | None, curves: pd.DataFrame, se_method: str,
             conf_level: float, n: int, n_boot: int, seed: int | None, failed: int, model: dict,
             method: str = "gformula", estimand: str = GFORMULA_ESTIMAND,
             notes: Sequence[str] = ()) -> AdjustedRisk:
    """An :class:`AdjustedRisk` from risks (``2 x H``) and RMSTs (``2``) with either influence functions
    (``2 x n x H`` and ``2 x n``, on the iid scale) or bootstrap draws (``B x 2 x H`` and ``B x 2``)."""
    blocks = contrast_block(risk, iid_risk, boot_risk, labels, horizons, conf_level)
    if iid_rmst is not None:
        se_rm = np.sqrt((iid_rmst ** 2).sum(axis=1))
        se_rd = float(np.sqrt(((iid_rmst[1] - iid_rmst[0]) ** 2).sum()))
    else:
        se_rm = boot_rmst.std(axis=0, ddof=1)
        se_rd = float((boot_rmst[:, 1] - boot_rmst[:, 0]).std(ddof=1))
    z = float(stats.norm.ppf(0.5 + conf_level / 2))
    rmst_diff = {"tau": tau, "horizon": horizon_key(tau), **_entry(float(rmst[1] - rmst[0]), se_rd, z),
                 "ci_method": "normal"}
    if boot_rmst is not None:
        alpha = (1 - conf_level) / 2
        lo, hi = np.quantile(boot_rmst[:, 1] - boot_rmst[:, 0], [alpha, 1 - alpha])
        rmst_diff.update(ci_lower=float(lo), ci_upper=float(hi), ci_method="percentile bootstrap")
    return AdjustedRisk(labels=labels, horizons=horizons, risk=risk, blocks=blocks, curves=curves, tau=tau,
                        rmst={lab: {"estimate": float(rmst[a]), "se": float(se_rm[a])}
                              for a, lab in enumerate(labels)},
                        rmst_difference=rmst_diff, se_method=se_method, conf_level=conf_level, model=model, n=n,
                        n_boot=n_boot, seed=seed, n_failed=failed, notes=tuple(notes), method=method,
                        estimand=estimand)


def _resampled_survival(beta: np.ndarray, X: np.ndarray, counts: np.ndarray, L: np.ndarray) -> np.ndarray:
    """Standardised survival of a resample (``counts`` copies of each original row, centred design ``X``) at
    cumulative baseline hazards ``L``, under each arm (``2 x T``). In single precision (relative error about
    1e-7, far below a bootstrap's Monte Carlo error), three times faster than double."""
    keep = counts > 0
    Xk = X[keep]
    w = counts[keep].astype(np.float32)
    n = float(counts.sum())
    neg = (-L).astype(np.float32)
    # people in blocks, so that the time-points x people buffer stays in cache (2.5 times faster than at once)
    buf = np.empty((len(L), min(_SURV_BLOCK, len(w))), dtype=np.float32)
    out = np.empty((2, len(L)))
    for a, value in enumerate((0.0, 1.0)):
        Xa = Xk.copy()
        Xa[:, 0] = value
        r = np.exp(Xa @ beta).astype(np.float32)
        acc = np.zeros(len(L), dtype=np.float64)
        for lo in range(0, len(r), _SURV_BLOCK):
            hi = min(lo + _SURV_BLOCK, len(r))
            b = buf[:, :hi - lo]
            np.multiply.outer(neg, r[lo:hi], out=b)
            np.exp(b, out=b)
            acc += b @ w[lo:hi]
        out[a] = acc / n
    return out


def _bootstrap(model: CoxModel, horizons: Sequence[float], tau: float, n_boot: int,
               seed: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Resampled standardised risks (``B x 2 x H``) and RMSTs (``B x 2``), refitting the Cox model."""
    rng = np.random.default_rng(seed)
    raw = model.X + model.means
    n = model.n
    risks, rmsts, failed = [], [], 0
    for _ in range(n_boot):
        idx = rng.integers(0, n, n)
        try:
            m = refit_beta(raw[idx], model.time[idx], model.status[idx], ties=model.ties, terms=model.terms,
                           beta0=model.beta)
        except AnalysisError:
            failed += 1
            continue
        pts, at, widths = _grid(m, horizons, tau)
        t0 = float(min(pts[0], tau))
        # the resample's centring is its own mean: put the arm column on the raw scale, the rest centred alike
        Xc = raw - m.means
        Xc[:, 0] = 0.0
        shift = -m.means[0]
        S = _resampled_survival(m.beta, Xc, np.bincount(idx, minlength=n),
                                m.cumhaz_at(pts) * np.exp(shift * m.beta[0]))
        risks.append(1 - S[:, at])
        rmsts.append(_rmst(S, widths, t0))
    if len(risks) < 20:
        raise AnalysisError(f"only {len(risks)} of {n_boot} bootstrap resamples could be fitted")
    return np.asarray(risks), np.asarray(rmsts), failed
