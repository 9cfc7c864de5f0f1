"""Sites and participants for a cluster-randomised comparison of retention (whole sites randomised 1:1).

Method (``tests/reference/design_cluster.R`` computes the same formulas independently):

* **Design effect for unequal cluster sizes** (Eldridge, Ashby & Kerry 2006, Int J Epidemiol 35:1292-300,
  the design effect for an analysis that weights every participant equally)::

      DE = 1 + ((cv^2 + 1) m - 1) rho

  with ``m`` the mean participants per site, ``cv`` the coefficient of variation (SD / mean) of the site sizes
  and ``rho`` the intra-cluster correlation. ``cv = 0`` gives Donner & Klar's ``1 + (m - 1) rho``. When sites
  take participants at random (each participant equally likely to go to any site, as
  :mod:`peerstudy.simulation.cohort` draws them), the sizes are multinomial and ``cv^2 = (1 - 1/G) / m``.
* **The ICC from a site frailty.** With a frailty ``Z`` of mean 1 and variance ``theta`` (gamma, or log-normal
  with ``sigma^2 = log(1 + theta)``) multiplying the dropout hazard of every participant of a site, the
  probability that a participant's dropout is observed, given the site, is ``p(Z)`` (exponential dropout with
  hazard ``Z lambda``, ``lambda = log 2 / control_median``, and loss to follow-up as in :mod:`.power`). The ICC
  of the observed-dropout indicator is the between-site variance of the site-level probabilities over the
  binomial variance (the ANOVA definition of the ICC of a binary outcome; Eldridge, Ukoumunne & Carlin 2009,
  Int Stat Rev 77:378-94)::

      rho = Var_Z p(Z) / (pbar (1 - pbar)),   pbar = E_Z p(Z),

  computed in usual care by adaptive quadrature over the frailty distribution (the control median is then the
  median of a site with frailty 1). Peer support is assumed to leave the ICC unchanged, as a common ICC is.
* **Events and participants.** Schoenfeld's dropouts (:func:`peerstudy.design.power.events_required`, 1:1)
  times ``DE``; participants ``D / P(observed dropout)`` with the arms' probabilities of :mod:`.power`
  (exponential retention with the control median, uniform enrolment, ``study_end`` or ``fixed`` follow-up);
  sites per arm ``ceil(N / (2 m))``.
* **Power for ``k`` sites per arm** of mean size ``m``: expected dropouts ``D = k m (P_peer + P_uc)`` and the
  drift ``delta = |log HR| sqrt(D / DE) / 2``. The design's primary analysis (Cox model of the arm with the
  Mancl-DeRouen site sandwich and a t reference on ``G - 1`` degrees of freedom, ``G = 2 k`` sites) is
  matched with ``small_sample=True`` (the default): power ``P(|T| > t_{G-1, 1-alpha/2})`` for ``T`` noncentral
  t with ``G - 1`` df and noncentrality ``delta``. ``small_sample=False`` uses the normal reference
  (``Phi(delta - z) + Phi(-delta - z)``). The sample size is the smallest ``k`` whose power reaches the target.

``hazard_ratio`` is the population-averaged hazard ratio, the estimand of the analysis of a
cluster-randomised trial (with a site frailty it is nearer 1 than the hazard ratio within a site).

No stepped-wedge sample size is offered for time to dropout: the one published formula found (a
period-stratified marginal Cox model with its sandwich variance and within- and between-period correlations;
Ryan, Esserman, Taljaard & Li 2023, arXiv:2312.13097) needs correlation parameters of a kind no peer-support
study reports, and the simulator does not draw stepped-wedge allocation, so it could not be checked by
simulation as every design formula of peerstudy is.
:func:`stepped_wedge_not_offered` is the error the CLI raises.
"""

from __future__ import annotations

import html
import math
import numbers
from dataclasses import asdict, dataclass
from typing import Any, Literal

from peerstudy.design.power import (DAYS_PER_YEAR, FollowUpType, _check_open_unit, _check_positive, _effect,
                                    _loss, _timing, event_probability, events_required)
