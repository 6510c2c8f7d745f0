"""Hash remote objects while they stream in: parallel ranged reads, reassembled in order.

No network code here: the caller hands in ``fetch(obj, start, end) -> bytes`` (one ranged GET
of ``[start, end)``, pinned to the listed version of the object) and gets the
:class:`~mlflow_supplychain.integrity.manifest.Manifest` that hashing the same files on disk
would give. Nothing is written to disk.

* **Lanes.** ``lanes`` threads each take the largest object left and hash it in order; sha256
  is sequential, so one object is always hashed by one lane (two lanes keep two cores busy, as
  the local engine's workers do).
* **Window.** Each lane keeps up to ``window`` ranged reads of ``part_size`` bytes in flight,
  running ahead across object boundaries, so several small objects are fetched in parallel and
  one large object is fetched as several ranges at once. Parts are hashed strictly in order as
  they arrive; memory in flight is at most ``lanes * (window + 1) * part_size``.
* **Every limit is a verdict.** A part of the wrong length, a read error or a cancel ends the
  whole manifest with an error; nothing is ever skipped.
"""

from __future__ import annotations

import hashlib
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for

from mlflow_supplychain.errors import PATH_CHARS, ArtifactReadError, IntegrityError, Problem, excerpt
from mlflow_supplychain.integrity.manifest import Manifest, ManifestEntry
from mlflow_supplychain.integrity.object_tree import RemoteObject

PART_SIZE = 8 << 20
"""Bytes per ranged read (8 MiB: S3's recommended range size for parallel reads)."""

WINDOW = 4
"""Ranged reads in flight per lane."""

LANES = 2
"""Objects hashed at once (one core each)."""

Fetch = Callable[[RemoteObject, int, int], bytes]
"""``fetch(obj, start, end)``: the bytes ``[start, end)`` of ``obj`` as listed."""

Progress = Callable[[int, int, str], None]
"""``progress(bytes done, bytes total, last object)``, as files finish."""

_POLL = 0.2


class Cancelled(Exception):
    """The caller asked the hash to stop (its budget ran out)."""


def plan_parts(size: int, part_size: int) -> list[tuple[int, int]]:
    """The ``[start, end)`` ranges that cover ``size`` bytes, in order (none for 0 bytes)."""
    if part_size <= 0:
        raise ValueError("part_size must be positive")
    return [(start, min(start + part_size, size)) for start in range(0, size, part_size)]


def stream_manifest(objects: list[RemoteObject], fetch: Fetch, *, part_size: int = PART_SIZE,
                    window: int = WINDOW, lanes: int = LANES,
                    cancel: threading.Event | None = None,
                    progress: Progress | None = None) -> Manifest:
    """Hash every object through ``fetch`` into the manifest of those bytes.

    Raises:
        IntegrityError: a read failed (the fetch's error, usually :class:`ArtifactReadError`),
            or an object's bytes were not the length the listing gave (changed mid-read).
        Cancelled: ``cancel`` was set.
    """
    if window < 1 or lanes < 1:
        raise ValueError("window and lanes must be at least 1")
    stop = _Either(cancel)
    todo = iter(sorted(objects, key=lambda o: (-o.size, o.rel)))
    lock = threading.Lock()
    entries: list[ManifestEntry] = []
    failures: list[BaseException] = []
    total = sum(o.size for o in objects)
    done = [0]

    def take() -> RemoteObject | None:
        with lock:
            return None if stop.is_set() or failures else next(todo, None)

    def finished(entry: ManifestEntry) -> None:
        with lock:
            entries.append(entry)
            done[0] += entry.size
            count = done[0]
        if progress is not None:
            progress(count, total, entry.path)

    def lane() -> None:
        try:
            _Lane(take, fetch, part_size, window, stop, finished).run()
        except BaseException as exc:  # noqa: BLE001 - reported to the caller below
            with lock:
                failures.append(exc)

    threads = [threading.Thread(target=lane, name=f"sha256-stream-{i}", daemon=True)
               for i in range(min(lanes, max(1, len(objects))))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if cancel is not None and cancel.is_set():
        raise Cancelled
    if failures:
        first = next((f for f in failures if not isinstance(f, Cancelled)), failures[0])
        raise first
    return Manifest.from_entries(entries)


class _Either:
    """Set when a lane failed or the caller cancelled."""

    def __init__(self, cancel: threading.Event | None) -> None:
        self._own = threading.Event()
        self._cancel = cancel

    def set(self) -> None:
        self._own.set()

    def is_set(self) -> bool:
        return self._own.is_set() or (self._cancel is not None and self._cancel.is_set())


class _Lane:
    """One in-order hashing pipeline with a window of reads running ahead of it."""

    def __init__(self, take: Callable[[], RemoteObject | None], fetch: Fetch, part_size: int,
                 window: int, stop: _Either,
                 finished: Callable[[ManifestEntry], None]) -> None:
        self._take = take
        self._fetch = fetch
        self._part_size = part_size
        self._window = window
        self._stop = stop
        self._finished = finished

    def _parts(self) -> Iterator[tuple[RemoteObject, int, int]]:
        while (obj := self._take()) is not None:
            if obj.size == 0:
                yield obj, 0, 0
            for start, end in plan_parts(obj.size, self._part_size):
                yield obj, start, end

    def run(self) -> None:
        pool = ThreadPoolExecutor(max_workers=self._window, thread_name_prefix="range-get")
        inflight: deque[tuple[RemoteObject, int, int, Future[bytes] | None]] = deque()
        parts = self._parts()

        def fill() -> None:
            while len(inflight) < self._window and not self._stop.is_set():
                part = next(parts, None)
                if part is None:
                    return
                obj, start, end = part
                inflight.append((obj, start, end,
                                 pool.submit(self._fetch, obj, start, end) if end else None))

        try:
            digest = hashlib.sha256()
            fill()
            while inflight:
                obj, start, end, future = inflight.popleft()
                data = self._wait(future) if future is not None else b""
                fill()  # the next read starts before this part is hashed
                if len(data) != end - start:
                    raise _short(obj, start, end, len(data))
                if start == 0:
                    digest = hashlib.sha256()
                digest.update(data)
                del data
                if end == obj.size:
                    self._finished(ManifestEntry(obj.rel, obj.size, digest.hexdigest()))
        except BaseException:
            self._stop.set()
            raise
        finally:
            # a stalled read is abandoned, not awaited: it ends by its own read timeout
            pool.shutdown(wait=False, cancel_futures=True)

    def _wait(self, future: Future[bytes]) -> bytes:
        while not future.done():
            if self._stop.is_set():
                raise Cancelled
            wait_for([future], timeout=_POLL)
        return future.result()


def _short(obj: RemoteObject, start: int, end: int, got: int) -> IntegrityError:
    where = excerpt(obj.key, PATH_CHARS)
    return ArtifactReadError(f"Cannot hash {where}: it changed while it was read", [Problem(
        where, f"bytes {start}-{end - 1} came back as {got} bytes, not {end - start} "
        "(the object changed since it was listed)",
        "re-verify once nothing is writing to the artifact")])
