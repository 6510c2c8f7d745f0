"""Pure hashing engines: sha256 of one file, and of many files in parallel.

Nothing here walks directories or decides which files belong to a model; that is
:mod:`mlflow_supplychain.integrity.tree` and :mod:`~mlflow_supplychain.integrity.manifest`'s
job. Chosen by measurement (``benchmarks/bench_hash.py``: medians of alternating rounds, wall and
CPU seconds, side by side with ``openssl dgst`` and model-signing; the figures, machine and load
are in ``docs/performance.md#hashing``):

* one plain loop: every read lands in a reusable 256 KiB buffer (``os.readv``) that is hashed
  while it is still in the CPU cache; 64 KiB to 1 MiB buffers were within the noise of each
  other, and what is left above hashing bytes already in memory is the kernel's copy out of
  the page cache, which only a memory map avoids;
* no read-ahead thread: a second thread reading 1 MiB buffers ahead costs more CPU than the
  plain loop (its hand-offs cost more than the overlap saves when cores are busy), and one
  stream's sha256 runs on one core anyway;
* one thread per core: model-signing's pool size (CPUs + 4) and processes were slower;
* ``posix_fadvise(SEQUENTIAL)`` on large files, for cold reads from disk (no cost when cached);
* ``hashlib`` and ``os.readv`` release the GIL, so a few threads hash several files truly in
  parallel; each takes the largest file left, so one huge file never starts last.

Every file is checked while it is read: it must be a regular file, the one the directory walk
found (device, inode), and unchanged from the first read to the last (size, modification and
change times, and the inode its path names): a digest of bytes rewritten mid-read matches no
version of the file. The checks are two ``fstat`` and one ``stat`` per file.

Memory maps are not used: a file truncated while mapped kills the whole process with SIGBUS,
and the re-hash runs inside the MLflow server. Sharding one file across threads would change
the result (sha256 is sequential), so one file is always hashed by one thread.
"""

from __future__ import annotations

import errno
import hashlib
import os
import queue
import stat
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from mlflow_supplychain.errors import PATH_CHARS, ArtifactReadError, IntegrityError, Problem, excerpt
from mlflow_supplychain.regular_files import file_kind

Identity = tuple[int, int]
"""``(st_dev, st_ino)`` of a file."""

BUFFER_SIZE = 256 << 10
"""Read size: 256 KiB stays in the L2 cache while it is hashed (64 KiB to 1 MiB measured alike)."""

FADVISE_MIN = 32 << 20
"""Files at least this large are announced to the kernel as read sequentially."""


@dataclass(frozen=True)
class FileDigest:
    """Size and sha256 of one file's bytes."""

    size: int
    sha256: str


def hash_file(path: str | os.PathLike[str], *, follow_symlinks: bool = False,
              identity: Identity | None = None) -> FileDigest:
    """Stream ``path`` through sha256.

    ``identity`` (device, inode), when given, is the file the caller expects (as a directory
    walk found it): any other file at ``path`` is refused.

    Raises:
        IntegrityError: the file is a symlink (when ``follow_symlinks`` is false), a FIFO, a
            device or another non-regular file (exit 1).
        ArtifactReadError: (an :class:`IntegrityError`, exit 2) the file is missing or
            unreadable, is not ``identity``, or changed while it was read.
    """
    return _hash_path(path, bytearray(BUFFER_SIZE), follow_symlinks=follow_symlinks,
                      identity=identity)


def hash_files(paths: Iterable[str | os.PathLike[str]], *, workers: int | None = None,
               follow_symlinks: bool = False,
               identities: Mapping[str, Identity] | None = None,
               ) -> Iterator[tuple[str, FileDigest]]:
    """Hash many files in parallel, yielding ``(path, FileDigest)`` as they finish.

    ``workers`` threads (default: the CPU count) each take the largest file left. Closing the
    iterator early stops the workers after the files they are hashing. ``identities`` maps a
    path to the file it must be (see :func:`hash_file`).

    Raises:
        IntegrityError: any file cannot be hashed (the others are abandoned); see
            :func:`hash_file` for which are :class:`ArtifactReadError`.
    """
    expect = identities or {}
    sized = []
    for path in paths:
        try:
            size = os.stat(path, follow_symlinks=follow_symlinks).st_size
        except (OSError, ValueError) as exc:
            raise _unreadable(path, exc) from None
        sized.append((size, os.fspath(path)))
    sized.sort(reverse=True)
    workers = min(workers or os.cpu_count() or 1, len(sized))
    if workers <= 1:
        buf = bytearray(BUFFER_SIZE)
        for _, path in sized:
            yield path, _hash_path(path, buf, follow_symlinks=follow_symlinks,
                                   identity=expect.get(path))
        return
    yield from _Pool(sized, workers, follow_symlinks, expect).results()


