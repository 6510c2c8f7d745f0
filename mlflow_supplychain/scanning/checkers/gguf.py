"""GGUF (llama.cpp) files: header sanity without reading tensor data, and the chat template.

Parses the version, the counts, every metadata key/value (bounded string and array sizes)
and every tensor descriptor, and checks that tensor offsets fall inside the file. Chat
templates (``tokenizer.chat_template`` and its named variants) are Jinja2 code that runtimes
render: they are checked for template injection (see :mod:`.chat_template`).
"""

from __future__ import annotations

import io
import struct
from typing import BinaryIO

from mlflow_supplychain.scanning.checkers.chat_template import report_template
from mlflow_supplychain.scanning.cursor import Cursor, Truncated
from mlflow_supplychain.scanning.excerpt import quoted
from mlflow_supplychain.scanning.findings import Code
from mlflow_supplychain.scanning.inspection import Inspection, Target

MAX_STRING = 16 << 20
MAX_DIMS = 8
_SCALAR = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_STRING, _ARRAY = 8, 9
_TEMPLATE = "tokenizer.chat_template"
_FIX = "re-export the model with llama.cpp's convert scripts"


class GgufProblem(Exception):
    """The file is not a valid GGUF file."""


def inspect_gguf(ins: Inspection, f: BinaryIO, t: Target) -> bool:
    """Validate the GGUF header at ``f``'s start."""
    member = t.member
    start = f.tell()
    size = f.seek(0, io.SEEK_END) - start if f.seekable() else None
    if f.seekable():
        f.seek(start)
    templates: list[tuple[str, str]] = []
    try:
        _check(Cursor(f, start=start), size, templates)
    except (GgufProblem, Truncated, struct.error) as exc:
        ins.add(Code.GGUF_INVALID, f"invalid GGUF: {exc}", member, fix=_FIX)
        return True
    for key, source in templates:
        report_template(ins, key, source, member, unreadable=Code.GGUF_INVALID)
    ins.saw("gguf")
    return True



def _check(cur: Cursor, size: int | None, templates: list[tuple[str, str]]) -> None:
    _magic, version = struct.unpack("<4sI", cur.take(8))
    if version not in (2, 3):
        raise GgufProblem(f"unsupported version {version}")
    tensors, kvs = struct.unpack("<QQ", cur.take(16))
    bound = size if size is not None else 1 << 40
    if tensors > bound // 24 or kvs > bound // 12:
        raise GgufProblem(f"{tensors} tensors / {kvs} metadata entries cannot fit in the file")
    alignment = 32
    for _ in range(kvs):
        key = _string(cur)
        vtype = struct.unpack("<I", cur.take(4))[0]
        value = _value(cur, vtype, bound)
        if key == _TEMPLATE or key.startswith(_TEMPLATE + "."):
            if not isinstance(value, str):
                raise GgufProblem(f"{key[:60]!r} is not a string")
            templates.append((key[:80].encode("unicode_escape").decode("ascii"), value))
        if key == "general.alignment" and isinstance(value, int):
            if value <= 0 or value & (value - 1):
                raise GgufProblem(f"general.alignment {value} is not a power of two")
            alignment = value
    ends = []
    for _ in range(tensors):
        name = _string(cur)
        dims = struct.unpack("<I", cur.take(4))[0]
        if dims > MAX_DIMS:
            raise GgufProblem(f"tensor {quoted(name)} has {dims} dimensions")
        cur.take(8 * dims)
        _ggml_type, offset = struct.unpack("<IQ", cur.take(12))
        if offset % alignment:
            raise GgufProblem(f"tensor {quoted(name)} offset {offset} is not aligned")
        ends.append(offset)
    if size is not None and ends:
        data_start = -(-cur.offset // alignment) * alignment
        if data_start + max(ends) > size:
            raise GgufProblem("a tensor offset points past the end of the file")


def _string(cur: Cursor) -> str:
    length = struct.unpack("<Q", cur.take(8))[0]
    if length > MAX_STRING:
        raise GgufProblem(f"string of {length} bytes")
    return cur.take(length).decode("utf-8", "replace")


def _value(cur: Cursor, vtype: int, bound: int) -> object:
    if vtype in _SCALAR:
        raw = cur.take(_SCALAR[vtype])
        return int.from_bytes(raw, "little") if vtype in (4, 10) else None
    if vtype == _STRING:
        return _string(cur)
    if vtype == _ARRAY:
        item, count = struct.unpack("<IQ", cur.take(12))
        if count > bound:
            raise GgufProblem(f"array of {count} items cannot fit in the file")
        if item in _SCALAR:
            cur.skip(count * _SCALAR[item])
        elif item == _STRING:
            for _ in range(count):
                length = struct.unpack("<Q", cur.take(8))[0]
                if length > MAX_STRING:
                    raise GgufProblem(f"string of {length} bytes")
                cur.skip(length)
        else:
            raise GgufProblem(f"array of unsupported type {item}")
        return None
    raise GgufProblem(f"unknown metadata type {vtype}")
