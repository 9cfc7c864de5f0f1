"""Reading the YAML that users write (scenario and mapping files, ``--set`` values), safely and with one-line errors.

PyYAML's ``safe_load`` builds no Python objects, but it still expands anchors and aliases (a few hundred bytes
can describe gigabytes: the "billion laughs"), recurses once per level of nesting (a deeply nested file ends in
a ``RecursionError``) and silently keeps the last of two equal keys. Here:

* files are at most :data:`MAX_BYTES` and must be UTF-8 (a UTF-8 or UTF-16 byte-order mark is honoured);
* anchors and aliases (``&name`` / ``*name``) are refused: peerstudy's files never need them;
* nesting deeper than :data:`MAX_DEPTH` is refused;
* a key given twice in one mapping is an error naming the key and its line;
* dates are read as text (``2025-01-06`` stays a string), so the field that holds one checks it.

Every failure raises the caller's error class (a :class:`~peerstudy.exceptions.PeerstudyError`) with one line
that names the file and never echoes its contents beyond a short, elided excerpt.
"""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Any

import yaml

from peerstudy.exceptions import PeerstudyError

__all__ = ["MAX_BYTES", "MAX_DEPTH", "read_yaml_file", "parse_yaml", "elide"]

#: Largest YAML file read (bytes); scenario and mapping files are a few kilobytes.
MAX_BYTES = 256 * 1024
#: Deepest nesting of mappings and lists accepted.
MAX_DEPTH = 20


def elide(value: Any, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters (with "...") so error lines stay short."""
    text = value if isinstance(value, str) and value.startswith(("'", '"')) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _Refused(yaml.YAMLError):
    """A construct this loader refuses (alias, nesting, duplicate key)."""


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader without aliases, with bounded nesting and with duplicate keys as errors."""

    # dates stay text (the fields that hold dates check them): PyYAML's timestamp constructor raises a bare
    # ValueError on 2025-02-30 and turns 2025-01-06 into a datetime.date
    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:  # noqa: D401 - PyYAML's hook
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise _Refused(f"line {event.start_mark.line + 1}: YAML aliases (*{event.anchor}) are not supported; "
                           "write the value out")
        event = self.peek_event()
        if getattr(event, "anchor", None):
            raise _Refused(f"line {event.start_mark.line + 1}: YAML anchors (&{event.anchor}) are not supported; "
                           "write the value out")
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _Refused(f"line {event.start_mark.line + 1}: nesting deeper than {MAX_DEPTH} levels")
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:  # an unhashable key: PyYAML reports it below
                continue
            if duplicate:
                raise _Refused(f"line {key_node.start_mark.line + 1}: key {elide(key, 40)} is given twice")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text: str, *, where: str, error: type[PeerstudyError]) -> Any:
    """Parse YAML text with :class:`_StrictLoader`; ``where`` names the source in the error line."""
    loader = _StrictLoader(text)
    try:
        return loader.get_single_data()
    except _Refused as exc:
        raise error(f"{where}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or type(exc).__name__
        at = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        raise error(f"{where} is not valid YAML: {at}{elide(str(problem), 120)}") from None
    except RecursionError:
        raise error(f"{where}: nesting too deep to read") from None
    except ValueError as exc:  # e.g. an integer of thousands of digits
        raise error(f"{where}: a value cannot be read ({elide(str(exc), 100)})") from None
    finally:
        loader.dispose()


def _decode(raw: bytes, where: str, error: type[PeerstudyError]) -> str:
    for bom, encoding in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                          (codecs.BOM_UTF16_BE, "utf-16")):
        if raw.startswith(bom):
            try:
                return raw.decode(encoding)
            except UnicodeDecodeError:
                break
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{where} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
                    "save it as UTF-8") from None


def read_yaml_file(path: str | Path, *, what: str, error: type[PeerstudyError]) -> Any:
    """Read and parse a user's YAML file (``what`` says what it is: "scenario file", "mapping file")."""
    p = Path(path)
    where = f"{what} {str(p)!r}"
    try:
        size = p.stat().st_size
        if size > MAX_BYTES:
            raise error(f"{where} is {size:,} bytes; at most {MAX_BYTES:,} are read (is this the right file?)")
        raw = p.read_bytes()
    except OSError as exc:
        raise error(f"cannot read {where}: {exc.strerror}") from None
    return parse_yaml(_decode(raw, where, error), where=where, error=error)