class _Pool:
    """``workers`` threads pulling the next-largest file from one shared list.

    A pool without one future per file: the per-file overhead is a lock and a queue put.
    """

    def __init__(self, sized: list[tuple[int, str]], workers: int, follow_symlinks: bool,
                 identities: Mapping[str, Identity]) -> None:
        self._identities = identities
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
                self._done.put((path, _hash_path(path, buf, follow_symlinks=self._follow,
                                                      identity=self._identities.get(path))))
            except IntegrityError as exc:
                self._done.put((path, exc))
            except Exception as exc:  # noqa: BLE001 - a worker must always report back
                self._done.put((path, IntegrityError(f"Cannot hash {path}", [Problem(
                    path, f"{type(exc).__name__}: {exc}", "report this as a bug")])))


def copy_hashing(path: str | os.PathLike[str], destination: str | os.PathLike[str], *,
                 identity: Identity | None = None) -> FileDigest:
    """Copy ``path`` to a new file ``destination`` while hashing it: the digest describes the
    bytes written, read once, with the same checks as :func:`hash_file` (symlinks refused).

    Raises:
        IntegrityError: as :func:`hash_file`; ``destination`` cannot be created (exit 2).
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    try:
        out = os.open(destination, flags, 0o600)
    except OSError as exc:
        raise _unreadable(destination, exc) from None
    try:
        return _hash_path(path, bytearray(BUFFER_SIZE), follow_symlinks=False,
                          identity=identity, sink=out)
    finally:
        os.close(out)


def _hash_path(path: str | os.PathLike[str], buf: bytearray, *, follow_symlinks: bool,
               identity: Identity | None = None, sink: int | None = None) -> FileDigest:
    # O_NONBLOCK: opening a FIFO must not wait for a writer (it is then refused as not regular).
    flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)
    if not follow_symlinks:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except (OSError, ValueError) as exc:
        raise _unreadable(path, exc) from None
    try:
        before = os.fstat(fd)
        if not stat.S_ISREG(before.st_mode):
            raise IntegrityError(f"Cannot hash {os.fspath(path)}", [Problem(
                os.fspath(path), f"is {file_kind(before.st_mode)}", "remove it from the artifact")])
        if identity is not None and (before.st_dev, before.st_ino) != identity:
            raise _changed(path, "was replaced after the directory was listed (or a directory "
                           "above it was swapped for a link)")
        if before.st_size >= FADVISE_MIN and hasattr(os, "posix_fadvise"):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
        digest = _hash_loop(fd, buf, sink)
        _check_unchanged(path, fd, before, digest.size, follow_symlinks)
        return digest
    except OSError as exc:
        raise _unreadable(path, exc) from None
    finally:
        os.close(fd)


def _hash_loop(fd: int, buf: bytearray, sink: int | None) -> FileDigest:
    digest = hashlib.sha256()
    view = memoryview(buf)
    size = 0
    if sink is None:
        while n := os.readv(fd, [buf]):
            digest.update(view[:n])
            size += n
    else:
        while n := os.readv(fd, [buf]):
            chunk = view[:n]
            digest.update(chunk)
            while chunk:
                chunk = chunk[os.write(sink, chunk):]
            size += n
    return FileDigest(size, digest.hexdigest())


def _check_unchanged(path: str | os.PathLike[str], fd: int, before: os.stat_result, read: int,
                     follow_symlinks: bool) -> None:
    """Refuse a digest of bytes that changed while they were read.

    A write during the read changes the size or the modification/change times (nanoseconds);
    a file renamed over ``path`` changes the inode the path names. Two ``fstat`` and one
    ``stat`` per file: nothing next to hashing it.
    """
    after = os.fstat(fd)
    if (read != before.st_size or after.st_size != before.st_size
            or after.st_mtime_ns != before.st_mtime_ns or after.st_ctime_ns != before.st_ctime_ns):
        raise _changed(path, "changed while it was read (its size or times moved)")
    try:
        now = os.stat(path, follow_symlinks=follow_symlinks)
    except OSError:
        raise _changed(path, "was removed or renamed while it was read") from None
    if (now.st_dev, now.st_ino) != (before.st_dev, before.st_ino):
        raise _changed(path, "was replaced while it was read")


def _changed(path: str | os.PathLike[str], what: str) -> ArtifactReadError:
    where = os.fspath(path)
    return ArtifactReadError(f"Cannot hash {where}", [Problem(
        where, what, "hash it again once nothing is writing to it; the digest of bytes that "
        "changed mid-read matches no version of the file")])


def _unreadable(path: str | os.PathLike[str], exc: OSError | ValueError) -> IntegrityError:
    where = excerpt(os.fspath(path), PATH_CHARS)
    if not isinstance(exc, OSError):  # an embedded NUL byte
        return ArtifactReadError(f"Cannot hash {where}", [Problem(
            where, "is not a valid path", "check the path")])
    if exc.errno == errno.ELOOP:
        return IntegrityError(f"Refusing to hash {where}", [Problem(
            where, "is a symbolic link", "replace the link with the file, or pass "
            "follow_symlinks=True if links are expected")])
    return ArtifactReadError(f"Cannot hash {where}", [Problem(
        where, exc.strerror or type(exc).__name__, "check that the file exists and is readable")])
