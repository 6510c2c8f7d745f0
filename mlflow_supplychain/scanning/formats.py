"""Recognise a file's format from its first bytes. File names and extensions are ignored:
a pickle renamed ``model.safetensors`` is still a pickle.
"""

from __future__ import annotations

import enum

HEAD_SIZE = 512
"""Bytes :func:`sniff` wants (tar's magic is at offset 257)."""


class Kind(str, enum.Enum):
    """What a byte stream is, by content."""

    EMPTY = "empty"
    PICKLE = "pickle"
    ZIP = "zip"
    TAR = "tar"
    NUMPY = "numpy"
    HDF5 = "hdf5"
    GGUF = "gguf"
    SAFETENSORS = "safetensors"
    GZIP = "gzip"
    BZIP2 = "bzip2"
    XZ = "xz"
    LZMA = "lzma"
    ZSTD = "zstd"
    ZLIB = "zlib"
    LZ4 = "lz4"
    SEVENZIP = "7z"
    PROTOBUF = "protobuf"
    """Starts like a protobuf message (ONNX has no magic); confirmed by the ONNX check."""
    TEXT = "text"
    UNKNOWN = "unknown"


COMPRESSED = frozenset({Kind.GZIP, Kind.BZIP2, Kind.XZ, Kind.LZMA, Kind.ZSTD, Kind.ZLIB, Kind.LZ4})
CONTAINERS = COMPRESSED | {Kind.ZIP, Kind.TAR, Kind.SEVENZIP, Kind.PICKLE, Kind.NUMPY}
"""Kinds worth opening when found inside a payload or a storage blob."""

_MAGIC: tuple[tuple[bytes, Kind], ...] = (
    (b"\x80\x02", Kind.PICKLE), (b"\x80\x03", Kind.PICKLE), (b"\x80\x04", Kind.PICKLE),
    (b"\x80\x05", Kind.PICKLE),
    (b"7z\xbc\xaf\x27\x1c", Kind.SEVENZIP),
    (b"PK\x03\x04", Kind.ZIP), (b"PK\x05\x06", Kind.ZIP), (b"PK\x07\x08", Kind.ZIP),
    (b"\x93NUMPY", Kind.NUMPY),
    (b"\x89HDF\r\n\x1a\n", Kind.HDF5),
    (b"GGUF", Kind.GGUF),
    (b"\x1f\x8b", Kind.GZIP), (b"BZh", Kind.BZIP2), (b"\xfd7zXZ\x00", Kind.XZ),
    (b"\x28\xb5\x2f\xfd", Kind.ZSTD), (b"\x04\x22\x4d\x18", Kind.LZ4),
    (b"\x5d\x00\x00", Kind.LZMA),
)


def sniff(head: bytes) -> Kind:
    """Classify a stream from its first :data:`HEAD_SIZE` bytes (fewer if it is shorter)."""
    if not head:
        return Kind.EMPTY
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if len(head) >= 262 and head[257:262] == b"ustar":
        return Kind.TAR
    if len(head) >= 9 and head[8:9] == b"{" and _safetensors_length(head[:8]):
        return Kind.SAFETENSORS
    if len(head) >= 2 and head[0] == 0x78 and (head[0] * 256 + head[1]) % 31 == 0:
        return Kind.ZLIB
    if looks_like_text(head):
        return Kind.TEXT
    if head[0] == 0x08 and len(head) >= 2 and head[1] < 0x80:
        return Kind.PROTOBUF
    return Kind.UNKNOWN


def looks_like_text(sample: bytes) -> bool:
    """UTF-8 (possibly cut mid-character at the end) without NUL or most control bytes."""
    if b"\x00" in sample:
        return False
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(sample) - 3:
            return False
        text = sample[:exc.start].decode("utf-8", "ignore")
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\n\r\f\v\x1b")
    return controls * 100 <= len(text)


def _safetensors_length(prefix: bytes) -> bool:
    """A plausible little-endian header length, or bytes that are clearly not text (so a
    hostile 2**63 length is still examined as safetensors and reported)."""
    if int.from_bytes(prefix, "little") < 1 << 40:
        return True
    return any(b >= 0x80 or b < 0x09 for b in prefix)
