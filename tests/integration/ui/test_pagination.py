"""Server-side pagination of the page's lists, against real SQLite databases."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import event
from sqlalchemy.engine import Engine

from mlflow_supplychain.governance import audit, db
from mlflow_supplychain.registry.evidence_reader import protected_alias_page
from mlflow_supplychain.testing.pytest_plugin import run_server

from .conftest import POLICY


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    eng = db.create_engine(f"sqlite:///{tmp_path / 'gov.db'}")
    db.upgrade(eng)
    return eng


def test_audit_trail_pages_by_exact_subject_prefix(engine: Engine) -> None:
    subjects = ["models:/a_b/1 -> production", "models:/aXb/1 -> production",
                "models:/a_b/2", "models:/a_bc/1", "models:/a_b/3 -> champion"]
    with engine.begin() as conn:
        for i in range(12):
            audit.append(conn, actor="t", action="x", subject=subjects[i % len(subjects)],
                         payload={"i": i}, policy_digest="sha256:" + "0" * 64, ts_ms=i)
    seen: list[int] = []
    token = None
    with engine.connect() as conn:
        while True:
            page, token = audit.page_by_subject_prefix(conn, "models:/a_b/", before_seq=token,
                                                       limit=2)
            seen += [r.seq for r in page]
            assert all(r.subject.startswith("models:/a_b/") for r in page)
            if token is None:
                break
        everything = [r for r in audit.iter_records(conn) if r.subject.startswith("models:/a_b/")]
    assert seen == sorted((r.seq for r in everything), reverse=True) and len(seen) == 7


def test_protected_aliases_page_in_one_query_each(tmp_path: Path) -> None:
    from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore(f"sqlite:///{tmp_path / 'registry.db'}")
    for n in range(5):
        name = f"model-{n}"
        store.create_registered_model(name)
        store.create_model_version(name, "s3://corp-models/x")
        store.set_registered_model_alias(name, "production", "1")
        store.set_registered_model_alias(name, "staging-candidate", "1")  # unprotected
        if n % 2:
            store.set_registered_model_alias(name, "Champion", "1")  # any spelling counts
    rows: list[tuple[str, str, int]] = []
    after = None
    with store.ManagedSessionMaker() as session:
        while True:
            page, after = protected_alias_page(store, session, ["production", "champion"],
                                               after=after, limit=3)
            rows += page
            if after is None:
                break
    assert [(n, a) for n, a, _ in rows] == [
        ("model-0", "production"), ("model-1", "Champion"), ("model-1", "production"),
        ("model-2", "production"), ("model-3", "Champion"), ("model-3", "production"),
        ("model-4", "production")]


def test_static_prefix_is_honoured_under_auth(tmp_path: Path) -> None:
    with run_server(POLICY, tmp_path / "server", auth=True, static_prefix="/mlflow") as server:
        admin = server.admin_auth()
        created = requests.post(server.url + "/mlflow/api/2.0/mlflow/users/create", auth=admin,
                                json={"username": "dana", "password": "dana-password-1234"},
                                timeout=30)
        assert created.status_code == 200, created.text
        dana = ("dana", "dana-password-1234")
        page = requests.get(server.url + "/mlflow/supplychain/", auth=dana, timeout=30)
        assert page.status_code == 200, page.text
        assert 'href="/mlflow/supplychain/static/supplychain.css"' in page.text
        assert requests.get(server.url + "/mlflow/supplychain/static/supplychain.css",
                            auth=dana, timeout=30).status_code == 200
        # Not served without the prefix (basic-auth's fail-closed net answers first).
        assert requests.get(server.url + "/supplychain/", auth=dana, timeout=30
                            ).status_code in (403, 404)


def test_audit_trail_query_uses_the_subject_index(engine: Engine) -> None:
    statements: list[tuple[str, Any]] = []

    def capture(conn: object, cursor: object, statement: str, params: Any,
                context: object, executemany: bool) -> None:
        statements.append((statement, params))

    event.listen(engine, "before_cursor_execute", capture)
    with engine.connect() as conn:
        audit.page_by_subject_prefix(conn, "models:/fraud/", limit=5)
        statement, params = statements[-1]
        plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params).all()
    assert any("supplychain_audit_subject" in str(row) for row in plan), plan
