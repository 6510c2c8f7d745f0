"""Event parsing, the huey queue's de-duplication and pending markers, dispatch."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from mlflow_supplychain.sidecar import queue as jobqueue
from mlflow_supplychain.sidecar.events import MalformedEvent, parse_event
from mlflow_supplychain.sidecar.receiver import dispatch


def body(entity: str, action: str, **data: Any) -> bytes:
    return json.dumps({"entity": entity, "action": action, "timestamp": "t",
                       "data": data}).encode()


def test_subscribed_events() -> None:
    created = parse_event(body("model_version", "created", name="m", version="3", source="s"))
    tag = parse_event(body("model_version_tag", "set", name="m", version="3", key="k", value="v"))
    alias = parse_event(body("model_version_alias", "created", name="m", version="3",
                             alias="production"))
    assert created is not None and (created.kind, created.name, created.version) == (
        "model_version.created", "m", "3")
    assert tag is not None and tag.key == "k"
    assert alias is not None and alias.alias == "production"
    assert parse_event(body("registered_model", "created", name="m")) is None


@pytest.mark.parametrize("raw", [b"", b"[]", b"{not json", b'{"entity": "model_version"}',
                                 body("model_version", "created", name="m", version="0"),
                                 body("model_version", "created", name="", version="1"),
                                 body("model_version", "created", name="m", version="1; drop"),
                                 body("model_version_tag", "set", name="m", version="1")])
def test_malformed(raw: bytes) -> None:
    with pytest.raises(MalformedEvent):
        parse_event(raw)


@pytest.fixture
def queue(tmp_path: Path) -> Any:
    return jobqueue.open_queue(str(tmp_path / "q.db"), "http://127.0.0.1:5000")


def test_delivery_dedup_only_after_marking(queue: Any) -> None:
    assert not jobqueue.delivery_seen(queue, "d1")
    jobqueue.mark_delivery(queue, "d1")
    assert jobqueue.delivery_seen(queue, "d1")
    assert not jobqueue.delivery_seen(queue, "d2")


def test_pending_markers_expire(queue: Any) -> None:
    assert jobqueue.claim_pending(queue, "m", "1", rescan_after=60)
    assert not jobqueue.claim_pending(queue, "m", "1", rescan_after=60)
    assert jobqueue.claim_pending(queue, "m", "2", rescan_after=60)
    queue.delete("pending:m/1")
    queue.put("pending:m/1", time.time() - 120)  # a scan queued long ago and lost
    assert jobqueue.claim_pending(queue, "m", "1", rescan_after=60)
    jobqueue.release_pending(queue, "m", "1")
    assert jobqueue.claim_pending(queue, "m", "1", rescan_after=60)


def test_unsupported_queue_url() -> None:
    with pytest.raises(jobqueue.QueueError):
        jobqueue.open_queue("amqp://broker/", "http://127.0.0.1:5000")


class FakeTasks:
    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    def enqueue_scan(self, settings: Any, name: str, version: str, *, force: bool = False
                     ) -> bool:
        self.calls.append(("scan", name, version))
        return True

    def check_aliases(self, name: str) -> None:
        self.calls.append(("aliases", name))


def test_dispatch() -> None:
    tasks = FakeTasks()
    for raw in (body("model_version", "created", name="m", version="1"),
                body("model_version_tag", "set", name="m", version="1", key="team", value="x"),
                body("model_version_tag", "deleted", name="m", version="1",
                     key="supplychain.intake.owner"),
                body("model_version_alias", "created", name="m", version="1", alias="prod")):
        event = parse_event(raw)
        assert event is not None
        dispatch(tasks, None, event)  # type: ignore[arg-type]
    assert tasks.calls == [("scan", "m", "1"), ("aliases", "m"), ("aliases", "m")]


def test_each_mlflow_server_gets_its_own_queue_name() -> None:
    """Sidecars of two servers sharing one Redis must never take each other's jobs."""
    a = jobqueue.queue_name("http://10.0.0.1:5000")
    assert a == jobqueue.queue_name("http://10.0.0.1:5000")
    assert a != jobqueue.queue_name("http://10.0.0.2:5000")
