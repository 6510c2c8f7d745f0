"""Strict YAML reading for the documents people write: policies and intake records.

A SafeLoader that also refuses duplicate keys (YAML silently keeps the last one, which would
hide, say, an alias mapped to two profiles) and anchors/aliases (which can expand
exponentially: "billion laughs"), plus a map from field paths to line numbers so errors can
name the line.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from mlflow_supplychain.errors import Problem, SupplyChainError

Loc = tuple[str | int, ...]


class StrictLoader(yaml.SafeLoader):
    """SafeLoader without anchors/aliases and without duplicate keys."""

    def compose_node(self, parent: Any, index: Any) -> Any:
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
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None,
                    f"key {key!r} appears twice (first on line {seen[key] + 1}); "
                    "each key may appear once", key_node.start_mark)
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def parse_document(text: str, *, source: str, kind: str,
                   error: type[SupplyChainError]) -> tuple[yaml.Node | None, Any]:
    """Parse YAML/JSON ``text`` with :class:`StrictLoader`.

    Returns the root node (``None`` for an empty document) and the data built from it.
    ``source`` names the text in messages, ``kind`` names what it is ("Policy file").

    Raises:
        SupplyChainError: (of class ``error``) the text is not YAML, or uses a construct
            :class:`StrictLoader` refuses; the problem names the line.
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
        raise error(f"{kind} {source} is invalid", [Problem(
            f"{source}{line}", f"YAML error: {what}", "fix the YAML syntax at that line")]) from None
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
        SupplyChainError: (of class ``error``) the file is missing, too large or unreadable.
    """
    where = str(path)
    try:
        size = os.path.getsize(path)
        if size > limit:
            raise error(f"{kind} {where} is invalid", [Problem(
                where, f"is {size} bytes; the limit is {limit}",
                f"a {kind.lower()} is a short YAML document; check you passed the right file")])
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{kind} {where} does not exist",
                    [Problem(where, "not found", create_hint)]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{kind} {where} cannot be read", [Problem(
            where, f"{type(exc).__name__}: {exc}",
            "check the path, permissions and encoding (UTF-8)")]) from None
