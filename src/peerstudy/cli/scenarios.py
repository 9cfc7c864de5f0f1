"""``peerstudy scenarios``: list the preset scenarios."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("scenarios", help="list preset scenarios", description="List preset scenarios with a one-line description.")
    p.add_argument("--show", metavar="NAME", help="print one preset as YAML (fully resolved)")
    return p


def run(args: argparse.Namespace) -> int:
    from peerstudy.scenario import list_presets, load_scenario

    if args.show:
        print(load_scenario(args.show).to_yaml(), end="")
        return 0
    presets = list_presets()
    width = max(map(len, presets))
    for name, desc in presets.items():
        print(f"{name:<{width}}  {desc}")
    return 0
