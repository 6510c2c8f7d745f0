"""ONNX models: custom operator domains and external data that escapes the model directory.

ONNX is a protobuf ``ModelProto`` without magic bytes. Rather than import ``onnx`` (slow, and
it would parse tensor data), this walks the protobuf wire format directly over a memory map:
only the fields that matter are decoded and tensor payloads are skipped by length.
"""

from __future__ import annotations

import io
import mmap
import posixpath
from collections.abc import Iterator
from typing import Any, BinaryIO

from mlflow_supplychain.scanning.findings import Code
from mlflow_supplychain.scanning.inspection import Inspection, Target

STANDARD_DOMAINS = frozenset({
    "", "ai.onnx", "ai.onnx.ml", "ai.onnx.training", "ai.onnx.preview.training",
    "com.microsoft", "com.microsoft.nchwc", "com.microsoft.experimental",
    "com.ms.internal.nhwc", "org.pytorch.aten",
})
"""Operator domains implemented by ONNX and ONNX Runtime themselves."""
MAX_DEPTH = 32
_MODEL_FIELDS = frozenset({1, 2, 3, 4, 5, 6, 7, 8, 14, 20, 21, 25, 26})


class WireError(Exception):
    """The bytes are not a valid protobuf message."""


def _fields(buf: memoryview, start: int, end: int) -> Iterator[tuple[int, int, Any]]:
    """Yield ``(field number, wire type, value or (start, end))`` over ``buf[start:end]``."""
    pos = start
    while pos < end:
        key, pos = _varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise WireError("field number 0")
        if wire == 0:
            value, pos = _varint(buf, pos, end)
            yield number, wire, value
        elif wire == 2:
            length, pos = _varint(buf, pos, end)
            if pos + length > end:
                raise WireError("length-delimited field runs past its message")
            yield number, wire, (pos, pos + length)
            pos += length
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise WireError(f"unsupported wire type {wire}")
    if pos != end:
        raise WireError("message ends inside a field")


def _varint(buf: memoryview, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise WireError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _text(buf: memoryview, span: tuple[int, int]) -> str:
    return bytes(buf[span[0]:span[1]]).decode("utf-8", "replace")


class _Walker:
    def __init__(self, ins: Inspection, buf: memoryview, member: str | None) -> None:
        self.ins, self.buf, self.member = ins, buf, member
        self.custom: set[str] = set()
        self.local_domains: set[str] = set()
        self.escapes: set[str] = set()
        self.locations: set[str] = set()

    def is_model(self) -> list[tuple[int, int, Any]] | None:
        """The top-level fields when the buffer is a ModelProto, else None."""
        try:
            fields = list(_fields(self.buf, 0, len(self.buf)))
        except WireError:
            return None
        numbers = {n for n, _, _ in fields}
        if 7 not in numbers or 1 not in numbers or not numbers <= _MODEL_FIELDS:
            return None
        return fields

    def model(self, fields: list[tuple[int, int, Any]]) -> None:
        for number, wire, value in fields:
            if wire != 2:
                continue
            if number == 7:
                self.graph(value, 0)
            elif number == 8:  # opset_import: domain = 1
                for n, w, v in _fields(self.buf, *value):
                    if n == 1 and w == 2:
                        self._domain(_text(self.buf, v))
            elif number == 25:  # FunctionProto: node = 7, domain = 10
                for n, w, v in _fields(self.buf, *value):
                    if n == 10 and w == 2:
                        self.local_domains.add(_text(self.buf, v))
                    elif n == 7 and w == 2:
                        self.node(v, 1)

    def _domain(self, domain: str) -> None:
        if domain not in STANDARD_DOMAINS:
            self.custom.add(domain)

    def graph(self, span: tuple[int, int], depth: int) -> None:
        if depth > MAX_DEPTH:
            raise WireError("subgraphs nested too deep")
        for number, wire, value in _fields(self.buf, *span):
            if wire != 2:
                continue
            if number == 1:
                self.node(value, depth)
            elif number in (5, 15):  # initializer, sparse_initializer
                self.tensor(value)

    def node(self, span: tuple[int, int], depth: int) -> None:
        for number, wire, value in _fields(self.buf, *span):
            if wire != 2:
                continue
            if number == 7:
                self._domain(_text(self.buf, value))
            elif number == 5:  # AttributeProto: t = 5, g = 6, tensors = 10, graphs = 11
                for n, w, v in _fields(self.buf, *value):
                    if w == 2 and n in (6, 11):
                        self.graph(v, depth + 1)
                    elif w == 2 and n in (5, 10):
                        self.tensor(v)

    def tensor(self, span: tuple[int, int]) -> None:
        for number, wire, value in _fields(self.buf, *span):
            if number == 13 and wire == 2:  # external_data: key = 1, value = 2
                entry = {n: _text(self.buf, v) for n, w, v in _fields(self.buf, *value) if w == 2}
                if entry.get(1) == "location":
                    location = entry.get(2, "")
                    if escapes(location):
                        self.escapes.add(location)
                    else:
                        self.locations.add(posixpath.normpath(location.replace("\\", "/")))


def escapes(location: str) -> bool:
    """True when an external-data location points outside the model's directory."""
    if not location or "\x00" in location:
        return True
    path = location.replace("\\", "/")
    if path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        return True
    normal = posixpath.normpath(path)
    return normal == ".." or normal.startswith("../")


def inspect_onnx(ins: Inspection, f: BinaryIO, t: Target) -> bool:
    """Check an ONNX model; returns False when the bytes are not an ONNX model at all."""
    member = t.member
    try:
        data: mmap.mmap | bytes = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        data = f.read(ins.limits.max_spool)
    view = memoryview(data)
    try:
        walker = _Walker(ins, view, member)
        fields = walker.is_model()
        if fields is None:
            return False
        try:
            walker.model(fields)
        except WireError as exc:
            ins.add(Code.ONNX_INVALID, f"damaged ONNX model: {exc}", member,
                    fix="re-export the model")
        for domain in sorted(walker.custom - walker.local_domains):
            ins.add(Code.ONNX_CUSTOM_OP, f"custom operator domain {domain!r} needs a native "
                    "plugin library at load time", member,
                    fix="export with standard ONNX operators only")
        for location in sorted(walker.escapes):
            ins.add(Code.ONNX_EXTERNAL_DATA_ESCAPE, f"external data location {location!r} "
                    "points outside the model directory", member,
                    fix="keep external data files next to the model with relative names")
        if member is None:
            ins.external_data.update(walker.locations)
        ins.saw("onnx")
        return True
    finally:
        view.release()
        if isinstance(data, mmap.mmap):
            data.close()
