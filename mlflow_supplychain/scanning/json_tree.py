"""Bounded walk over a parsed JSON document: every object in it, however deeply nested.

Model configs (Keras ``config.json``, skops ``schema.json``) name the code they load in objects
anywhere in the tree. The walk is iterative, so a hostile nesting depth cannot exhaust the
Python stack, and it stops after a fixed number of nodes, so a huge document cannot stall a scan.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

MAX_NODES = 1_000_000
"""Nodes (objects, arrays and scalars) visited before the walk stops."""


def walk_objects(document: Any) -> Iterator[dict[Any, Any]]:
    """Yield every JSON object in ``document``, depth first, the last child first."""
    stack = [document]
    steps = 0
    while stack and steps < MAX_NODES:
        steps += 1
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        stack.extend(node.values())
        yield node
