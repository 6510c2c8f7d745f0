"""Pure hashing engines: sha256 of one file, and of many files in parallel.

Nothing here walks directories or decides which files belong to a model; that is
:mod:`mlflow_supplychain.integrity.manifest`'s job. The engines are tuned for page-cache and
disk speed (figures from ``benchmarks/bench_hash.py`` on the 2-core reference machine):

* every read lands in a reusable 1 MiB buffer (``os.readv``): no allocation per chunk or per
  file, and the chunk is still in the CPU cache when it is hashed (8+ MiB buffers were ~10%
  slower);
* a large file is read by a second thread into a small ring of buffers while the calling thread
  hashes, so the kernel's copy out of the page cache (or the wait on the disk) overlaps the
  hashing: 1.76 GB/s, the speed of hashing bytes already in memory, where a plain read loop
  reaches 1.63 and ``openssl dgst -sha256`` 1.40;
* ``hashlib`` and ``os.readv`` release the GIL, so a few threads hash several files truly in
  parallel; each takes the largest file left, so one huge file never starts last.

Memory maps were as fast but are not used: a file truncated while mapped kills the whole process
with SIGBUS, and the re-hash runs inside the MLflow server. Sharding one file across threads
would change the result (sha256 is sequential), so one file is always hashed by one thread.
"""

from __future__ import annotations

import errno
import hashlib
import os
import queue
import stat
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from mlflow_supplychain.errors import IntegrityError, Problem

BUFFER_SIZE = 1 << 20
"""Read size; 1 MiB stays in L2/L3 cache while being hashed."""

PIPELINE_MIN = 32 << 20
"""Files at least this large are read ahead by a second thread while being hashed."""

RING = 4
"""Buffers in flight between the read-ahead thread and the hashing thread."""


@dataclass(frozen=True)
class FileDigest:
    """Size and sha256 of one file's bytes."""

    size: int
    sha256: str


def hash_file(path: str | os.PathLike[str], *, follow_symlinks: bool = False) -> FileDigest:
    """Stream ``path`` through sha256.

    Raises:
        IntegrityError: the file cannot be opened or read, or is not a regular file
            (a symlink when ``follow_symlinks`` is false, a FIFO, a device...).
    """
    return _hash_path(path, bytearray(BUFFER_SIZE), follow_symlinks=follow_symlinks)


def hash_files(paths: Iterable[str | os.PathLike[str]], *, workers: int | None = None,
               follow_symlinks: bool = False) -> Iterator[tuple[str, FileDigest]]:
    """Hash many files in parallel, yielding ``(path, FileDigest)`` as they finish.

    ``workers`` threads (default: the CPU count) each take the largest file left. Closing the
    iterator early stops the workers after the files they are hashing.

    Raises:
        IntegrityError: any file cannot be hashed (the others are abandoned).
    """
    sized = []
    for path in paths:
        try:
            size = os.stat(path, follow_symlinks=follow_symlinks).st_size
        except OSError as exc:
            raise _unreadable(path, exc) from None
        sized.append((size, os.fspath(path)))
    sized.sort(reverse=True)
    workers = min(workers or os.cpu_count() or 1, len(sized))
    if workers <= 1:
        buf = bytearray(BUFFER_SIZE)
        for _, path in sized:
            yield path, _hash_path(path, buf, follow_symlinks=follow_symlinks)
        return
    yield from _Pool(sized, workers, follow_symlinks).results()


