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
import struct
import tempfile
import zipfile
import zlib
from typing import BinaryIO

from mlflow_supplychain.scanning import torchscript
from mlflow_supplychain.scanning.checkers.zip_listing import (
    check_listing,
    folded_name,
    unsafe_name,
)
from mlflow_supplychain.scanning.excerpt import excerpt, quoted
from mlflow_supplychain.scanning.findings import Code
from mlflow_supplychain.scanning.inspection import Inspection, Target
from mlflow_supplychain.scanning.opcodes import PICKLE_HEADS
from mlflow_supplychain.scanning.window import Forward, Window

_STORAGE = re.compile(r"(^|.*/)data/\d+$")
_FIX_LAYOUT = "rebuild the archive with plain relative member names and no links"


def _join(parent: str | None, name: str) -> str:
    """The label of member ``name``: escaped and cut short (names are file content too)."""
    shown = excerpt(name, 200)
    return f"{parent}!{shown}" if parent else shown


def inspect_zip(ins: Inspection, f: BinaryIO, t: Target) -> bool:
    """Check a zip's listing, then inspect each member in file order."""
    if isinstance(f, zipfile.ZipExtFile) or not _seekable(f):
        # A zip inside a compressed member: every backward seek would decompress the outer
        # member again from its start (a reversed central directory makes that quadratic).
        with tempfile.TemporaryFile(prefix="mlflow-supplychain-") as spool:
            if _spool(ins, f, spool, t.member):
                _zip(ins, spool, t)  # type: ignore[arg-type]
        return True
    _zip(ins, f, t)
    return True


def _spool(ins: Inspection, f: BinaryIO, spool: BinaryIO, member: str | None) -> bool:
    limit = ins.limits.max_spool
    written = 0
    while chunk := f.read(1 << 20):
        written += len(chunk)
        if written > limit:
            ins.add(Code.LIMIT_REACHED, f"nested zip larger than {limit} bytes cannot be "
                    "inspected", member, fix="store nested archives uncompressed")
            return False
        spool.write(chunk)
    spool.seek(0)
    return True


def _zip(ins: Inspection, f: BinaryIO, t: Target) -> None:
    member, depth = t.member, t.depth
    limits = ins.limits
    try:
        zf = zipfile.ZipFile(f)
        infos = zf.infolist()
        if len(infos) > limits.max_members:
            ins.add(Code.ARCHIVE_BOMB, f"{len(infos)} members (limit {limits.max_members})",
                    member, fix="split the artifact")
            return
        found, bad = check_listing(f, zf, infos, max_ratio=limits.max_ratio,
                                   ratio_floor=limits.ratio_floor,
                                   max_unpacked=limits.max_unpacked)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError,
            NotImplementedError, struct.error) as exc:
        ins.add(Code.ARCHIVE_MALFORMED, f"unreadable zip: {excerpt(exc)}", member,
                fix="re-create the archive")
        return
    for problem in found:
        label = _join(member, problem.name) if problem.name is not None else member
        ins.add(problem.code, problem.message, label, fix=problem.fix)
    names = {i.filename for i in infos}
    ins.torchscript.update(torchscript.roots(names, member))  # pickle family's TorchScript hook
    torch_like = any(n.endswith("data.pkl") for n in names)
    if _is_torchscript(names):
        ins.saw("torchscript")
    special = ins.registry.documents_for(names)
    order = sorted(range(len(infos)), key=lambda i: infos[i].header_offset)
    with zf:
        for index in order:
            info = infos[index]
            if index in bad or info.is_dir():
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
                if check is not None:
                    if info.file_size > limits.max_json:
                        ins.add(Code.LIMIT_REACHED, f"{info.file_size}-byte document not "
                                f"examined (limit {limits.max_json})", label,
                                fix="keep model configs small")
                    else:
                        check(ins, stream.read(limits.max_json), label)
                    continue
                ins.stream(stream, label, depth + 1, size=info.file_size, storage=storage)
            except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError,
                    RuntimeError, struct.error, zlib.error, lzma.LZMAError) as exc:
                ins.add(Code.ARCHIVE_MALFORMED, f"unreadable member: {excerpt(exc)}", label,
                        fix="re-create the archive")


def _is_torchscript(names: set[str]) -> bool:
    """``torch.jit.save`` archives: ``constants.pkl`` and compiled ``code/__torch__`` next to
    ``data.pkl`` (the format id ``torchscript``; its verdict belongs to the format policy)."""
    return any(n.endswith("constants.pkl") for n in names) and any(
        "/code/__torch__" in n or n.startswith("code/__torch__") for n in names)


def _seekable(f: BinaryIO) -> bool:
    try:
        return bool(f.seekable())
    except (AttributeError, OSError, ValueError):
        return False


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
        mode = "r:" if _seekable(f) else "r|"
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
                    ins.add(Code.ARCHIVE_SYMLINK, f"member is a link to {quoted(entry.linkname)}",
                            label, fix=_FIX_LAYOUT)
                    continue
                if entry.isdir():
                    continue  # a directory listed twice overwrites nothing
                if folded_name(entry.name) in seen:
                    ins.add(Code.ARCHIVE_DUPLICATE, "duplicate member name (also after case "
                            "and separator folding)", label, fix=_FIX_LAYOUT)
                seen.add(folded_name(entry.name))
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
                if _seekable(stream):
                    stream.seek(0)
                    source: BinaryIO = stream  # type: ignore[assignment]
                else:
                    source = Forward(stream, prefix=head)  # type: ignore[arg-type,assignment]
                if entry.name in LEGACY_MEMBERS and head in PICKLE_HEADS:
                    inspect_legacy_member(ins, source, label, entry.name)
                else:
                    ins.stream(source, label, depth + 1, size=entry.size)
    except (tarfile.TarError, OSError, ValueError, EOFError) as exc:
        ins.add(Code.ARCHIVE_MALFORMED, f"unreadable tar: {excerpt(exc)}", member,
                fix="re-create the archive")

