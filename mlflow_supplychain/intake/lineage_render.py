"""Render a lineage graph as text, JSON, Mermaid or Graphviz DOT."""

from __future__ import annotations

import json
from collections.abc import Callable

from mlflow_supplychain.intake.lineage import LineageGraph, LineageNode
from mlflow_supplychain.policy.evidence import AncestorState

_COLORS = {
    AncestorState.COMPLIANT: "#c8e6c9",
    AncestorState.EXTERNAL_PINNED: "#bbdefb",
    AncestorState.UNKNOWN: "#fff9c4",
    AncestorState.FLAGGED: "#ffcc80",
    AncestorState.REJECTED: "#ef9a9a",
}


def _roots(graph: LineageGraph) -> list[str]:
    derived = {d for _, d in graph.edges}
    roots = sorted(u for u in graph.nodes if u not in derived)
    # nodes only reachable through a cycle have no root; show them anyway
    reachable: set[str] = set()
    stack = list(roots)
    while stack:
        uri = stack.pop()
        if uri not in reachable:
            reachable.add(uri)
            stack.extend(graph.children(uri))
    return roots + sorted(u for u in graph.nodes if u not in reachable)


def _summary(node: LineageNode) -> str:
    parts = [node.uri]
    if node.artifact_class:
        parts.append(node.artifact_class)
    state = node.state.value + (": " + "; ".join(node.reasons) if node.reasons else "")
    parts.append(f"[{state}]")
    if node.license and "license.id" in node.license:
        parts.append(f"license {node.license['license.id']}")
    if node.aliases:
        parts.append(" ".join(f"@{a}" for a in node.aliases))
    return "  ".join(parts)


def render_text(graph: LineageGraph) -> str:
    """An indented tree per root base, one line per node with its state and reasons."""
    lines: list[str] = []
    seen: set[str] = set()

    def walk(uri: str, prefix: str, last: bool, top: bool) -> None:
        connector = "" if top else ("└── " if last else "├── ")
        node = graph.nodes[uri]
        if uri in seen:
            lines.append(f"{prefix}{connector}{uri} (cycle)")
            return
        seen.add(uri)
        lines.append(f"{prefix}{connector}{_summary(node)}")
        children = graph.children(uri)
        child_prefix = prefix if top else prefix + ("    " if last else "│   ")
        for i, child in enumerate(children):
            walk(child, child_prefix, i == len(children) - 1, False)

    for root in _roots(graph):
        if root not in seen:
            walk(root, "", True, True)
    return "\n".join(lines) + ("\n" if lines else "")


def render_json(graph: LineageGraph) -> str:
    """``{"nodes": [...], "edges": [{"base": ..., "derived": ...}]}``."""
    nodes = [{"uri": n.uri, "name": n.name, "version": n.version,
              "artifact_class": n.artifact_class, "state": n.state.value,
              "reasons": list(n.reasons), "license": dict(n.license) if n.license else None,
              "aliases": list(n.aliases), "base": n.base}
             for n in sorted(graph.nodes.values(), key=lambda n: n.uri)]
    edges = [{"base": b, "derived": d} for b, d in graph.edges]
    return json.dumps({"nodes": nodes, "edges": edges}, indent=2) + "\n"


def _ids(graph: LineageGraph) -> dict[str, str]:
    return {uri: f"n{i}" for i, uri in enumerate(sorted(graph.nodes))}


def render_mermaid(graph: LineageGraph) -> str:
    """A Mermaid flowchart (paste into Markdown); node colour = state."""
    ids = _ids(graph)

    def label(node: LineageNode) -> str:
        text = "<br/>".join(p for p in (node.uri, node.artifact_class, node.state.value) if p)
        return text.replace('"', "#quot;")

    lines = ["flowchart TD"]
    lines += [f'  {ids[u]}["{label(n)}"]:::{n.state.value}' for u, n in sorted(graph.nodes.items())]
    lines += [f"  {ids[b]} --> {ids[d]}" for b, d in graph.edges]
    lines += [f"  classDef {s.value} fill:{c}" for s, c in _COLORS.items()]
    return "\n".join(lines) + "\n"


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_dot(graph: LineageGraph) -> str:
    """A Graphviz digraph (``dot -Tsvg``); node colour = state."""
    ids = _ids(graph)
    lines = ["digraph lineage {", "  rankdir=TB;", "  node [shape=box, style=filled];"]
    for uri, node in sorted(graph.nodes.items()):
        parts = (uri, node.artifact_class, node.state.value)
        label = _dot_quote("\n".join(p for p in parts if p)).replace("\n", "\\n")
        lines.append(f"  {ids[uri]} [label={label}, fillcolor={_dot_quote(_COLORS[node.state])}];")
    lines += [f"  {ids[b]} -> {ids[d]};" for b, d in graph.edges]
    lines.append("}")
    return "\n".join(lines) + "\n"


RENDERERS: dict[str, Callable[[LineageGraph], str]] = {
    "text": render_text, "json": render_json, "mermaid": render_mermaid, "dot": render_dot,
}
