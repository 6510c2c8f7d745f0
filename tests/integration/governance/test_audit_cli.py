"""``audit verify``/``export`` and ``db upgrade`` through the real CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text

from mlflow_supplychain.cli.main import main
from mlflow_supplychain.errors import ExitCode
from mlflow_supplychain.governance import audit, db


def test_upgrade_verify_export_and_tamper(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert main(["db", "upgrade", "--db-uri", uri]) == ExitCode.OK
    engine = db.create_engine(uri)
    for i in range(3):
        with engine.begin() as conn:
            audit.append(conn, actor="ci", action="gate.decision", subject=f"models:/m/{i}",
                         payload={"i": i}, policy_digest="sha256:" + "0" * 64,
                         ts_ms=1_767_225_600_000 + i)  # 2026-01-01T00:00:00Z
    assert main(["audit", "verify", "--db-uri", uri]) == ExitCode.OK
    capsys.readouterr()
    assert main(["audit", "export", "--db-uri", uri, "--since", "2026-01-01T00:00:00.001"]) == 0
    seqs = [json.loads(line)["seq"] for line in capsys.readouterr().out.splitlines()]
    assert seqs == [2, 3]
    with engine.begin() as conn:
        conn.execute(text("UPDATE supplychain_audit_events SET actor = 'x' WHERE seq = 2"))
    engine.dispose()
    assert main(["audit", "verify", "--db-uri", uri]) == ExitCode.DENIED
    assert "record 2" in capsys.readouterr().err


def test_bad_since_and_unreachable_db_are_errors(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'x.db'}"
    assert main(["audit", "export", "--db-uri", uri, "--since", "yesterday"]) == ExitCode.ERROR
    assert main(["db", "upgrade", "--db-uri", "postgresql://nobody@127.0.0.1:1/none"]) == ExitCode.ERROR


def test_verify_without_tables_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "verify", "--db-uri", f"sqlite:///{tmp_path / 'empty.db'}"]) == 2
    assert "db upgrade" in capsys.readouterr().err
