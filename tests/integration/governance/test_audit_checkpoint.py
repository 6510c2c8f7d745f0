"""Class 12: a database writer cuts the audit log's tail and points the head row back.

The chain alone still verifies (that is the attack); a signed checkpoint kept outside the
database catches it, and catches a tail rewritten to the same length too.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy
from sqlalchemy import delete, select, update

from mlflow_supplychain.cli.main import main
from mlflow_supplychain.cli.server_cmd import SIGNING_KEY_FILE, VERIFY_KEY_FILE
from mlflow_supplychain.governance import audit
from mlflow_supplychain.governance.tables import audit_events, audit_head
from mlflow_supplychain.integrity.attest import PUBLIC_KEY_ENV_VAR
from mlflow_supplychain.testing.pytest_plugin import RunningServer

from ..helpers import new_version


def _snapshot(server: RunningServer, dest: Path) -> str:
    """A consistent copy of the running server's SQLite database (the server keeps going)."""
    with sqlite3.connect(server.data_dir / "mlflow.db") as source, sqlite3.connect(dest) as copy:
        source.backup(copy)
    return f"sqlite:///{dest}"


def _cut_tail(uri: str, keep: int) -> None:
    """What a database writer does: drop records after ``keep``, point the head back."""
    engine = sqlalchemy.create_engine(uri)
    with engine.begin() as conn:
        last = conn.execute(select(audit_events.c.hash).where(audit_events.c.seq == keep)).one()
        conn.execute(delete(audit_events).where(audit_events.c.seq > keep))
        conn.execute(update(audit_head).where(audit_head.c.id == 1)
                     .values(seq=keep, hash=last.hash))
    engine.dispose()


def _append(uri: str, count: int) -> None:
    engine = sqlalchemy.create_engine(uri)
    with engine.begin() as conn:
        for i in range(count):
            audit.append(conn, actor="writer", action="policy.load", subject=f"forged-{i}",
                         payload={}, policy_digest="sha256:" + "0" * 64, ts_ms=1)
    engine.dispose()


def test_a_signed_checkpoint_catches_a_cut_tail(gate_server: RunningServer, tmp_path: Path,
                                                unique_model_name: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    client = gate_server.client()
    version = new_version(client, unique_model_name)
    for _ in range(3):  # three refused promotions: three audit records
        with pytest.raises(Exception, match="denied"):
            client.set_registered_model_alias(unique_model_name, "production", version)
    key, pub = gate_server.data_dir / SIGNING_KEY_FILE, gate_server.data_dir / VERIFY_KEY_FILE
    checkpoint = tmp_path / "checkpoint.json"
    db = _snapshot(gate_server, tmp_path / "snapshot.db")
    assert main(["audit", "checkpoint", "--db-uri", db, "--key", str(key),
                 "-o", str(checkpoint)]) == 0
    verify = ["audit", "verify", "--db-uri", db, "--checkpoint", str(checkpoint),
              "--public-key", str(pub)]
    assert main(verify) == 0

    engine = sqlalchemy.create_engine(db)
    with engine.connect() as conn:
        head = audit.head(conn)
    engine.dispose()
    assert head is not None and head[0] >= 3
    cut = _snapshot(gate_server, tmp_path / "cut.db")
    _cut_tail(cut, head[0] - 2)
    assert main(["audit", "verify", "--db-uri", cut]) == 0  # the chain alone cannot tell
    capsys.readouterr()
    assert main(["audit", "verify", "--db-uri", cut, "--checkpoint", str(checkpoint),
                 "--public-key", str(pub)]) == 1
    assert "records were cut from the end" in capsys.readouterr().err

    _append(cut, 5)  # ...and writing a new tail past the checkpoint does not help
    assert main(["audit", "verify", "--db-uri", cut]) == 0
    assert main(["audit", "verify", "--db-uri", cut, "--checkpoint", str(checkpoint),
                 "--public-key", str(pub)]) == 1
    assert "rewritten" in capsys.readouterr().err


def test_a_forged_or_unreadable_checkpoint_is_not_trusted(gate_server: RunningServer,
                                                          tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow_supplychain.governance import checkpoint as cp
    from mlflow_supplychain.integrity.attest import Ed25519PrivateKey

    db = _snapshot(gate_server, tmp_path / "snapshot.db")
    engine = sqlalchemy.create_engine(db)
    with engine.connect() as conn:
        head = audit.head(conn)
    engine.dispose()
    assert head is not None
    pub = str(gate_server.data_dir / VERIFY_KEY_FILE)
    forged = tmp_path / "forged.json"
    forged.write_text(cp.make(head[0], head[1], Ed25519PrivateKey.generate()).to_json())
    garbage = tmp_path / "garbage.json"
    garbage.write_text("not json at all")
    base = ["audit", "verify", "--db-uri", db, "--public-key", pub, "--checkpoint"]
    assert main([*base, str(forged)]) == 1
    assert main([*base, str(garbage)]) == 2
    monkeypatch.delenv(PUBLIC_KEY_ENV_VAR, raising=False)
    # without a key the checkpoint cannot be checked: could not decide, never "intact"
    assert main(["audit", "verify", "--db-uri", db, "--checkpoint", str(forged)]) == 2
