"""The policy history on a real database: stored once by digest, tamper-evident, and the
bridge that lets v2 scan attestations (signed with the whole policy digest) keep counting."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import update
from sqlalchemy.engine import Engine

from mlflow_supplychain.governance import db, policy_history
from mlflow_supplychain.governance.attestations import legacy_format_digest
from mlflow_supplychain.governance.tables import policy_history as history_table
from mlflow_supplychain.integrity import attest
from mlflow_supplychain.policy.loader import load_policy
from mlflow_supplychain.policy.schema import Policy
from mlflow_supplychain.version_identity import VersionIdentity

REPO = Path(__file__).resolve().parents[3]
POLICY = load_policy(REPO / "examples" / "policy.yaml")


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = db.create_engine(f"sqlite:///{tmp_path / 'mlflow.db'}")
    db.upgrade(eng)
    yield eng
    eng.dispose()


def _v2(policy_digest: str) -> attest.AttestationPayload:
    key = Ed25519PrivateKey.generate()
    identity = VersionIdentity(workspace="default", name="m", version="1", created_at=1,
                               storage_location="s3://b/m")
    return attest.AttestationPayload(
        type="mlflow-supplychain/scan-attestation/v2", model_name="m", version="1",
        identity=identity, artifact_digest="sha256:" + "a" * 64, files={"w": "b" * 64},
        verdict="permitted", scanner_version="old", policy_digest=policy_digest,
        scanned_at=attest.now_iso(), key_id=attest.key_id(key.public_key()))


def _with_bob(policy: Policy) -> Policy:
    prod = policy.profiles["prod"]
    rule = prod.approvals.model_copy(update={  # type: ignore[union-attr]
        "approvers": (*prod.approvals.approvers, "user:bob")})  # type: ignore[union-attr]
    return policy.model_copy(update={"profiles": {
        **policy.profiles, "prod": prod.model_copy(update={"approvals": rule})}})


def test_stored_once_shown_verbatim_and_edits_are_detected(engine: Engine) -> None:
    with engine.begin() as conn:
        assert policy_history.remember(conn, POLICY, source="/etc/p.yaml", now_ms=1) is True
        assert policy_history.remember(conn, POLICY, source="/etc/p.yaml", now_ms=2) is False
        content = policy_history.policy_content(conn, POLICY.digest)
    assert content is not None and Policy.model_validate(content).digest == POLICY.digest
    with engine.begin() as conn:
        conn.execute(update(history_table).values(content=str(content).replace("prod", "dev")))
        assert policy_history.policy_content(conn, POLICY.digest) is None


def test_v2_attestation_counts_through_the_history(engine: Engine) -> None:
    wider = _with_bob(POLICY)
    stricter = POLICY.model_copy(update={"formats": POLICY.formats.model_copy(
        update={"pickle_allowlist": ("mypkg.*",)})})
    old = _v2(POLICY.digest)
    with engine.begin() as conn:
        # the policy it names is in force: its format digest is the current one
        assert legacy_format_digest(conn, old, POLICY) == POLICY.format_digest
        # unknown policy (not in the history): no format digest -> scan.pending, rescan
        assert legacy_format_digest(conn, old, wider) is None
        policy_history.remember(conn, POLICY, source="p", now_ms=1)
        # an approver added since: same format policy, the scan still counts
        assert legacy_format_digest(conn, old, wider) == wider.format_digest
        # a format change since: the scan's format digest differs -> scan.pending
        assert legacy_format_digest(conn, old, stricter) != stricter.format_digest
