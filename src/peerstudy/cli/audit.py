"""``peerstudy audit``: the privacy audit of a report folder.

    peerstudy audit REPORT_DIR [--data FILE [--mapping MAP.yaml]] [--json]

Reads every file of the folder (:func:`peerstudy.present.audit.audit_report`) and prints each finding with its
file and place (notebook cell, JSON key, table row and column). Exit status: 0 when nothing is found; **3** when
the audit finds something (a report that fails its audit is neither bad input, 2, nor a bug, 1); 2 when the folder
or data file cannot be read.
"""

from __future__ import annotations

import argparse
import sys

#: Exit status of a report that failed its audit.
FAILED = 3


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "audit", help="check a report folder for counts 1-10, derivable counts, ids and exact dates",
        description="Scan every file of a report folder (HTML text and tables, image descriptions, JSON, CSV, "
                    "executed notebooks, SVG) for what a report of real data must not show: counts from 1 to 10, "
                    "differences of published counts that are 1 to 10, shares at full precision, participant ids, "
                    "exact dates and kept notebook outputs. Exit 0 if nothing is found, 3 if something is "
                    "(each finding names its file and cell), 2 if the folder cannot be read.")
    p.add_argument("folder", metavar="REPORT_DIR", help="a report folder (peerstudy report --out DIR)")
    p.add_argument("--data", metavar="FILE", help="the data the report was made from: its participant ids are "
                                                  "looked for too")
    p.add_argument("--mapping", metavar="MAP.yaml", help="mapping of --data when it is a programme export")
    p.add_argument("--json", action="store_true", help="print the findings as JSON")
    return p


def _ids(args: argparse.Namespace) -> list[str]:
    from peerstudy.exceptions import ParameterError

    if args.mapping and not args.data:
        raise ParameterError("--mapping needs --data FILE")
    if not args.data:
        return []
    if args.mapping:
        from peerstudy.data.programme import read_export

        cohort = read_export(args.data, mapping=args.mapping, invalid_rows="exclude").cohort
    else:
        from peerstudy.data.schema import read_cohort

        cohort = read_cohort(args.data)
    return [str(i) for i in cohort["participant_id"]]


def run(args: argparse.Namespace) -> int:
    from peerstudy.present.audit import audit_report

    result = audit_report(args.folder, ids=_ids(args))
    if args.json:
        from peerstudy._io import dumps_json

        print(dumps_json(result.to_dict()))
    elif result.passed:
        print(result.summary())
    else:
        print(f"peerstudy audit: {args.folder} failed: {len(result.findings)} finding(s)", file=sys.stderr)
        for f in result.findings:
            print(f"  {f}", file=sys.stderr)
    return 0 if result.passed else FAILED
