"""Lineage graph: states, ancestors for the gate, and every rendering, on a 3-level chain."""

from __future__ import annotations

import json
from pathlib import Path

from mlflow_supplychain.intake.fields import ArtifactClass
from mlflow_supplychain.intake.lineage import (
    VersionFacts,
    ancestors,
    assess,
    build_graph,
    component,
)
from mlflow_supplychain.intake.lineage_render import RENDERERS, render_dot, render_mermaid, render_text
from mlflow_supplychain.policy.engine import evaluate
from mlflow_supplychain.policy.evidence import AncestorState, Target
from mlflow_supplychain.policy.loader import load_policy

from ..policy.evidence_factory import approve, full_evidence

REPO = Path(__file__).resolve().parents[3]
POLICY = load_policy(REPO / "examples" / "policy.yaml")
DIGEST = "sha256:" + "d" * 64
REVIEWED = {"license.id": "Apache-2.0", "license.outcome": "approved", "owner": "ml"}


def _facts(name: str, version: str, cls: str, base: str | None = None, **extra: str) -> VersionFacts:
    intake = {"artifact_class": cls, **REVIEWED, **extra}
    if base:
        intake |= {"base_model.uri": base, "base_model.digest": DIGEST}
    return VersionFacts(name=name, version=version, intake=intake)


def _chain(base_flags: tuple[str, ...] = ()) -> list[VersionFacts]:
    base = _facts("llama-base", "1", "base_model")
    return [VersionFacts(name=base.name, version=base.version, intake=base.intake, flags=base_flags),
            _facts("llama-ft", "2", "fine_tune", "models:/llama-base/1"),
            _facts("llama-lora", "3", "adapter", "models:/llama-ft/2"),
            _facts("unrelated", "1", "base_model")]


def test_three_level_chain_with_flagged_base_denies_the_adapter() -> None:
    graph = build_graph(_chain(base_flags=("scan verdict prohibited",)))
    chain = ancestors(graph, "models:/llama-lora/3")
    assert [(a.uri, a.state) for a in chain] == [
        ("models:/llama-ft/2", AncestorState.COMPLIANT),
        ("models:/llama-base/1", AncestorState.FLAGGED)]
    assert chain[1].license == {"license.id": "Apache-2.0", "license.outcome": "approved"}

    prod = Target.parse("production")
    adapter = full_evidence(POLICY, ArtifactClass.ADAPTER, prod)
    evidence = approve(POLICY, adapter.model_copy(update={"lineage": chain}), prod)
    decision = evaluate(POLICY, evidence, prod)
    assert [v.code for v in decision.violations] == ["lineage.flagged"]
    assert "models:/llama-base/1" in decision.violations[0].message


def test_a_clean_chain_is_compliant() -> None:
    graph = build_graph(_chain())
    assert all(a.state is AncestorState.COMPLIANT for a in ancestors(graph, "models:/llama-lora/3"))


def test_text_rendering_is_a_tree_with_states() -> None:
    text = render_text(component(build_graph(_chain(("scan verdict prohibited",))), "llama-ft"))
    assert text.splitlines() == [
        "models:/llama-base/1  base_model  [flagged: scan verdict prohibited]  license Apache-2.0",
        "└── models:/llama-ft/2  fine_tune  [compliant]  license Apache-2.0",
        "    └── models:/llama-lora/3  adapter  [compliant]  license Apache-2.0",
    ]
    assert "unrelated" not in text


def test_component_of_one_version_keeps_ancestors_and_descendants_only() -> None:
    facts = [*_chain(), _facts("llama-ft", "5", "fine_tune", "models:/llama-base/1")]
    graph = component(build_graph(facts), "llama-ft", "2")
    assert set(graph.nodes) == {"models:/llama-base/1", "models:/llama-ft/2", "models:/llama-lora/3"}


