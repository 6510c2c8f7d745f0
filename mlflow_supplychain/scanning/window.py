"""File-like views the scanner reads through: a byte range of a seekable file, a stream that
forbids seeking, and a stream with a byte budget (decompression bombs)."""

from __future__ import annotations

import io
from typing import BinaryIO


class Window(io.RawIOBase):
    """Bytes ``[start, start + length)`` of a seekable file, as a seekable file."""

    def __init__(self, f: BinaryIO, start: int, length: int) -> None:
        super().__init__()
        self._f, self._start, self._length, self._pos = f, start, length, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._length}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def read(self, size: int | None = -1) -> bytes:
        left = self._length - self._pos
        if size is None or size < 0 or size > left:
            size = left
        if size <= 0:
            return b""
        self._f.seek(self._start + self._pos)
        data = self._f.read(size)
        self._pos += len(data)
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


class BudgetExceeded(Exception):
    """A stream produced more bytes than it was allowed to."""


class Meter:
    """Bytes that all the decompressors of one file may still produce together, so nested
    compressed streams (a gzip of a gzip) cannot multiply their ratios."""

    __slots__ = ("left", "total")

    def __init__(self, total: int) -> None:
        self.total = self.left = total

    def draw(self, n: int) -> None:
        """Count ``n`` produced bytes.

        Raises:
            BudgetExceeded: the file's budget is spent.
        """
        self.left -= n
        if self.left < 0:
            raise BudgetExceeded(f"more than {self.total} decompressed bytes in one file")


class Forward(io.RawIOBase):
    """A forward-only stream (``seekable()`` is False) that yields ``prefix`` first and stops
    with :class:`BudgetExceeded` after ``budget`` bytes, or when ``meter`` runs out."""

    def __init__(self, f: BinaryIO, *, prefix: bytes = b"", budget: int | None = None,
                 meter: Meter | None = None) -> None:
        super().__init__()
        self._f, self._prefix, self._budget, self.produced = f, prefix, budget, 0
        self._meter = meter

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            size = 1 << 30
        if self._prefix:
            data, self._prefix = self._prefix[:size], self._prefix[size:]
        else:
            data = self._f.read(size)
        self.produced += len(data)
        if self._budget is not None and self.produced > self._budget:
            raise BudgetExceeded(f"more than {self._budget} bytes")
        if self._meter is not None:
            self._meter.draw(len(data))
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)