from peerstudy.exceptions import ParameterError

__all__ = ["ClusterDesign", "design_effect_unequal", "icc_from_frailty", "sample_size_cluster", "power_cluster",
           "stepped_wedge_not_offered", "MAX_SITES"]

#: sites per arm searched for a sample size before giving up
MAX_SITES = 100_000
Frailty = Literal["gamma", "lognormal"]


def design_effect_unequal(cluster_size: float, icc: float, cv: float = 0.0) -> float:
    """Eldridge, Ashby & Kerry's design effect ``1 + ((cv^2 + 1) m - 1) icc`` for sites of mean size ``m``.

    Examples
    --------
    >>> design_effect_unequal(50, 0.02)
    1.98
    >>> round(design_effect_unequal(50, 0.02, cv=0.5), 4)
    2.23
    """
    m = _check_positive("cluster_size", cluster_size)
    if m < 1:
        raise ParameterError(f"cluster_size must be >= 1; got {cluster_size!r}")
    if isinstance(icc, bool) or not isinstance(icc, numbers.Real) or not 0 <= icc <= 1:
        raise ParameterError(f"icc must be in [0, 1]; got {icc!r}")
    if isinstance(cv, bool) or not isinstance(cv, numbers.Real) or not math.isfinite(cv) or cv < 0:
        raise ParameterError(f"cluster_cv must be a finite number >= 0; got {cv!r}")
    return 1.0 + ((cv ** 2 + 1.0) * m - 1.0) * float(icc)


def _frailty_law(variance: float, distribution: str):
    """(density, lower, upper) of a mean-one frailty with the given variance; the range leaves 1e-15 in each tail."""
    from scipy import stats

    if distribution == "gamma":
        law = stats.gamma(a=1.0 / variance, scale=variance)
    elif distribution == "lognormal":
        s = math.sqrt(math.log1p(variance))
        law = stats.lognorm(s=s, scale=math.exp(-s * s / 2))
    else:
        raise ParameterError(f"frailty_distribution must be 'gamma' or 'lognormal'; got {distribution!r}")
    return law.pdf, float(law.ppf(1e-15)), float(law.isf(1e-15))


def icc_from_frailty(frailty_variance: float, *, control_median: float, accrual: float, follow_up: float,
                     loss_hazard: float = 0.0, follow_up_type: FollowUpType = "study_end",
                     distribution: Frailty = "gamma") -> float:
    """ICC of the observed-dropout indicator implied by a site frailty (see the module notes).

    Parameters
    ----------
    frailty_variance : float
        Variance ``theta`` of the mean-one site frailty (> 0).
    control_median : float
        Median retention in usual care at a site with frailty 1, days.
    accrual, follow_up, loss_hazard, follow_up_type
        As :func:`peerstudy.design.power.event_probability` (loss hazard per day).
    distribution : {"gamma", "lognormal"}

    Examples
    --------
    >>> round(icc_from_frailty(0.1, control_median=90, accrual=548, follow_up=180, follow_up_type="fixed"), 4)
    0.0605
    """
    from scipy.integrate import quad

    theta = _check_positive("frailty_variance", frailty_variance)
    if theta > 10:
        raise ParameterError(f"frailty_variance must be at most 10; got {frailty_variance!r}")
    lam = math.log(2) / _check_positive("control_median", control_median)
    kw = dict(accrual=_check_positive("accrual", accrual), follow_up=_check_positive("follow_up", follow_up),
              loss_hazard=float(loss_hazard), follow_up_type=follow_up_type)
    pdf, lo, hi = _frailty_law(theta, distribution)
    opts = dict(epsabs=1e-14, epsrel=1e-12, limit=500, points=[1.0] if lo < 1 < hi else None)

    def moment(power):
        return quad(lambda z: event_probability(z * lam, **kw) ** power * pdf(z), lo, hi, **opts)[0]

    p1, p2 = moment(1), moment(2)
    return (p2 - p1 * p1) / (p1 * (1 - p1))


