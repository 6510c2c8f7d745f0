"""The streamed hash: ranges planned, fetched out of order, hashed in order, limits kept."""

from __future__ import annotations

import os
import random
import threading
import time
from pathlib import Path

import pytest

from mlflow_supplychain.errors import ArtifactReadError
from mlflow_supplychain.integrity.budget import stream_within
from mlflow_supplychain.integrity.manifest import build_manifest
from mlflow_supplychain.integrity.object_tree import RemoteObject, objects_under
from mlflow_supplychain.integrity.streaming import Cancelled, plan_parts, stream_manifest


class _Store:
    """Objects in memory; reads answer after a random delay, so they finish out of order."""

    def __init__(self, files: dict[str, bytes], *, jitter: float = 0.002) -> None:
        self.files = files
        self.jitter = jitter
        self.lock = threading.Lock()
        self.inflight = 0
        self.most_inflight = 0
        self.reads: list[tuple[str, int, int]] = []

    def list(self) -> list[RemoteObject]:
        return objects_under("m", ((f"m/{k}", len(v), f'"{k}"') for k, v in self.files.items()),
                             where="s3://b/m")

    def fetch(self, obj: RemoteObject, start: int, end: int) -> bytes:
        with self.lock:
            self.inflight += 1
            self.most_inflight = max(self.most_inflight, self.inflight)
            self.reads.append((obj.rel, start, end))
        try:
            time.sleep(random.random() * self.jitter)  # noqa: S311 - a delay, not a secret
            return self.files[obj.rel][start:end]
        finally:
            with self.lock:
                self.inflight -= 1


def _tree(tmp_path: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(data)
    return tmp_path


FILES = {"big.bin": os.urandom(1000), "sub/a.txt": b"hello", "empty": b"",
         "sub/deeper/c": os.urandom(64), "exact": os.urandom(96)}


def test_plan_parts_cover_every_byte_once() -> None:
    assert plan_parts(0, 8) == []
    assert plan_parts(8, 8) == [(0, 8)]
    assert plan_parts(17, 8) == [(0, 8), (8, 16), (16, 17)]
    with pytest.raises(ValueError):
        plan_parts(10, 0)


@pytest.mark.parametrize(("part_size", "window", "lanes"), [(7, 1, 1), (32, 4, 2), (1 << 20, 8, 3)])
def test_streamed_manifest_equals_the_local_one(tmp_path: Path, part_size: int, window: int,
                                                 lanes: int) -> None:
    store = _Store(FILES)
    streamed = stream_manifest(store.list(), store.fetch, part_size=part_size, window=window,
                               lanes=lanes)
    assert streamed == build_manifest(_tree(tmp_path, FILES))


def test_in_flight_reads_stay_within_the_window() -> None:
    store = _Store({"big": os.urandom(4000), "other": os.urandom(3000)}, jitter=0.003)
    stream_manifest(store.list(), store.fetch, part_size=100, window=3, lanes=2)
    assert 2 <= store.most_inflight <= 6  # 2 lanes x 3 reads
    ranges = sorted((s, e) for rel, s, e in store.reads if rel == "big")
    assert ranges == plan_parts(4000, 100)  # each range read once, none skipped


def test_a_short_answer_is_refused_as_changed() -> None:
    store = _Store({"w": os.urandom(300)})

    def short(obj: RemoteObject, start: int, end: int) -> bytes:
        return store.fetch(obj, start, end)[:-1] if start == 100 else store.fetch(obj, start, end)

    with pytest.raises(ArtifactReadError, match="changed while it was read"):
        stream_manifest(store.list(), short, part_size=100, window=2, lanes=1)


def test_a_failing_read_fails_the_whole_manifest() -> None:
    store = _Store({f"f{i}": os.urandom(50) for i in range(20)})

    def broken(obj: RemoteObject, start: int, end: int) -> bytes:
        if obj.rel == "f7":
            raise ArtifactReadError("Cannot read s3://b/m/f7: the S3 endpoint cannot be reached")
        return store.fetch(obj, start, end)

    with pytest.raises(ArtifactReadError, match="cannot be reached"):
        stream_manifest(store.list(), broken, part_size=16, window=4, lanes=2)


def test_cancel_stops_a_stalled_read() -> None:
    store = _Store({"w": os.urandom(10)})
    cancel = threading.Event()
    release = threading.Event()

    def stall(obj: RemoteObject, start: int, end: int) -> bytes:
        release.wait(5)
        return store.fetch(obj, start, end)

    threading.Timer(0.1, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        stream_manifest(store.list(), stall, cancel=cancel)
    assert time.monotonic() - started < 2
    release.set()


def test_a_stalled_store_is_not_reverified_within_the_budget() -> None:
    store = _Store({"w": os.urandom(10)})
    release = threading.Event()

    class Stalled:
        def list(self) -> list[RemoteObject]:
            return store.list()

        def fetch(self, obj: RemoteObject, start: int, end: int) -> bytes:
            release.wait(5)
            return b""

    started = time.monotonic()
    outcome = stream_within(Stalled, 0.3)
    assert time.monotonic() - started < 1.5
    assert outcome.digest is None
    assert outcome.reason is not None and "within 0.3 s" in outcome.reason
    assert "0 of 10 bytes read" in outcome.reason
    release.set()


def test_a_store_error_is_the_reason() -> None:
    class Refusing:
        def list(self) -> list[RemoteObject]:
            raise ArtifactReadError("Cannot read s3://b/m: S3 answered AccessDenied (HTTP 403)")

        def fetch(self, obj: RemoteObject, start: int, end: int) -> bytes:
            raise AssertionError("never read")

    outcome = stream_within(Refusing, 5)
    assert outcome.digest is None and outcome.reason is not None
    assert "AccessDenied" in outcome.reason


def test_stream_within_returns_the_digest(tmp_path: Path) -> None:
    store = _Store(FILES)
    outcome = stream_within(lambda: store, 10, part_size=16)
    assert outcome.digest == build_manifest(_tree(tmp_path, FILES)).digest
