"""Operating characteristics of a group-sequential design by simulation: interim looks on simulated cohorts.

Each replicate is a cohort of a :class:`~peerstudy.scenario.Scenario` with its enrolment days
(:func:`peerstudy.simulation.cohort.simulate_stack`, replicate ``i`` drawing from
:func:`peerstudy.design.study.replicate_seed` ``(seed, i)`` as in :func:`peerstudy.design.study.run_study`).
Participant ``j`` enrolled on day ``e_j`` leaves observation on calendar day ``e_j + time_j``. A look on
calendar day ``d`` sees the data as they stand then: people enrolled before ``d`` are followed to
``min(time_j, d - e_j)`` (later dropouts are censored at ``d``); those not yet enrolled are left out. Looks
are held when the cumulative dropouts reach the design's planned counts (``ceil(t_k D_max)``, the last at
``D_max``), or on given calendar days; a look the cohort never reaches is held at the end of the study
(last enrolment plus follow-up) with the dropouts seen by then.

At each look the log-rank statistic (:func:`peerstudy.design.study.analyse_replicates`, method ``logrank``)
is oriented so that positive values favour the direction of the design's hazard ratio, and compared with the
design's boundaries: efficacy ``z >= c_k`` (two-sided: ``|z| >= c_k``, either direction), futility
``z < f_k``. Both the rejection rate obeying the futility bounds and the rate ignoring them (what a
non-binding bound guarantees) are reported, with Monte Carlo SEs.
"""

from __future__ import annotations

import html
import math
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np

from peerstudy.design.sequential import SequentialDesign
from peerstudy.exceptions import ParameterError

__all__ = ["SequentialSimulation", "simulate_sequential"]

_BLOCK = 256