@dataclass(frozen=True)
class ClusterDesign:
    """A cluster-randomised retention design: sites and participants per arm, dropouts, design effect, power.

    ``sites_per_arm`` sites of mean size ``cluster_size`` in each arm; ``subjects_per_arm`` is
    ``ceil(sites_per_arm * cluster_size)``; ``events_exact`` the expected dropouts and ``events_effective`` the
    same over the design effect (the independent dropouts they are worth); ``events_required`` (sample size
    only) Schoenfeld's (or Freedman's) dropouts for the target power times the design effect. ``icc`` is the ICC used (given, or implied by ``frailty_variance``).
    ``target_power`` is ``None`` for the power of given sites.
    """

    hazard_ratio: float
    alpha: float
    power: float
    target_power: float | None
    method: str
    small_sample: bool
    df: int | None
    sites_per_arm: int
    sites: int
    cluster_size: float
    cluster_cv: float
    icc: float
    frailty_variance: float | None
    frailty_distribution: str | None
    design_effect: float
    events: int
    events_exact: float
    events_effective: float
    events_required: float | None
    subjects_per_arm: int
    subjects: int
    event_probability: float
    control_median: float
    accrual: float
    follow_up: float
    follow_up_type: str
    lost: float
    lost_by: float
    loss_rate: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)

    def summary(self) -> str:
        """A few readable lines."""
        source = (f"ICC {self.icc:.4g}" if self.frailty_variance is None else
                  f"ICC {self.icc:.4g} from a {self.frailty_distribution} site frailty of variance "
                  f"{self.frailty_variance:g}")
        ref = f"t on {self.df} df" if self.small_sample else "normal reference"
        lines = [
            f"Cluster-randomised, sites 1:1; hazard ratio {self.hazard_ratio:g} (population-averaged), two-sided "
            f"alpha {self.alpha:g} ({ref}):",
            f"  sites{' needed' if self.target_power is not None else ''}: {self.sites_per_arm} per arm "
            f"({self.sites} in all), mean {self.cluster_size:g} participants per site (CV {self.cluster_cv:g})",
            f"  participants: {self.subjects_per_arm} per arm ({self.subjects} in all), "
            f"P(observed dropout) = {self.event_probability:.3f}",
            (f"  dropouts (events) needed: {math.ceil(self.events_required - 1e-9)} (design effect "
             f"{self.design_effect:.4g}; {source}); with these sites {self.events} expected"
             if self.events_required is not None else
             f"  dropouts (events): {self.events} expected (design effect {self.design_effect:.4g}; {source})")
            + f", worth {self.events_effective:.1f} independent ones",
            f"  power: {self.power:.3f}",
        ]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
                       for k, v in self.to_dict().items() if v is not None)
        return f"<table><caption>Cluster-randomised design</caption>{rows}</table>"


def _power_sites(hr: float, k: int, m: float, p_mean: float, deff: float, alpha: float, method: str,
                 small_sample: bool) -> tuple[float, float]:
    """(power, expected dropouts) with ``k`` sites per arm of mean size ``m``."""
    from scipy import stats

    d = 2.0 * k * m * p_mean
    delta = _effect(hr, 0.5, method) * math.sqrt(d / deff)
    if small_sample:
        df = 2 * k - 1
        tc = float(stats.t.isf(alpha / 2, df))
        return float(stats.nct.sf(tc, df, delta) + stats.nct.cdf(-tc, df, delta)), d
    z = float(stats.norm.isf(alpha / 2))
    return float(stats.norm.cdf(delta - z) + stats.norm.cdf(-delta - z)), d


