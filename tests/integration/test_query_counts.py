"""The gate's database cost, counted on real MLflow stores (SQLite in tmp_path, no server).

Unprotected aliases/stages and foreign tags must issue exactly the statements vanilla MLflow
issues; a protected alias costs no extra statement either (our evidence query replaces
MLflow's existence check inside the same transaction).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy
from mlflow.entities.model_registry import ModelVersionTag
from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore

from mlflow_supplychain.registry.store import build_store

from .conftest import ENFORCE
from .helpers import COMPLIANT_INTAKE


@pytest.fixture
def stores(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_SUPPLYCHAIN_POLICY", str(ENFORCE))
    vanilla = SqlAlchemyStore(f"sqlite:///{tmp_path / 'vanilla.db'}")
    governed = build_store(f"supplychain+sqlite:///{tmp_path / 'governed.db'}")
    for store in (vanilla, governed):
        store.create_registered_model("m")
        tags = [ModelVersionTag(k, v) for k, v in COMPLIANT_INTAKE.items()]
        store.create_model_version("m", "s3://corp-models/m", tags=tags)
    return vanilla, governed


def _statements(store, action: Callable[[], object]) -> list[str]:
    statements: list[str] = []

    def listen(conn, cursor, statement, *args):
        if not statement.startswith("PRAGMA"):
            statements.append(statement)

    sqlalchemy.event.listen(store.engine, "before_cursor_execute", listen)
    try:
        action()
    finally:
        sqlalchemy.event.remove(store.engine, "before_cursor_execute", listen)
    return statements


def _count(store, action: Callable[[], object]) -> int:
    """Statements on MLflow's registry tables (our audit trail is counted separately)."""
    return sum(not _ours(s) for s in _statements(store, action))


def _ours(statement: str) -> bool:
    return "supplychain_" in statement or statement.startswith(("SAVEPOINT", "RELEASE"))


@pytest.mark.parametrize("operation", [
    lambda s: s.set_registered_model_alias("m", "candidate", "1"),
    lambda s: s.transition_model_version_stage("m", "1", "Archived", False),
    lambda s: s.set_model_version_tag("m", "1", ModelVersionTag("team", "fraud")),
    lambda s: s.set_model_version_tag("m", "1", ModelVersionTag("supplychain.intake.owner", "x")),
    lambda s: s.get_model_version("m", "1"),
    lambda s: s.set_registered_model_alias("m", "production", "1"),
], ids=["unprotected-alias", "unprotected-stage", "foreign-tag", "intake-tag", "read",
        "protected-alias"])
def test_gate_adds_no_statements(stores, operation):
    vanilla, governed = stores
    baseline = _count(vanilla, lambda: operation(vanilla))
    assert baseline > 0
    assert _count(governed, lambda: operation(governed)) <= baseline


def test_protected_decision_audit_cost_is_one_append(stores):
    """A protected promotion also appends its decision to the audit log: a fixed handful of
    statements on our own tables (find approved requests to mark applied; bump the head and
    read it, in one statement where the database has UPDATE ... RETURNING; insert the record;
    write the head), with no savepoint when no request is approved."""
    _, governed = stores
    ours = [s for s in _statements(governed, lambda: governed.set_registered_model_alias(
        "m", "production", "1")) if _ours(s)]
    assert len(ours) == (4 if governed.engine.dialect.update_returning else 5), ours
    assert not any(s.startswith(("SAVEPOINT", "RELEASE")) for s in ours), ours


def _commits(store, action: Callable[[], object]) -> int:
    commits: list[object] = []

    def listen(conn):
        commits.append(conn)

    sqlalchemy.event.listen(store.engine, "commit", listen)
    try:
        action()
    finally:
        sqlalchemy.event.remove(store.engine, "commit", listen)
    return len(commits)


def test_protected_alias_commits_once_with_its_audit_record(stores):
    """The alias and its gate.decision record are one transaction: as many commits as
    vanilla MLflow's alias write (one), and the record is there afterwards."""
    from mlflow_supplychain.governance.tables import audit_events

    vanilla, governed = stores
    baseline = _commits(vanilla, lambda: vanilla.set_registered_model_alias("m", "production", "1"))
    assert baseline == 1
    assert _commits(governed, lambda: governed.set_registered_model_alias(
        "m", "production", "1")) == baseline
    with governed.engine.connect() as conn:
        actions = [r.action for r in conn.execute(sqlalchemy.select(audit_events.c.action))]
    assert actions.count("gate.decision") == 1
