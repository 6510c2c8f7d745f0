"""Migration 0004 on a database with evidence from before version identities (SQLite and
PostgreSQL): the old rows stay, and no lookup finds them (they are not evidence)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy
from alembic import command
from sqlalchemy.engine import Engine

from mlflow_supplychain.governance import attestations, db, requests
from mlflow_supplychain.version_identity import VersionIdentity

DIGEST = "sha256:" + "2" * 64
IDENTITY = VersionIdentity(workspace="default", name="fraud", version="1", created_at=1,
                           storage_location="s3://corp-models/fraud/1")


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    uri = (f"sqlite:///{tmp_path / 'mlflow.db'}" if request.param == "sqlite"
           else request.getfixturevalue("postgres_uri"))
    eng = db.create_engine(uri)
    yield eng
    eng.dispose()


def test_rows_from_before_identities_are_not_evidence(engine: Engine) -> None:
    with engine.begin() as conn:
        command.upgrade(db._config(conn), "0003")
        conn.execute(sqlalchemy.text(
            "INSERT INTO supplychain_scan_attestations (model_name, version, artifact_digest, "
            "payload, signature, key_id, created_at) VALUES ('fraud', '1', :d, '{}', 'sig', "
            "'0123456789abcdef', 1)"), {"d": DIGEST})
        conn.execute(sqlalchemy.text(
            "INSERT INTO supplychain_transition_requests (model_name, version, target, "
            "requester, status, evidence_digest, policy_digest, created_at, updated_at) "
            "VALUES ('fraud', '1', 'production', 'carol', 'applied', :d, :d, 1, 1)"),
            {"d": DIGEST})
        rid = conn.execute(sqlalchemy.text(
            "SELECT id FROM supplychain_transition_requests")).scalar_one()
        conn.execute(sqlalchemy.text(
            "INSERT INTO supplychain_approvals (request_id, approver, approver_groups, "
            "evidence_digest, created_at) VALUES (:r, 'bob', '[]', :d, 1)"),
            {"r": rid, "d": DIGEST})

    db.upgrade(engine)

    with engine.connect() as conn:
        assert db.current_revision(conn) == db.head_revision()
        assert attestations.latest(conn, IDENTITY.digest()) is None
        assert requests.approvals_for_version(conn, IDENTITY.digest()) == ()
        legacy = requests.get_request(conn, int(rid))
        assert legacy.identity_digest is None and legacy.workspace is None
        listed, _ = requests.list_requests(conn, workspace="default")
        assert [r.id for r in listed] == [legacy.id]  # still listed, for people