def _inputs(hazard_ratio, alpha, method, cluster_size, cluster_cv, icc, frailty_variance, frailty_distribution,
            control_median, accrual, follow_up, lost, lost_by, loss_rate, follow_up_type):
    from peerstudy.design.power import _arm_event_probabilities, _check_hr, _check_method

    hr = _check_hr(hazard_ratio)
    al = _check_open_unit("alpha", alpha)
    meth = _check_method(method)
    if not _timing(control_median, accrual, follow_up):
        raise ParameterError("a cluster design needs control_median, accrual and follow_up")
    if follow_up_type not in ("study_end", "fixed"):
        raise ParameterError(f"follow_up_type must be 'study_end' or 'fixed'; got {follow_up_type!r}")
    if (icc is None) == (frailty_variance is None):
        raise ParameterError("give exactly one of icc and frailty_variance")
    loss, lost_, lost_by_, rate = _loss(lost, lost_by, loss_rate, None)
    if frailty_variance is not None:
        rho = icc_from_frailty(frailty_variance, control_median=control_median, accrual=accrual,
                               follow_up=follow_up, loss_hazard=loss, follow_up_type=follow_up_type,
                               distribution=frailty_distribution)
        dist = frailty_distribution
    else:
        rho, dist = icc, None
    deff = design_effect_unequal(cluster_size, rho, cluster_cv)
    p_peer, p_uc = _arm_event_probabilities(hr, control_median, accrual, follow_up, loss, follow_up_type)
    timing = dict(control_median=float(control_median), accrual=float(accrual), follow_up=float(follow_up),
                  follow_up_type=follow_up_type, lost=lost_, lost_by=lost_by_, loss_rate=rate)
    return hr, al, meth, float(rho), dist, deff, (p_peer + p_uc) / 2, timing


def _design(hr, al, meth, small_sample, k, m, cv, rho, theta, dist, deff, p_mean, timing, target,
            required=None) -> ClusterDesign:
    pw, d = _power_sites(hr, k, m, p_mean, deff, al, meth, small_sample)
    per_arm = math.ceil(k * m - 1e-9)
    return ClusterDesign(
        hazard_ratio=hr, alpha=al, power=pw, target_power=target, method=meth, small_sample=bool(small_sample),
        df=2 * k - 1 if small_sample else None, sites_per_arm=k, sites=2 * k, cluster_size=float(m),
        cluster_cv=float(cv), icc=rho, frailty_variance=None if theta is None else float(theta),
        frailty_distribution=dist, design_effect=deff, events=math.ceil(d - 1e-9), events_exact=d,
        events_effective=d / deff, events_required=required,
        subjects_per_arm=per_arm, subjects=2 * per_arm, event_probability=p_mean, **timing)


def sample_size_cluster(
    hazard_ratio: float,
    *,
    cluster_size: float,
    icc: float | None = None,
    frailty_variance: float | None = None,
    frailty_distribution: Frailty = "gamma",
    cluster_cv: float = 0.0,
    control_median: float,
    accrual: float,
    follow_up: float,
    alpha: float = 0.05,
    power: float = 0.8,
    method: str = "schoenfeld",
    lost: float = 0.0,
    lost_by: float = DAYS_PER_YEAR,
    loss_rate: float | None = None,
    follow_up_type: FollowUpType = "study_end",
    small_sample: bool = True,
) -> ClusterDesign:
    """Sites per arm (and participants, dropouts) for a cluster-randomised design (see the module notes).

    Parameters
    ----------
    hazard_ratio : float
        Population-averaged hazard ratio of dropout, peer vs usual care.
    cluster_size : float
        Mean participants per site (>= 1).
    icc, frailty_variance : float
        The intra-cluster correlation, or the variance of a mean-one site frailty on the dropout hazard from
        which it is computed (exactly one).
    frailty_distribution : {"gamma", "lognormal"}
    cluster_cv : float
        Coefficient of variation of the site sizes (0: equal sizes).
    control_median, accrual, follow_up, lost, lost_by, loss_rate, follow_up_type
        Timing and loss to follow-up, as :func:`peerstudy.design.power.sample_size`.
    alpha, power, method
        Two-sided level, target power, Schoenfeld or Freedman.
    small_sample : bool
        Power from the t reference on ``2 k - 1`` df that the design's primary analysis uses (default), or
        the normal reference.

    Returns
    -------
    ClusterDesign

    Raises
    ------
    ParameterError
        An argument out of range (named), or no number of sites up to :data:`MAX_SITES` per arm reaches the power.

    Examples
    --------
    >>> d = sample_size_cluster(0.8, cluster_size=50, icc=0.02, control_median=90, accrual=548, follow_up=180)
    >>> d.sites_per_arm, d.subjects_per_arm, round(d.design_effect, 2)
    (15, 750, 1.98)
    """
    target = _check_open_unit("power", power)
    hr, al, meth, rho, dist, deff, p_mean, timing = _inputs(
        hazard_ratio, alpha, method, cluster_size, cluster_cv, icc, frailty_variance, frailty_distribution,
        control_median, accrual, follow_up, lost, lost_by, loss_rate, follow_up_type)
    m = float(cluster_size)
    d = events_required(hr, alpha=al, power=target, method=meth) * deff
    k = max(1, math.ceil(d / (2 * m * p_mean) - 1e-9))
    while _power_sites(hr, k, m, p_mean, deff, al, meth, small_sample)[0] < target:
        k += 1
        if k > MAX_SITES:
            raise ParameterError(f"power {target:g} is not reached with up to {MAX_SITES} sites per arm")
    return _design(hr, al, meth, small_sample, k, m, cluster_cv, rho, frailty_variance, dist, deff, p_mean,
                   timing, target, required=d)


