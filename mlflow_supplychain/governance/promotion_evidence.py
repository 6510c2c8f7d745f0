"""Rows of ``supplychain_promotion_evidence``: what the registry signed when it promoted a version.

Keyed by the version's identity digest, the target, the policy digest and the id of the scan
attestation the gate judged: a row answers only for that version (never for another one that
has its name and number now), under that policy, while that attestation is the newest one.
Rows are written once and never updated; the newest matching row is the one served.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from mlflow_supplychain.governance.tables import promotion_evidence
from mlflow_supplychain.version_identity import VersionIdentity


@dataclass(frozen=True)
class StoredPromotionEvidence:
    """One stored row: the signed documents and what they are bound to."""

    id: int
    identity_digest: str
    model_name: str
    version: str
    target: str
    policy_digest: str
    attestation_id: int
    artifact_digest: str
    summary: dict[str, Any]
    """The DSSE envelope of the verification summary."""
    oms_bundle: str
    """The Sigstore bundle (JSON text) of the OMS signature."""
    key_fingerprint: str
    created_at: int


def save(conn: Connection, *, identity: VersionIdentity, target: str, policy_digest: str,
         attestation_id: int, artifact_digest: str, summary: dict[str, Any], oms_bundle: str,
         key_fingerprint: str, now_ms: int) -> StoredPromotionEvidence:
    """Insert one row (in the caller's transaction) and return it."""
    values = {"identity_digest": identity.digest(), "workspace": identity.workspace,
              "model_name": identity.name, "version": identity.version, "target": target,
              "policy_digest": policy_digest, "attestation_id": attestation_id,
              "artifact_digest": artifact_digest,
              "summary": json.dumps(summary, sort_keys=True, separators=(",", ":")),
              "oms_bundle": oms_bundle, "key_fingerprint": key_fingerprint,
              "created_at": now_ms}
    result = conn.execute(promotion_evidence.insert().values(**values))
    key = result.inserted_primary_key
    return _stored({**values, "id": int(key[0]) if key else 0})


def find(conn: Connection, *, identity_digest: str, target: str, policy_digest: str,
         attestation_id: int) -> StoredPromotionEvidence | None:
    """The newest row for exactly this identity, target, policy and attestation (one query)."""
    table = promotion_evidence
    row = conn.execute(
        select(table).where(table.c.identity_digest == identity_digest,
                            table.c.target == target, table.c.policy_digest == policy_digest,
                            table.c.attestation_id == attestation_id)
        .order_by(table.c.id.desc()).limit(1)).mappings().first()
    return _stored(dict(row)) if row is not None else None


def _stored(row: dict[str, Any]) -> StoredPromotionEvidence:
    summary = json.loads(row["summary"]) if isinstance(row["summary"], str) else {}
    return StoredPromotionEvidence(
        id=int(row["id"]), identity_digest=row["identity_digest"], model_name=row["model_name"],
        version=row["version"], target=row["target"], policy_digest=row["policy_digest"],
        attestation_id=int(row["attestation_id"]), artifact_digest=row["artifact_digest"],
        summary=summary if isinstance(summary, dict) else {}, oms_bundle=row["oms_bundle"],
        key_fingerprint=row["key_fingerprint"], created_at=int(row["created_at"]))
