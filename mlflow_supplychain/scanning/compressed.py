"""Compressed streams (gzip, bz2, xz/lzma, zstd, zlib, lz4): decompress as a loader would,
under a byte budget, and inspect what comes out.

joblib writes compressed pickles with exactly these codecs. A pickle is walked straight off
the decompressor (forward only, constant memory); anything that needs seeking (zip inside
gzip) is spooled to a temporary file up to ``limits.max_spool``. Output beyond
``min(limits.max_unpacked, limits.max_ratio * compressed size)`` is a decompression bomb, and
so is output beyond the file's :class:`~.window.Meter`, which all compressed streams of one
file draw from (a gzip of a gzip cannot multiply the two ratios). A bomb is a limit reached:
"could not decide", never clean, and found in bounded time (the budget bounds the bytes
decompressed).
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import tempfile
import zlib
from typing import Any, BinaryIO

from mlflow_supplychain.scanning import formats
from mlflow_supplychain.scanning.findings import Code
from mlflow_supplychain.scanning.formats import Kind
from mlflow_supplychain.scanning.inspection import Inspection
from mlflow_supplychain.scanning.window import BudgetExceeded, Forward

_DECOMPRESS_ERRORS: tuple[type[BaseException], ...] = (
    OSError, EOFError, ValueError, lzma.LZMAError, zlib.error)


class _ZlibReader:
    """Minimal file-like zlib stream decoder (joblib's ``compress='zlib'``)."""

    def __init__(self, f: BinaryIO) -> None:
        self._f, self._d, self._pending = f, zlib.decompressobj(), b""

    def read(self, size: int = -1) -> bytes:
        size = size if size and size > 0 else 1 << 20
        while len(self._pending) < size and not self._d.eof:
            chunk = self._d.unconsumed_tail or self._f.read(1 << 16)
            if not chunk:
                raise EOFError("compressed data ends early")
            self._pending += self._d.decompress(chunk, size)
        data, self._pending = self._pending[:size], self._pending[size:]
        return data


class _ObjReader:
    """File-like reader over a streaming decompressor object that has ``eof`` (zstd): input
    that ends before the compressed frame does is an error, never a short, clean stream
    (``zstandard``'s own stream reader returns what it has and stops)."""

    def __init__(self, f: BinaryIO, dobj: Any) -> None:
        self._f, self._d, self._pending = f, dobj, b""

    def read(self, size: int = -1) -> bytes:
        size = size if size and size > 0 else 1 << 20
        while len(self._pending) < size and not self._d.eof:
            chunk = self._f.read(1 << 16)
            if not chunk:
                raise EOFError("compressed data ends before its frame does")
            self._pending += self._d.decompress(chunk)
        data, self._pending = self._pending[:size], self._pending[size:]
        return data


def _open(kind: Kind, f: BinaryIO) -> BinaryIO | None:
    if kind is Kind.GZIP:
        return gzip.GzipFile(fileobj=f, mode="rb")  # type: ignore[return-value]
    if kind is Kind.BZIP2:
        return bz2.BZ2File(f)  # type: ignore[return-value]
    if kind in (Kind.XZ, Kind.LZMA):
        return lzma.LZMAFile(f)  # type: ignore[return-value]
    if kind is Kind.ZLIB:
        return _ZlibReader(f)  # type: ignore[return-value]
    if kind is Kind.ZSTD:
        try:
            import zstandard
        except ImportError:
            return None
        return _ObjReader(f, zstandard.ZstdDecompressor().decompressobj())  # type: ignore[return-value]
    if kind is Kind.LZ4:
        try:
            import lz4.frame  # type: ignore[import-not-found]
        except ImportError:
            return None
        return lz4.frame.LZ4FrameFile(f)  # type: ignore[no-any-return]
    return None


def inspect_compressed(ins: Inspection, kind: Kind, f: BinaryIO, member: str | None,
                       depth: int, size: int | None) -> None:
    """Decompress ``f`` under a budget and inspect the result."""
    limits = ins.limits
    label = member
    stream = _open(kind, f)
    if stream is None:
        ins.add(Code.DECOMPRESSION_FAILED, f"{kind.value} data, but the decoder is not "
                "installed", member, fix=f"install the {kind.value} Python package so the "
                "content can be scanned")
        return
    budget = limits.max_unpacked
    if size:
        budget = min(budget, int(limits.max_ratio * size) + limits.ratio_floor)
    bounded = Forward(stream, budget=budget, meter=ins.meter)
    try:
        head = bounded.read(formats.HEAD_SIZE)
        inner = formats.sniff(head)
        if inner in (Kind.PICKLE, Kind.TAR) or inner in formats.COMPRESSED:
            ins.stream(Forward(bounded, prefix=head), label, depth + 1)  # type: ignore[arg-type]
        else:
            _spooled(ins, bounded, head, label, depth)
    except BudgetExceeded as exc:
        ins.add(Code.DECOMPRESSION_FAILED, f"{kind.value} stream decompresses to {exc} "
                f"(limit {limits.max_ratio:.0f}:1, at most {limits.max_unpacked} bytes): a "
                "decompression bomb, or data too large to verify", member,
                fix="store the data uncompressed")
    except _DECOMPRESS_ERRORS as exc:
        ins.add(Code.DECOMPRESSION_FAILED, f"{kind.value} data cannot be decompressed: {exc}",
                member, fix="re-create the file")
    except Exception as exc:
        if type(exc).__module__.split(".")[0] in ("zstandard", "lz4"):
            ins.add(Code.DECOMPRESSION_FAILED, f"{kind.value} data cannot be decompressed: "
                    f"{exc}", member, fix="re-create the file")
        else:
            raise


def _spooled(ins: Inspection, stream: Forward, head: bytes, member: str | None,
             depth: int) -> None:
    limits = ins.limits
    with tempfile.TemporaryFile(prefix="mlflow-supplychain-") as spool:
        spool.write(head)
        written = len(head)
        while True:
            chunk = stream.read(1 << 20)
            if not chunk:
                break
            written += len(chunk)
            if written > limits.max_spool:
                ins.add(Code.DECOMPRESSION_FAILED, f"decompressed content over "
                        f"{limits.max_spool} bytes cannot be inspected", member,
                        fix="store the data uncompressed")
                return
            spool.write(chunk)
        spool.seek(0)
        ins.stream(spool, member, depth + 1, size=written)  # type: ignore[arg-type]
