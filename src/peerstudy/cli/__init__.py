"""The ``peerstudy`` command: thin argument parsing over the package.

Each verb lives in ``peerstudy/cli/<verb>.py`` and defines ``add_parser(subparsers)`` (which
returns its parser) and ``run(args) -> int``. Verb modules import heavy libraries only inside
``run`` so that ``peerstudy --help`` and light verbs start fast.

Exit status: 0 ok, 2 bad input (any :class:`~peerstudy.exceptions.PeerstudyError`, one line on
stderr), 1 a bug (with its traceback), 3 a report that failed ``peerstudy audit``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from peerstudy.exceptions import PeerstudyError

__all__ = ["main", "build_parser", "run"]

#: Longest error line printed (characters); longer messages are shortened.
MAX_MESSAGE = 400

VERBS = ("scenarios", "simulate", "validate", "analyse", "report", "power", "study", "audit", "evidence")


class _Parser(argparse.ArgumentParser):
    """argparse that exits with status 2 and a one-line message (its default is also 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        if len(message) > MAX_MESSAGE:  # argparse repeats the offending argument whole
            message = message[: MAX_MESSAGE - 40].rstrip() + " ... (message shortened)"
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    from peerstudy import __version__

    parser = _Parser(prog="peerstudy", description="Simulate, design and analyse peer-support retention studies.")
    parser.add_argument("--version", action="version", version=f"peerstudy {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=_Parser)
    sub.required = True
    for verb in VERBS:
        module = importlib.import_module(f"{__name__}.{verb}")
        p = module.add_parser(sub)
        p.set_defaults(_run=module.run)
    return parser


def _one_line_warnings(verb: str):
    """Statistical and data caveats (PeerstudyWarning) print as one line each on stderr, without source lines."""
    import warnings

    from peerstudy.exceptions import PeerstudyWarning

    default = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001 - warnings' hook
        if issubclass(category, PeerstudyWarning):
            text = str(message).splitlines()[0] if str(message) else category.__name__
            print(f"peerstudy {verb}: warning: {text[:MAX_MESSAGE]}", file=sys.stderr)
        else:
            default(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    return default


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    import warnings

    previous = _one_line_warnings(args.verb)
    try:
        return int(args._run(args) or 0)
    except PeerstudyError as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if len(msg) > MAX_MESSAGE:  # a long list of problems: the first ones, then where to see them all
            msg = msg[: MAX_MESSAGE - 40].rstrip() + " ... (message shortened)"
        print(f"peerstudy {args.verb}: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("peerstudy: interrupted", file=sys.stderr)
        return 130
    finally:
        warnings.showwarning = previous


def run() -> None:
    """The ``peerstudy`` command: :func:`main`, then exit without running C++ static destructors.

    At interpreter exit, a native thread pool (pyarrow's, after reading Parquet) can still be joinable when its
    static destructor runs, and the process then aborts ("terminate called without an active exception", exit
    134) after the work and its messages are done: about 1 run in 50 under load. Every output is complete and
    flushed by then, so the command ends with ``os._exit`` once Python-level clean-up (atexit, logging) is done.
    """
    import atexit
    import logging
    import os

    code = main()
    try:
        atexit._run_exitfuncs()
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()
