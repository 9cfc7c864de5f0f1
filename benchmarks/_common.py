"""What the benchmarks share: best-of-N timing, and running R for a comparison (saying why not when R or one of
its packages is missing)."""

from __future__ import annotations

import shutil
import subprocess
import time
from typing import Any, Callable


def run_r(args: list[str]) -> tuple[str | None, str | None]:
    """``Rscript --vanilla ARGS``: (stdout, None) on success, else (None, a one-line reason).

    A failing R side never stops the benchmark: its figures are recorded as unavailable with the reason
    (for example a missing package: ``apt-get install r-cran-data.table``).
    """
    rscript = shutil.which("Rscript")
    if rscript is None:
        return None, "Rscript not found (apt-get install r-base-core r-cran-survival r-cran-data.table r-cran-jsonlite)"
    try:
        out = subprocess.run([rscript, "--vanilla", *args], capture_output=True, text=True, check=True)
    except subprocess.CalledProcessError as exc:
        lines = [ln.strip() for ln in (exc.stderr or "").splitlines() if ln.strip()]
        reason = next((ln for ln in lines if "there is no package" in ln), lines[-1] if lines else f"exit {exc.returncode}")
        return None, f"R failed: {reason[:200]}"
    return out.stdout, None


def unavailable(limit: float, reason: str) -> dict:
    """A target whose reference side could not be run: neither met nor missed."""
    return {"limit": limit, "value": None, "ok": None, "unavailable": reason}


def best_of(fn: Callable[[], Any], repeats: int = 3) -> tuple[float, Any]:
    """(fastest wall-clock seconds of ``repeats`` calls of ``fn``, the last result): the machine is shared."""
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out