class _Pool:
    """``workers`` threads pulling the next-largest file from one shared list.

    A pool without one future per file: the per-file overhead is a lock and a queue put.
    """

    def __init__(self, sized: list[tuple[int, str]], workers: int, follow_symlinks: bool) -> None:
        self._todo = iter([path for _, path in sized])
        self._count = len(sized)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._done: queue.SimpleQueue[tuple[str, FileDigest | IntegrityError]] = queue.SimpleQueue()
        self._follow = follow_symlinks
        self._threads = [threading.Thread(target=self._work, name=f"sha256-{i}", daemon=True)
                         for i in range(workers)]

    def results(self) -> Iterator[tuple[str, FileDigest]]:
        for thread in self._threads:
            thread.start()
        try:
            for _ in range(self._count):
                path, outcome = self._done.get()
                if isinstance(outcome, IntegrityError):
                    raise outcome
                yield path, outcome
        finally:
            self._stop.set()
            for thread in self._threads:
                thread.join()

    def _next(self) -> str | None:
        with self._lock:
            return None if self._stop.is_set() else next(self._todo, None)

    def _work(self) -> None:
        buf = bytearray(BUFFER_SIZE)
        while (path := self._next()) is not None:
            try:
                self._done.put((path, _hash_path(path, buf, follow_symlinks=self._follow)))
            except IntegrityError as exc:
                self._done.put((path, exc))
            except Exception as exc:  # noqa: BLE001 - a worker must always report back
                self._done.put((path, IntegrityError(f"Cannot hash {path}", [Problem(
                    path, f"{type(exc).__name__}: {exc}", "report this as a bug")])))


def _hash_path(path: str | os.PathLike[str], buf: bytearray, *,
               follow_symlinks: bool) -> FileDigest:
    # O_NONBLOCK: opening a FIFO must not wait for a writer (it is then refused as not regular).
    flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)
    if not follow_symlinks:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise _unreadable(path, exc) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise IntegrityError(f"Cannot hash {os.fspath(path)}", [Problem(
                os.fspath(path), "is not a regular file", "remove it from the artifact")])
        if info.st_size >= PIPELINE_MIN:
            if hasattr(os, "posix_fadvise"):
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
            return _hash_read_ahead(fd)
        return _hash_loop(fd, buf)
    except OSError as exc:
        raise _unreadable(path, exc) from None
    finally:
        os.close(fd)


def _hash_loop(fd: int, buf: bytearray) -> FileDigest:
    digest = hashlib.sha256()
    view = memoryview(buf)
    size = 0
    while n := os.readv(fd, [buf]):
        digest.update(view[:n])
        size += n
    return FileDigest(size, digest.hexdigest())


def _hash_read_ahead(fd: int) -> FileDigest:
    """Hash ``fd`` while a second thread reads the next chunks into a ring of buffers."""
    free: queue.SimpleQueue[bytearray | None] = queue.SimpleQueue()
    full: queue.SimpleQueue[tuple[bytearray, int] | OSError] = queue.SimpleQueue()
    for _ in range(RING):
        free.put(bytearray(BUFFER_SIZE))

    def read_ahead() -> None:
        while (buf := free.get()) is not None:
            try:
                n = os.readv(fd, [buf])
            except OSError as exc:
                full.put(exc)
                return
            full.put((buf, n))  # n == 0: end of file
            if not n:
                return

    reader = threading.Thread(target=read_ahead, name="sha256-read-ahead", daemon=True)
    reader.start()
    digest = hashlib.sha256()
    size = 0
    try:
        while True:
            item = full.get()
            if isinstance(item, OSError):
                raise item
            buf, n = item
            if not n:
                break
            digest.update(memoryview(buf)[:n])
            size += n
            free.put(buf)
    finally:
        free.put(None)  # the reader stops at its next take; fd stays open until it has
        reader.join()
    return FileDigest(size, digest.hexdigest())


def _unreadable(path: str | os.PathLike[str], exc: OSError) -> IntegrityError:
    where = os.fspath(path)
    if exc.errno == errno.ELOOP:
        return IntegrityError(f"Refusing to hash {where}", [Problem(
            where, "is a symbolic link", "replace the link with the file, or pass "
            "follow_symlinks=True if links are expected")])
    return IntegrityError(f"Cannot hash {where}", [Problem(
        where, exc.strerror or str(exc), "check that the file exists and is readable")])
