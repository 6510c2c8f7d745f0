"""Ancestors as gate evidence: walk a version's ``base_model.uri`` chain in the registry.

One indexed query per ancestor (bounded by the chain's depth, never by the registry's size);
the states come from the same pure rules the ``lineage`` command uses
(:func:`mlflow_supplychain.intake.lineage.build_graph`). Runs only for derived artifacts
(an intake record that names a base) and only when the profile checks lineage or licenses
(license inheritance reads the ancestors' reviews).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from mlflow_supplychain.intake.lineage import (
    MAX_DEPTH,
    ancestors,
    build_graph,
    facts_from_tags,
    model_uri,
    parse_model_uri,
)
from mlflow_supplychain.policy.schema import Policy, Requirement
from mlflow_supplychain.registry.evidence_reader import (
    DatabaseProvider,
    VersionRecord,
    read_version,
)

_GATE_DEPTH = min(MAX_DEPTH, 16)


class LineageProvider(DatabaseProvider):
    """Fills ``Evidence.lineage`` for versions whose intake names a base model."""

    requirements = frozenset({Requirement.LINEAGE_VERIFIED, Requirement.LICENSE_APPROVED})

    def provide(self, record: VersionRecord, policy: Policy,
                intake: Mapping[str, str]) -> Mapping[str, Any]:
        if not intake.get("base_model.uri"):
            return {}  # not derived: nothing to read
        return super().provide(record, policy, intake)

    def read(self, engine: Any, record: VersionRecord, policy: Policy,
             intake: Mapping[str, str]) -> Mapping[str, Any]:
        facts = [facts_from_tags(record.name, record.version, record.tags)]
        seen = {model_uri(record.name, record.version)}
        with Session(engine) as session:
            uri: str | None = intake.get("base_model.uri")
            while uri and uri not in seen and len(facts) <= _GATE_DEPTH:
                seen.add(uri)
                parsed = parse_model_uri(uri)
                if parsed is None:
                    break  # external base: build_graph judges it (pinned or unknown)
                found = read_version(None, session, parsed[0], int(parsed[1]))
                if found is None:
                    break  # not registered: unknown
                facts.append(facts_from_tags(found.name, found.version, found.tags))
                uri = facts[-1].intake.get("base_model.uri")
        graph = build_graph(facts, policy.required_fields)
        return {"lineage": ancestors(graph, model_uri(record.name, record.version))}
