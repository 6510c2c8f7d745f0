"""Archives and hostile inputs: traversal, links, duplicates, bombs, nesting, damage.

Every hostile input must finish quickly with a finding: never a crash, never clean.
"""

from __future__ import annotations

import os
import pickle
import resource
import time

import pytest

from mlflow_supplychain.scanning.limits import ScanLimits

from . import payloads as p
from .conftest import ScanBytes, codes


def test_zip_member_path_traversal(scan_bytes: ScanBytes) -> None:
    for name in ("../evil.txt", "/etc/cron.d/x", "a/../../b", "C:\\windows\\x", "..\\x"):
        result = scan_bytes(p.zip_of({name: b"hi"}))
        assert "ARCHIVE_TRAVERSAL" in codes(result), name
        assert result.verdict_name == "prohibited"


def test_zip_symlink_and_duplicates(scan_bytes: ScanBytes) -> None:
    assert "ARCHIVE_SYMLINK" in codes(scan_bytes(p.zip_with_symlink()))
    assert "ARCHIVE_DUPLICATE" in codes(scan_bytes(p.zip_with_duplicates()))


def test_tar_traversal_and_links(scan_bytes: ScanBytes) -> None:
    result = scan_bytes(p.tar_of({"../x": b"1", "ok.txt": b"fine\n"}, {"link": "/etc/passwd"}))
    assert {"ARCHIVE_TRAVERSAL", "ARCHIVE_SYMLINK"} <= codes(result)


def test_zip_bomb_ratio_is_flagged_without_inflating(scan_bytes: ScanBytes) -> None:
    data = p.zip_bomb(64 << 20)
    started = time.perf_counter()
    result = scan_bytes(data, limits=ScanLimits(max_ratio=100))
    assert time.perf_counter() - started < 2
    assert "ARCHIVE_BOMB" in codes(result) and result.verdict_name == "prohibited"


def test_zip_bomb_total_size_limit(scan_bytes: ScanBytes) -> None:
    result = scan_bytes(p.zip_of({"a": b"x" * 1000, "b": b"y" * 1000}),
                        limits=ScanLimits(max_unpacked=1500))
    assert "ARCHIVE_BOMB" in codes(result)


def test_gzip_bomb_is_bounded(scan_bytes: ScanBytes) -> None:
    inner = pickle.dumps(b"\x00" * (32 << 20), protocol=4)
    result = scan_bytes(p.compressed("gzip", inner),
                        limits=ScanLimits(max_ratio=10, ratio_floor=0))
    assert "DECOMPRESSION_FAILED" in codes(result) and result.verdict_name is None


def test_nested_archives_beyond_depth_are_errors(scan_bytes: ScanBytes) -> None:
    core = pickle.dumps({"a": 1}, protocol=4)
    assert scan_bytes(p.nested_zips(2, core)).verdict_name == "sandboxed"
    deep = scan_bytes(p.nested_zips(5, core), limits=ScanLimits(max_depth=3))
    assert "NESTED_TOO_DEEP" in codes(deep) and deep.verdict_name is None


def test_deeply_nested_evil_is_found_when_within_depth(scan_bytes: ScanBytes) -> None:
    evil = pickle.dumps(p.Exec(), protocol=4)
    assert scan_bytes(p.nested_zips(4, p.compressed("gzip", evil))).verdict_name == "prohibited"


@pytest.mark.parametrize("data", [
    pickle.dumps({"a": list(range(100))}, protocol=4)[:-20],
    pickle.dumps({"a": list(range(100))}, protocol=2)[:40],
    b"\x80\x05\x8e" + (1 << 62).to_bytes(8, "little") + b"abc",
    b"\x80\x04\xff\xff\xff",
    b"\x80\x04" + b"h\x07" + b".",
], ids=["truncated4", "truncated2", "huge-binbytes8", "bad-opcode", "memo-miss"])
def test_damaged_pickles_are_errors(scan_bytes: ScanBytes, data: bytes) -> None:
    result = scan_bytes(data)
    assert result.verdict_name is None
    assert codes(result) & {"PICKLE_MALFORMED", "PICKLE_TOO_COMPLEX"}


def test_unsupported_protocol_is_never_clean(scan_bytes: ScanBytes) -> None:
    assert scan_bytes(b"\x80\x09N.").verdict_name in (None, "prohibited")


def test_evil_before_damage_is_still_prohibited(scan_bytes: ScanBytes) -> None:
    data = pickle.dumps([p.Exec(), list(range(50))], protocol=4)[:-10]
    assert scan_bytes(data).verdict_name == "prohibited"


def test_deep_mark_nesting_is_bounded(scan_bytes: ScanBytes) -> None:
    data = b"\x80\x04" + b"(" * 2_000_000 + b"."
    started = time.perf_counter()
    result = scan_bytes(data)
    assert time.perf_counter() - started < 10
    assert result.verdict_name is None


def test_truncated_and_garbage_containers(scan_bytes: ScanBytes) -> None:
    zipped = p.zip_of({"a.pkl": pickle.dumps({"a": 1})})
    assert scan_bytes(zipped[: len(zipped) // 2]).verdict_name in (None, "prohibited")
    assert scan_bytes(b"PK\x03\x04" + os.urandom(200)).verdict_name is None
    assert scan_bytes(p.compressed("gzip", b"x" * 1000)[:-12]).verdict_name is None
    assert scan_bytes(b"\x93NUMPY\x01\x00\xff\xff" + b"{" * 100).verdict_name is None
    assert scan_bytes(os.urandom(4096)).verdict_name in ("prohibited", None)


def test_scanner_memory_stays_bounded_on_a_large_pickle(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from mlflow_supplychain.scanning.scanner import scan_path

    target = tmp_path / "big.pkl"
    with open(target, "wb") as f:
        pickle.dump([b"\x00" * (16 << 20) for _ in range(16)], f, protocol=5)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    assert scan_path(target).verdict_name == "sandboxed"
    assert time.perf_counter() - started < 0.5
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 32 * 1024  # KiB


def test_deeply_nested_json_headers_are_errors(scan_bytes: ScanBytes) -> None:
    deep = b'{"a":' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    assert scan_bytes(p.safetensors_raw(deep, b"")).verdict_name is None
    assert scan_bytes(p.zip_of({"schema.json": deep})).verdict_name is None


def test_scanner_bug_is_an_error_finding_not_a_crash(scan_bytes: ScanBytes, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from mlflow_supplychain.scanning import inspection

    def boom(*args: object, **kwargs: object) -> None:
        raise KeyError("bug")

    monkeypatch.setattr(inspection.Inspection, "_dispatch", boom)
    result = scan_bytes(b"\x80\x04N.")
    assert result.verdict_name is None and codes(result) == {"UNREADABLE"}
