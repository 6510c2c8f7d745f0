"""Strict reading of the documents people write or hand us: policies, intake records,
deployment manifests, hashes lists.

A SafeLoader that also refuses duplicate keys (YAML silently keeps the last one, which would
hide, say, an alias mapped to two profiles), anchors/aliases (which can expand exponentially:
"billion laughs") and nesting deeper than :data:`MAX_DEPTH` (PyYAML composes nodes, and
``json`` decodes arrays, by recursion: a few thousand ``[`` ended in ``RecursionError``), plus a
map from field paths to line numbers so errors can name the line. Files are read through
:mod:`mlflow_supplychain.regular_files` (regular files only, size-capped).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from itertools import accumulate
from typing import Any

import yaml

from mlflow_supplychain.errors import Problem, SupplyChainError, excerpt
from mlflow_supplychain.regular_files import read_regular_text

Loc = tuple[str | int, ...]

MAX_DEPTH = 64
"""Deepest nesting of mappings and lists accepted in any document (ours need fewer than 10)."""


class _TooDeep(yaml.YAMLError):
    def __init__(self, mark: Any) -> None:
        super().__init__()
        self.problem = f"nesting is deeper than the limit of {MAX_DEPTH} levels"
        self.problem_mark = mark


class StrictLoader(yaml.SafeLoader):
    """SafeLoader without anchors/aliases, without duplicate keys, at most :data:`MAX_DEPTH`
    levels deep."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        # PyYAML composes by recursion (three frames a level): stop long before Python would.
        if self._depth >= MAX_DEPTH:
            raise _TooDeep(self.peek_event().start_mark)  # type: ignore[no-untyped-call]
        self._depth += 1
        try:
            return self._compose_checked(parent, index)
        finally:
            self._depth -= 1

    def _compose_checked(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.constructor.ConstructorError(
                None, None, "YAML aliases (*name) are not allowed in policy files; "
                "write the value out", event.start_mark)
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if getattr(event, "anchor", None):
            raise yaml.constructor.ConstructorError(
                None, None, "YAML anchors (&name) are not allowed in policy files; "
                "write the value out", event.start_mark)
        if getattr(event, "tag", None) is not None:
            # explicit tags (!!binary, !!set, !!timestamp...) are never needed here, and some
            # of PyYAML's constructors fail on malformed values with raw Python errors
            raise yaml.constructor.ConstructorError(
                None, None, "YAML tags (!!type, !name) are not allowed here; write a plain "
                "value", event.start_mark)
        return super().compose_node(parent, index)

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, AttributeError, OverflowError, IndexError):
            # e.g. an implicit date 2024-13-45: PyYAML raises ValueError from datetime
            raise yaml.constructor.ConstructorError(
                None, None, "this value cannot be read (an impossible date or number?)",
                node.start_mark) from None

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:
                raise yaml.constructor.ConstructorError(
                    None, None, "a mapping key must be a plain value, not a list or mapping",
                    key_node.start_mark) from None
            if first is not None:
                raise yaml.constructor.ConstructorError(
                    None, None,
                    f"key {excerpt(str(key))!r} appears twice (first on line {first + 1}); "
                    "each key may appear once", key_node.start_mark)
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def parse_document(text: str, *, source: str, kind: str,
                   error: type[SupplyChainError]) -> tuple[yaml.Node | None, Any]:
    """Parse YAML/JSON ``text`` with :class:`StrictLoader`.

    Returns the root node (``None`` for an empty document) and the data built from it.
    ``source`` names the text in messages, ``kind`` names what it is ("Policy file").

    Raises:
        SupplyChainError: (of class ``error``) the text is not YAML, is nested deeper than
            :data:`MAX_DEPTH`, or uses a construct :class:`StrictLoader` refuses; the problem
            names the line.
    """
    try:
        loader = StrictLoader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        what = getattr(exc, "problem", None) or str(exc)
        fix = (f"no {kind.lower()} nests this deeply; check you passed the right file"
               if isinstance(exc, _TooDeep) else "fix the YAML syntax at that line")
        raise error(f"{kind} {source} is invalid", [Problem(
            f"{source}{line}", f"YAML error: {what}", fix)]) from None
    return node, data


def line_index(node: Any, path: Loc = ()) -> Iterator[tuple[Loc, int]]:
    yield path, node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            yield (*path, key), key_node.start_mark.line + 1
            yield from line_index(value_node, (*path, key))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            yield from line_index(item, (*path, i))


def nearest_line(lines: dict[Loc, int], loc: Loc) -> int:
    """The line of ``loc`` in a :func:`line_index` map, or of its nearest ancestor there."""
    while loc and loc not in lines:
        loc = loc[:-1]
    return lines.get(loc, 1)


MAX_DOCUMENT_BYTES = 1 << 20


def read_document(path: str | os.PathLike[str], *, kind: str, error: type[SupplyChainError],
                  create_hint: str, limit: int = MAX_DOCUMENT_BYTES) -> str:
    """Read a small UTF-8 document a person wrote (a policy, an intake record).

    ``kind`` names it in messages ("Policy file", "Intake record"); ``create_hint`` is the fix
    for a missing file.

    Raises:
        SupplyChainError: (of class ``error``) the file is missing, not a regular file (a FIFO,
            a device...), larger than ``limit``, unreadable or not UTF-8.
    """
    return read_regular_text(path, limit=limit, kind=kind, error=error, missing_fix=create_hint)


# A JSON string (escapes included), or one bracket. Everything else is skipped by finditer.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def json_depth(text: str) -> int:
    """How deeply arrays and objects nest in JSON ``text``, counted without recursion.

    Brackets inside strings do not count. On malformed text the answer is an upper bound
    of what a decoder would reach, which is all a limit needs.
    """
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(map(_STEP.__getitem__, map(ord, brackets))), default=0)


def parse_json(text: str, *, source: str, kind: str, error: type[SupplyChainError],
               max_depth: int = MAX_DEPTH) -> Any:
    """Decode JSON ``text``, refusing nesting deeper than ``max_depth`` before decoding.

    Raises:
        SupplyChainError: (of class ``error``) not JSON, or nested too deeply.
    """
    # counting the opening brackets is cheap, and bounds the depth for the usual documents
    opening = text.count("[") + text.count("{")
    if opening > max_depth and (depth := json_depth(text)) > max_depth:
        raise error(f"{kind} {source} is invalid", [Problem(
            source, f"nests {depth} levels deep; the limit is {max_depth}",
            f"pass a real {kind.lower()}; none nests this deeply")])
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        what = f"is not valid JSON ({exc})" if isinstance(exc, ValueError) else "nests too deeply"
        raise error(f"{kind} {source} is invalid", [Problem(
            source, what, f"pass the {kind.lower()} itself")]) from None
