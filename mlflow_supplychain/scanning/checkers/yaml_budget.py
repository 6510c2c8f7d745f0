"""Load small YAML documents from scanned artifacts (``MLmodel``, ``conda.yaml``,
``python_env.yaml``) without letting anchors and aliases expand them ("billion laughs").

PyYAML shares aliased objects, so loading is cheap, but anything that then walks or prints
the value (a requirement list, a finding message) pays for every expansion. The event stream
is measured first: the document's size counted with every alias expanded, and its nesting
depth, must stay under the limits, or the document is refused before it is constructed.
"""

from __future__ import annotations

from typing import Any

from mlflow_supplychain.scanning.excerpt import excerpt

MAX_NODES = 100_000
"""Scalars and collections in the document with every alias expanded."""
MAX_DEPTH = 64
"""Nested collections."""


class YamlRefused(ValueError):
    """The document is not valid YAML or exceeds a limit; the message says which."""


def load_bounded(text: str, *, max_nodes: int = MAX_NODES, max_depth: int = MAX_DEPTH) -> Any:
    """``yaml.safe_load(text)`` after checking its expanded size and depth.

    Raises:
        YamlRefused: invalid YAML, or over ``max_nodes``/``max_depth``.
    """
    import yaml

    try:
        _measure(yaml.parse(text, Loader=yaml.SafeLoader), max_nodes, max_depth)
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise YamlRefused(f"invalid YAML: {excerpt(first, 120)}") from None
    except RecursionError:
        raise YamlRefused(f"YAML nested deeper than {max_depth} levels") from None


def _measure(events: Any, max_nodes: int, max_depth: int) -> None:
    import yaml

    anchors: dict[str, int] = {}
    stack: list[list[Any]] = []  # [expanded size so far, anchor]
    total = 0

    def add(size: int) -> None:
        nonlocal total
        if stack:
            stack[-1][0] += size
        else:
            total += size
        if total > max_nodes or (stack and stack[-1][0] > max_nodes):
            raise YamlRefused(f"YAML expands to more than {max_nodes} nodes (anchors and "
                              "aliases)")

    for event in events:
        if isinstance(event, yaml.AliasEvent):
            size = anchors.get(event.anchor or "")
            if size is None:
                raise YamlRefused("YAML alias to an unknown or enclosing anchor")
            add(size)
        elif isinstance(event, yaml.ScalarEvent):
            if event.anchor:
                anchors[event.anchor] = 1
            add(1)
        elif isinstance(event, yaml.CollectionStartEvent):
            stack.append([1, event.anchor])
            if len(stack) > max_depth:
                raise YamlRefused(f"YAML nested deeper than {max_depth} levels")
        elif isinstance(event, yaml.CollectionEndEvent):
            size, anchor = stack.pop()
            if anchor:
                anchors[anchor] = size
            add(size)