def test_machine_renderings() -> None:
    graph = build_graph(_chain(("scan verdict prohibited",)))
    data = json.loads(RENDERERS["json"](graph))
    states = {n["uri"]: n["state"] for n in data["nodes"]}
    assert states["models:/llama-base/1"] == "flagged"
    assert {"base": "models:/llama-ft/2", "derived": "models:/llama-lora/3"} in data["edges"]
    mermaid = render_mermaid(graph)
    assert mermaid.startswith("flowchart TD") and ":::flagged" in mermaid and "-->" in mermaid
    dot = render_dot(graph)
    assert dot.startswith("digraph lineage {") and dot.rstrip().endswith("}") and "->" in dot
    assert dot.count("[label=") == len(graph.nodes)


def test_missing_registered_base_is_unknown() -> None:
    graph = build_graph([_facts("ft", "1", "fine_tune", "models:/gone/7")])
    assert graph.nodes["models:/gone/7"].state is AncestorState.UNKNOWN
    assert [a.state for a in ancestors(graph, "models:/ft/1")] == [AncestorState.UNKNOWN]


def test_external_pinned_base_carries_the_declared_license() -> None:
    ext = "https://huggingface.co/meta/llama@" + "a" * 40
    graph = build_graph([_facts("ft", "1", "fine_tune", ext, **{"base_model.license": "llama3.1"})])
    (ancestor,) = ancestors(graph, "models:/ft/1")
    assert ancestor.state is AncestorState.EXTERNAL_PINNED
    assert ancestor.license == {"license.id": "llama3.1"}


def test_states_of_single_versions() -> None:
    def state(**intake: str) -> AncestorState:
        return assess(VersionFacts(name="m", version="1", intake=intake))[0]

    assert state() is AncestorState.UNKNOWN
    assert state(artifact_class="base_model", **{"license.outcome": "rejected"}) is AncestorState.REJECTED
    assert state(artifact_class="base_model", **{"license.outcome": "approved",
                                                  "security_review.status": "failed"}) is AncestorState.REJECTED
    assert state(artifact_class="base_model", **{"license.outcome": "approved",
                                                  "security_review.status": "pending"}) is AncestorState.UNKNOWN
    assert state(artifact_class="base_model", source_revision="main") is AncestorState.FLAGGED
    required = POLICY.required_fields
    facts = VersionFacts(name="m", version="1", intake={"artifact_class": "base_model", **REVIEWED})
    state_, reasons = assess(facts, required)
    assert state_ is AncestorState.UNKNOWN and "intake incomplete" in reasons[0]


def test_declared_digest_mismatch_makes_the_base_unknown() -> None:
    base = _facts("b", "1", "base_model")
    base = VersionFacts(name="b", version="1", intake=base.intake, artifact_digest="sha256:" + "e" * 64)
    graph = build_graph([base, _facts("ft", "1", "fine_tune", "models:/b/1")])
    node = graph.nodes["models:/b/1"]
    assert node.state is AncestorState.UNKNOWN and "declares digest" in node.reasons[-1]


def test_cycles_end_in_unknown_and_still_render() -> None:
    graph = build_graph([_facts("a", "1", "fine_tune", "models:/b/1"),
                         _facts("b", "1", "fine_tune", "models:/a/1")])
    assert ancestors(graph, "models:/a/1")[-1].state is AncestorState.UNKNOWN
    assert "(cycle)" in render_text(graph)


def test_digest_mismatch_never_softens_a_flagged_base() -> None:
    from mlflow_supplychain.intake.lineage import VersionFacts, build_graph

    base = VersionFacts("base", "1", {"artifact_class": "base_model", "license.outcome": "approved"},
                        flags=("scan verdict prohibited",), artifact_digest="sha256:" + "a" * 64)
    child = VersionFacts("ft", "1", {"artifact_class": "fine_tune", "license.outcome": "approved",
                                     "base_model.uri": "models:/base/1",
                                     "base_model.digest": "sha256:" + "b" * 64})
    graph = build_graph([base, child])
    assert graph.nodes["models:/base/1"].state.value == "flagged"
    assert any("declares digest" in r for r in graph.nodes["models:/base/1"].reasons)
