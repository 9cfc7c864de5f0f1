"""The model's one home, simulation/hazards.py: pmfs, CDF inversion, the arm's hazard and its exact inversion."""

from __future__ import annotations

import ast
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from peerstudy.scenario import BinaryCovariate, CountCovariate, NumericCovariate, preset
from peerstudy.simulation import hazards as hz
from peerstudy.simulation.truth import weibull_scale

SIMULATION = Path(hz.__file__).parent


@pytest.mark.parametrize("spec", [
    BinaryCovariate(prevalence=0.3),
    NumericCovariate(mean=32, sd=6.2, lower=18, upper=75),
    NumericCovariate(mean=17, sd=9.3, lower=0, upper=63),
    CountCovariate(mean=1.5, upper=30),
    CountCovariate(mean=4.0, upper=3),
])
def test_pmf_inversion_draws_the_scenario_distribution(spec):
    """Inverting the pmf at uniforms gives the rounded clipped normal / Bernoulli / capped Poisson the scenario describes."""
    support, p = hz.covariate_pmf(spec)
    assert p.sum() == pytest.approx(1.0, abs=1e-12) and (p >= 0).all()
    n = 400_000
    rng = np.random.default_rng(3)
    x = hz.draw_covariate(spec, rng.random(n))
    assert x.dtype == np.int64
    if isinstance(spec, BinaryCovariate):
        direct = (rng.random(n) < spec.prevalence).astype(int)
    elif isinstance(spec, NumericCovariate):
        direct = np.clip(np.rint(rng.normal(spec.mean, spec.sd, n)), spec.lower, spec.upper).astype(int)
    else:
        direct = np.minimum(rng.poisson(spec.mean, n), spec.upper)
    lo = int(support[0])
    for sample in (x, direct):
        freq = np.bincount(sample - lo, minlength=len(p))[: len(p)] / n
        np.testing.assert_array_less(np.abs(freq - p), 5 * np.sqrt(p * (1 - p) / n) + 1e-6)


def test_guide_table_search_equals_plain_search_at_every_edge():
    values, cdfs, guides = hz.covariate_tables(preset("outpatient_default"))
    rng = np.random.default_rng(0)
    for j in range(len(values)):
        cdf = cdfs[j]
        last = int(np.argmax(cdf >= 1.0))
        edges = np.concatenate([cdf[: last + 1], np.nextafter(cdf[: last + 1], 0), np.arange(hz.GUIDE) / hz.GUIDE])
        u = np.concatenate([[0.0, np.nextafter(1.0, 0)], edges[(edges >= 0) & (edges < 1)], rng.random(10_000)])
        got = np.array([hz.invert_cdf(values[j], cdf, guides[j], ui) for ui in u])
        expected = values[j][np.searchsorted(cdf[: last + 1], u, side="right")]
        np.testing.assert_array_equal(got, expected)


def test_arm_hazard_closed_form_and_exact_inversion():
    s = preset("ed_bridge")
    scale, shape, hr, stop = weibull_scale(s), s.weibull_shape, s.hazard_ratio, s.effect_stops_day
    t = np.array([0.0, 0.5, 30.0, 90.0, 90.5, 150.0, 400.0])
    h0 = (t / scale) ** shape
    np.testing.assert_allclose(hz.arm_cumulative_hazard(t, scale, shape, hr, stop, False), h0, rtol=1e-14)
    h0c = (stop / scale) ** shape
    expected = np.where(t <= stop, hr * h0, hr * h0c + h0 - h0c)
    np.testing.assert_allclose(hz.arm_cumulative_hazard(t, scale, shape, hr, stop, True), expected, rtol=1e-14)
    # inversion is exact: H(T(target)) = target on both pieces, for both arms
    target = np.random.default_rng(1).exponential(1.0, 2000) * 3
    for peer in (False, True):
        T = hz.invert_arm_hazard(target, peer, scale, shape, hr, stop)
        np.testing.assert_allclose(hz.arm_cumulative_hazard(T, scale, shape, hr, stop, peer), target, rtol=1e-12)
        back = np.array([hz.cumulative_pieces(ti, *hz.arm_pieces(scale, shape, hr, stop, peer),
                                              len(hz.arm_pieces(scale, shape, hr, stop, peer)[0]), scale, shape)
                         for ti in T])
        np.testing.assert_allclose(back, target, rtol=1e-12)
    # without a stop day the peer arm is the usual-care arm with the hazard multiplied by hr
    T_uc = hz.invert_arm_hazard(target, False, scale, shape, hr, None)
    T_peer = hz.invert_arm_hazard(target * hr, True, scale, shape, hr, None)
    np.testing.assert_allclose(T_uc, T_peer, rtol=1e-13)
    np.testing.assert_allclose(hz.inverse_cumulative_baseline(hz.cumulative_baseline(t, scale, shape), scale, shape),
                               t, rtol=1e-13, atol=1e-12)


def test_exponential_times():
    e = np.array([0.0, 0.5, 2.0])
    np.testing.assert_array_equal(hz.exponential_times(e, 0.25), e / 0.25)
    assert np.isinf(hz.exponential_times(e, 0.0)).all()
    assert hz.exponential_time(2.0, 0.5) == 4.0 and math.isinf(hz.exponential_time(1.0, 0.0))
    assert hz.unit_exponential(0.0) == 0.0
    assert hz.unit_exponential(1 - math.exp(-1.5)) == pytest.approx(1.5, rel=1e-14)


def test_simulation_modules_have_no_import_cycle_and_no_function_level_imports():
    """hazards <- contacts <- truth <- cohort <- batch, events <- truth, teds <- hazards; imports at module level."""
    for path in SIMULATION.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                inner = [n for n in ast.walk(node) if isinstance(n, (ast.Import, ast.ImportFrom))]
                assert not inner, f"{path.name}: {node.name} imports inside the function"
    # each module imports on its own, first, in a fresh interpreter
    for module in ("hazards", "contacts", "events", "truth", "visits", "cohort", "batch", "teds"):
        proc = subprocess.run([sys.executable, "-c", f"import peerstudy.simulation.{module}"], capture_output=True,
                              text=True)
        assert proc.returncode == 0, (module, proc.stderr[-400:])
    allowed = {"hazards": set(), "contacts": {"hazards"}, "events": set(), "truth": {"hazards", "contacts", "events"},
               "visits": {"hazards", "truth"}, "cohort": {"hazards", "contacts", "truth", "visits", "events"},
               "batch": {"hazards", "cohort", "events"}, "teds": {"hazards"}}
    for module, deps in allowed.items():
        tree = ast.parse((SIMULATION / f"{module}.py").read_text(encoding="utf-8"))
        used = {node.module.rsplit(".", 1)[1] for node in tree.body if isinstance(node, ast.ImportFrom)
                and node.module and node.module.startswith("peerstudy.simulation.")}
        assert used == deps, (module, used)
