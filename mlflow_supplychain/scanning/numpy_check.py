"""NumPy ``.npy`` arrays (also the members of ``.npz``): parse the header; plain numeric
arrays are data, anything else is treated as a pickle and analysed as one.

``numpy.load`` hands the header's ``descr`` to ``numpy.dtype``, which accepts many spellings
of the object dtype (``'|O'``, ``'O'``, ``'object'``, ``'O8'``, ``'i4,O'``, ``('O', (2,))``, a
field list with an object field...). Recognising every object spelling is a losing game, so
the rule is the other way round: only the canonical numeric type strings ``numpy.save``
writes (``'<f8'``, ``'|u1'``, ``'<M8[ns]'``...) and field lists of them are data; the body
of any other array is walked as a pickle (an unusual numeric spelling then fails to parse
as one: "could not decide", never clean).
"""

from __future__ import annotations

import ast
import re
from typing import BinaryIO

from mlflow_supplychain.scanning.cursor import Truncated
from mlflow_supplychain.scanning.findings import Code
from mlflow_supplychain.scanning.inspection import Inspection

MAX_HEADER = 1 << 16
MAX_FIELDS = 10_000
_FIX = "re-save with numpy.save(..., allow_pickle=False)"
_NUMERIC = re.compile(r"[<>|=]?(?:[?bBhHiIlLqQpPefdgFDG]|[biuf]\d{1,2}|c\d{1,2}|[SUVa]\d{1,9}"
                      r"|[mM]8(?:\[\d{0,9}[a-zA-Z]{1,2}\])?)")
"""Type strings ``numpy.save`` writes (``dtype.str``) for arrays without Python objects."""


def inspect_npy(ins: Inspection, f: BinaryIO, member: str | None, depth: int) -> None:
    """Inspect an ``.npy`` stream at its start."""
    try:
        descr = _read_header(f)
    except (Truncated, ValueError, SyntaxError, MemoryError, RecursionError) as exc:
        ins.add(Code.NUMPY_INVALID, f"invalid .npy header: {exc}", member, fix=_FIX)
        return
    if not plain_numeric(descr):
        ins.pickle(f, member, depth)  # the array body is a pickle (or cannot be verified)
        return
    ins.saw("numpy")


def plain_numeric(descr: object) -> bool:
    """True when ``descr`` can only describe an array without Python objects: a canonical
    numeric type string, or a (nested) field list of them. Anything else may mean objects."""
    budget = [MAX_FIELDS]

    def check(node: object, depth: int) -> bool:
        budget[0] -= 1
        if budget[0] < 0 or depth > 32:
            return False
        if isinstance(node, str):
            return bool(_NUMERIC.fullmatch(node))
        if isinstance(node, list):  # structured: [(name, descr[, shape]), ...]
            return all(isinstance(field, tuple) and len(field) in (2, 3)
                       and isinstance(field[0], (str, tuple)) and check(field[1], depth + 1)
                       for field in node)
        return False

    return check(descr, 0)


def _read_header(f: BinaryIO) -> object:
    """The array's ``descr`` field, as written.

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
    return header["descr"]
