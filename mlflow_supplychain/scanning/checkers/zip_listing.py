"""Zip listing checks: what an extractor could be tricked into, before any member is read.

Readers disagree about zips: Python and most libraries trust the central directory, streaming
extractors (``unzip -``, Java's ``ZipInputStream``, many "safe" extract helpers) trust the
local file headers. A member whose local header names ``../../tmp/x`` while the central
directory names ``weights.bin`` scans as one file and extracts as another. So every member's
local header is read and must agree with its central-directory entry (name, method,
encryption, sizes); names must be relative without ``..``, unique (also after the separator
and case folding Windows and macOS apply); members must not overlap each other or the
central directory (overlapping zip bombs); links are refused.
"""

from __future__ import annotations

import posixpath
import re
import stat
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from typing import BinaryIO

from mlflow_supplychain.scanning.excerpt import quoted
from mlflow_supplychain.scanning.findings import Code

_LOCAL = struct.Struct("<4sHHHHHIIIHH")
Flag = Callable[[int | None, Code, str, str], None]
_FIX_LAYOUT = "rebuild the archive with plain relative member names and no links"
_FIX_REBUILD = "re-create the archive with a standard zip tool"


@dataclass(frozen=True)
class ListingFinding:
    """A listing problem: the code, the message, and the member name (None: the archive)."""

    code: Code
    message: str
    name: str | None
    fix: str


def unsafe_name(name: str) -> str | None:
    """Why an archive member name could escape the extraction directory, or None."""
    if "\x00" in name:
        return "contains a NUL byte"
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "is an absolute path"
    parts = re.split(r"[\\/]", name)
    if ".." in parts:
        return "contains '..'"
    return None


def check_listing(f: BinaryIO, zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo], *,
                  max_ratio: float, ratio_floor: int, max_unpacked: int,
                  ) -> tuple[list[ListingFinding], set[int]]:
    """Listing findings, and the indexes (into ``infos``) of members not to open."""
    found: list[ListingFinding] = []
    bad: set[int] = set()
    exact: dict[str, int] = {}
    folded: dict[str, int] = {}
    spans: list[tuple[int, int, int]] = []
    total = 0

    def flag(index: int | None, code: Code, message: str, fix: str) -> None:
        name = infos[index].filename if index is not None else None
        found.append(ListingFinding(code, message, name, fix))
        if index is not None:
            bad.add(index)

    for index, info in enumerate(infos):
        name = info.filename
        if not name:
            flag(index, Code.ARCHIVE_MALFORMED, "member with an empty name", _FIX_REBUILD)
            continue
        why = unsafe_name(name)
        if why:
            flag(index, Code.ARCHIVE_TRAVERSAL, f"member name {why} (path traversal)",
                 _FIX_LAYOUT)
        if stat.S_ISLNK(info.external_attr >> 16):
            flag(index, Code.ARCHIVE_SYMLINK, "member is a symbolic link", _FIX_LAYOUT)
        key = folded_name(name)
        if name in exact:
            flag(index, Code.ARCHIVE_DUPLICATE, "duplicate member name (readers disagree on "
                 "which copy wins)", _FIX_LAYOUT)
            bad.add(exact[name])
        elif key in folded:
            flag(index, Code.ARCHIVE_DUPLICATE, f"member name differs from "
                 f"{quoted(infos[folded[key]].filename)} only by case or separators (one "
                 "overwrites the other on extraction)", _FIX_LAYOUT)
            bad.add(folded[key])
        exact.setdefault(name, index)
        folded.setdefault(key, index)
        total += info.file_size
        if info.file_size > ratio_floor and info.file_size > max_ratio * max(info.compress_size, 1):
            flag(index, Code.ARCHIVE_BOMB, f"compression ratio "
                 f"{info.file_size // max(info.compress_size, 1)}:1 exceeds "
                 f"{max_ratio:.0f}:1 (zip bomb)",
                 "store large arrays uncompressed or in safetensors")
        end = _local_header(f, info, index, flag)
        if end is not None:
            spans.append((info.header_offset, end, index))
    if total > max_unpacked:
        flag(None, Code.ARCHIVE_BOMB, f"declares {total} uncompressed bytes (limit "
             f"{max_unpacked})", "split the artifact")
        bad.update(range(len(infos)))
    spans.sort()
    for (_, end, first), (start, _, second) in pairwise(spans):
        if start < end:
            flag(second, Code.ARCHIVE_BOMB, f"members {quoted(infos[first].filename)} and "
                 f"{quoted(infos[second].filename)} overlap (overlapping zip bomb)",
                 _FIX_REBUILD)
            bad.add(first)
    if spans and max(end for _, end, _ in spans) > zf.start_dir:
        index = max(spans, key=lambda s: s[1])[2]
        flag(index, Code.ARCHIVE_INCONSISTENT, "member data runs into the central directory",
             _FIX_REBUILD)
    return found, bad


def folded_name(name: str) -> str:
    """The name as a case-insensitive file system with either separator sees it."""
    path = posixpath.normpath("/" + name.replace("\\", "/"))
    return path.casefold().rstrip("/")


def _local_header(f: BinaryIO, info: zipfile.ZipInfo, index: int, flag: Flag) -> int | None:
    """Compare the local header with the central directory; the member's end offset."""
    f.seek(info.header_offset)
    raw = f.read(_LOCAL.size)
    if len(raw) != _LOCAL.size or raw[:4] != b"PK\x03\x04":
        flag(index, Code.ARCHIVE_INCONSISTENT, "central directory points at no local header",
             _FIX_REBUILD)
        return None
    (_sig, _version, flags, method, _time, _date, _crc, csize, usize, name_len,
     extra_len) = _LOCAL.unpack(raw)
    name_raw = f.read(name_len)
    local_name = name_raw.decode("utf-8" if flags & 0x800 else "cp437", "replace")
    problems = []
    if local_name != info.orig_filename:
        problems.append(f"local header names {quoted(local_name)}")
    if method != info.compress_type:
        problems.append(f"compression method {method} vs {info.compress_type}")
    if (flags ^ info.flag_bits) & 0x1:
        problems.append("encryption flag differs")
    if not flags & 0x8 and csize != 0xFFFFFFFF and usize != 0xFFFFFFFF \
            and (csize, usize) != (info.compress_size, info.file_size):
        problems.append("sizes differ")
    if problems:
        flag(index, Code.ARCHIVE_INCONSISTENT, "local header disagrees with the central "
             f"directory ({'; '.join(problems)}): extractors disagree on what this member is",
             _FIX_REBUILD)
    return int(info.header_offset) + _LOCAL.size + int(name_len) + int(extra_len) + int(
        info.compress_size)