def power_cluster(
    hazard_ratio: float,
    *,
    sites_per_arm: int,
    cluster_size: float,
    icc: float | None = None,
    frailty_variance: float | None = None,
    frailty_distribution: Frailty = "gamma",
    cluster_cv: float = 0.0,
    control_median: float,
    accrual: float,
    follow_up: float,
    alpha: float = 0.05,
    method: str = "schoenfeld",
    lost: float = 0.0,
    lost_by: float = DAYS_PER_YEAR,
    loss_rate: float | None = None,
    follow_up_type: FollowUpType = "study_end",
    small_sample: bool = True,
) -> ClusterDesign:
    """Power with ``sites_per_arm`` sites in each arm of mean size ``cluster_size``; other parameters as
    :func:`sample_size_cluster`.

    Examples
    --------
    >>> p = power_cluster(0.8, sites_per_arm=8, cluster_size=50, frailty_variance=0.1, control_median=60,
    ...                   accrual=548, follow_up=180, follow_up_type="fixed")
    >>> p.sites, p.subjects, p.df
    (16, 800, 15)
    """
    k = sites_per_arm
    if isinstance(k, bool) or not isinstance(k, numbers.Real) or k != int(k) or k < 1:
        raise ParameterError(f"sites_per_arm must be a whole number >= 1; got {sites_per_arm!r}")
    hr, al, meth, rho, dist, deff, p_mean, timing = _inputs(
        hazard_ratio, alpha, method, cluster_size, cluster_cv, icc, frailty_variance, frailty_distribution,
        control_median, accrual, follow_up, lost, lost_by, loss_rate, follow_up_type)
    return _design(hr, al, meth, small_sample, int(k), float(cluster_size), cluster_cv, rho, frailty_variance,
                   dist, deff, p_mean, timing, None)


def stepped_wedge_not_offered() -> ParameterError:
    """The error for a stepped-wedge design: no time-to-event stepped-wedge power method is offered (why: the
    module notes).

    Examples
    --------
    >>> str(stepped_wedge_not_offered()).split(":")[0]
    'no stepped-wedge power method is offered for time to dropout'
    """
    return ParameterError(
        "no stepped-wedge power method is offered for time to dropout: the published formula (Ryan et al. 2023, "
        "arXiv:2312.13097) needs within- and between-period correlations that peer-support studies do not "
        "report, and peerstudy's simulator does not draw stepped-wedge allocation to check it; size a parallel "
        "cluster design (--sites-per-arm) instead")
