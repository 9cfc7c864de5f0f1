"""Recurrent episodes (relapses, overdoses) with a subject frailty and death as the terminal event.

The model (scenario block :class:`peerstudy.scenario.Recurrent`; all times in days):

* Person ``i`` has a frailty ``W_i ~ Gamma(mean 1, variance theta)`` (``theta = frailty_variance``), drawn by
  inverting its CDF at a uniform, ``W = theta * P^-1(1 / theta, u)``, as the site frailty is.
* Given ``W_i``, episodes form a Poisson process with rate ``W_i * lambda0 * rr_a(t)`` per day, with
  ``lambda0 = rate_per_year / 365.25`` and ``rr_a(t) = rate_ratio`` in the peer arm while
  ``t <= effect_stops_day``, else 1. The cumulative rate is piecewise linear, inverted exactly.
* Death, the terminal event, has hazard ``delta * W_i ** death_frailty`` (``delta`` the scenario's death
  hazard per day): :func:`death_multiplier` is what the cohort's ending kernel multiplies ``delta`` by.
  Episodes stop at death.
* Episodes are observed on ``(0, min(time_i, D_i))`` with ``time_i`` the cohort's whole-day end of
  observation and ``D_i`` the (continuous) death time; each is recorded on day ``ceil(t)``, at most one a
  day (the first of the day, whose kind is kept): overdose with probability ``overdose_fraction``, else relapse.

Random streams: everything here draws from the cohort's third spawned child (``rng.spawn(3)[2]``; see
:mod:`peerstudy.simulation.cohort`), in this order: the frailty uniforms (``n``), the episode counts
(Poisson, ``n``), the episode times (uniforms, one per episode) and their kinds (uniforms, one per episode).

The truth (:func:`recurrent_truth`) is computed from the scenario alone, by quadrature over the frailty:
per day ``d`` the probability that a person alive at ``d - 1`` has an episode in ``(d - 1, d]`` before
dying is ``a / (a + b) * (1 - exp(-(a + b)))`` with ``a = W lambda0 rr_a(d)`` and ``b = delta W^gamma``, so
the marginal mean number of recorded episodes by day ``t``, accounting for death (the Ghosh-Lin estimand
``E[N(t ^ D)]``), is ``sum_{d <= t} E_W[exp(-b (d - 1)) a / (a + b) (1 - exp(-(a + b)))]``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats
from scipy.special import gammaincinv

from peerstudy.scenario import DAYS_PER_YEAR, RECURRENT_KINDS, Recurrent, Scenario

__all__ = ["EVENT_KINDS", "draw_frailty", "death_multiplier", "death_times", "draw_episodes", "episode_log",
           "frailty_nodes", "death_survival", "recurrent_truth", "RECURRENT_HORIZONS"]

EVENT_KINDS: tuple[str, ...] = RECURRENT_KINDS
#: Days at which the truth states the mean number of episodes (those within follow-up, and its end).
RECURRENT_HORIZONS: tuple[int, ...] = (90, 180, 365)


def draw_frailty(n: int, recurrent: Recurrent, *, rng: Any) -> np.ndarray:
    """Subject frailties ``W`` (mean 1, variance ``recurrent.frailty_variance``) for ``n`` people; ones if 0."""
    rng = np.random.default_rng(rng)
    u = rng.random(n)
    theta = float(recurrent.frailty_variance)
    if theta == 0:
        return np.ones(n)
    return theta * gammaincinv(1.0 / theta, u)


def death_multiplier(frailty: np.ndarray, recurrent: Recurrent) -> np.ndarray:
    """``W ** death_frailty``: what the death hazard is multiplied by for each person."""
    if recurrent.death_frailty == 0:
        return np.ones_like(frailty)
    return frailty ** float(recurrent.death_frailty)


def death_times(u_death: np.ndarray, death_hazard: float, multiplier: np.ndarray) -> np.ndarray:
    """Continuous death times (days) from the cohort's death uniforms: ``-log(1 - u) / (delta * multiplier)``.

    The same arithmetic as the cohort's ending kernel, so a person recorded as ``died`` died at this time.
    """
    e = -np.log1p(-np.asarray(u_death, dtype=float))
    rate = death_hazard * np.asarray(multiplier, dtype=float)
    out = np.full(e.shape, np.inf)
    pos = rate > 0
    out[pos] = e[pos] / rate[pos]
    return out


def _cumulative_rate(t: np.ndarray, peer: np.ndarray, lam: float, rr: float, stop: float) -> np.ndarray:
    """``lambda0 * int_0^t rr_a(s) ds`` per person (without the frailty)."""
    t = np.asarray(t, dtype=float)
    early = np.minimum(t, stop)
    return lam * np.where(peer, rr * early + (t - early), t)


def _inverse_cumulative_rate(v: np.ndarray, peer: np.ndarray, lam: float, rr: float, stop: float) -> np.ndarray:
    """Times ``t`` with ``_cumulative_rate(t) == v`` (piecewise linear, exact)."""
    x = v / lam
    if not np.isfinite(stop):
        return np.where(peer, x / rr, x)
    knee = rr * stop
    return np.where(peer, np.where(x <= knee, x / rr, stop + (x - knee)), x)


def draw_episodes(peer: np.ndarray, frailty: np.ndarray, end: np.ndarray, recurrent: Recurrent, *,
                  rng: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Episodes of each person on ``(0, end)``: (person index, whole day, overdose flag), sorted by person and day.

    ``peer`` (bool), ``frailty`` and ``end`` (days, continuous or whole) are per person. At most one episode
    is kept per person and day (the first; see the module docstring for the draw order).
    """
    rng = np.random.default_rng(rng)
    lam = recurrent.rate_per_year / DAYS_PER_YEAR
    rr = float(recurrent.rate_ratio)
    stop = np.inf if recurrent.effect_stops_day is None else float(recurrent.effect_stops_day)
    end = np.maximum(np.asarray(end, dtype=float), 0.0)
    total = frailty * _cumulative_rate(end, peer, lam, rr, stop)
    counts = rng.poisson(total)
    person = np.repeat(np.arange(len(end)), counts)
    v = rng.random(person.size) * (total[person] / frailty[person])
    overdose = rng.random(person.size) < recurrent.overdose_fraction
    t = _inverse_cumulative_rate(v, peer[person], lam, rr, stop)
    day = np.maximum(np.ceil(t), 1.0).astype(np.int64)
    order = np.lexsort((t, person))
    person, day, overdose = person[order], day[order], overdose[order]
    keep = np.ones(person.size, dtype=bool)
    keep[1:] = (person[1:] != person[:-1]) | (day[1:] != day[:-1])
    return person[keep], day[keep], overdose[keep]


