"""Migration 0008 on a database with evidence from before envelopes (SQLite, PostgreSQL,
MariaDB): an attestation in the original format and an approval without an envelope keep
counting; afterwards both kinds of attestation are stored side by side, and a large envelope
fits (MySQL's TEXT would have held 64 KiB)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy
from alembic import command
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.engine import Engine

from mlflow_supplychain.governance import attestations, db, requests
from mlflow_supplychain.integrity import attest
from mlflow_supplychain.integrity.attestation_formats import scan_envelope
from mlflow_supplychain.testing.pytest_plugin import mysql_database
from mlflow_supplychain.version_identity import VersionIdentity

DIGEST = "sha256:" + "2" * 64
IDENTITY = VersionIdentity(workspace="default", name="fraud", version="1", created_at=1,
                           storage_location="s3://corp-models/fraud/1", uid="a" * 32)


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "mariadb":
        with mysql_database(request.getfixturevalue("supplychain_mysql_uri")) as uri:
            eng = db.create_engine(uri)
            yield eng
            eng.dispose()
        return
    uri = (f"sqlite:///{tmp_path / 'mlflow.db'}" if request.param == "sqlite"
           else request.getfixturevalue("postgres_uri"))
    eng = db.create_engine(uri)
    yield eng
    eng.dispose()


def _payload(key: Ed25519PrivateKey, files: int = 1, **changes: object
             ) -> attest.AttestationPayload:
    fields: dict[str, object] = {
        "model_name": "fraud", "version": "1", "identity": IDENTITY, "artifact_digest": DIGEST,
        "files": {f"shard-{i:05d}.safetensors": "c" * 64 for i in range(files)},
        "verdict": "permitted", "scanner_version": "0.1.0",
        "format_policy_digest": "sha256:" + "3" * 64, "scanned_at": "2026-01-01T00:00:00Z",
        "key_id": attest.key_id(key.public_key())}
    fields.update(changes)
    return attest.AttestationPayload.model_validate(fields)


def test_evidence_from_before_envelopes_keeps_counting(engine: Engine) -> None:
    key = Ed25519PrivateKey.generate()
    old = _payload(key)
    with engine.begin() as conn:
        command.upgrade(db._config(conn), "0006")
        conn.execute(sqlalchemy.text(
            "INSERT INTO supplychain_scan_attestations (model_name, version, artifact_digest, "
            "payload, signature, key_id, created_at, workspace, identity_digest) VALUES "
            "('fraud', '1', :d, :p, :s, :k, 1, 'default', :i)"),
            {"d": DIGEST, "p": old.canonical_bytes().decode(), "s": attest.sign(old, key),
             "k": old.key_id, "i": IDENTITY.digest()})
        conn.execute(sqlalchemy.text(
            "INSERT INTO supplychain_transition_requests (model_name, version, target, "
            "requester, status, evidence_digest, policy_digest, created_at, updated_at, "
            "workspace, identity_digest) VALUES ('fraud', '1', 'production', 'carol', "
            "'approved', :d, :d, 1, 1, 'default', :i)"), {"d": DIGEST, "i": IDENTITY.digest()})
        rid = conn.execute(sqlalchemy.text(
            "SELECT id FROM supplychain_transition_requests")).scalar_one()
        conn.execute(sqlalchemy.text(
            "INSERT INTO supplychain_approvals (request_id, approver, approver_groups, "
            "evidence_digest, created_at) VALUES (:r, 'bob', '[]', :d, 1)"),
            {"r": rid, "d": DIGEST})

    db.upgrade(engine)

    with engine.connect() as conn:
        assert db.current_revision(conn) == db.head_revision()
        stored = attestations.latest(conn, IDENTITY.digest())
        assert stored is not None and stored.format is None and stored.payload == old
        assert stored.verified(key.public_key())
        assert len(requests.approvals_for_version(conn, IDENTITY.digest())) == 1
        assert requests.get_request(conn, int(rid)).approvals[0].envelope is None

    # after the upgrade: an envelope (over MySQL's 64 KiB TEXT) stored next to the old row
    newer = _payload(key, files=2000, scanned_at="2026-01-02T00:00:00Z")
    submission = scan_envelope.submission(newer, key)
    assert len(submission.text) > 64 * 1024
    with engine.begin() as conn:
        attestations.store(conn, submission, policy_digest=DIGEST, actor="test")
    with engine.connect() as conn:
        stored = attestations.latest(conn, IDENTITY.digest())
        assert stored is not None and stored.format == scan_envelope.NAME
        assert stored.payload == newer and stored.verified(key.public_key())
        assert stored.envelope is not None
        assert not stored.verified(Ed25519PrivateKey.generate().public_key())
