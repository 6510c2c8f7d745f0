"""Read a small file someone handed us (a policy, a record, a manifest, a hashes list, a key).

One reader for every document, so no command can hang on a FIFO, read a terminal, or fill
memory from ``/dev/zero`` behind a symlink:

* the path is opened ``O_NONBLOCK`` (opening a FIFO does not wait for a writer) and
  ``O_CLOEXEC``; a symlink the caller named is followed, but what was opened is judged by
  ``fstat`` of the open descriptor, never by an earlier ``stat`` of the path (which a swap
  could make stale);
* anything but a regular file (FIFO, socket, character or block device, directory) is refused
  before a single byte is read;
* at most ``limit`` bytes are read, whatever the file claimed to be when it was opened (it may
  grow while being read).

Errors name the file and the limit; they never quote the file's content.
"""

from __future__ import annotations

import errno
import os
import stat

from mlflow_supplychain.errors import PATH_CHARS, Problem, SupplyChainError, excerpt

_READ = 1 << 16


def file_kind(mode: int) -> str:
    """A word for what ``mode`` describes, for messages ("a FIFO", "a directory"...)."""
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    return "not a regular file"


def read_regular_file(path: str | os.PathLike[str], *, limit: int, kind: str,
                      error: type[SupplyChainError], missing_fix: str) -> bytes:
    """The bytes of the regular file at ``path``, at most ``limit`` of them.

    ``kind`` names the document in messages ("Policy file"); ``missing_fix`` is the fix shown
    when the file does not exist.

    Raises:
        SupplyChainError: (of class ``error``) missing, unreadable, not a regular file, or
            larger than ``limit`` bytes. Never anything else.
    """
    where = os.fspath(path)
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(where, flags)
    except FileNotFoundError:
        raise error(f"{kind} {where} does not exist",
                    [Problem(where, "not found", missing_fix)]) from None
    except OSError as exc:
        raise _unreadable(error, kind, where, exc) from None
    except ValueError:  # an embedded NUL byte
        shown = excerpt(where, PATH_CHARS)
        raise error(f"{kind} {shown} cannot be read", [Problem(
            shown, "is not a valid path (it contains a NUL byte)", "check the path")]) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise error(f"{kind} {where} cannot be read", [Problem(
                where, f"is {file_kind(info.st_mode)}; only a regular file is read",
                f"pass the path of the {kind.lower()} itself")])
        if info.st_size > limit:
            raise _too_large(error, kind, where, limit)
        chunks: list[bytes] = []
        total = 0
        while chunk := os.read(fd, min(_READ, limit + 1 - total)):
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:  # grew while being read
                raise _too_large(error, kind, where, limit)
        return b"".join(chunks)
    except OSError as exc:
        raise _unreadable(error, kind, where, exc) from None
    finally:
        os.close(fd)


def read_regular_text(path: str | os.PathLike[str], *, limit: int, kind: str,
                      error: type[SupplyChainError], missing_fix: str) -> str:
    """:func:`read_regular_file`, decoded as UTF-8 (a leading byte-order mark is dropped).

    Raises:
        SupplyChainError: (of class ``error``) as :func:`read_regular_file`, or not UTF-8.
    """
    raw = read_regular_file(path, limit=limit, kind=kind, error=error, missing_fix=missing_fix)
    try:
        return raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        where = os.fspath(path)
        raise error(f"{kind} {where} cannot be read", [Problem(
            where, f"is not UTF-8 text (invalid byte at offset {exc.start})",
            "save it as UTF-8")]) from None


def _too_large(error: type[SupplyChainError], kind: str, where: str,
               limit: int) -> SupplyChainError:
    return error(f"{kind} {where} is too large", [Problem(
        where, f"is larger than the limit of {limit} bytes",
        f"a {kind.lower()} is a short document; check you passed the right file")])


def _unreadable(error: type[SupplyChainError], kind: str, where: str,
                exc: OSError) -> SupplyChainError:
    reason = exc.strerror or type(exc).__name__
    fix = ("check the file's permissions" if exc.errno in {errno.EACCES, errno.EPERM}
           else "check the path")
    return error(f"{kind} {where} cannot be read", [Problem(where, reason, fix)])
