"""Archives: zip local headers vs the central directory, duplicate and overlapping members,
nested archives (tar.gz in tar, zip in zip with a reversed central directory) and 7z."""

from __future__ import annotations

import io
import pickle
import struct
import sys
import tarfile
import time
import zipfile

import pytest

from . import payloads as p
from .conftest import ScanBytes, codes

EVIL = b"\x80\x04cos\nsystem\n(S'id'\ntR."
BENIGN = pickle.dumps({"weights": [1, 2, 3]})


def _central_entries(data: bytes) -> tuple[int, int, list[bytes]]:
    eocd = data.rfind(b"PK\x05\x06")
    size, offset = struct.unpack("<II", data[eocd + 12:eocd + 20])
    cd, entries, pos = data[offset:offset + size], [], 0
    while pos < len(cd):
        n, e, c = struct.unpack("<HHH", cd[pos + 28:pos + 34])
        entries.append(cd[pos:pos + 46 + n + e + c])
        pos += 46 + n + e + c
    return offset, size, entries


def _with_central(data: bytes, entries: list[bytes]) -> bytes:
    offset, size, _ = _central_entries(data)
    cd = b"".join(entries)
    tail = bytearray(data[offset + size:])
    struct.pack_into("<HHII", tail, 8, len(entries), len(entries), len(cd), offset)
    return data[:offset] + cd + bytes(tail)


