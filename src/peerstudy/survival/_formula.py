"""Formulas as formulas: column names, numbers and a listed set of transforms, nothing else.

patsy evaluates each term of a formula as Python in the caller's namespace, so a formula string such as
``"age + I(__import__('os').system('...'))"`` would run a command. Before patsy sees a formula, every term is
parsed here (patsy's own formula grammar for ``+ - * : / ** ~``, Python's ``ast`` for each term) and refused
unless it is made only of data column names, numbers, arithmetic inside ``I(...)`` and the transforms in
:data:`TRANSFORMS`; patsy then evaluates it in an environment holding only those transforms.
"""

from __future__ import annotations

import ast
from typing import Any, Iterable

import numpy as np

from peerstudy.exceptions import ParameterError, SchemaError

__all__ = ["TRANSFORMS", "check_formula", "formula_env"]

#: Functions a formula term may call (patsy's C, I and stateful transforms; numpy's elementwise functions).
TRANSFORMS: dict[str, Any] = {"log": np.log, "log1p": np.log1p, "exp": np.exp, "sqrt": np.sqrt, "abs": np.abs}
_PATSY_FUNCS = ("C", "I", "center", "standardize", "scale", "Treatment", "Sum")
_ARITH = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.USub, ast.UAdd)


def _refuse(formula: str, token: str) -> None:
    raise ParameterError(f"formula {formula!r}: {token!r} is not allowed; a formula may use column names, numbers, "
                         f"arithmetic inside I(...) and {', '.join(sorted((*TRANSFORMS, *_PATSY_FUNCS)))}")


def _check_term(code: str, formula: str, columns: set[str], missing: list[str]) -> None:
    try:
        tree = ast.parse(code, mode="eval")
    except SyntaxError:
        _refuse(formula, code)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Expression, ast.Load)) or isinstance(node, _ARITH):
            continue
        if isinstance(node, ast.BinOp) or isinstance(node, ast.UnaryOp):
            continue
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str)) \
                and not isinstance(node.value, bool):
            continue
        if isinstance(node, ast.Name):
            if node.id in columns or node.id in TRANSFORMS or node.id in _PATSY_FUNCS:
                continue
            missing.append(node.id)
            continue
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords \
                and (node.func.id in TRANSFORMS or node.func.id in _PATSY_FUNCS):
            continue
        _refuse(formula, ast.get_source_segment(code, node) or type(node).__name__)


def _leaves(node: Any) -> Iterable[Any]:
    if not node.args:
        yield node
    for arg in node.args:
        yield from _leaves(arg)


def check_formula(formula: str, columns: Iterable[str], *, require: Any = None) -> str:
    """The right-hand side of ``formula`` after checking every term; :class:`ParameterError` names a bad token.

    Names that are not columns go to ``require(names)`` (the caller's missing-column check) if given, else raise
    :class:`~peerstudy.exceptions.SchemaError`.

    >>> check_formula("~ age + C(site) + I(age ** 2)", ["age", "site"])
    'age + C(site) + I(age ** 2)'
    >>> check_formula("age + I(__import__('os').system('id'))", ["age"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    peerstudy.exceptions.ParameterError: formula "age + I(__import__('os').system('id'))": "__import__('os').system('id')" is not allowed; ...
    """
    from patsy import PatsyError
    from patsy.parse_formula import parse_formula

    if not isinstance(formula, str):
        raise ParameterError(f"formula must be text such as 'age + homeless'; got {type(formula).__name__}")
    rhs = formula.split("~", 1)[1] if "~" in formula else formula
    try:
        tree = parse_formula(rhs)
    except PatsyError as exc:
        raise ParameterError(f"formula {formula!r} cannot be read: {str(exc).splitlines()[0]}") from None
    cols = {str(c) for c in columns}
    missing: list[str] = []
    for leaf in _leaves(tree):
        if leaf.type == "PYTHON_EXPR":
            _check_term(leaf.token.extra, formula, cols, missing)
    if missing and require is not None:
        require(list(dict.fromkeys(missing)))
    if missing:
        shown = ", ".join(repr(m) for m in dict.fromkeys(missing))
        raise SchemaError(f"missing column(s) {shown} (named in the propensity formula {formula!r}); "
                          f"the data has: {', '.join(sorted(cols))[:200]}")
    return rhs.strip()


def formula_env() -> Any:
    """The only names a checked formula is evaluated with (besides the data's columns)."""
    from patsy import EvalEnvironment

    return EvalEnvironment([dict(TRANSFORMS)])
