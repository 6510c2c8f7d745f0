"""Approvals as gate evidence: the registry store's evidence reader asks this provider."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlflow_supplychain.governance.requests import approvals_for_version
from mlflow_supplychain.policy.schema import Policy, Requirement
from mlflow_supplychain.registry.evidence_reader import DatabaseProvider, VersionRecord


class ApprovalsProvider(DatabaseProvider):
    """The approvals of a version, from our tables in one query, when a profile needs them."""

    requirements = frozenset({Requirement.APPROVAL})

    def read(self, engine: Any, record: VersionRecord, policy: Policy,
             intake: Mapping[str, str]) -> Mapping[str, Any]:
        with engine.connect() as conn:
            identity = record.identity(policy.reserved_tag_prefix)
            return {"approvals": approvals_for_version(conn, identity.digest())}
