"""The lineage graph: base models -> fine-tunes -> adapters, with each node's compliance state.

Built from plain facts about registered versions (their intake fields, aliases, flags that
other evidence raised), so it is pure and testable; :mod:`.registry_io` gathers the facts from
MLflow. The gate uses :func:`ancestors` to fill ``Evidence.lineage``; the CLI renders the graph
(:mod:`.lineage_render`).

A node's state:

* ``rejected``: its license review is rejected or its security review failed;
* ``flagged``: an intake tag is invalid, or other evidence flagged it (e.g. a prohibited scan);
* ``unknown``: not found in the registry, no intake record, no license outcome, a pending
  security review, fields the policy requires are missing, a declared digest that does not
  match the base's recorded digest, or a lineage cycle;
* ``external_pinned``: a base outside the registry, pinned to a commit, with a declared digest
  (accepted only when the policy says ``lineage.accept_external_pinned``);
* ``compliant``: none of the above.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from mlflow_supplychain.intake.fields import (
    ArtifactClass,
    LicenseOutcome,
    SecurityReviewStatus,
    validate_field,
)
from mlflow_supplychain.policy.evidence import Ancestor, AncestorState

_MODELS_URI = re.compile(r"^models:/(?P<name>[^/@]+)/(?P<version>[1-9][0-9]*)$")
MAX_DEPTH = 64
"""Longer ancestor chains are treated as cycles: nobody stacks 64 adapters."""

RequiredFields = Callable[[ArtifactClass], tuple[str, ...]]


@dataclass(frozen=True)
class VersionFacts:
    """What the registry says about one model version."""

    name: str
    version: str
    intake: Mapping[str, str]
    """Intake fields, without the ``supplychain.intake.`` prefix."""
    aliases: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    """Reasons other evidence flagged the version (e.g. a prohibited scan verdict)."""
    artifact_digest: str | None = None
    """The version's recorded manifest digest, when known."""

    @property
    def uri(self) -> str:
        return model_uri(self.name, self.version)


INTAKE_TAG_PREFIX = "supplychain.intake."
SCAN_VERDICT_TAG = "supplychain.scan.verdict"
ARTIFACT_DIGEST_TAG = "supplychain.integrity.digest"
FLAGGING_VERDICTS = frozenset({"prohibited", "error"})


def facts_from_tags(name: str, version: str, tags: Mapping[str, str],
                    aliases: tuple[str, ...] = ()) -> VersionFacts:
    """A version's lineage facts from its registry tags: intake fields, scan flags, digest."""
    verdict = tags.get(SCAN_VERDICT_TAG)
    return VersionFacts(
        name=name, version=version,
        intake={k[len(INTAKE_TAG_PREFIX):]: v for k, v in tags.items()
                if k.startswith(INTAKE_TAG_PREFIX)},
        aliases=aliases,
        flags=(f"scan verdict {verdict}",) if verdict in FLAGGING_VERDICTS else (),
        artifact_digest=tags.get(ARTIFACT_DIGEST_TAG))


def model_uri(name: str, version: str) -> str:
    return f"models:/{name}/{version}"


def parse_model_uri(uri: str) -> tuple[str, str] | None:
    """``models:/name/3`` -> ``("name", "3")``; anything else -> None."""
    match = _MODELS_URI.match(uri)
    return (match["name"], match["version"]) if match else None


@dataclass(frozen=True)
class LineageNode:
    """One version (or external base) in the graph."""

    uri: str
    state: AncestorState
    reasons: tuple[str, ...] = ()
    name: str | None = None
    version: str | None = None
    artifact_class: str | None = None
    license: Mapping[str, str] | None = None
    aliases: tuple[str, ...] = ()
    base: str | None = None
    """URI of the base this node derives from, when it names one."""


@dataclass(frozen=True)
class LineageGraph:
    nodes: Mapping[str, LineageNode]
    edges: tuple[tuple[str, str], ...] = field(default=())
    """(base uri, derived uri) pairs."""

    def children(self, uri: str) -> list[str]:
        return sorted(derived for base, derived in self.edges if base == uri)


def _license_fields(intake: Mapping[str, str]) -> dict[str, str] | None:
    fields = {k: v for k, v in intake.items() if k.startswith("license.")}
    return fields or None


def assess(facts: VersionFacts,
           required: RequiredFields | None = None) -> tuple[AncestorState, tuple[str, ...]]:
    """The compliance state of one registered version, and why."""
    intake = facts.intake
    invalid = [f"{name} {problem}" for name, value in sorted(intake.items())
               if (problem := validate_field(name, value)) is not None]
    flagged = [*facts.flags, *(f"invalid intake: {i}" for i in invalid)]
    if flagged:
        return AncestorState.FLAGGED, tuple(flagged)
    rejected = []
    if intake.get("license.outcome") == LicenseOutcome.REJECTED.value:
        rejected.append("license review rejected")
    if intake.get("security_review.status") == SecurityReviewStatus.FAILED.value:
        rejected.append("security review failed")
    if rejected:
        return AncestorState.REJECTED, tuple(rejected)
    unknown = []
    cls_value = intake.get("artifact_class")
    if cls_value is None:
        unknown.append("no intake record (artifact_class is not set)")
    if "license.outcome" not in intake:
        unknown.append("license not reviewed (no license.outcome)")
    if intake.get("security_review.status") == SecurityReviewStatus.PENDING.value:
        unknown.append("security review pending")
    if cls_value is not None and required is not None:
        missing = [f for f in required(ArtifactClass(cls_value)) if f not in intake]
        if missing:
            unknown.append("intake incomplete: missing " + ", ".join(missing))
    if unknown:
        return AncestorState.UNKNOWN, tuple(unknown)
    return AncestorState.COMPLIANT, ()


