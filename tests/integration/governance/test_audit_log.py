"""The hash-chained audit log on a real database: SQLite always, PostgreSQL when configured."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Engine

from mlflow_supplychain.governance import audit, db
from mlflow_supplychain.governance.tables import metadata

POLICY = "sha256:" + "1" * 64


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    else:
        uri = request.getfixturevalue("postgres_uri")
    eng = db.create_engine(uri)
    db.upgrade(eng)
    yield eng
    eng.dispose()


def _append(eng: Engine, n: int, actor: str = "alice") -> None:
    for i in range(n):
        with eng.begin() as conn:
            audit.append(conn, actor=actor, action="gate.decision", subject=f"models:/m/{i}",
                         payload={"i": i, "verdict": "denied"}, policy_digest=POLICY,
                         ts_ms=1_700_000_000_000 + i)


def _verify(eng: Engine) -> audit.ChainReport:
    with eng.connect() as conn:
        return audit.verify(conn)


def test_migrations_match_the_table_definitions(engine: Engine) -> None:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"version_table": "supplychain_alembic_version"})
        diff = [d for d in compare_metadata(ctx, metadata)
                if "supplychain_" in repr(d)]
        assert diff == []
        assert db.current_revision(conn) == db.head_revision()
    db.upgrade(engine)  # idempotent


def test_migrations_never_touch_mlflow_tables(engine: Engine) -> None:
    names = set(sqlalchemy.inspect(engine).get_table_names())
    assert names == {"supplychain_transition_requests", "supplychain_approvals",
                     "supplychain_audit_events", "supplychain_audit_head",
                     "supplychain_scan_attestations", "supplychain_alembic_version",
                     "supplychain_policy_history", "supplychain_policy_servers",
                     "supplychain_promotion_evidence"}


def test_append_verify_export(engine: Engine) -> None:
    _append(engine, 5)
    report = _verify(engine)
    assert report.ok and report.records == 5
    with engine.connect() as conn:
        lines = list(audit.export_jsonl(conn))
        recent = list(audit.export_jsonl(conn, since_ms=1_700_000_000_003))
    assert [json.loads(line)["seq"] for line in lines] == [1, 2, 3, 4, 5]
    assert json.loads(lines[0])["payload"] == {"i": 0, "verdict": "denied"}
    assert [json.loads(line)["seq"] for line in recent] == [4, 5]


@pytest.mark.parametrize(("tamper", "first_bad"), [
    ("UPDATE supplychain_audit_events SET payload = '{\"verdict\":\"allowed\"}' WHERE seq = 3", 3),
    ("UPDATE supplychain_audit_events SET actor = 'mallory' WHERE seq = 2", 2),
    ("DELETE FROM supplychain_audit_events WHERE seq = 2", 2),
    ("DELETE FROM supplychain_audit_events WHERE seq = 5", 5),
    ("SWAP 2 3", 2),
])
def test_verify_finds_the_first_tampered_record(engine: Engine, tamper: str, first_bad: int) -> None:
    _append(engine, 5)
    with engine.begin() as conn:
        if tamper.startswith("SWAP"):
            # swap two rows through a free seq value so the primary key never collides
            conn.execute(text("UPDATE supplychain_audit_events SET seq = -1 WHERE seq = 2"))
            conn.execute(text("UPDATE supplychain_audit_events SET seq = 2 WHERE seq = 3"))
            conn.execute(text("UPDATE supplychain_audit_events SET seq = 3 WHERE seq = -1"))
        else:
            conn.execute(text(tamper))
    report = _verify(engine)
    assert not report.ok
    assert report.first_bad_seq == first_bad, report


def test_concurrent_appenders_keep_one_chain(engine: Engine) -> None:
    threads = [threading.Thread(target=_append, args=(engine, 25, f"worker{i}")) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report = _verify(engine)
    assert report.ok, report
    assert report.records == 150
