"""Zip and tar containers: listing checks (traversal, links, duplicates, bombs), then every
member is inspected by content.

PyTorch zip checkpoints are zips whose ``<prefix>/data/<n>`` members hold raw tensor storage;
those are only opened when they look like a container (a pickle hidden as a storage). Every
other member of any name is inspected normally, so a ``data.pkl`` renamed to anything is still
analysed. Stored (uncompressed) members of a zip on disk are read through a window on the
file, so seeking past pickle payloads does not read them.
"""

from __future__ import annotations

import lzma
import re
import stat
import struct
import zipfile
import zlib
from itertools import pairwise
from typing import BinaryIO

from mlflow_supplychain.scanning import torchscript
from mlflow_supplychain.scanning.findings import Code
from mlflow_supplychain.scanning.inspection import Inspection, Target
from mlflow_supplychain.scanning.opcodes import PICKLE_HEADS
from mlflow_supplychain.scanning.window import Forward, Window

_STORAGE = re.compile(r"(^|.*/)data/\d+$")
_FIX_LAYOUT = "rebuild the archive with plain relative member names and no links"


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


def _join(parent: str | None, name: str) -> str:
    return f"{parent}!{name}" if parent else name


def inspect_zip(ins: Inspection, f: BinaryIO, t: Target) -> bool:
    """Check a zip's listing, then inspect each member."""
    member, depth = t.member, t.depth
    try:
        zf = zipfile.ZipFile(f)
        infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError,
            NotImplementedError, struct.error) as exc:
        ins.add(Code.ARCHIVE_MALFORMED, f"unreadable zip: {exc}", member,
                fix="re-create the archive")
        return True
    limits = ins.limits
    if len(infos) > limits.max_members:
        ins.add(Code.ARCHIVE_BOMB, f"{len(infos)} members (limit {limits.max_members})", member,
                fix="split the artifact")
        return True
    bad = _zip_listing(ins, infos, member)
    names = {i.filename for i in infos}
    ins.torchscript.update(torchscript.roots(names, member))  # pickle family's TorchScript hook
    torch_like = any(n.endswith("data.pkl") for n in names)
    special = ins.registry.documents_for(names)
    with zf:
        for info in infos:
            if info.filename in bad or info.is_dir():
                continue
            label = _join(member, info.filename)
            if info.flag_bits & 0x1:
                ins.add(Code.ARCHIVE_ENCRYPTED, "encrypted member cannot be inspected", label,
                        fix="store the artifact unencrypted; encrypt the storage instead")
                continue
            storage = torch_like and bool(_STORAGE.match(info.filename))
            try:
                stream = _open_member(zf, info, f)
                check = special.get(info.filename)
                if check is not None and info.file_size <= limits.max_json:
                    check(ins, stream.read(limits.max_json), label)
                    continue
                ins.stream(stream, label, depth + 1, size=info.file_size, storage=storage)
            except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError,
                    RuntimeError, struct.error, zlib.error, lzma.LZMAError) as exc:
                ins.add(Code.ARCHIVE_MALFORMED, f"unreadable member: {exc}", label,
                        fix="re-create the archive")
    return True


def _zip_listing(ins: Inspection, infos: list[zipfile.ZipInfo], member: str | None) -> set[str]:
    """Listing-level findings; returns names not to open."""
    limits = ins.limits
    bad: set[str] = set()
    seen: set[str] = set()
    total = 0
    spans = []
    for info in infos:
        name = info.filename
        label = _join(member, name)
        if not name:
            ins.add(Code.ARCHIVE_MALFORMED, "member with an empty name", label,
                    fix="re-create the archive")
            bad.add(name)
            continue
        why = unsafe_name(name)
        if why:
            ins.add(Code.ARCHIVE_TRAVERSAL, f"member name {why} (path traversal)", label,
                    fix=_FIX_LAYOUT)
            bad.add(name)
        if stat.S_ISLNK(info.external_attr >> 16):
            ins.add(Code.ARCHIVE_SYMLINK, "member is a symbolic link", label, fix=_FIX_LAYOUT)
            bad.add(name)
        if name in seen:
            ins.add(Code.ARCHIVE_DUPLICATE, "duplicate member name (readers disagree on which "
                    "copy wins)", label, fix=_FIX_LAYOUT)
            bad.add(name)
        seen.add(name)
        total += info.file_size
        if (info.file_size > limits.ratio_floor
                and info.file_size > limits.max_ratio * max(info.compress_size, 1)):
            ins.add(Code.ARCHIVE_BOMB, f"compression ratio {info.file_size // max(info.compress_size, 1)}"
                    f":1 exceeds {limits.max_ratio:.0f}:1 (zip bomb)", label,
                    fix="store large arrays uncompressed or in safetensors")
            bad.add(name)
        spans.append((info.header_offset, info.header_offset + 30 + info.compress_size, name))
    if total > limits.max_unpacked:
        ins.add(Code.ARCHIVE_BOMB, f"declares {total} uncompressed bytes (limit "
                f"{limits.max_unpacked})", member, fix="split the artifact")
        bad.update(seen)
    spans.sort()
    for (_, end, first), (start, _, second) in pairwise(spans):
        if start < end:
            ins.add(Code.ARCHIVE_BOMB, f"members {first!r} and {second!r} overlap (overlapping "
                    "zip bomb)", member, fix="re-create the archive")
            bad.update((first, second))
            break
    return bad


