"""Reading and validating a 1,000,000-row programme export (CSV): wall time and peak memory.

Targets: at most 5 s and 2 GB peak RSS. The export is written once (canonical layout,
dates, a few reason codes) and read in a fresh subprocess so the peak RSS is that of the read alone.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

N = 1_000_000

_CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
import peerstudy.data.programme as pg
t_import = time.perf_counter() - t0
t0 = time.perf_counter()
data = pg.read_export(sys.argv[1], mapping="canonical")
t_read = time.perf_counter() - t0
t0 = time.perf_counter()
rep = pg.validate_export(sys.argv[1], mapping="canonical")
t_val = time.perf_counter() - t0
# VmHWM, not ru_maxrss: Linux carries ru_maxrss across fork/exec, so a child of a large parent
# (the benchmark runner) would report the parent's peak
peak_mb = int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM:")).split()[1]) / 1024
print(json.dumps({"read_s": t_read, "validate_s": t_val, "import_s": t_import, "peak_rss_mb": peak_mb,
                  "rows": len(data.cohort), "valid": rep.valid}))
"""


def _make_export(path: Path) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(1)
    adm = np.datetime64("2020-01-01") + rng.integers(0, 1500, N).astype("timedelta64[D]")
    stay = np.maximum(np.ceil(100 * rng.weibull(0.8, N)), 1).astype(int)
    dis = adm + (stay - 1).astype("timedelta64[D]")
    reason = rng.choice(["dropout", "retained", "lost_to_follow_up", "incarcerated", "died"], N,
                        p=[0.55, 0.3, 0.1, 0.04, 0.01])
    df = pd.DataFrame({
        "participant_id": np.arange(1, N + 1), "site": rng.choice([f"S{i}" for i in range(1, 41)], N),
        "arm": rng.choice(["usual_care", "peer"], N), "enrolled_on": adm.astype(str), "discharged_on": dis.astype(str),
        "discharge_reason": reason, "age": rng.integers(18, 70, N), "female": rng.integers(0, 2, N),
        "homeless": rng.integers(0, 2, N), "stimulant_use": rng.integers(0, 2, N), "injects": rng.integers(0, 2, N),
        "unemployed": rng.integers(0, 2, N), "depression": rng.integers(0, 63, N), "prior_treatments": rng.poisson(1.5, N),
    })
    df.to_csv(path, index=False)


def run() -> dict:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "export.csv"
        t0 = time.perf_counter()
        _make_export(path)
        t_write = time.perf_counter() - t0
        size_mb = path.stat().st_size / 1e6
        out = subprocess.run([sys.executable, "-c", _CHILD, str(path)], capture_output=True, text=True, check=True)
        m = json.loads(out.stdout.strip().splitlines()[-1])
    total = m["read_s"]
    return {
        "metrics": {"rows": m["rows"], "file_mb": round(size_mb, 1), "read_export_s": round(m["read_s"], 2),
                    "validate_export_s": round(m["validate_s"], 2), "peak_rss_mb": round(m["peak_rss_mb"], 1),
                    "import_s": round(m["import_s"], 2), "write_s": round(t_write, 2)},
        "targets": {
            "read_and_validate_1M_rows_s": {"limit": 5.0, "value": round(total, 2), "ok": total <= 5.0},
            "peak_rss_mb": {"limit": 2048, "value": round(m["peak_rss_mb"], 1), "ok": m["peak_rss_mb"] <= 2048},
        },
        "notes": ["read_export validates every rule and builds the cohort in one pass; validate_export (report only) "
                  "is timed separately", f"peak RSS is the child process's (read_export then validate_export), "
                  f"{N:,} rows, {size_mb:.0f} MB CSV"],
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
