"""Read one named string attribute of an HDF5 file without an HDF5 library.

Keras ``.h5`` files keep their architecture in the root attribute ``model_config`` (and the
compile settings in ``training_config``): a JSON string that Keras passes whole to
``json.loads``. Searching the file for something that looks like JSON is not enough (a decoy
object before the real one, or a config whose first key is not ``class_name``, hides a Lambda
layer), so this reads the attribute message itself: its header, its datatype (a fixed-length
string, or a variable-length string in a global heap collection), its dataspace (scalar) and
its value. Every attribute message with the name is returned, wherever it is stored (object
header, continuation block or dense storage), since an attribute message is contiguous.
"""

from __future__ import annotations

import struct
from typing import Protocol

MAX_VALUE = 64 << 20
"""Largest attribute value read (same as ``ScanLimits.max_json``)."""
MAX_HITS = 1000
"""Occurrences of the attribute name examined before giving up (could not decide)."""
_SEARCH_BLOCK = 8 << 20


class RandomAccess(Protocol):
    """What the reader needs of a file: seek from its start and read."""

    def seek(self, pos: int, whence: int = 0, /) -> int: ...
    def read(self, size: int = -1, /) -> bytes: ...


class AttributeProblem(Exception):
    """The attribute message or its value cannot be read; the message says why."""


class ValueTooLarge(AttributeProblem):
    """The attribute value is larger than the limit."""


def find_all(f: RandomAccess, needles: tuple[bytes, ...]) -> dict[bytes, list[int]]:
    """File offsets of every occurrence of each needle, in one pass of bounded blocks.

    Raises:
        AttributeProblem: a needle occurs more than :data:`MAX_HITS` times.
    """
    f.seek(0)
    hits: dict[bytes, list[int]] = {n: [] for n in needles}
    overlap = max(len(n) for n in needles) - 1
    offset, tail = 0, b""
    while block := f.read(_SEARCH_BLOCK):
        data = tail + block
        base = offset - len(tail)
        for needle, found in hits.items():
            pos = data.find(needle)
            while pos != -1:
                if not found or base + pos > found[-1]:
                    found.append(base + pos)
                    if len(found) > MAX_HITS:
                        raise AttributeProblem(f"more than {MAX_HITS} occurrences of "
                                               f"{needle[:40]!r}")
                pos = data.find(needle, pos + 1)
        offset += len(block)
        tail = data[-overlap:] if overlap else b""
    return hits


def filtered_heap(f: RandomAccess, heaps: list[int]) -> bool:
    """True when one of the fractal heaps at ``heaps`` (``FRHP`` signatures; dense attribute
    storage keeps attribute messages there) has an I/O filter: its objects may be compressed,
    so a name search cannot see them."""
    for at in heaps:
        f.seek(at)
        header = f.read(9)
        if len(header) == 9 and header[4] == 0 and struct.unpack_from("<H", header, 7)[0]:
            return True
    return False


def read_string_attribute(f: RandomAccess, name_at: int, name: bytes, limit: int = MAX_VALUE
                          ) -> bytes | None:
    """The value of the string attribute whose name starts at ``name_at``; None when the
    bytes there are not an attribute message header (the name merely occurs in data).

    Raises:
        AttributeProblem: it is an attribute message, but not one this reader can decode.
    """
    name_size = len(name) + 1
    f.seek(max(0, name_at - 9))
    before = f.read(name_at - max(0, name_at - 9))
    header = _header(before, name_size)
    if header is None:
        return None
    version, dt_size, ds_size = header
    pad = (lambda n: -(-n // 8) * 8) if version == 1 else (lambda n: n)
    f.seek(name_at + pad(name_size))
    datatype = f.read(pad(dt_size))
    dataspace = f.read(pad(ds_size))
    if len(datatype) < 8 or len(dataspace) < 4:
        raise AttributeProblem("attribute message is truncated")
    _scalar(dataspace)
    dt_class = datatype[0] & 0x0F
    size = struct.unpack_from("<I", datatype, 4)[0]
    if dt_class == 3:  # fixed-length string
        if size > limit:
            raise ValueTooLarge(f"attribute value of {size} bytes (limit {limit})")
        value = f.read(size)
        if len(value) != size:
            raise AttributeProblem("attribute value is truncated")
        return value.rstrip(b"\x00 ")
    if dt_class == 9 and datatype[1] & 0x0F == 1:  # variable-length string
        raw = f.read(16)
        if len(raw) != 16:
            raise AttributeProblem("attribute value is truncated")
        length, address, index = struct.unpack("<IQI", raw)
        if length > limit:
            raise ValueTooLarge(f"attribute value of {length} bytes (limit {limit})")
        return _global_heap_object(f, address, index, length)
    raise AttributeProblem(f"attribute is not a string (HDF5 datatype class {dt_class})")


def _header(before: bytes, name_size: int) -> tuple[int, int, int] | None:
    """(version, datatype size, dataspace size) when an attribute message header ends just
    before the name."""
    if len(before) >= 8:
        version, _flags, size, dt_size, ds_size = struct.unpack("<BBHHH", before[-8:])
        if version in (1, 2) and size == name_size:
            return version, dt_size, ds_size
    if len(before) >= 9:
        version, _flags, size, dt_size, ds_size, encoding = struct.unpack("<BBHHHB",
                                                                          before[-9:])
        if version == 3 and size == name_size and encoding in (0, 1):
            return version, dt_size, ds_size
    return None


def _scalar(dataspace: bytes) -> None:
    """Accept a scalar dataspace or a simple one with exactly one element."""
    version, rank = dataspace[0], dataspace[1]
    if version == 2 and dataspace[3] == 0:
        return
    if rank == 0:
        return
    dims_at = 8 if version == 1 else 4
    if rank == 1 and len(dataspace) >= dims_at + 8 \
            and struct.unpack_from("<Q", dataspace, dims_at)[0] == 1:
        return
    raise AttributeProblem("attribute is not a single string")


def _global_heap_object(f: RandomAccess, address: int, index: int, length: int) -> bytes:
    f.seek(address)
    head = f.read(16)
    if len(head) != 16 or head[:4] != b"GCOL":
        raise AttributeProblem("variable-length string points outside a global heap")
    collection = struct.unpack_from("<Q", head, 8)[0]
    pos, end = address + 16, address + collection
    while pos + 16 <= end:
        f.seek(pos)
        raw = f.read(16)
        if len(raw) != 16:
            raise AttributeProblem("global heap is truncated")
        obj_index, _refs, _reserved, size = struct.unpack("<HHIQ", raw)
        if obj_index == 0:
            break  # free space
        if obj_index == index:
            if size != length and size < length:
                raise AttributeProblem("global heap object is shorter than the string")
            value = f.read(length)
            if len(value) != length:
                raise AttributeProblem("global heap object is truncated")
            return value
        pos += 16 + -(-size // 8) * 8
    raise AttributeProblem("variable-length string not found in its global heap")
