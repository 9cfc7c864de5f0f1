"""The notebook parameter language: typed declarations in the cell tagged ``parameters``, checked before any kernel starts.

Each notebook declares its parameters one per line, as ``name: type = default  # help`` (types ``int``,
``float``, ``str``, ``bool``, or ``T | None`` / ``Optional[T]``). :func:`validate_parameters` refuses an
unknown name or a value of the wrong type with a :class:`~peerstudy.exceptions.ParameterError` naming it
(papermill itself only warns on unknown parameters).
"""

from __future__ import annotations
import ast
import dataclasses
import difflib
import json
import math
import os
from importlib import resources
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence
from peerstudy.exceptions import DataError, ParameterError

__all__ = ["Parameter", "parse_parameters", "NotebookSpec", "read_notebook_spec", "default_notebook_dir", "list_notebooks", "validate_parameters"]


_TYPES = ("int", "float", "str", "bool")


@dataclass(frozen=True)
class Parameter:
    """One declared notebook parameter: ``name: type = default  # help``.

    ``type`` is one of ``int``, ``float``, ``str``, ``bool``; ``optional`` allows ``None``.
    """

    name: str
    type: str
    default: Any
    help: str = ""
    optional: bool = False

    @property
    def annotation(self) -> str:
        return f"{self.type} | None" if self.optional else self.type

    def coerce(self, value: Any, *, where: str = "") -> Any:
        """``value`` (a command-line string or a Python value) as this parameter's type.

        Raises
        ------
        ParameterError
            Naming the parameter, its type and the value.
        """
        suffix = f" ({where})" if where else ""
        if isinstance(value, str):
            text = value.strip()
            if self.optional and text.lower() in ("none", "null", ""):
                return None
            parsed = _from_text(self.type, value)
        else:
            if value is None and self.optional:
                return None
            parsed = _from_value(self.type, value)
        if parsed is _TOO_LARGE or (self.type == "int" and parsed is not _INVALID and not INT_MIN <= parsed <= INT_MAX):
            raise ParameterError(f"parameter {self.name!r} must be an int from -2**63 to 2**63 - 1; "
                                 f"got {_shown(value)}{suffix}")
        if parsed is _INVALID:
            raise ParameterError(f"parameter {self.name!r} must be {self.annotation}; got {_shown(value)}{suffix}")
        return parsed


#: Range of int parameters (a 64-bit integer, as numpy and the notebooks' seeds need).
INT_MIN, INT_MAX = -(2**63), 2**63 - 1