def episode_log(scenario: Scenario, peer: np.ndarray, frailty: np.ndarray, time: np.ndarray, u_death: np.ndarray,
                *, rng: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The episode log of one cohort: observed on ``(0, min(time, death))`` (see :func:`draw_episodes`)."""
    rec = scenario.recurrent
    dies = death_times(u_death, scenario.death_hazard, death_multiplier(frailty, rec))
    return draw_episodes(peer, frailty, np.minimum(np.asarray(time, dtype=float), dies), rec, rng=rng)


# ----- truth ------------------------------------------------------------------------------------------------
def frailty_nodes(theta: float, size: int = 2001) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights for ``E[f(W)]``, ``W ~ Gamma(mean 1, variance theta)``: trapezoid on ``log W``.

    The integrand ``W * density(W)`` is smooth and decays fast at both ends of the log scale, where the
    trapezoid rule converges geometrically; the weights are normalised to sum to 1 (their mean is 1 to
    about 1e-12, checked in tests).
    """
    if theta == 0:
        return np.ones(1), np.ones(1)
    dist = stats.gamma(a=1.0 / theta, scale=theta)
    lo, hi = dist.ppf(1e-15), dist.isf(1e-15)
    lo = max(lo, 1e-300)
    x = np.linspace(math.log(lo), math.log(hi), size)
    w = np.exp(x)
    p = dist.pdf(w) * w
    p[[0, -1]] *= 0.5
    return w, p / p.sum()


def death_survival(grid: np.ndarray, scenario: Scenario) -> tuple[np.ndarray, np.ndarray] | None:
    """Marginal death survival ``E[exp(-delta W^g u)]`` and density at ``grid``, or ``None`` if death ignores ``W``.

    ``None`` when recurrent episodes are off, or the frailty does not enter the death hazard (the death hazard
    is then the constant ``delta`` of the scenario).
    """
    rec = scenario.recurrent
    if not rec.enabled or rec.frailty_variance == 0 or rec.death_frailty == 0 or scenario.death_hazard == 0:
        return None
    w, p = frailty_nodes(rec.frailty_variance)
    rate = scenario.death_hazard * w ** rec.death_frailty
    e = np.exp(-np.outer(grid, rate))
    return e @ p, (e * rate) @ p


def recurrent_truth(scenario: Scenario) -> dict[str, Any] | None:
    """The recurrent-episode estimands of ``scenario`` (``None`` when ``recurrent.enabled`` is false).

    Returns
    -------
    dict or None
        ``rate_ratio`` and ``log_rate_ratio`` (peer vs usual care, conditional on the frailty, as simulated;
        also the marginal ratio among people at risk, since neither death nor the other endings depend on
        the arm and the frailty at once); ``mean_events`` ``{ARM: {DAY: value}}``: the marginal mean
        number of recorded episodes per person by each day, accounting for death (the Ghosh-Lin mean
        frequency function; loss to follow-up, dropout and incarceration are censoring);
        ``cumulative_rate`` ``{ARM: {DAY: value}}``: the cumulative rate among people alive (what the
        Nelson-Aalen type MCF, which ignores death, estimates); ``horizons``.

    Examples
    --------
    >>> from peerstudy.scenario import preset
    >>> s = preset("outpatient_default")
    >>> s = s.replace(follow_up_days=365, recurrent=s.recurrent.__class__(enabled=True, frailty_variance=0))
    >>> t = recurrent_truth(s)
    >>> round(t["mean_events"]["usual_care"]["365"], 3) < 2.0
    True
    """
    rec = scenario.recurrent
    if not rec.enabled:
        return None
    F = scenario.follow_up_days
    horizons = tuple(sorted({h for h in RECURRENT_HORIZONS if h <= F} | {F}))
    w, p = frailty_nodes(rec.frailty_variance)
    lam = rec.rate_per_year / DAYS_PER_YEAR
    b = scenario.death_hazard * w ** rec.death_frailty          # death hazard per day, by node
    days = np.arange(1, F + 1, dtype=float)
    alive = np.exp(-np.outer(days - 1.0, b))                    # P(alive at d - 1 | W)
    stop = np.inf if rec.effect_stops_day is None else rec.effect_stops_day
    mean, rate = {}, {}
    for arm in ("usual_care", "peer"):
        rr = np.where(days <= stop, rec.rate_ratio, 1.0) if arm == "peer" else np.ones_like(days)
        a = np.outer(rr * lam, w)                               # episode rate on day d | W
        s = a + b[None, :]
        g = np.where(s > 0, a / np.where(s > 0, s, 1.0) * -np.expm1(-s), 0.0)
        per_day = (alive * g) @ p
        mu = np.cumsum(per_day)
        cr = np.cumsum(per_day / (alive @ p))
        mean[arm] = {str(h): float(mu[h - 1]) for h in horizons}
        rate[arm] = {str(h): float(cr[h - 1]) for h in horizons}
    stops = "" if rec.effect_stops_day is None else f" up to day {rec.effect_stops_day}, 1 after it"
    return {
        "rate_ratio": float(rec.rate_ratio),
        "log_rate_ratio": math.log(rec.rate_ratio),
        "effect_stops_day": rec.effect_stops_day,
        "frailty_variance": float(rec.frailty_variance),
        "death_frailty": float(rec.death_frailty),
        "mean_events": mean,
        "cumulative_rate": rate,
        "horizons": [str(h) for h in horizons],
        "notes": {
            "rate_ratio": f"episode rate ratio, peer vs usual care{stops}, given the subject frailty",
            "mean_events": "marginal mean number of recorded episodes per person by day t, stopped at death "
                           "(the Ghosh-Lin mean frequency function); other endings are censoring",
            "cumulative_rate": "cumulative episode rate among people alive (the Nelson-Aalen type MCF ignoring death)",
        },
    }