def _reversed_zip(members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    data = p.zip_of(members, compression)
    return _with_central(data, list(reversed(_central_entries(data)[2])))


def test_local_header_name_differs_from_central_directory(scan_bytes: ScanBytes) -> None:
    data = bytearray(p.zip_of({"weights.bin": BENIGN}, zipfile.ZIP_STORED))
    assert data[30:41] == b"weights.bin"
    data[30:41] = b"../../tmp/x"  # what a streaming extractor would write
    result = scan_bytes(bytes(data))
    assert result.verdict_name == "prohibited"
    assert "ARCHIVE_INCONSISTENT" in codes(result)


def test_local_header_method_or_size_differs(scan_bytes: ScanBytes) -> None:
    data = bytearray(p.zip_of({"weights.bin": BENIGN}, zipfile.ZIP_STORED))
    struct.pack_into("<I", data, 18, 3)  # local compressed size
    result = scan_bytes(bytes(data))
    assert result.verdict_name == "prohibited" and "ARCHIVE_INCONSISTENT" in codes(result)


@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_duplicate_names_exact_and_folded(scan_bytes: ScanBytes) -> None:
    for names in (("model.pkl", "model.pkl"), ("Model.pkl", "model.pkl"),
                  ("dir/model.pkl", "dir//model.pkl"), ("dir\\model.pkl", "dir/model.pkl")):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            for name, body in zip(names, (BENIGN, EVIL), strict=True):
                zf.writestr(zipfile.ZipInfo(name), body)
        result = scan_bytes(buf.getvalue())
        assert result.verdict_name == "prohibited", names
        assert "ARCHIVE_DUPLICATE" in codes(result), names


def test_overlapping_members_are_unsafe(scan_bytes: ScanBytes) -> None:
    data = p.zip_of({"a.bin": BENIGN, "b.bin": BENIGN}, zipfile.ZIP_STORED)
    first, second = _central_entries(data)[2]
    second = bytearray(second)
    struct.pack_into("<I", second, 42, struct.unpack_from("<I", first, 42)[0])
    result = scan_bytes(_with_central(data, [first, bytes(second)]))
    assert result.verdict_name == "prohibited"
    assert codes(result) & {"ARCHIVE_BOMB", "ARCHIVE_INCONSISTENT"}


def test_zip_written_to_a_stream_with_data_descriptors_is_clean(scan_bytes: ScanBytes) -> None:
    class Unseekable(io.RawIOBase):
        def __init__(self) -> None:
            self.data = bytearray()

        def writable(self) -> bool:
            return True

        def write(self, b: bytes) -> int:  # type: ignore[override]
            self.data += b
            return len(b)

    sink = Unseekable()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as zf:  # type: ignore[arg-type]
        zf.writestr("weights.pkl", BENIGN)
        zf.writestr("notes.txt", b"hello")
    result = scan_bytes(bytes(sink.data))
    assert result.verdict_name == "sandboxed", result.findings


@pytest.mark.parametrize("outer", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_zip_in_zip_with_a_reversed_central_directory_is_fast(scan_bytes: ScanBytes,
                                                               outer: int) -> None:
    inner = _reversed_zip({f"m{i}.txt": b"%d\n" % i * 200 for i in range(3000)}
                          | {"zz.pkl": EVIL})
    started = time.perf_counter()
    result = scan_bytes(_reversed_zip({"inner.zip": inner}, outer))
    assert time.perf_counter() - started < 10
    assert result.verdict_name == "prohibited" and "PICKLE_UNSAFE_GLOBAL" in codes(result)


def _tar(members: dict[str, bytes], mode: str = "w") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:  # type: ignore[call-overload]
        for name, body in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tf.addfile(info, io.BytesIO(body))
    return buf.getvalue()


@pytest.mark.parametrize("body,verdict", [(BENIGN, "sandboxed"), (EVIL, "prohibited")])
def test_tar_gz_inside_a_tar(scan_bytes: ScanBytes, body: bytes, verdict: str) -> None:
    inner = _tar({"m.pkl": body}, "w:gz")
    for outer in (_tar({"inner.tar.gz": inner}), _tar({"inner.tar.gz": inner}, "w:gz")):
        result = scan_bytes(outer)
        assert result.verdict_name == verdict, result.findings


def test_torchscript_layout_is_recognised(scan_bytes: ScanBytes) -> None:
    data = p.zip_of({"model/data.pkl": BENIGN, "model/constants.pkl": pickle.dumps(()),
                     "model/code/__torch__/model.py": b"def forward(self, x):\n  return x\n",
                     "model/version": b"3\n"}, zipfile.ZIP_STORED)
    assert "torchscript" in scan_bytes(data).formats


# -- 7z ----------------------------------------------------------------------------------------

py7zr = pytest.importorskip("py7zr")


def _7z(members: dict[str, bytes], password: str | None = None) -> bytes:
    buf = io.BytesIO()
    with py7zr.SevenZipFile(buf, "w", password=password) as archive:
        for name, body in members.items():
            archive.writestr(body, name)
    return buf.getvalue()


def test_7z_members_are_inspected(scan_bytes: ScanBytes) -> None:
    assert scan_bytes(_7z({"notes.txt": b"hello", "empty.txt": b""})).verdict_name == "permitted"
    assert scan_bytes(_7z({"m.pkl": BENIGN})).verdict_name == "sandboxed"
    result = scan_bytes(_7z({"ok.txt": b"x", "dir/m.pkl": EVIL}), "model.7z")
    assert result.verdict_name == "prohibited" and "PICKLE_UNSAFE_GLOBAL" in codes(result)
    nested = scan_bytes(p.zip_of({"inner.7z": _7z({"m.pkl": EVIL})}))
    assert nested.verdict_name == "prohibited"


def test_7z_encrypted_or_damaged_is_undecided(scan_bytes: ScanBytes) -> None:
    result = scan_bytes(_7z({"m.pkl": EVIL}, password="secret"))
    assert result.verdict_name is None and "ARCHIVE_ENCRYPTED" in codes(result)
    damaged = _7z({"m.pkl": EVIL})
    assert scan_bytes(damaged[:len(damaged) // 2]).verdict_name is None


def test_7z_member_over_the_budget_is_undecided(scan_bytes: ScanBytes) -> None:
    from mlflow_supplychain.scanning.limits import ScanLimits

    result = scan_bytes(_7z({"big.bin": b"\x00" * 100_000}), limits=ScanLimits(max_spool=1000))
    assert result.verdict_name is None and "LIMIT_REACHED" in codes(result)


def test_7z_without_py7zr_is_undecided(scan_bytes: ScanBytes,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    data = _7z({"m.pkl": BENIGN})
    monkeypatch.setitem(sys.modules, "py7zr", None)
    result = scan_bytes(data)
    assert result.verdict_name is None and codes(result) == {"ARCHIVE_UNSUPPORTED"}


def test_tar_duplicates_after_folding_are_unsafe(scan_bytes: ScanBytes) -> None:
    result = scan_bytes(_tar({"dir/Model.pkl": BENIGN, "dir//model.pkl": BENIGN}))
    assert result.verdict_name == "prohibited" and "ARCHIVE_DUPLICATE" in codes(result)
