"""The policy history (every loaded policy, by digest) and which policy each process serves.

Rows in ``supplychain_policy_history`` are written once per digest and never changed: the
stored content is the canonical JSON whose sha256 *is* the digest, so :func:`policy_content`
re-checks it before returning it (an edited row is reported, not shown as that policy).
"""

from __future__ import annotations

import json
import os
import socket
import threading
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from mlflow_supplychain.digests import canonical_json, digest_of
from mlflow_supplychain.governance.tables import policy_history, policy_servers
from mlflow_supplychain.policy.schema import Policy


@dataclass(frozen=True)
class HistoryEntry:
    digest: str
    format_digest: str
    first_loaded_at: int
    source: str


@dataclass(frozen=True)
class ServingProcess:
    process: str
    digest: str
    loaded_at: int
    seen_at: int


def process_key() -> str:
    """``host:pid`` of this process (what the status endpoint lists)."""
    return f"{socket.gethostname()[:250]}:{os.getpid()}"


def remember(conn: Connection, policy: Policy, *, source: str, now_ms: int) -> bool:
    """Store ``policy`` under its digest unless it is there already; True when new."""
    digest = policy.digest
    if conn.execute(select(policy_history.c.digest)
                    .where(policy_history.c.digest == digest)).first() is not None:
        return False
    try:
        with conn.begin_nested():
            conn.execute(policy_history.insert().values(
                digest=digest, format_digest=policy.format_digest,
                content=canonical_json(policy.model_dump(mode="json")).decode("utf-8"),
                first_loaded_at=now_ms, source=source[:600]))
    except IntegrityError:  # another process stored the same policy meanwhile
        return False
    return True


def policy_content(conn: Connection, digest: str) -> dict[str, object] | None:
    """The stored policy with ``digest`` as a JSON object, or None when unknown or when the
    stored content no longer hashes to the digest."""
    row = conn.execute(select(policy_history.c.content)
                       .where(policy_history.c.digest == digest)).first()
    if row is None:
        return None
    try:
        content = json.loads(row.content)
    except ValueError:
        return None
    if not isinstance(content, dict) or digest_of(content) != digest:
        return None
    return content


def history(conn: Connection, limit: int = 50) -> list[HistoryEntry]:
    """The newest ``limit`` policies loaded, newest first."""
    rows = conn.execute(select(policy_history.c.digest, policy_history.c.format_digest,
                               policy_history.c.first_loaded_at, policy_history.c.source)
                        .order_by(policy_history.c.first_loaded_at.desc()).limit(limit)).all()
    return [HistoryEntry(str(r.digest), str(r.format_digest), int(r.first_loaded_at),
                         str(r.source)) for r in rows]


class FormatDigests:
    """policy digest -> format digest, from the history (cached: rows never change)."""

    def __init__(self) -> None:
        self._known: dict[str, str] = {}
        self._lock = threading.Lock()

    def lookup(self, conn: Connection, policy_digest: str) -> str | None:
        with self._lock:
            if policy_digest in self._known:
                return self._known[policy_digest]
        content = policy_content(conn, policy_digest)
        if content is None:
            return None  # not cached: the policy may be stored later
        try:
            value = Policy.model_validate(content).format_digest
        except ValueError:
            return None
        with self._lock:
            self._known[policy_digest] = value
        return value


def serve(conn: Connection, digest: str, *, loaded_at: int, now_ms: int) -> None:
    """Record that this process serves ``digest`` (loaded at ``loaded_at``)."""
    key = process_key()
    done = conn.execute(update(policy_servers).where(policy_servers.c.process == key).values(
        digest=digest, loaded_at=loaded_at, seen_at=now_ms))
    if done.rowcount:
        return
    try:
        with conn.begin_nested():
            conn.execute(policy_servers.insert().values(process=key, digest=digest,
                                                        loaded_at=loaded_at, seen_at=now_ms))
    except IntegrityError:
        conn.execute(update(policy_servers).where(policy_servers.c.process == key).values(
            digest=digest, loaded_at=loaded_at, seen_at=now_ms))


def serving(conn: Connection, *, since_ms: int) -> list[ServingProcess]:
    """Every process seen since ``since_ms``, with the digest it serves."""
    rows = conn.execute(select(policy_servers).where(policy_servers.c.seen_at >= since_ms)
                        .order_by(policy_servers.c.process)).all()
    return [ServingProcess(str(r.process), str(r.digest), int(r.loaded_at), int(r.seen_at))
            for r in rows]
