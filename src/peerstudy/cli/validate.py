"""``peerstudy validate``: check a cohort file against the canonical schema."""

from __future__ import annotations

import argparse
import sys


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("validate", help="check a cohort file against the canonical schema",
                       description="Check a cohort file (CSV or Parquet) against the canonical schema; "
                       "exit 0 if valid, 2 with every problem listed if not.")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--mapping", metavar="MAP", default=None,
                   help="read FILE as a programme export (CSV, Excel, Parquet) with this mapping: a YAML file or a "
                   "built-in (canonical, teds); prints every problem with row numbers and the CONSORT flow")
    p.add_argument("--cutoff", metavar="YYYY-MM-DD", default=None,
                   help="data cut-off date for --mapping (default: latest date in the file)")
    return p


def run(args: argparse.Namespace) -> int:
    from peerstudy.data.schema import missing_values, not_recorded, read_cohort
    from peerstudy.exceptions import SchemaError

    if args.mapping is not None:
        from peerstudy.data.programme import validate_export

        report = validate_export(args.file, mapping=args.mapping, cutoff=args.cutoff)
        print(str(report), file=sys.stdout if report.valid else sys.stderr)
        return 0 if report.valid else 2

    try:
        df = read_cohort(args.file)
    except SchemaError as exc:
        print(f"{args.file}: INVALID, {len(exc.problems)} problem(s):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem if len(problem) <= 400 else problem[:380] + ' ... (shortened)'}", file=sys.stderr)
        return 2
    print(f"{args.file}: valid cohort, {len(df):,} participants, {int(df['event'].sum()):,} dropouts")
    gaps = missing_values(df)
    if gaps:
        print("  missing values (left out or imputed by analyses, never filled): "
              + ", ".join(f"{c} {n:,}" for c, n in gaps.items()))
    absent = not_recorded(df)
    if absent:
        print(f"  not recorded: {', '.join(absent)}")
    return 0
