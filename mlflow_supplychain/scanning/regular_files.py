"""Open only regular files, never through a symbolic link, never blocking.

A scanned tree is hostile input: an entry the directory walk saw as a regular file can be a
FIFO (``open`` would block forever), a device (``/dev/zero`` never ends) or a symbolic link
out of the tree by the time it is opened. Files are opened with ``O_NOFOLLOW | O_NONBLOCK``,
checked with ``fstat`` on the opened descriptor (what is read is what was checked) and, when
the walk's ``lstat`` is given, must still be the same file.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import BinaryIO

_FLAGS = (os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
          | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))


class UnsafeFile(OSError):
    """The path is not a plain regular file that may be read; the message says why."""


def open_regular(path: str | os.PathLike[str], *,
                 expected: os.stat_result | None = None) -> BinaryIO:
    """Open ``path`` for binary reading when it is a regular file and not a link.

    Raises:
        UnsafeFile: a link, a FIFO/socket/device/directory, or not the file ``expected``.
        OSError: it cannot be opened.
    """
    try:
        fd = os.open(path, _FLAGS)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK):
            raise UnsafeFile("is a symbolic link (not followed)") from None
        if exc.errno == errno.ENXIO:  # a FIFO without writer or a socket, O_NONBLOCK
            raise UnsafeFile("not a regular file (FIFO, socket or device)") from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeFile("not a regular file (FIFO, socket or device)")
        if expected is not None and (info.st_dev, info.st_ino) != (expected.st_dev,
                                                                   expected.st_ino):
            raise UnsafeFile("the file was replaced while the artifact was scanned")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str | os.PathLike[str], limit: int) -> bytes:
    """The whole content of the regular file ``path``, at most ``limit`` bytes.

    Raises:
        UnsafeFile: not a regular file (see :func:`open_regular`) or larger than ``limit``.
        OSError: it cannot be read.
    """
    with open_regular(path) as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise UnsafeFile(f"larger than {limit} bytes")
    return data
