"""``peerstudy report``: run the notebooks and build a folder of HTML reports.

    peerstudy report [--scenario NAME_OR_YAML | --data FILE [--mapping MAP.yaml]] [--design individual|cluster|observational]
                     [-p NAME=VALUE ...] [--only NOTEBOOK ...] [--out DIR] [--show-code]
                     [--format html[,figures][,single][,pdf]]
"""

from __future__ import annotations

import argparse
import sys

from peerstudy.exceptions import ParameterError


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "report", help="run the analysis notebooks and write HTML reports",
        description="Run the notebooks with papermill (parameters checked against their declared types first), "
                    "export each to HTML and write DIR/index.html, DIR/results.json and DIR/manifest.json. "
                    "Real data (--data) is shown only as aggregates, with counts 1-10 as '<11'.")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--scenario", metavar="NAME_OR_YAML", help="preset name or scenario YAML (default: the notebooks' default)")
    src.add_argument("--data", metavar="FILE", help="a cohort (CSV/Parquet) in the canonical schema, or a programme export with --mapping")
    p.add_argument("--mapping", metavar="MAP.yaml", help="mapping of a programme export onto the canonical schema")
    p.add_argument("--design", choices=("individual", "cluster", "observational"),
                   help="how the arms were formed (decides the primary analysis; default: the scenario's, or "
                        "observational for --data); the same as -p design=...")
    p.add_argument("-p", "--parameter", action="append", default=[], metavar="NAME=VALUE",
                   help="notebook parameter (repeatable), e.g. -p seed=7 -p n=2000")
    p.add_argument("--only", nargs="+", metavar="NOTEBOOK", help="run only these notebooks (name, stem or number prefix)")
    p.add_argument("--out", metavar="DIR", help="report folder (default reports/<scenario-or-data-name>/)")
    p.add_argument("--show-code", action="store_true", help="keep the code cells in the HTML")
    p.add_argument("--format", metavar="LIST", default="html",
                   help="comma-separated: html (the folder of pages, always made), figures (every figure also as "
                        "PDF and 300 dpi PNG in DIR/figures/), single (the whole report as one self-contained "
                        "DIR/report.html), pdf (DIR/report.pdf, printed by headless Chromium); default html")
    p.add_argument("--notebooks", metavar="DIR", help="folder of notebooks (default: the project's notebooks/)")
    p.add_argument("--workers", type=int, metavar="N", help="notebooks run at once (default: one per CPU)")
    p.add_argument("--kernel", metavar="NAME", help="Jupyter kernel (default 'peerstudy' if installed, else 'python3')")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _parse_pairs(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ParameterError(f"-p expects NAME=VALUE; got {item!r}")
        if name in out:
            raise ParameterError(f"parameter {name!r} is given twice")
        out[name] = value
    return out


def run(args: argparse.Namespace) -> int:
    from peerstudy.report import run_report

    if args.mapping and not args.data:
        raise ParameterError("--mapping needs --data FILE")
    if args.workers is not None and args.workers < 1:
        raise ParameterError(f"--workers must be >= 1; got {args.workers}")
    parameters = _parse_pairs(args.parameter)
    if args.design is not None:
        if "design" in parameters and parameters["design"] != args.design:
            raise ParameterError(f"--design {args.design} and -p design={parameters['design']} disagree")
        parameters["design"] = args.design
    report = run_report(
        scenario=args.scenario, data=args.data, mapping=args.mapping, parameters=parameters,
        only=args.only, out=args.out, show_code=args.show_code, workers=args.workers, kernel_name=args.kernel,
        progress=not args.quiet, notebook_dir=args.notebooks, formats=args.format,
    )
    seconds = report.manifest.get("seconds")
    print(f"report ready in {seconds:.1f} s: open {report.index}", file=sys.stderr)
    for extra in ("report.html", "report.pdf"):
        if (report.path / extra).is_file():
            print(f"{extra.split('.')[1].upper()}: {report.path / extra}", file=sys.stderr)
    print(report.index)
    return 0
