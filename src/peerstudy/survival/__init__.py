"""Survival estimators for retention and their immutable result objects.

The estimators live in submodules (``peerstudy.survival.km``, ``.logrank``, ``.rmst``, ``.competing``,
``.analyse``, ``.cox``, ...); this package re-exports the public API (each submodule's ``__all__``) of
those present in the installation, so ``from peerstudy.survival import kaplan_meier, fit_cox`` works.
"""

from __future__ import annotations

import importlib

_SUBMODULES = ("km", "logrank", "rmst", "competing", "analyse", "cox", "zph", "aft", "finegray", "iptw", "weighting",
               "interval", "fast")

__all__: list[str] = []
for _name in _SUBMODULES:
    try:
        _mod = importlib.import_module(f"{__name__}.{_name}")
    except ModuleNotFoundError as _exc:
        if _exc.name != f"{__name__}.{_name}":
            raise
        continue
    for _attr in getattr(_mod, "__all__", ()):
        globals()[_attr] = getattr(_mod, _attr)
        __all__.append(_attr)
del _name, _mod
