"""Bounded walk over a parsed JSON document: every object in it, however deeply nested.

Model configs (Keras ``config.json``, skops ``schema.json``) name the code they load in objects
anywhere in the tree. The walk is iterative, so a hostile nesting depth cannot exhaust the
Python stack, and it stops with :class:`TooManyNodes` after a fixed number of nodes, so a huge
document cannot stall a scan -- and cannot pass as clean either: a caller that meets the limit
reports "could not decide".
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

MAX_NODES = 1_000_000
"""Nodes (objects, arrays and scalars) visited before the walk stops."""


class TooManyNodes(Exception):
    """The document has more than :data:`MAX_NODES` nodes; the rest was not examined."""


def walk_objects(document: Any) -> Iterator[dict[Any, Any]]:
    """Yield every JSON object in ``document``, depth first, the last child first.

    Raises:
        TooManyNodes: the document has more nodes than :data:`MAX_NODES` (raised when the
            walk reaches the limit, after the objects seen so far were yielded).
    """
    stack = [document]
    steps = 0
    limit = MAX_NODES
    while stack:
        steps += 1
        if steps > limit:
            raise TooManyNodes(f"more than {limit} JSON nodes")
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        stack.extend(node.values())
        yield node
