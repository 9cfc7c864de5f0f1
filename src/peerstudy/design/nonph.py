"""Power when the peer effect is not proportional (an effect that stops at a coaching cap, say).

The formulas work on whole days, as the data are recorded. For each arm ``j`` (share ``a_j`` of the
participants) they take the net survival from dropout ``S_j(t)`` on days ``t = 0..F`` and a constant hazard ``c``
of the other ways observation ends (loss to follow-up, incarceration, death); everyone is followed ``F`` days.
Per participant randomised, the probability of being at risk on day ``t`` (``time >= t``) is
``r_j(t) = S_j(t - 1) exp(-c (t - 1))`` and of an observed dropout on day ``t`` is
``d_j(t) = (S_j(t - 1) - S_j(t)) exp(-c (t - 1/2))``.

* **Weighted log-rank** (Fleming-Harrington ``FH(rho, gamma)``, weight ``S(t-)^rho (1 - S(t-))^gamma`` with
  ``S`` the pooled Kaplan-Meier limit; ``FH(0, 0)`` is the log-rank test): the score
  ``U = sum_t w_t (O_peer,t - p_t O_t)``, ``p_t`` the peer share of those at risk, has mean
  ``n sum_t w_t (a_1 d_1 - p_t D_t)`` and variance ``n sum_t w_t^2 p_t (1 - p_t) D_t (1 - D_t / R_t)``
  (``D``, ``R`` pooled), so ``Z = U / sqrt(V)`` is normal with mean ``sqrt(n) E / sqrt(V)`` and unit
  variance (the large-sample approximation of Lakatos 1988 and Yung & Liu 2020, Biometrics 76:939-50).
* **Max-combo**: the largest ``|Z|`` of several FH statistics (Lin et al. 2020, Stat Biopharm Res 12:187-98;
  default the log-rank ``FH(0,0)`` and the early-weighted ``FH(1,0)``, up to four). The statistics are jointly
  normal with the correlations of their scores; the critical value solves ``P(max |Z_i| >= c) = alpha`` under
  no effect with those correlations (the multiplicity correction; comparing each with 1.96 inflates the
  type I error), and the power is ``1 - P(all |Z_i| < c)`` under the alternative. The box probabilities are
  computed by conditioning on one statistic at a time with Gauss-Legendre quadrature (:data:`NODES` nodes per
  dimension). Lin et al.'s set ``FH(0,0), FH(0,1), FH(1,0), FH(1,1)`` is refused: its first score is the sum
  of the second and third, so the joint law is singular.
* **Average hazard ratio** (Kalbfleisch & Prentice 1981; the AHR of Mukhopadhyay et al. 2020): ``log AHR``
  is the mean of the daily log hazard ratios weighted by the expected dropouts of the day; the power is
  Schoenfeld's for ``log AHR`` and the expected dropouts.
* **RMST difference** at ``tau`` days (the whole-day RMST ``sum_{t < tau} S(t)`` as
  :mod:`peerstudy.simulation.truth` and :func:`peerstudy.survival.fast.rmst_batch` use): the Kaplan-Meier
  RMST of arm ``j`` has variance ``sum_t A_j(t)^2 q_j(t) / (n_j r_j(t) (1 - q_j(t)))`` with
  ``A_j(t) = sum_{t <= k < tau} S_j(k)`` and ``q_j = d_j / r_j`` (Greenwood's delta method); the Wald test's
  power follows.

Tests are two-sided at level ``alpha``; power counts both tails. :func:`curves_from_scenario` takes
``S_j`` from a :class:`~peerstudy.scenario.Scenario`'s truth (marginal over covariates and site frailty, as the
unadjusted tests see it) and :func:`piecewise_curves` from piecewise-constant hazards.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np

from peerstudy.exceptions import ParameterError

__all__ = ["Curves", "NonPHPower", "curves_from_scenario", "piecewise_curves", "weighted_logrank_moments",
           "power_nonph", "maxcombo_critical_value", "check_weights", "DEFAULT_WEIGHTS", "TESTS", "NODES"]

#: Fleming-Harrington (rho, gamma) weights of the default max-combo test: the log-rank test and the early-weighted
#: FH(1, 0) (Prentice-Wilcoxon type), for an effect that fades (a coaching cap).
DEFAULT_WEIGHTS: tuple[tuple[float, float], ...] = ((0.0, 0.0), (1.0, 0.0))
#: Tests :func:`power_nonph` reports.
TESTS: tuple[str, ...] = ("logrank", "average_hr", "fh", "maxcombo", "rmst")


@dataclass(frozen=True)
class Curves:
    """Net survival from dropout by whole day, per arm, with the hazard of the other endings.

    ``usual_care`` and ``peer`` hold ``S(0) = 1, S(1), ..., S(F)``; ``other_hazard`` is per day.
    """

    usual_care: np.ndarray
    peer: np.ndarray
    other_hazard: float
    allocation: float

    def __post_init__(self):
        for name in ("usual_care", "peer"):
            s = np.array(getattr(self, name), float)
            if s.ndim != 1 or len(s) < 2 or abs(s[0] - 1) > 1e-9 or np.any(np.diff(s) > 1e-15) or np.any(s <= 0):
                raise ParameterError(f"{name} must be a survival curve S(0) = 1 >= S(1) >= ... > 0 by day")
            s[0] = 1.0
            object.__setattr__(self, name, s)
        if len(self.peer) != len(self.usual_care):
            raise ParameterError("peer and usual_care curves must cover the same days")
        if not (math.isfinite(self.other_hazard) and self.other_hazard >= 0):
            raise ParameterError(f"other_hazard must be a finite number >= 0; got {self.other_hazard!r}")
        if not 0 < self.allocation < 1:
            raise ParameterError(f"allocation must be in (0, 1); got {self.allocation!r}")

    @property
    def days(self) -> int:
        return len(self.peer) - 1

    def _arrays(self):
        """Per arm (peer, usual care): at-risk r(t) and observed-dropout d(t) probabilities, t = 1..F."""
        t = np.arange(1, self.days + 1)
        c = self.other_hazard
        out = []
        for s in (self.peer, self.usual_care):
            r = s[:-1] * np.exp(-c * (t - 1))
            d = (s[:-1] - s[1:]) * np.exp(-c * (t - 0.5))
            out.append((r, d))
        return out


def curves_from_scenario(scenario: Any) -> Curves:
    """The curves of a scenario: marginal net survival per arm from its truth, whole days to follow-up end.

    Examples
    --------
    >>> c = curves_from_scenario("ed_bridge")
    >>> c.days, round(float(c.usual_care[30]), 2)
    (180, 0.45)
    """
    from peerstudy.scenario import load_scenario
    from peerstudy.simulation.truth import _marginal_survival  # the one place the marginal model is computed

    sc = load_scenario(scenario)
    days = np.arange(0, sc.follow_up_days + 1, dtype=float)
    uc = _marginal_survival(days, sc, False)
    pe = _marginal_survival(days, sc, True)
    other = sc.loss_hazard + sc.incarceration_hazard + sc.death_hazard
    return Curves(usual_care=np.asarray(uc), peer=np.asarray(pe), other_hazard=float(other),
                  allocation=float(sc.peer_fraction))


def piecewise_curves(*, control_median: float, hazard_ratios: Sequence[float], breaks: Sequence[float] = (),
                     follow_up: int, other_hazard: float = 0.0, allocation: float = 0.5) -> Curves:
    """Exponential usual-care retention (median ``control_median`` days) and a piecewise-constant hazard ratio.

    ``hazard_ratios[i]`` holds between ``breaks[i - 1]`` and ``breaks[i]`` (days), e.g. ``hazard_ratios=(0.8, 1)``,
    ``breaks=(90,)`` for an effect that stops at day 90.

    Examples
    --------
    >>> c = piecewise_curves(control_median=60, hazard_ratios=(0.8, 1.0), breaks=(90,), follow_up=180)
    >>> round(float(c.peer[180] / c.usual_care[180]), 4) == round(math.exp(0.2 * 90 * math.log(2) / 60), 4)
    True
    """
    if len(hazard_ratios) != len(breaks) + 1:
        raise ParameterError(f"hazard_ratios must have one more entry than breaks; got {len(hazard_ratios)} and "
                             f"{len(breaks)}")
    if not (control_median > 0 and math.isfinite(control_median)):
        raise ParameterError(f"control_median must be a finite number > 0; got {control_median!r}")
    if any(h <= 0 or not math.isfinite(h) for h in hazard_ratios):
        raise ParameterError(f"hazard_ratios must be finite numbers > 0; got {list(hazard_ratios)!r}")
    if isinstance(follow_up, bool) or int(follow_up) != follow_up or follow_up < 1:
        raise ParameterError(f"follow_up must be a whole number of days >= 1; got {follow_up!r}")
    lam = math.log(2) / control_median
    t = np.arange(0, int(follow_up) + 1, dtype=float)
    edges = np.r_[0.0, np.asarray(breaks, float), np.inf]
    if np.any(np.diff(edges) <= 0):
        raise ParameterError(f"breaks must increase from above 0; got {list(breaks)!r}")
    cum_peer = np.zeros_like(t)
    for i, h in enumerate(hazard_ratios):
        cum_peer += h * lam * np.clip(t - edges[i], 0.0, edges[i + 1] - edges[i])
    return Curves(usual_care=np.exp(-lam * t), peer=np.exp(-cum_peer), other_hazard=float(other_hazard),
                  allocation=float(allocation))


def weighted_logrank_moments(curves: Curves, weights: Sequence[tuple[float, float]] = DEFAULT_WEIGHTS
                             ) -> tuple[np.ndarray, np.ndarray]:
    """Per-participant mean ``E_i`` of each FH score and their covariance ``C`` (``Z_i ~ N(sqrt(n) E_i / sqrt(C_ii), 1)``)."""
    a = curves.allocation
    (r1, d1), (r0, d0) = curves._arrays()
    R1, R0, D1, D0 = a * r1, (1 - a) * r0, a * d1, (1 - a) * d0
    R, D = R1 + R0, D1 + D0
    p = R1 / R
    pooled = np.r_[1.0, np.cumprod(1 - D / R)][:-1]  # the pooled Kaplan-Meier limit at t- (day t - 1)
    W = np.array([pooled ** rho * (1 - pooled) ** gam for rho, gam in weights])
    mean = W @ (D1 - p * D)
    v = p * (1 - p) * D * (1 - D / R)
    cov = (W * v) @ W.T
    return mean, cov


def maxcombo_critical_value(correlation: np.ndarray, alpha: float = 0.05) -> float:
    """``c`` with ``P(max_i |Z_i| >= c) = alpha`` for ``Z ~ N(0, correlation)``.

    Examples
    --------
    >>> round(maxcombo_critical_value(np.eye(1)), 4)
    1.96
    """
    from scipy.optimize import brentq
    from scipy.stats import norm

    k = correlation.shape[0]
    if k == 1:
        return float(norm.isf(alpha / 2))
    return float(brentq(lambda c: (1 - float(_box(np.zeros(k), correlation, c))) - alpha, norm.isf(alpha / 2),
                        norm.isf(alpha / (2 * k)) + 0.01, xtol=1e-12))


#: Gauss-Legendre nodes per dimension of the box probability (smooth integrands: error far below 1e-9).
NODES = 48


def _box(mean: np.ndarray, cov: np.ndarray, c) -> np.ndarray:
    """P(all |X_i| < c) for X ~ N(mean, cov), batched over leading axes of ``mean`` (..., k), ``cov`` (..., k, k)
    and ``c`` (...): condition on the first variable, Gauss-Legendre over (-c, c), recurse on the rest."""
    from scipy.special import ndtr

    mean, cov = np.asarray(mean, float), np.asarray(cov, float)
    c = np.asarray(c, float)
    k = mean.shape[-1]
    sd1 = np.sqrt(cov[..., 0, 0])
    if k == 1:
        return ndtr((c - mean[..., 0]) / sd1) - ndtr((-c - mean[..., 0]) / sd1)
    x, w = np.polynomial.legendre.leggauss(NODES)
    xs = x * c[..., None]  # (..., G)
    dens = np.exp(-0.5 * ((xs - mean[..., :1]) / sd1[..., None]) ** 2) / (sd1[..., None] * math.sqrt(2 * math.pi))
    b = cov[..., 1:, 0] / cov[..., :1, 0]  # (..., k-1)
    m_rest = mean[..., None, 1:] + (xs - mean[..., :1])[..., None] * b[..., None, :]  # (..., G, k-1)
    c_rest = cov[..., 1:, 1:] - cov[..., 1:, :1] * cov[..., :1, 1:] / cov[..., :1, :1]  # (..., k-1, k-1)
    inner = _box(m_rest, c_rest[..., None, :, :], np.broadcast_to(c[..., None], xs.shape))
    return np.sum(w * c[..., None] * dens * inner, axis=-1)


def check_weights(weights: Sequence[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
    """Validated FH weights of a max-combo test: 1 to 4 distinct (rho, gamma) >= 0 whose statistics are not
    linearly dependent (FH(0,0), FH(1,0) and FH(0,1) are: the first score is the sum of the other two)."""
    try:
        out = tuple((float(r), float(g)) for r, g in weights)
    except (TypeError, ValueError):
        raise ParameterError(f"weights must be (rho, gamma) pairs; got {weights!r}") from None
    if not 1 <= len(out) <= 4 or len(set(out)) != len(out) or any(r < 0 or g < 0 for r, g in out):
        raise ParameterError(f"weights must be 1 to 4 distinct (rho, gamma) pairs >= 0; got {list(out)!r}")
    if {(0.0, 0.0), (1.0, 0.0), (0.0, 1.0)} <= set(out):
        raise ParameterError("weights FH(0,0), FH(1,0) and FH(0,1) are linearly dependent (the log-rank score is "
                             "the sum of the other two): drop one")
    return out


@dataclass(frozen=True)
class NonPHPower:
    """Power of several tests for the same non-proportional design (``n`` participants).

    ``power`` maps test -> power; ``details`` holds the drift (mean of ``Z``) of each test, the average hazard
    ratio, expected dropouts, the max-combo critical value and correlation, and the RMST difference and SE.
    """

    n: int
    alpha: float
    tau: int
    fh: tuple[float, float]
    weights: tuple[tuple[float, float], ...]
    power: dict
    details: dict

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


def _two_sided(drift: float, z: float) -> float:
    from scipy.special import ndtr

    return float(ndtr(abs(drift) - z) + ndtr(-abs(drift) - z))


def _rmst_moments(curves: Curves, tau: int) -> tuple[float, float]:
    """(RMST difference peer - usual care, per-participant variance x n) at ``tau`` days."""
    if isinstance(tau, bool) or int(tau) != tau or not 1 <= tau <= curves.days:
        raise ParameterError(f"tau must be a whole number of days from 1 to {curves.days}; got {tau!r}")
    tau = int(tau)
    diff, var = 0.0, 0.0
    for s, (r, d), share, sign in zip((curves.peer, curves.usual_care), curves._arrays(),
                                      (curves.allocation, 1 - curves.allocation), (1.0, -1.0)):
        area = s[:tau]  # S(0..tau-1)
        A = np.cumsum(area[::-1])[::-1]  # A(t) = sum_{k >= t} S(k), t = 0..tau-1
        q = d[: tau - 1] / r[: tau - 1]  # days 1..tau-1
        var += float(np.sum(A[1:tau] ** 2 * q / (r[: tau - 1] * (1 - q)))) / share
        diff += sign * float(area.sum())
    return diff, var


def power_nonph(curves: Curves, n: int, *, alpha: float = 0.05, tau: int | None = None,
                fh: tuple[float, float] = (0.0, 1.0),
                weights: Sequence[tuple[float, float]] = DEFAULT_WEIGHTS) -> NonPHPower:
    """Power of the log-rank, average-HR, FH, max-combo and RMST tests with ``n`` participants.

    Parameters
    ----------
    curves : Curves
        From :func:`curves_from_scenario` or :func:`piecewise_curves`.
    n : int
        Participants randomised (both arms).
    alpha : float
        Two-sided level.
    tau : int, optional
        RMST horizon in days (default the end of follow-up).
    fh : (rho, gamma)
        Weights of the single Fleming-Harrington test reported as ``"fh"``.
    weights : sequence of (rho, gamma)
        The statistics of the max-combo test.

    Examples
    --------
    >>> c = piecewise_curves(control_median=90, hazard_ratios=(0.7,), follow_up=180)
    >>> p = power_nonph(c, 600)
    >>> abs(p.power["logrank"] - p.power["average_hr"]) < 0.01
    True
    """
    from scipy.stats import norm

    if isinstance(n, bool) or int(n) != n or n < 2:
        raise ParameterError(f"n must be a whole number >= 2; got {n!r}")
    if not 0 < alpha < 1:
        raise ParameterError(f"alpha must be in (0, 1); got {alpha!r}")
    n = int(n)
    tau = curves.days if tau is None else tau
    z = float(norm.isf(alpha / 2))
    weights = check_weights(weights)
    fh = tuple(map(float, fh))
    mean, cov = weighted_logrank_moments(curves, ((0.0, 0.0), fh) + weights)
    drift = math.sqrt(n) * mean / np.sqrt(np.diag(cov))
    power = {"logrank": _two_sided(drift[0], z), "fh": _two_sided(drift[1], z)}
    # average hazard ratio: daily log-HRs weighted by the expected dropouts of the day, then Schoenfeld
    a = curves.allocation
    (r1, d1), (r0, d0) = curves._arrays()
    h1, h0 = d1 / r1, d0 / r0
    D = a * d1 + (1 - a) * d0
    log_ahr = float(np.sum(D * np.log(h1 / h0)) / D.sum())
    ahr_drift = math.sqrt(n * D.sum() * a * (1 - a)) * abs(log_ahr)
    power["average_hr"] = _two_sided(ahr_drift, z)
    # max-combo with the multiplicity-corrected critical value
    k = len(weights)
    sub = cov[2:, 2:]
    sd = np.sqrt(np.diag(sub))
    corr = sub / np.outer(sd, sd)
    c = maxcombo_critical_value(corr, alpha)
    power["maxcombo"] = 1 - float(_box(drift[2:], corr, c))
    diff, var = _rmst_moments(curves, int(tau))
    se = math.sqrt(var / n)
    power["rmst"] = _two_sided(diff / se, z)
    details = {"drift": {"logrank": float(drift[0]), "fh": float(drift[1]),
                         "maxcombo": [float(x) for x in drift[2:]], "average_hr": ahr_drift},
               "average_hazard_ratio": math.exp(log_ahr), "expected_dropouts": float(n * D.sum()),
               "maxcombo_critical_value": c, "maxcombo_correlation": corr.tolist(),
               "rmst_difference": diff, "rmst_se": se, "statistics": k}
    return NonPHPower(n=n, alpha=float(alpha), tau=int(tau), fh=fh, weights=weights, power=power, details=details)
