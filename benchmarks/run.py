"""peerstudy's benchmark: ``make bench`` runs every ``benchmarks/bench_*.py`` and writes one JSON file.

Each ``bench_<name>.py`` defines ``run() -> dict`` returning
``{"metrics": {name: value, ...}, "targets": {name: {"limit": x, "value": y, "ok": bool}, ...}, "notes": [...]}``.
Timings are wall-clock seconds on this machine; memory is peak RSS in MB.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # shared helpers (_common.py) for the bench modules


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(HERE / "results.json"))
    ap.add_argument("--only", nargs="*", help="names of benches to run (bench_<name>.py)")
    args = ap.parse_args()
    results: dict = {
        "machine": {"python": sys.version.split()[0], "platform": platform.platform(), "processor": platform.machine()},
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "benches": {},
    }
    failed = False
    for path in sorted(HERE.glob("bench_*.py")):
        name = path.stem[len("bench_"):]
        if args.only and name not in args.only:
            continue
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        print(f"[bench] {name} ...", flush=True)
        t0 = time.perf_counter()
        out = module.run()
        out["elapsed_s"] = round(time.perf_counter() - t0, 2)
        results["benches"][name] = out
        for tname, t in out.get("targets", {}).items():
            if t.get("ok") is None:
                print(f"  n/a  {tname}: unavailable ({t.get('unavailable')})", flush=True)
                continue
            flag = "ok  " if t.get("ok") else "MISS"
            print(f"  {flag} {tname}: {t.get('value')} (limit {t.get('limit')})", flush=True)
            failed |= not t.get("ok", False)
        for note in out.get("notes", []):
            print(f"  note: {note}")
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"[bench] results in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