def _open_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, f: BinaryIO) -> BinaryIO:
    """A seekable window for stored members of a seekable zip; the zip reader otherwise."""
    if info.compress_type == zipfile.ZIP_STORED and f.seekable():
        f.seek(info.header_offset)
        header = f.read(30)
        if len(header) == 30 and header[:4] == b"PK\x03\x04":
            name_len, extra_len = struct.unpack("<HH", header[26:30])
            start = info.header_offset + 30 + name_len + extra_len
            return Window(f, start, info.file_size)  # type: ignore[return-value]
    return zf.open(info)  # type: ignore[return-value]


def inspect_tar(ins: Inspection, f: BinaryIO, t: Target) -> bool:
    """Check a tar's entries (legacy ``torch.save`` tar checkpoints included) and inspect
    each regular member."""
    _tar(ins, f, t.member, t.depth)
    return True


def _tar(ins: Inspection, f: BinaryIO, member: str | None, depth: int) -> None:
    import tarfile  # only tars need it (it pulls in shutil): keeps zip scans' start-up small

    from mlflow_supplychain.scanning.torch_legacy import (
        LEGACY_MEMBERS,
        inspect_legacy_member,
    )

    limits = ins.limits
    seen: set[str] = set()
    total = 0
    try:
        mode = "r:" if f.seekable() else "r|"
        with tarfile.open(fileobj=f, mode=mode) as tf:  # type: ignore[call-overload]
            for count, entry in enumerate(tf, 1):
                label = _join(member, entry.name)
                if count > limits.max_members:
                    ins.add(Code.ARCHIVE_BOMB, f"more than {limits.max_members} members",
                            member, fix="split the artifact")
                    return
                why = unsafe_name(entry.name)
                if why:
                    ins.add(Code.ARCHIVE_TRAVERSAL, f"member name {why} (path traversal)",
                            label, fix=_FIX_LAYOUT)
                    continue
                if entry.issym() or entry.islnk():
                    ins.add(Code.ARCHIVE_SYMLINK, f"member is a link to {entry.linkname!r}",
                            label, fix=_FIX_LAYOUT)
                    continue
                if entry.name in seen:
                    ins.add(Code.ARCHIVE_DUPLICATE, "duplicate member name", label,
                            fix=_FIX_LAYOUT)
                seen.add(entry.name)
                if entry.isdir():
                    continue
                if not entry.isfile():
                    ins.add(Code.ARCHIVE_SYMLINK, "member is a device, FIFO or other special "
                            "file", label, fix=_FIX_LAYOUT)
                    continue
                total += entry.size
                if total > limits.max_unpacked:
                    ins.add(Code.ARCHIVE_BOMB, f"more than {limits.max_unpacked} bytes",
                            member, fix="split the artifact")
                    return
                stream = tf.extractfile(entry)
                if stream is None:
                    continue
                head = stream.read(2)
                if stream.seekable():
                    stream.seek(0)
                    source: BinaryIO = stream  # type: ignore[assignment]
                else:
                    source = Forward(stream, prefix=head)  # type: ignore[arg-type,assignment]
                if entry.name in LEGACY_MEMBERS and head in PICKLE_HEADS:
                    inspect_legacy_member(ins, source, label, entry.name)
                else:
                    ins.stream(source, label, depth + 1, size=entry.size)
    except (tarfile.TarError, OSError, ValueError, EOFError) as exc:
        ins.add(Code.ARCHIVE_MALFORMED, f"unreadable tar: {exc}", member,
                fix="re-create the archive")

