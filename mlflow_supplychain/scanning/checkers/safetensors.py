"""safetensors: validate the header without reading tensor data.

Checks: header length within the file and under 100 MB (the reference implementation's
limit), UTF-8 JSON object without duplicate keys, known dtypes, non-negative shapes, offsets
that match the shape, are in range, do not overlap, leave no gap, and end exactly at the end
of the file (no trailing bytes where something could hide).
"""

from __future__ import annotations

import io
import json
from typing import Any, BinaryIO

from mlflow_supplychain.scanning.findings import Code
from mlflow_supplychain.scanning.inspection import Inspection, Target

MAX_HEADER = 100_000_000
DTYPE_BITS = {
    "BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "I16": 16,
    "U16": 16, "F16": 16, "BF16": 16, "I32": 32, "U32": 32, "F32": 32, "F64": 64, "I64": 64,
    "U64": 64, "C64": 64, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
}
_FIX = "re-save the tensors with the safetensors library"


class HeaderProblem(Exception):
    """The header is invalid; the message says how."""


def check_header(header: bytes, data_size: int) -> int:
    """Validate a safetensors JSON header against ``data_size`` bytes of tensor data.

    Returns the number of tensors.

    Raises:
        HeaderProblem: the header is not valid.
    """
    try:
        parsed = json.loads(header.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise HeaderProblem(f"header is not valid JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise HeaderProblem("header is not a JSON object")
    spans = []
    for name, entry in parsed.items():
        if name == "__metadata__":
            if not isinstance(entry, dict) or not all(
                    isinstance(v, str) for v in entry.values()):
                raise HeaderProblem("__metadata__ must map strings to strings")
            continue
        spans.append(_tensor_span(name, entry))
    spans.sort()
    cursor = 0
    for begin, end, name in spans:
        if begin != cursor:
            raise HeaderProblem(f"tensor {name!r} starts at {begin}, expected {cursor} "
                                "(gap or overlap)")
        cursor = end
    if cursor != data_size:
        what = "trailing bytes after the last tensor" if cursor < data_size else "truncated data"
        raise HeaderProblem(f"{what}: tensors end at {cursor}, data is {data_size} bytes")
    return len(spans)


def _tensor_span(name: str, entry: Any) -> tuple[int, int, str]:
    # hot path (hundreds of tensors per header): plain type checks, no generators
    try:
        if len(entry) != 3:
            raise KeyError
        dtype, shape, (begin, end) = entry["dtype"], entry["shape"], entry["data_offsets"]
    except (TypeError, KeyError, ValueError):
        raise HeaderProblem(f"tensor {name!r} must have exactly dtype, shape and "
                            "data_offsets [begin, end]") from None
    bits = DTYPE_BITS.get(dtype) if type(dtype) is str else None
    if bits is None:
        raise HeaderProblem(f"tensor {name!r} has unknown dtype {dtype!r}")
    if type(shape) is not list:
        raise HeaderProblem(f"tensor {name!r} has an invalid shape")
    for dim in shape:
        if type(dim) is not int or dim < 0:
            raise HeaderProblem(f"tensor {name!r} has an invalid shape")
        bits *= dim
    if type(begin) is not int or type(end) is not int or not 0 <= begin <= end:
        raise HeaderProblem(f"tensor {name!r} has invalid data_offsets")
    if bits % 8 or end - begin != bits // 8:
        raise HeaderProblem(f"tensor {name!r}: data_offsets span {end - begin} "
                            f"bytes but dtype and shape need {bits / 8:g}")
    return begin, end, name


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def inspect_safetensors(ins: Inspection, f: BinaryIO, t: Target) -> bool:
    """Validate the safetensors file at ``f``'s position (only the header is read)."""
    member = t.member
    start = f.tell()
    size = f.seek(0, io.SEEK_END) - start
    f.seek(start)
    prefix = f.read(8)
    length = int.from_bytes(prefix, "little")
    try:
        if len(prefix) < 8:
            raise HeaderProblem("file shorter than the 8-byte header length")
        if length > MAX_HEADER or length > size - 8:
            raise HeaderProblem(f"header length {length} exceeds the file ({size} bytes) or "
                                f"the {MAX_HEADER}-byte limit")
        check_header(f.read(length), size - 8 - length)
    except HeaderProblem as exc:
        ins.add(Code.SAFETENSORS_INVALID, f"invalid safetensors: {exc}", member, fix=_FIX)
        return True
    ins.saw("safetensors")
    return True
