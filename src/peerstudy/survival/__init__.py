"""Survival estimators for retention and their immutable result objects.

The estimators live in submodules (``peerstudy.survival.km``, ``.logrank``, ``.rmst``, ``.competing``,
``.analyse``, ``.cox``, ``.zph``, ...). This package re-exports the public API (each submodule's
``__all__``) of those present in the installation, so ``from peerstudy.survival import kaplan_meier, fit_cox``
works. The re-export is lazy (PEP 562): importing one submodule, or the package, does not import the
others (the CLI and each estimator start faster); ``from peerstudy.survival import *`` and ``dir()`` see them all.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

_SUBMODULES = ("km", "logrank", "rmst", "competing", "analyse", "cox", "zph", "aft", "finegray", "weighting",
               "observational", "timevarying", "interval", "fast")


def _load(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{name}":
            raise
        return None


def _public() -> dict[str, ModuleType]:
    names: dict[str, ModuleType] = {}
    for sub in _SUBMODULES:
        mod = _load(sub)
        for attr in getattr(mod, "__all__", ()) if mod is not None else ():
            names.setdefault(attr, mod)
    return names


def __getattr__(name: str) -> Any:
    if name == "__all__":
        return list(_public())
    if name.startswith("_") or name in _SUBMODULES:
        # private names and submodules: let the import system load them (``from . import _coxkernels``)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    for sub in _SUBMODULES:
        mod = _load(sub)
        if mod is not None and name in getattr(mod, "__all__", ()):
            value = getattr(mod, name)
            globals()[name] = value
            return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_public()))
