"""7z archives: the listing checks of every archive, then each member inspected by content.

Reading 7z needs the optional ``py7zr`` package (``pip install
'mlflow-supplychain[sevenzip]'``); without it a 7z archive is "could not decide", never clean.
Members are decompressed one at a time into a temporary file under the scan's byte budgets
(``max_spool`` per member, ``max_unpacked`` in all) and inspected when py7zr closes them, so
memory stays bounded; LZMA dictionaries larger than :data:`MAX_DICTIONARY` are refused before
decompression (the decoder would allocate them).
"""

from __future__ import annotations

import tempfile
from typing import TYPE_CHECKING, Any, BinaryIO

from mlflow_supplychain.scanning.checkers.zip_listing import unsafe_name
from mlflow_supplychain.scanning.excerpt import excerpt
from mlflow_supplychain.scanning.findings import Code
from mlflow_supplychain.scanning.inspection import Inspection, Target

if TYPE_CHECKING:
    from py7zr.io import Py7zIO

MAX_DICTIONARY = 256 << 20
_FIX_LAYOUT = "rebuild the archive with plain relative member names and no links"


def inspect_7z(ins: Inspection, f: BinaryIO, t: Target) -> bool:
    """Check a 7z archive's listing, then inspect each member."""
    member = t.member
    try:
        import py7zr
    except ImportError:
        ins.add(Code.ARCHIVE_UNSUPPORTED, "7z archive cannot be inspected: the optional py7zr "
                "package is not installed", member,
                fix="pip install 'mlflow-supplychain[sevenzip]', or ship a zip or tar instead")
        return True
    try:
        with py7zr.SevenZipFile(f, mode="r") as archive:
            if archive.needs_password():
                ins.add(Code.ARCHIVE_ENCRYPTED, "encrypted 7z archive cannot be inspected",
                        member, fix="store the artifact unencrypted; encrypt the storage")
                return True
            if not _dictionaries_fit(ins, archive, member):
                return True
            targets = _listing(ins, archive.list(), member)
            if targets:
                factory = _Inspecting(ins, t)
                archive.extract(targets=targets, factory=factory)  # type: ignore[arg-type]
                for name in sorted(set(targets) - factory.done)[:20]:
                    ins.add(Code.ARCHIVE_MALFORMED, "member listed but never decompressed",
                            _join(member, name), fix="re-create the archive")
    except Exception as exc:  # noqa: BLE001
        # py7zr signals damaged input with asserts and assorted built-in exceptions besides
        # its own ArchiveError: anything out of the library is "unreadable archive" (error).
        ins.add(Code.ARCHIVE_MALFORMED, f"unreadable 7z archive: {excerpt(exc)}", member,
                fix="re-create the archive")
    return True


def _listing(ins: Inspection, entries: list[Any], member: str | None) -> list[str]:
    """Listing findings; the names of the members to inspect."""
    limits = ins.limits
    if len(entries) > limits.max_members:
        ins.add(Code.ARCHIVE_BOMB, f"{len(entries)} members (limit {limits.max_members})",
                member, fix="split the artifact")
        return []
    seen: set[str] = set()
    targets: list[str] = []
    total = 0
    for entry in entries:
        name = str(entry.filename)
        label = _join(member, name)
        why = unsafe_name(name)
        if why:
            ins.add(Code.ARCHIVE_TRAVERSAL, f"member name {why} (path traversal)", label,
                    fix=_FIX_LAYOUT)
            continue
        if entry.is_symlink:
            ins.add(Code.ARCHIVE_SYMLINK, "member is a symbolic link", label, fix=_FIX_LAYOUT)
            continue
        if name in seen:
            ins.add(Code.ARCHIVE_DUPLICATE, "duplicate member name", label, fix=_FIX_LAYOUT)
            targets = [t for t in targets if t != name]
            continue
        seen.add(name)
        if entry.is_directory:
            continue
        if not entry.is_file:
            ins.add(Code.ARCHIVE_SYMLINK, "member is a device, FIFO or other special file",
                    label, fix=_FIX_LAYOUT)
            continue
        total += int(entry.uncompressed or 0)
        if total > limits.max_unpacked:
            ins.add(Code.ARCHIVE_BOMB, f"declares more than {limits.max_unpacked} "
                    "uncompressed bytes", member, fix="split the artifact")
            return []
        targets.append(name)
    return targets


def _dictionaries_fit(ins: Inspection, archive: Any, member: str | None) -> bool:
    """Refuse LZMA/LZMA2 coders whose dictionary the decoder would have to allocate."""
    try:
        folders = archive.header.main_streams.unpackinfo.folders
        coders = [c for folder in folders for c in folder.coders]
    except AttributeError:
        return True  # no streams: nothing to decompress
    for coder in coders:
        method, props = coder.get("method"), coder.get("properties") or b""
        size = 0
        if method == b"\x21" and props:  # LZMA2: one byte encodes the dictionary size
            bits = props[0] & 0x3F
            size = (2 | (bits & 1)) << (bits // 2 + 11) if bits < 40 else 0xFFFFFFFF
        elif method == b"\x03\x01\x01" and len(props) >= 5:  # LZMA
            size = int.from_bytes(props[1:5], "little")
        if size > MAX_DICTIONARY:
            ins.add(Code.LIMIT_REACHED, f"7z coder dictionary of {size} bytes exceeds "
                    f"{MAX_DICTIONARY} bytes", member,
                    fix="re-create the archive with a smaller dictionary, or use zip/tar")
            return False
    return True


def _join(parent: str | None, name: str) -> str:
    shown = excerpt(name, 200)
    return f"{parent}!{shown}" if parent else shown


class _Inspecting:
    """py7zr writer factory: each member goes to a temporary file and is inspected when
    py7zr closes it."""

    def __init__(self, ins: Inspection, target: Target) -> None:
        self.ins, self.target = ins, target
        self.unpacked = 0
        self.done: set[str] = set()

    def create(self, filename: str) -> Py7zIO:
        return _Member(self, filename)  # type: ignore[return-value]


class _Member:
    def __init__(self, factory: _Inspecting, filename: str) -> None:
        self.factory, self.filename = factory, filename
        self.spool: BinaryIO = tempfile.TemporaryFile(prefix="mlflow-supplychain-")  # noqa: SIM115
        self.written = 0
        self.over = False

    def write(self, data: bytes | bytearray) -> int:
        limits = self.factory.ins.limits
        self.written += len(data)
        self.factory.unpacked += len(data)
        if self.written > limits.max_spool or self.factory.unpacked > limits.max_unpacked:
            self.over = True
            return len(data)  # swallow: the member is reported, not inspected
        return self.spool.write(data)

    def read(self, size: int | None = None) -> bytes:
        return self.spool.read(-1 if size is None else size)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.spool.seek(offset, whence)

    def flush(self) -> None:
        self.spool.flush()

    def size(self) -> int:
        return self.written

    def close(self) -> None:
        ins, target = self.factory.ins, self.factory.target
        label = _join(target.member, self.filename)
        self.factory.done.add(self.filename)
        try:
            if self.over:
                ins.add(Code.LIMIT_REACHED, f"7z member larger than the scan's byte budget "
                        f"({ins.limits.max_spool} per member, {ins.limits.max_unpacked} in "
                        "all) was not inspected", label, fix="split the artifact")
                return
            self.spool.seek(0)
            ins.stream(self.spool, label, target.depth + 1, size=self.written)
        finally:
            self.spool.close()
