"""A forward-only reader over a byte range of a file that skips payloads without reading them.

The pickle walker reads opcodes from a block buffer and, for large payloads, seeks past them
(``skip``) instead of reading: memory stays at one block however large the file is. Streams
that cannot seek (decompressors) are skipped by reading and discarding in blocks.
"""

from __future__ import annotations

import io
from typing import BinaryIO

BLOCK = 1 << 16
"""Refill size: opcodes between payloads are dense, so a small block keeps reads cheap."""
_DISCARD = 1 << 20


class Truncated(Exception):
    """The data ended before the structure being read did."""


class Cursor:
    """Position ``pos`` in ``buf``, which holds the bytes at absolute offset ``base``."""

    __slots__ = ("base", "buf", "end", "f", "pos", "seekable")

    def __init__(self, f: BinaryIO, start: int = 0, end: int | None = None) -> None:
        self.f = f
        self.buf = b""
        self.pos = 0
        self.base = start
        try:
            self.seekable = bool(f.seekable())
        except (AttributeError, OSError, ValueError):
            self.seekable = False
        if self.seekable:
            size = f.seek(0, io.SEEK_END)
            end = size if end is None else min(end, size)
        self.end = end

    @property
    def offset(self) -> int:
        """Absolute offset of the next unread byte."""
        return self.base + self.pos

    def at_end(self) -> bool:
        """True when no byte is left (reads one block if needed)."""
        if self.pos < len(self.buf):
            return False
        self.fill(1, strict=False)
        return self.pos >= len(self.buf)

    def fill(self, need: int, *, strict: bool = True) -> None:
        """Make ``need`` bytes available at ``buf[pos:]``.

        Raises:
            Truncated: fewer than ``need`` bytes remain and ``strict`` is set.
        """
        rest = self.buf[self.pos:]
        self.base += self.pos
        self.pos = 0
        want = max(need - len(rest), BLOCK)
        at = self.base + len(rest)
        if self.end is not None:
            want = min(want, self.end - at)
        data = self._read(at, want) if want > 0 else b""
        self.buf = rest + data if rest else data
        if strict and len(self.buf) < need:
            raise Truncated(f"data ends at offset {self.base + len(self.buf)}")

    def take(self, n: int) -> bytes:
        """Read exactly ``n`` bytes (meant for small, bounded reads).

        Raises:
            Truncated: the data ends first.
        """
        if len(self.buf) - self.pos < n:
            self.fill(n)
        start = self.pos
        self.pos += n
        return self.buf[start:self.pos]

    def peek(self, n: int) -> bytes:
        """Up to ``n`` bytes from the current position, without consuming them."""
        if len(self.buf) - self.pos < n:
            self.fill(n, strict=False)
        return self.buf[self.pos:self.pos + n]

    def line(self, limit: int) -> bytes:
        """Read through the next newline (returned without it).

        Raises:
            Truncated: no newline within ``limit`` bytes or before the end.
        """
        idx = self.buf.find(b"\n", self.pos)
        while idx < 0:
            have = len(self.buf) - self.pos
            if have > limit:
                raise Truncated(f"line longer than {limit} bytes at offset {self.offset}")
            self.fill(have + 1)
            idx = self.buf.find(b"\n", self.pos)
        start = self.pos
        self.pos = idx + 1
        return self.buf[start:idx]

    def skip(self, n: int) -> None:
        """Move ``n`` bytes forward without reading them when the source can seek.

        Raises:
            Truncated: the data ends first.
        """
        avail = len(self.buf) - self.pos
        if n <= avail:
            self.pos += n
            return
        target = self.base + self.pos + n
        if self.end is not None and target > self.end:
            raise Truncated(f"payload of {n} bytes at offset {self.offset} runs past the end "
                            f"({self.end})")
        if self.seekable:
            self.base, self.buf, self.pos = target, b"", 0
            return
        remaining = n - avail
        self.base, self.buf, self.pos = self.base + len(self.buf), b"", 0
        while remaining:
            chunk = self.f.read(min(remaining, _DISCARD))
            if not chunk:
                raise Truncated(f"data ends {remaining} bytes before the payload does")
            remaining -= len(chunk)
            self.base += len(chunk)

    def _read(self, at: int, n: int) -> bytes:
        if self.seekable:
            self.f.seek(at)
        data = self.f.read(n)
        if len(data) < n and data:  # decompressors may return short reads
            parts = [data]
            got = len(data)
            while got < n:
                more = self.f.read(n - got)
                if not more:
                    break
                parts.append(more)
                got += len(more)
            data = b"".join(parts)
        return data or b""
