"""Append to, verify and export the hash-chained audit log (I/O over ``governance.chain``).

``append`` runs inside the caller's transaction, so an approval and its audit record commit
together or not at all. Appenders serialise on the single head row, so concurrent workers
(several processes, PostgreSQL) still produce one unbroken chain.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Connection

from mlflow_supplychain.digests import canonical_json
from mlflow_supplychain.errors import Problem, RegistryError
from mlflow_supplychain.governance.chain import AuditRecord, ChainReport, record_hash, verify_chain
from mlflow_supplychain.governance.checkpoint import Checkpoint
from mlflow_supplychain.governance.checkpoint import problem as checkpoint_check
from mlflow_supplychain.governance.tables import audit_events, audit_head

MAX_PAYLOAD = 64 * 1024
_BATCH = 1000


# Built once: the gate appends on every protected promotion, and building these statements
# cost more CPU than running them.
_BUMP = (update(audit_head).where(audit_head.c.id == 1)
         .values(seq=audit_head.c.seq + 1))
_BUMP_RETURNING = _BUMP.returning(audit_head.c.seq, audit_head.c.hash)  # one round trip
_READ_HEAD = select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)
_WRITE_HEAD = (update(audit_head).where(audit_head.c.id == 1)
               .values(hash=bindparam("head_hash")))
_INSERT = audit_events.insert()


def append(conn: Connection, *, actor: str, action: str, subject: str,
           payload: Mapping[str, Any], policy_digest: str, ts_ms: int) -> AuditRecord:
    """Append one event and return it as stored.

    Raises:
        RegistryError: the governance tables are missing (run ``mlflow-supplychain db upgrade``).
    """
    body = canonical_json(dict(payload)).decode("utf-8")
    if len(body) > MAX_PAYLOAD:
        body = canonical_json({"truncated": True, "size": len(body)}).decode("utf-8")
    # Bumping the head first takes its row lock: appenders queue here, one at a time.
    if conn.dialect.update_returning:  # PostgreSQL, SQLite; not MariaDB/MySQL
        head = conn.execute(_BUMP_RETURNING).one_or_none()
    else:
        head = conn.execute(_READ_HEAD).one() if conn.execute(_BUMP).rowcount == 1 else None
    if head is None:
        raise RegistryError("The audit log head is missing", [Problem(
            "supplychain_audit_head", "has no row 1",
            "run 'mlflow-supplychain db upgrade' against the MLflow database")])
    seq, prev = int(head.seq), str(head.hash)
    fields = {"seq": seq, "ts": ts_ms, "actor": actor[:256], "action": action[:64],
              "subject": subject[:600], "payload": body, "policy_digest": policy_digest,
              "prev_hash": prev}
    digest = record_hash(**fields)  # type: ignore[arg-type]
    conn.execute(_INSERT, {**fields, "hash": digest})
    conn.execute(_WRITE_HEAD, {"head_hash": digest})
    return AuditRecord(**fields, hash=digest)  # type: ignore[arg-type]


def iter_records(conn: Connection, *, since_ms: int | None = None) -> Iterator[AuditRecord]:
    """Every stored record in ``seq`` order (streamed in batches), optionally from a time on."""
    last = 0
    while True:
        query = select(audit_events).where(audit_events.c.seq > last)
        if since_ms is not None:
            query = query.where(audit_events.c.ts >= since_ms)
        rows = conn.execute(query.order_by(audit_events.c.seq).limit(_BATCH)).all()
        if not rows:
            return
        for row in rows:
            yield AuditRecord(**row._mapping)
        last = int(rows[-1].seq)


def verify(conn: Connection) -> ChainReport:
    """Verify the whole chain against the stored head."""
    head = conn.execute(select(audit_head.c.seq, audit_head.c.hash)
                        .where(audit_head.c.id == 1)).one_or_none()
    if head is None:
        return ChainReport(False, 0, None, "the audit head row is missing")
    return verify_chain(iter_records(conn), int(head.seq), str(head.hash))


def head(conn: Connection) -> tuple[int, str] | None:
    """The stored chain head (seq, hash), or None when the head row is missing."""
    row = conn.execute(select(audit_head.c.seq, audit_head.c.hash)
                       .where(audit_head.c.id == 1)).one_or_none()
    return None if row is None else (int(row.seq), str(row.hash))


def checkpoint_problem(conn: Connection, checkpoint: Checkpoint,
                       public_key: Ed25519PublicKey) -> str | None:
    """Why the stored chain contradicts the signed ``checkpoint`` (None: it agrees). Reads
    the head and the one checkpointed record; run :func:`verify` for the links."""
    stored = head(conn)
    if stored is None:
        return "the audit head row is missing"
    rows = conn.execute(select(audit_events).where(audit_events.c.seq == checkpoint.seq)).all()
    records = [AuditRecord(**row._mapping) for row in rows]
    return checkpoint_check(checkpoint, records, stored[0], public_key)


def export_jsonl(conn: Connection, *, since_ms: int | None = None) -> Iterator[str]:
    """One JSON line per record (payload decoded), for SIEMs and auditors."""
    for rec in iter_records(conn, since_ms=since_ms):
        data = rec.as_dict()
        data["payload"] = json.loads(rec.payload)
        yield json.dumps(data, sort_keys=True)


def page_by_subject_prefix(conn: Connection, prefix: str, *, before_seq: int | None = None,
                           limit: int = 50) -> tuple[list[AuditRecord], int | None]:
    """Records whose subject starts with ``prefix``, newest first, keyset-paginated by ``seq``
    (token: the last ``seq`` seen). A range on ``subject`` (index-friendly in every database)
    narrows the rows; ``LIKE`` with escaping keeps the match exact under any collation."""
    limit = max(1, min(limit, 500))
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1) if prefix else None
    query = select(audit_events).where(audit_events.c.subject >= prefix,
                                       audit_events.c.subject.like(escaped + "%", escape="\\"))
    if upper is not None:
        query = query.where(audit_events.c.subject < upper)
    if before_seq is not None:
        query = query.where(audit_events.c.seq < before_seq)
    rows = conn.execute(query.order_by(audit_events.c.seq.desc()).limit(limit + 1)).all()
    records = [AuditRecord(**row._mapping) for row in rows[:limit]]
    return records, (records[-1].seq if len(rows) > limit else None)