def _shown(value: Any, limit: int = 80) -> str:
    """``repr(value)`` shortened so that an error line stays short (a huge number keeps its digit count)."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[: limit - 30]}... ({len(text):,} characters)"


_INVALID = object()
_TOO_LARGE = object()


_INT = re.compile(r"^[+-]?\d+$")


_TRUE = {"true", "yes", "1", "on"}


_FALSE = {"false", "no", "0", "off"}


def _from_text(kind: str, raw: str) -> Any:
    text = raw.strip()
    if kind == "str":
        return raw
    if kind == "int":
        if not _INT.match(text):
            return _INVALID
        if len(text.lstrip("+-").lstrip("0")) > 19:  # beyond 64 bits, and int() of thousands of digits fails
            return _TOO_LARGE
        return int(text)
    if kind == "float":
        try:
            v = float(text)
        except ValueError:
            return _INVALID
        return v if math.isfinite(v) else _INVALID
    if kind == "bool":
        low = text.lower()
        return True if low in _TRUE else False if low in _FALSE else _INVALID
    return _INVALID  # pragma: no cover - types are checked when declared


def _from_value(kind: str, value: Any) -> Any:
    if kind == "bool":
        return value if isinstance(value, bool) else _INVALID
    if isinstance(value, bool):
        return _INVALID
    if kind == "int":
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return _INVALID
    if kind == "float":
        return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else _INVALID
    if kind == "str":
        return value if isinstance(value, str) else _INVALID
    return _INVALID  # pragma: no cover


def _annotation(node: ast.expr, name: str, where: str) -> tuple[str, bool]:
    text = ast.unparse(node).replace(" ", "")
    m = re.fullmatch(r"(?:typing\.)?Optional\[(\w+)\]|(\w+)\|None|None\|(\w+)|optional\[(\w+)\]", text)
    if m:
        kind = next(g for g in m.groups() if g)
        optional = True
    else:
        kind, optional = text, False
    if kind not in _TYPES:
        raise ParameterError(f"parameter {name!r} in {where} has type {ast.unparse(node)!r}; "
                             f"use one of {', '.join(_TYPES)} (or 'T | None')")
    return kind, optional


def parse_parameters(source: str, *, where: str = "the parameters cell") -> dict[str, Parameter]:
    """Parse a ``parameters`` cell written as ``name: type = default  # help`` lines.

    Parameters
    ----------
    source : str
        The cell's source.
    where : str
        Used in messages (e.g. the notebook's name).

    Returns
    -------
    dict
        name -> :class:`Parameter`, in the order declared.

    Raises
    ------
    ParameterError
        A statement that is not a typed assignment of a literal, an unknown type, or a default
        that does not match its type.

    Examples
    --------
    >>> ps = parse_parameters('seed: int = 1  # random seed\\nscenario: str = "outpatient_default"')
    >>> ps["seed"]
    Parameter(name='seed', type='int', default=1, help='random seed', optional=False)
    """
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise ParameterError(f"the parameters cell of {where} is not valid Python: {exc.msg} (line {exc.lineno})") from None
    lines = source.splitlines()
    params: dict[str, Parameter] = {}
    for node in tree.body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None):
            raise ParameterError(f"line {node.lineno} of the parameters cell of {where} must read "
                                 f"'name: type = default  # help'; got {lines[node.lineno - 1].strip()!r}")
        name = node.target.id
        kind, optional = _annotation(node.annotation, name, where)
        try:
            default = ast.literal_eval(node.value)
        except ValueError:
            raise ParameterError(f"the default of parameter {name!r} in {where} must be a literal; "
                                 f"got {ast.unparse(node.value)!r}") from None
        rest = lines[node.end_lineno - 1][node.end_col_offset:].strip()
        help_text = rest[1:].strip() if rest.startswith("#") else ""
        spec = Parameter(name=name, type=kind, default=default, help=help_text, optional=optional)
        spec.coerce(default, where=f"default in {where}")
        if name in params:
            raise ParameterError(f"parameter {name!r} is declared twice in {where}")
        params[name] = spec
    return params


@dataclass(frozen=True)
class NotebookSpec:
    """A notebook the runner can execute: its path, name (file stem), title and parameters."""

    path: Path
    name: str
    title: str
    parameters: dict[str, Parameter]

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "name": self.name, "title": self.title,
                "parameters": {k: dataclasses.asdict(v) for k, v in self.parameters.items()}}


def read_notebook_spec(path: str | os.PathLike) -> NotebookSpec:
    """Read a notebook's title (its first ``#`` heading) and its declared parameters.

    Raises
    ------
    DataError
        The file is missing or not a notebook.
    ParameterError
        The notebook has no cell tagged ``parameters``, or that cell is malformed.
    """
    path = Path(path)
    # plain JSON, not nbformat: importing nbformat costs ~3 s here (jsonschema builds an RFC 3987 grammar)
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
        cells = nb["cells"]
    except FileNotFoundError:
        raise DataError(f"notebook not found: {str(path)!r}") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"cannot read notebook {str(path)!r}: {exc}") from None
    title = path.stem
    params: dict[str, Parameter] | None = None
    for cell in cells:
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        if cell.get("cell_type") == "markdown" and title == path.stem:
            m = re.search(r"^#\s+(.+)$", source, flags=re.M)
            if m:
                title = m.group(1).strip()
        if cell.get("cell_type") == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            params = parse_parameters(source, where=path.name)
            break
    if params is None:
        raise ParameterError(f"notebook {path.name} has no cell tagged 'parameters'")
    return NotebookSpec(path=path.resolve(), name=path.stem, title=title, parameters=params)


def default_notebook_dir() -> Path:
    """``$PEERSTUDY_NOTEBOOKS`` if set, else the report notebooks installed with the package."""
    env = os.environ.get("PEERSTUDY_NOTEBOOKS")
    if env:
        return Path(env)
    return Path(str(resources.files("peerstudy").joinpath("notebooks")))


def list_notebooks(folder: str | os.PathLike | None = None, *, only: Sequence[str] | None = None) -> list[Path]:
    """The notebooks ``NN-*.ipynb`` of ``folder`` in order, or those named by ``only``.

    ``only`` entries match a file name, its stem, or its number prefix (``"02"``).

    Raises
    ------
    ParameterError
        An ``only`` entry matches no notebook (the message lists the available ones).
    DataError
        The folder has no notebooks.
    """
    folder = Path(folder) if folder is not None else default_notebook_dir()
    paths = sorted(p for p in folder.glob("*.ipynb") if not p.name.startswith("."))
    if not paths:
        raise DataError(f"no notebooks (*.ipynb) in {str(folder)!r}")
    if not only:
        return paths
    chosen: list[Path] = []
    for item in only:
        key = Path(item).name
        hits = [p for p in paths if key in (p.name, p.stem) or p.stem.split("-", 1)[0] == key]
        if not hits and Path(item).suffix == ".ipynb" and Path(item).is_file():
            hits = [Path(item)]
        if not hits:
            names = ", ".join(p.stem for p in paths)
            raise ParameterError(f"--only {item!r} matches no notebook; available: {names}")
        chosen.extend(h for h in hits if h not in chosen)
    return chosen


def validate_parameters(specs: Sequence[NotebookSpec], values: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Check ``values`` against every notebook's declarations; typed values per notebook.

    A name must be declared by at least one of the notebooks; each notebook receives the names it
    declares, converted to its declared type.

    Raises
    ------
    ParameterError
        An unknown name (with the closest declared one) or a value of the wrong type, naming both.

    Examples
    --------
    >>> nb = NotebookSpec(Path("a.ipynb"), "a", "A", parse_parameters("seed: int = 1"))
    >>> validate_parameters([nb], {"seed": "7"})
    {'a': {'seed': 7}}
    >>> validate_parameters([nb], {"seed": "seven"})
    Traceback (most recent call last):
    ...
    peerstudy.exceptions.ParameterError: parameter 'seed' must be int; got 'seven' (notebook a)
    """
    declared = sorted({name for s in specs for name in s.parameters})
    for name in values:
        if name not in declared:
            close = difflib.get_close_matches(name, declared, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ParameterError(f"unknown parameter {name!r}{hint}; the notebooks declare: {', '.join(declared)}")
    out: dict[str, dict[str, Any]] = {}
    for s in specs:
        out[s.name] = {name: s.parameters[name].coerce(v, where=f"notebook {s.name}")
                       for name, v in values.items() if name in s.parameters}
    return out