def build_graph(facts: Iterable[VersionFacts], required: RequiredFields | None = None) -> LineageGraph:
    """Build the graph of every given version and the bases they name.

    A base that is named but not among ``facts`` becomes an ``unknown`` node (not found), or
    an ``external_pinned`` node for a pinned external URL with a declared digest.
    """
    by_uri = {f.uri: f for f in facts}
    nodes: dict[str, LineageNode] = {}
    edges: list[tuple[str, str]] = []
    for uri, fact in sorted(by_uri.items()):
        state, reasons = assess(fact, required)
        base = fact.intake.get("base_model.uri")
        if base is not None and validate_field("base_model.uri", base) is not None:
            base = None  # already reported as invalid intake (flagged)
        nodes[uri] = LineageNode(uri=uri, state=state, reasons=reasons, name=fact.name,
                                 version=fact.version,
                                 artifact_class=fact.intake.get("artifact_class"),
                                 license=_license_fields(fact.intake), aliases=fact.aliases,
                                 base=base)
        if base is not None:
            edges.append((base, uri))
    for base, derived in edges:
        if base in nodes:
            continue
        fact = by_uri[derived]
        nodes[base] = _missing_base(base, fact)
    graph = LineageGraph(nodes=nodes, edges=tuple(sorted(set(edges))))
    return _with_digest_checks(graph, by_uri)


def _missing_base(base: str, child: VersionFacts) -> LineageNode:
    parsed = parse_model_uri(base)
    if parsed is not None:
        return LineageNode(uri=base, state=AncestorState.UNKNOWN, name=parsed[0],
                           version=parsed[1], reasons=("not found in the registry",))
    declared_license = child.intake.get("base_model.license")
    license_fields = {"license.id": declared_license} if declared_license else None
    digest = child.intake.get("base_model.digest")
    if digest:
        why = f"external base pinned to a commit, digest {digest}"
        return LineageNode(uri=base, state=AncestorState.EXTERNAL_PINNED, license=license_fields,
                           reasons=(why,))
    return LineageNode(uri=base, state=AncestorState.UNKNOWN, license=license_fields,
                       reasons=("external base without a declared digest",))


def _with_digest_checks(graph: LineageGraph, by_uri: Mapping[str, VersionFacts]) -> LineageGraph:
    """A child's declared base digest must match the base's recorded digest, when both are known."""
    nodes = dict(graph.nodes)
    for base, derived in graph.edges:
        declared = by_uri[derived].intake.get("base_model.digest")
        recorded = by_uri[base].artifact_digest if base in by_uri else None
        if declared and recorded and declared != recorded:
            node = nodes[base]
            why = f"{derived} declares digest {declared}, but the base's artifacts hash to {recorded}"
            # a mismatch makes a compliant base unknown; it never softens flagged or rejected
            state = AncestorState.UNKNOWN if node.state is AncestorState.COMPLIANT else node.state
            nodes[base] = dataclasses.replace(node, state=state, reasons=(*node.reasons, why))
    return LineageGraph(nodes=nodes, edges=graph.edges)


def ancestors(graph: LineageGraph, uri: str) -> tuple[Ancestor, ...]:
    """The ancestors of ``uri``, nearest first, as gate evidence. A cycle ends in ``unknown``."""
    out: list[Ancestor] = []
    seen = {uri}
    node = graph.nodes.get(uri)
    while node is not None and node.base is not None:
        base = node.base
        if base in seen or len(out) >= MAX_DEPTH:
            out.append(Ancestor(uri=base, state=AncestorState.UNKNOWN))
            break
        seen.add(base)
        node = graph.nodes.get(base)
        if node is None:
            out.append(Ancestor(uri=base, state=AncestorState.UNKNOWN))
            break
        out.append(Ancestor(uri=base, state=node.state,
                            license=dict(node.license) if node.license else None))
    return tuple(out)


def component(graph: LineageGraph, name: str, version: str | None = None) -> LineageGraph:
    """The part of the graph connected to ``name`` (or one version of it): every ancestor and
    every descendant, transitively."""
    start = {uri for uri, n in graph.nodes.items()
             if n.name == name and (version is None or n.version == version)}
    keep = set(start)
    frontier = list(start)
    while frontier:  # descendants
        uri = frontier.pop()
        for child in graph.children(uri):
            if child not in keep:
                keep.add(child)
                frontier.append(child)
    for uri in list(start):  # ancestors
        node = graph.nodes.get(uri)
        while node is not None and node.base is not None and node.base not in keep:
            keep.add(node.base)
            node = graph.nodes.get(node.base)
    return LineageGraph(nodes={u: n for u, n in graph.nodes.items() if u in keep},
                        edges=tuple(e for e in graph.edges if e[0] in keep and e[1] in keep))
