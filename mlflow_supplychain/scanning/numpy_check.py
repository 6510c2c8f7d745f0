"""NumPy ``.npy`` arrays (also the members of ``.npz``): parse the header; numeric arrays are
data, object arrays are a pickle and are analysed as one."""

from __future__ import annotations

import ast
import re
from typing import BinaryIO

from mlflow_supplychain.scanning.cursor import Truncated
from mlflow_supplychain.scanning.findings import Code
from mlflow_supplychain.scanning.inspection import Inspection

MAX_HEADER = 1 << 16
_FIX = "re-save with numpy.save(..., allow_pickle=False)"


def inspect_npy(ins: Inspection, f: BinaryIO, member: str | None, depth: int) -> None:
    """Inspect an ``.npy`` stream at its start."""
    try:
        descr = _read_header(f)
    except (Truncated, ValueError, SyntaxError, MemoryError, RecursionError) as exc:
        ins.add(Code.NUMPY_INVALID, f"invalid .npy header: {exc}", member, fix=_FIX)
        return
    if "O" in descr:
        ins.pickle(f, member, depth)  # the array body is a pickle
        return
    ins.saw("numpy")


def _read_header(f: BinaryIO) -> str:
    """The array's dtype description (``str`` of the descr field).

    Raises:
        Truncated: the header is cut short.
        ValueError: the header is not a valid .npy header.
    """
    prefix = f.read(10)
    if len(prefix) < 10 or prefix[:6] != b"\x93NUMPY":
        raise Truncated("header cut short")
    major = prefix[6]
    if major == 1:
        length = int.from_bytes(prefix[8:10], "little")
    elif major in (2, 3):
        length = int.from_bytes(prefix[8:10] + f.read(2), "little")
    else:
        raise ValueError(f"unsupported format version {major}")
    if length > MAX_HEADER:
        raise ValueError(f"header of {length} bytes exceeds {MAX_HEADER}")
    raw = f.read(length)
    if len(raw) < length:
        raise Truncated("header cut short")
    header = ast.literal_eval(raw.decode("utf-8" if major == 3 else "latin-1").strip())
    if not isinstance(header, dict) or not {"descr", "fortran_order", "shape"} <= set(header):
        raise ValueError("header lacks descr, fortran_order or shape")
    descr = header["descr"]
    if not isinstance(descr, (str, list)):
        raise ValueError("descr is neither a string nor a field list")  # noqa: TRY004 - bad input
    return _types(descr)


def _types(descr: object) -> str:
    """All type strings of a (possibly structured) descr, joined."""
    if isinstance(descr, str):
        return re.sub(r"[^A-Za-z]", "", descr)
    if isinstance(descr, list):  # structured: [(name, descr[, shape]), ...]
        return "".join(_types(field[1]) for field in descr
                       if isinstance(field, tuple) and len(field) >= 2)
    return ""