@dataclass(frozen=True)
class SequentialSimulation:
    """Simulated operating characteristics of a group-sequential design.

    Rates are shares of ``reps`` replicates, each with its Monte Carlo SE (``*_mcse``). Per-look lists have
    one entry per look. ``formula_reject`` is the design's rejection probability (obeying futility bounds) at
    the scenario's hazard ratio by the formula of :mod:`peerstudy.design.sequential`: at the conditional hazard
    ratio, so above the simulated rate when covariates or site frailty affect dropout (the log-rank test sees
    the marginal, smaller effect) or the effect stops at a coaching cap. ``expected_*`` are means over replicates of the dropouts, participants enrolled and
    calendar day at the look where the trial stopped (obeying futility bounds).
    """

    reps: int
    seed: int
    scenario: dict
    hazard_ratio_design: float
    critical_values: tuple[float, ...]
    futility_bounds: tuple[float, ...] | None
    sided: int
    alpha: float
    planned_events: tuple[int, ...]
    reject: float
    reject_mcse: float
    reject_ignoring_futility: float
    reject_ignoring_futility_mcse: float
    reject_per_look: tuple[float, ...]
    futility_per_look: tuple[float, ...]
    mean_events_per_look: tuple[float, ...]
    mean_information_per_look: tuple[float, ...]
    mean_day_per_look: tuple[float, ...]
    expected_events: float
    expected_events_mcse: float
    expected_subjects: float
    expected_day: float
    looks_short: int
    formula_reject: float
    formula_reject_per_look: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)

    def summary(self) -> str:
        """A few readable lines."""
        lines = [f"{self.reps} simulated trials of {self.scenario.get('name', 'the scenario')}, "
                 f"{len(self.critical_values)} looks:",
                 f"  rejected: {self.reject:.4f} (MC SE {self.reject_mcse:.4f})"
                 + f"; formula {self.formula_reject:.4f}"]
        if self.futility_bounds is not None:
            lines.append(f"  rejected ignoring futility: {self.reject_ignoring_futility:.4f} "
                         f"(MC SE {self.reject_ignoring_futility_mcse:.4f})")
        lines.append(f"  expected dropouts {self.expected_events:.1f}, participants {self.expected_subjects:.1f}, "
                     f"day {self.expected_day:.0f}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return f"<pre>{html.escape(self.summary())}</pre>"


def _look_days(cal: np.ndarray, event: np.ndarray, targets: Sequence[int], end: float) -> np.ndarray:
    """Calendar day of the ``targets[k]``-th dropout in each replicate (``end`` if never reached)."""
    days = np.where(event == 1, cal, np.inf)
    days.sort(axis=1)
    out = np.empty((cal.shape[0], len(targets)))
    for k, m in enumerate(targets):
        out[:, k] = days[:, m - 1] if m <= cal.shape[1] else np.inf
    return np.minimum(out, end)


def _at(day: np.ndarray, enrol: np.ndarray, time: np.ndarray, event: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Times and events as seen on calendar ``day`` (one per replicate); not yet enrolled: censored at 0.5."""
    d = day[:, None]
    seen = enrol + time <= d
    t = np.where(seen, time, d - enrol)
    e = (seen & (event == 1)).astype(np.int64)
    t = np.where(t >= 1, t, 0.5)  # before any dropout day: in no risk set
    return t.astype(np.float64), e


def simulate_sequential(
    design: SequentialDesign,
    scenario: Any,
    *,
    reps: int,
    seed: int = 0,
    n: int | None = None,
    look_days: Sequence[float] | None = None,
) -> SequentialSimulation:
    """Simulate ``design`` on ``reps`` cohorts of ``scenario``; looks at the planned dropout counts or on days.

    Parameters
    ----------
    design : SequentialDesign
        From :func:`~peerstudy.design.sequential.sample_size_sequential` or
        :func:`~peerstudy.design.sequential.power_sequential` (boundaries, planned dropouts per look).
    scenario : Scenario, preset name, YAML path or dict
        The data-generating mechanism (its own hazard ratio; 1 for the type I error).
    reps : int
        Replicates (>= 2).
    seed : int
        Replicate ``i`` draws from ``SeedSequence(seed, spawn_key=(i,))``.
    n : int, optional
        Participants per cohort (default the scenario's ``n``).
    look_days : sequence of float, optional
        Calendar days (from the first enrolment) of the looks instead of dropout counts, one per look.

    Returns
    -------
    SequentialSimulation

    Examples
    --------
    >>> from peerstudy.design.sequential import group_sequential_design, power_sequential
    >>> d = power_sequential(group_sequential_design(looks=2, design="OF", alpha=0.025, sided=1), 0.8,
    ...                      events=200)
    >>> sim = simulate_sequential(d, "null_effect", reps=20, seed=1, n=400)
    >>> sim.planned_events
    (100, 200)
    """
    from peerstudy.data.schema import OUTCOMES
    from peerstudy.design.study import analyse_replicates, replicate_seed
    from peerstudy.scenario import load_scenario
    from peerstudy.simulation.cohort import override, simulate_stack

    if not isinstance(design, SequentialDesign):
        raise ParameterError(f"design must be a SequentialDesign (from sample_size_sequential or power_sequential); "
                             f"got {type(design).__name__}")
    sc = load_scenario(scenario)
    if n is not None:
        sc = override(sc, {"n": n})
    for name, value, low in (("reps", reps, 2), ("seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ParameterError(f"{name} must be a whole number >= {low}; got {value!r}")
    K = design.looks
    d_max = int(math.ceil(design.max_events_exact - 1e-9))
    targets = tuple(int(math.ceil(t * d_max - 1e-9)) for t in design.information_rates)
    if look_days is not None:
        look_days = tuple(float(x) for x in look_days)
        if len(look_days) != K or any(b <= a for a, b in zip(look_days, look_days[1:])) or look_days[0] <= 0:
            raise ParameterError(f"look_days must give {K} increasing days > 0; got {list(look_days)!r}")
    end = float(sc.enrolment_days - 1 + sc.follow_up_days)
    crit = np.asarray(design.critical_values)
    fut = np.full(K, -np.inf)
    if design.futility_bounds is not None:
        fut[: K - 1] = design.futility_bounds
    sign = -1.0 if design.hazard_ratio < 1 else 1.0
    dropout = OUTCOMES.index("dropout")

    z_all, ev_all, day_all, enrolled_all = [], [], [], []
    for start in range(0, int(reps), _BLOCK):
        block = range(start, min(start + _BLOCK, int(reps)))
        stack = simulate_stack(sc, [np.random.default_rng(replicate_seed(int(seed), i)) for i in block], full=True)
        enrol = np.stack(stack["enrol_day"]).astype(np.float64)
        time = stack["time"]
        event = (stack["outcome"] == dropout).astype(np.int64)
        days = (np.tile(np.minimum(look_days, end), (len(block), 1)) if look_days is not None
                else _look_days(enrol + time, event, targets, end))
        z = np.empty((len(block), K))
        ev = np.empty((len(block), K))
        enrolled = np.empty((len(block), K))
        for k in range(K):
            t, e = _at(days[:, k], enrol, time, event)
            lr = analyse_replicates({"time": t, "event": e, "peer": stack["peer"].astype(np.int64)},
                                    methods=("logrank",), tau=1.0)["logrank"]
            z[:, k] = sign * lr["estimate"] / lr["se"]  # (O - E) / sqrt(V) of the peer arm, towards the effect
            ev[:, k] = e.sum(axis=1)
            enrolled[:, k] = (enrol < days[:, k][:, None]).sum(axis=1)
        z_all.append(z), ev_all.append(ev), day_all.append(days), enrolled_all.append(enrolled)
    z, ev, days, enrolled = (np.concatenate(a) for a in (z_all, ev_all, day_all, enrolled_all))
    return _summarise(design, sc, int(reps), int(seed), z, ev, days, enrolled, crit, fut, targets, d_max)


def _formula(design: SequentialDesign, hazard_ratio: float, d_max: int) -> tuple[float, tuple[float, ...]]:
    """Rejection probability by the formula at the scenario's hazard ratio (its drift towards the design's effect)."""
    from peerstudy.design import boundaries as bd
    from peerstudy.design.power import _effect

    theta = 0.0 if hazard_ratio == 1 else _effect(hazard_ratio, design.allocation, design.method)
    if (hazard_ratio < 1) != (design.hazard_ratio < 1):
        theta = -theta
    up, other, _ = bd.rejection(np.asarray(design.critical_values), np.asarray(design.information_rates),
                                theta * math.sqrt(d_max / design.design_effect), sided=design.sided,
                                futility=design.futility_bounds)
    per = up + other
    return float(per.sum()), tuple(float(x) for x in per)


def _summarise(design, sc, reps, seed, z, ev, days, enrolled, crit, fut, targets, d_max) -> SequentialSimulation:
    K = len(crit)
    z = np.where(np.isfinite(z), z, 0.0)  # no dropouts yet in an arm: no evidence either way
    cross = (np.abs(z) if design.sided == 2 else z) >= crit
    low = z < fut
    stop_look = np.full(reps, K - 1)
    reason = np.zeros(reps, dtype=np.int8)  # 0 none, 1 reject, 2 futility
    live = np.ones(reps, bool)
    for k in range(K):
        rej = live & cross[:, k]
        fl = live & ~cross[:, k] & low[:, k] & (k < K - 1)
        stop_look[rej | fl] = k
        reason[rej], reason[fl] = 1, 2
        live &= ~(rej | fl)
    ignoring = cross.any(axis=1)
    rows = np.arange(reps)
    events_stop = ev[rows, stop_look]
    rej = float(np.mean(reason == 1))
    ign = float(ignoring.mean())
    per_look = tuple(float(np.mean((reason == 1) & (stop_look == k))) for k in range(K))
    fut_look = tuple(float(np.mean((reason == 2) & (stop_look == k))) for k in range(K - 1))
    formula, formula_look = _formula(design, sc.hazard_ratio, d_max)
    return SequentialSimulation(
        reps=reps, seed=seed, scenario=sc.to_dict(), hazard_ratio_design=design.hazard_ratio,
        critical_values=design.critical_values, futility_bounds=design.futility_bounds, sided=design.sided,
        alpha=design.alpha, planned_events=targets, reject=rej, reject_mcse=math.sqrt(rej * (1 - rej) / reps),
        reject_ignoring_futility=ign, reject_ignoring_futility_mcse=math.sqrt(ign * (1 - ign) / reps),
        reject_per_look=per_look, futility_per_look=fut_look,
        mean_events_per_look=tuple(float(x) for x in ev.mean(axis=0)),
        mean_information_per_look=tuple(float(x) for x in (ev / d_max).mean(axis=0)),
        mean_day_per_look=tuple(float(x) for x in days.mean(axis=0)),
        expected_events=float(events_stop.mean()),
        expected_events_mcse=float(events_stop.std(ddof=1) / math.sqrt(reps)),
        expected_subjects=float(enrolled[rows, stop_look].mean()), expected_day=float(days[rows, stop_look].mean()),
        looks_short=int((ev[:, -1] < d_max).sum()),
        formula_reject=formula, formula_reject_per_look=formula_look,
    )
