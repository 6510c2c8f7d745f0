"""Pure hashing engines: sha256 of one file, and of many files in parallel.

Nothing here walks directories or decides which files belong to a model; that is
:mod:`mlflow_supplychain.integrity.manifest`'s job. The engines are tuned for page-cache and
disk speed:

* one reusable buffer per worker, filled with ``os.readv`` (no per-chunk allocation) and sized
  to stay in the CPU cache (1 MiB measured best here; 8+ MiB buffers were ~10% slower);
* ``hashlib`` releases the GIL for updates over 2 KiB, so a thread pool hashes several files
  truly in parallel; files are submitted largest first so one huge file does not start last;
* small files are read with a single ``os.read`` (microseconds of overhead per file).

Sharding one file across threads would change the result (sha256 is sequential), so a single
large file is hashed by one thread.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from mlflow_supplychain.errors import IntegrityError, Problem

BUFFER_SIZE = 1 << 20
"""Read size for large files; 1 MiB stays in L2/L3 cache while being hashed."""

SMALL_FILE = 1 << 20
"""Files up to this size are read in one call."""


@dataclass(frozen=True)
class FileDigest:
    """Size and sha256 of one file's bytes."""

    size: int
    sha256: str


def hash_file(path: str | os.PathLike[str], *, follow_symlinks: bool = False) -> FileDigest:
    """Stream ``path`` through sha256 with a reusable buffer.

    Raises:
        IntegrityError: the file cannot be opened or read, or is not a regular file
            (a symlink when ``follow_symlinks`` is false, a FIFO, a device...).
    """
    flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)
    if not follow_symlinks:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise _unreadable(path, exc) from None
    try:
        return _hash_fd(fd, path)
    except OSError as exc:
        raise _unreadable(path, exc) from None
    finally:
        os.close(fd)


def _hash_fd(fd: int, path: str | os.PathLike[str]) -> FileDigest:
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise IntegrityError(f"Cannot hash {os.fspath(path)}", [Problem(
            os.fspath(path), "is not a regular file", "remove it from the artifact")])
    if info.st_size <= SMALL_FILE:
        data = os.read(fd, SMALL_FILE + 1)
        if len(data) < info.st_size:  # short read: fall back to the loop
            rest = _read_all(fd, info.st_size - len(data))
            data += rest
        return FileDigest(len(data), hashlib.sha256(data).hexdigest())
    if hasattr(os, "posix_fadvise"):
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
    digest = hashlib.sha256()
    buf = bytearray(BUFFER_SIZE)
    view = memoryview(buf)
    size = 0
    while True:
        n = os.readv(fd, [buf])
        if not n:
            break
        digest.update(buf if n == BUFFER_SIZE else view[:n])
        size += n
    return FileDigest(size, digest.hexdigest())


def _read_all(fd: int, remaining: int) -> bytes:
    chunks = []
    while remaining > 0:
        chunk = os.read(fd, remaining)
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def hash_files(paths: Iterable[str | os.PathLike[str]], *, workers: int | None = None,
               follow_symlinks: bool = False) -> Iterator[tuple[str, FileDigest]]:
    """Hash many files in parallel, yielding ``(path, FileDigest)`` as they finish.

    Files are submitted largest first. ``workers`` defaults to the CPU count.

    Raises:
        IntegrityError: any file cannot be hashed (remaining work is cancelled).
    """
    sized = []
    for path in paths:
        try:
            size = os.stat(path, follow_symlinks=follow_symlinks).st_size
        except OSError as exc:
            raise _unreadable(path, exc) from None
        sized.append((size, os.fspath(path)))
    sized.sort(reverse=True)
    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(sized) <= 1:
        for _, path in sized:
            yield path, hash_file(path, follow_symlinks=follow_symlinks)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sha256") as pool:
        futures = [(path, pool.submit(hash_file, path, follow_symlinks=follow_symlinks))
                   for _, path in sized]
        try:
            for path, future in futures:
                yield path, future.result()
        finally:
            for _, future in futures:
                future.cancel()


def _unreadable(path: str | os.PathLike[str], exc: OSError) -> IntegrityError:
    where = os.fspath(path)
    if exc.errno == errno.ELOOP:
        return IntegrityError(f"Refusing to hash {where}", [Problem(
            where, "is a symbolic link", "replace the link with the file, or pass "
            "follow_symlinks=True if links are expected")])
    return IntegrityError(f"Cannot hash {where}", [Problem(
        where, exc.strerror or str(exc), "check that the file exists and is readable")])
