"""The durable job queue: huey on SQLite (default, in the data directory) or Redis.

Every sidecar process builds the same :class:`huey.Huey` from the queue URL and registers the
same task names, so a webhook received by one process may be scanned by another, and several
sidecars may share one Redis queue. Two small key-value records live next to the queue:

- ``delivery:<id>``: a webhook delivery already queued (MLflow retries reuse the id);
- ``pending:<name>/<version>``: a scan queued at a time, so reconcile does not queue it again
  until ``rescan_after`` seconds have passed (a worker killed mid-scan loses its job; the
  marker then expires and reconcile queues the version again).
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

from huey import Huey, RedisHuey, SqliteHuey

from mlflow_supplychain.errors import Problem, SupplyChainError


class QueueError(SupplyChainError):
    """The job queue cannot be opened or written."""


def queue_name(tracking_uri: str) -> str:
    """The queue's name: one per MLflow server, so sidecars of different servers sharing one
    Redis never take each other's jobs."""
    return "mlflow-supplychain-" + hashlib.sha256(tracking_uri.encode("utf-8")).hexdigest()[:12]


def open_queue(url: str, tracking_uri: str) -> Huey:
    """The huey instance for ``url``: ``redis://...`` or a SQLite file path / ``sqlite:///``,
    named for the MLflow server at ``tracking_uri``.

    Raises:
        QueueError: unsupported URL, or Redis requested without the ``redis`` package.
    """
    if url.startswith(("redis://", "rediss://", "unix://")):
        try:
            import redis  # noqa: F401
        except ImportError:
            raise QueueError("Redis queue needs the redis package", [Problem(
                url.split("@")[-1], "redis is not installed",
                "pip install 'mlflow-supplychain[redis]'")]) from None
        return RedisHuey(queue_name(tracking_uri), url=url, results=False)
    path = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else url
    if "://" in path:
        raise QueueError("Unsupported queue URL", [Problem(
            url.split("@")[-1], "is neither redis:// nor a SQLite path",
            "use --queue redis://127.0.0.1:6379/0 or a file path")])
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return SqliteHuey(queue_name(tracking_uri), filename=path, results=False, timeout=30)


def delivery_seen(queue: Huey, delivery_id: str) -> bool:
    """Whether a delivery with this id was already queued."""
    return queue.get(f"delivery:{delivery_id}", peek=True) is not None


def mark_delivery(queue: Huey, delivery_id: str) -> None:
    """Remember a delivery, *after* its job is queued (a failure before lets MLflow retry)."""
    queue.put_if_empty(f"delivery:{delivery_id}", int(time.time()))


def claim_pending(queue: Huey, name: str, version: str, rescan_after: float) -> bool:
    """Mark a scan of ``name``/``version`` as queued; False when one is already pending."""
    key = f"pending:{name}/{version}"
    now = time.time()
    if queue.put_if_empty(key, now):
        return True
    queued_at: Any = queue.get(key, peek=True)
    if isinstance(queued_at, (int, float)) and now - queued_at < rescan_after:
        return False
    queue.delete(key)  # stale: the job was lost (worker killed) or is very slow
    return bool(queue.put_if_empty(key, now))


def release_pending(queue: Huey, name: str, version: str) -> None:
    """The scan of ``name``/``version`` finished (or was dropped)."""
    queue.delete(f"pending:{name}/{version}")
