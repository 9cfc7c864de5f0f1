"""Survival estimators for retention and their immutable result objects.

Import from the submodules (``peerstudy.survival.km``, ``.cox``, ...); this package re-exports the public API.
"""
