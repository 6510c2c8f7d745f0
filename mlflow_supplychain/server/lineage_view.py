"""The version page's lineage picture: base -> fine-tune -> adapter as boxes and arrows, each
coloured by its compliance. Pure geometry; the template draws it as inline SVG (no script, no
inline style: the page's CSP allows neither)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mlflow_supplychain.policy.evidence import Ancestor

BOX_W, BOX_H, GAP, PAD = 190, 46, 40, 8
MAX_LABEL = 26


@dataclass(frozen=True)
class Node:
    x: int
    y: int
    label: str
    detail: str
    state: str
    """compliant, flagged, rejected, unknown, external_pinned, or 'self' (the version shown)."""
    href: str | None = None


@dataclass(frozen=True)
class Edge:
    x1: int
    y1: int
    x2: int
    y2: int


@dataclass(frozen=True)
class Diagram:
    width: int
    height: int
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    box_w: int = BOX_W
    box_h: int = BOX_H


def _short(text: str) -> str:
    return text if len(text) <= MAX_LABEL else text[:MAX_LABEL - 1] + "…"


def _model_ref(uri: str) -> tuple[str, str] | None:
    if not uri.startswith("models:/"):
        return None
    name, _, version = uri[len("models:/"):].rpartition("/")
    return (name, version) if name and version.isdigit() else None


def diagram(name: str, version: str, lineage: Sequence[Ancestor], self_state: str,
            link: Callable[[str, str], str] | None = None) -> Diagram | None:
    """Oldest ancestor on the left, the version itself on the right; None without lineage.
    ``link(name, version)`` gives a page URL for ancestors in this registry."""
    if not lineage:
        return None
    chain = list(reversed(lineage))
    nodes: list[Node] = []
    edges: list[Edge] = []
    for i, ancestor in enumerate(chain):
        x = PAD + i * (BOX_W + GAP)
        ref = _model_ref(ancestor.uri)
        href = link(*ref) if (ref and link is not None) else None
        nodes.append(Node(x, PAD, _short(ancestor.uri), ancestor.state.value.replace("_", " "),
                          ancestor.state.value, href))
    x = PAD + len(chain) * (BOX_W + GAP)
    nodes.append(Node(x, PAD, _short(f"{name} v{version}"), self_state, "self"))
    for left, right in zip(nodes, nodes[1:], strict=False):
        y = PAD + BOX_H // 2
        edges.append(Edge(left.x + BOX_W, y, right.x - 4, y))
    return Diagram(width=x + BOX_W + PAD, height=BOX_H + 2 * PAD, nodes=tuple(nodes),
                   edges=tuple(edges))
