"""A protected alias and its audit record are one transaction, on real MLflow stores.

Attack: make the audit log unwritable (its head row gone, as after a botched restore, or a
trigger refusing inserts) and try to promote. Before, the alias was written and the audit
failure only logged: a promotion with no record. Now the write is refused and the alias does
not move. Runs on SQLite always and PostgreSQL when configured.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow.entities.model_registry import ModelVersionTag
from mlflow.exceptions import MlflowException
from sqlalchemy import delete, select

from mlflow_supplychain.governance import audit, requests
from mlflow_supplychain.governance.tables import audit_events, audit_head, transition_requests
from mlflow_supplychain.registry.store import build_store
from mlflow_supplychain.testing.pytest_plugin import mysql_database

from ..conftest import ENFORCE
from ..helpers import COMPLIANT_INTAKE


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def store(request: pytest.FixtureRequest, tmp_path: Path,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """A governed store on a fresh database (MariaDB has no UPDATE ... RETURNING: the audit
    append takes its other path there)."""
    monkeypatch.setenv("MLFLOW_SUPPLYCHAIN_POLICY", str(ENFORCE))
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            uri = f"supplychain+sqlite:///{tmp_path / 'mlflow.db'}"
        elif request.param == "postgresql":
            uri = "supplychain+" + request.getfixturevalue("postgres_uri")
        else:
            admin = request.getfixturevalue("supplychain_mysql_uri")
            uri = "supplychain+" + stack.enter_context(mysql_database(admin))
        governed = build_store(uri)
        stack.callback(governed.engine.dispose)
        yield _with_versions(governed)


def _with_versions(governed):
    """``governed`` with model "m" and two compliant versions."""
    governed.create_registered_model("m")
    tags = [ModelVersionTag(k, v) for k, v in COMPLIANT_INTAKE.items()]
    for _ in range(2):
        governed.create_model_version("m", "s3://corp-models/m", tags=tags)
    return governed


def _decisions(store) -> int:
    with store.engine.connect() as conn:
        return len(conn.execute(select(audit_events.c.seq)
                                .where(audit_events.c.action == "gate.decision")).all())


def _alias(store) -> str | None:
    try:
        return str(store.get_model_version_by_alias("m", "production").version)
    except MlflowException:
        return None


def test_an_allowed_promotion_and_its_record_commit_together(store) -> None:
    store.set_registered_model_alias("m", "production", "1")
    assert _alias(store) == "1"
    assert _decisions(store) == 1


def test_no_audit_log_no_promotion(store) -> None:
    """The head row is gone: the promotion is refused and the alias stays where it was."""
    store.set_registered_model_alias("m", "production", "1")
    with store.engine.begin() as conn:
        conn.execute(delete(audit_head))
    with pytest.raises(MlflowException, match="audit log head is missing"):
        store.set_registered_model_alias("m", "production", "2")
    assert _alias(store) == "1"
    assert _decisions(store) == 1


def test_a_failing_audit_insert_rolls_the_alias_back(store) -> None:
    """The insert itself fails (a duplicate sequence number planted ahead of the head): the
    alias write is rolled back with it, never committed without its record."""
    with store.engine.begin() as conn:
        seq = int(conn.execute(select(audit_head.c.seq)).scalar_one())
        conn.execute(audit_events.insert().values(
            seq=seq + 1, ts=0, actor="x", action="planted", subject="x", payload="{}",
            policy_digest="x", prev_hash="x", hash="x"))
    with pytest.raises(MlflowException):
        store.set_registered_model_alias("m", "production", "2")
    assert _alias(store) is None
    assert _decisions(store) == 0


def test_an_approved_request_is_applied_in_the_promotions_transaction(store) -> None:
    """A request approved for exactly this promotion becomes applied with the alias write;
    one for another version stays approved."""
    identity = store.gate.current_identity(store, "m", "1")
    other = store.gate.current_identity(store, "m", "2")
    ids = []
    with store.engine.begin() as conn:
        for version, ident in (("1", identity), ("2", other)):
            ids.append(conn.execute(transition_requests.insert().values(
                model_name="m", version=version, target="production",
                identity_digest=ident.digest(), status=requests.RequestStatus.APPROVED.value,
                requester="carol", evidence_digest="x", policy_digest="x", created_at=0,
                updated_at=0)).inserted_primary_key[0])
    store.set_registered_model_alias("m", "production", "1")
    with store.engine.connect() as conn:
        status = dict(conn.execute(select(transition_requests.c.id,
                                          transition_requests.c.status)).all())
        actions = [r.action for r in conn.execute(select(audit_events.c.action)
                                                  .order_by(audit_events.c.seq))]
    assert status == {ids[0]: "applied", ids[1]: "approved"}
    assert actions[-2:] == ["request.apply", "gate.decision"]


def test_a_conflicting_promotion_is_run_again(store) -> None:
    """Promotions racing on the audit head: every one is written with exactly one record."""
    errors: list[BaseException] = []

    def promote(version: str) -> None:
        try:
            for _ in range(5):
                store.set_registered_model_alias("m", "production", version)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=promote, args=(v,)) for v in ("1", "2", "1", "2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert _decisions(store) == 20
    with store.engine.connect() as conn:
        assert audit.verify(conn).ok
