"""Pickle streams as loaders read them: frame boundaries, several pickles back to back,
object dtypes spelled another way, values that merely start like a container, and the
limits that bound what a small file may make the scanner do."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import struct
import tracemalloc

import numpy as np
import pytest

from mlflow_supplychain.scanning.allowlist import Allowlist
from mlflow_supplychain.scanning.cursor import Cursor
from mlflow_supplychain.scanning.findings import Location
from mlflow_supplychain.scanning.limits import ScanLimits
from mlflow_supplychain.scanning.pickles import analyse

from . import payloads as p
from .conftest import ScanBytes, codes

EVIL0 = b"cos\nsystem\n(S'" + p.ECHO.encode() + b"'\ntR."
"""A protocol 0 pickle (no header) that calls os.system."""


def framed(body: bytes, frame: int | None = None) -> bytes:
    """A protocol 4 pickle whose first FRAME declares ``frame`` bytes (default: all)."""
    return b"\x80\x04\x95" + struct.pack("<Q", len(body) if frame is None else frame) + body


# -- frames (CPython gh-154848) ---------------------------------------------------------------

def straddling_binbytes() -> bytes:
    """SHORT_BINBYTES whose data starts inside the frame and ends after it, hiding an
    os.system call that an unpickler reading the frame's end differently would run."""
    hidden = p.op_str("os") + p.op_str("system") + b"\x93" + p.op_str(p.ECHO) + b"\x85R0"
    inside = p.op_str("w") + b"C" + bytes([len(hidden) + 4]) + b"\x00" * 4
    return framed(inside + hidden + b".", frame=len(inside))


@pytest.mark.parametrize("build", [
    straddling_binbytes,
    # a BININT4 argument cut by the frame's end
    lambda: framed(b"J\x01\x00" + b"\x00\x00.", frame=3),
    # STOP before the frame's declared end
    lambda: framed(b"N." + b"N" * 8, frame=10),
    # a FRAME inside a frame that is not finished
    lambda: framed(b"N\x95" + struct.pack("<Q", 1) + b"0N.", frame=12),
    # a long argument running past the frame end, then an import after it
    lambda: framed(b"\x8e" + struct.pack("<Q", 6) + b"abcdef" + b"cos\nsystem\n0N.", frame=12),
], ids=["binbytes", "binint", "stop-early", "nested-frame", "binbytes8"])
def test_anything_straddling_a_frame_end_is_undecided(scan_bytes: ScanBytes, build) -> None:  # type: ignore[no-untyped-def]
    result = scan_bytes(build())
    assert result.verdict_name in (None, "prohibited"), result
    assert "PICKLE_MALFORMED" in codes(result)
    assert any("frame" in f.message.lower() for f in result.findings)


def test_a_frame_straddle_is_never_mistaken_for_raw_storage(scan_bytes: ScanBytes) -> None:
    """Inside a bytes value (where damaged pickles are ignored as data) a crossed frame
    boundary still counts: random data never has one."""
    outer = pickle.dumps({"blob": straddling_binbytes()}, protocol=4)
    assert scan_bytes(outer).verdict_name is None


@pytest.mark.parametrize("protocol", [4, 5])
def test_real_framed_pickles_still_pass(scan_bytes: ScanBytes, protocol: int) -> None:
    value = {"big": b"\x01" * 300_000, "many": list(range(50_000)), "s": "x" * 70_000,
             "a": np.arange(100_000.0)}
    assert scan_bytes(pickle.dumps(value, protocol=protocol)).verdict_name == "sandboxed"


# -- every pickle until the end of the data ------------------------------------------------------

@pytest.mark.parametrize("tail", [EVIL0, pickle.dumps(p.Exec(), protocol=2),
                                  pickle.dumps(p.Exec(), protocol=4)],
                         ids=["protocol0", "protocol2", "protocol4"])
def test_a_pickle_after_a_harmless_one_is_judged(scan_bytes: ScanBytes, tail: bytes) -> None:
    for first in (b"I12345\n.", pickle.dumps([1, 2], protocol=0),
                  pickle.dumps({"a": 1}, protocol=4)):
        result = scan_bytes(first + tail)
        assert result.verdict_name == "prohibited", (first, result)
        assert "PICKLE_UNSAFE_GLOBAL" in codes(result)


def test_trailing_bytes_that_are_not_a_pickle_are_undecided(scan_bytes: ScanBytes) -> None:
    result = scan_bytes(pickle.dumps({"a": 1}, protocol=4) + b"\xffjunk")
    assert result.verdict_name is None
    assert any("not a pickle" in f.message for f in result.findings)


def test_several_harmless_pickles_pass(scan_bytes: ScanBytes) -> None:
    data = b"I12345\n." + pickle.dumps([1], protocol=0) + pickle.dumps({"a": 1}, protocol=4)
    assert scan_bytes(data).verdict_name == "sandboxed"


def test_a_trailing_pickle_inside_an_archive_member_is_judged(scan_bytes: ScanBytes) -> None:
    data = p.torch_like_zip(pickle.dumps({"w": 1}, protocol=2) + EVIL0)
    assert scan_bytes(data).verdict_name == "prohibited"


def test_legacy_torch_file_is_followed_through_its_storages(scan_bytes: ScanBytes) -> None:
    assert scan_bytes(p.legacy_torch_raw(evil=False)).verdict_name == "sandboxed"
    for tail in (EVIL0, pickle.dumps(p.Exec(), protocol=2)):
        result = scan_bytes(p.legacy_torch_raw(evil=False, tail=tail))
        assert result.verdict_name == "prohibited", result
    assert scan_bytes(p.legacy_torch_raw(evil=False, tail=b"\x00" * 8)).verdict_name is None


def test_legacy_torch_header_less_pickle_among_the_expected_ones(scan_bytes: ScanBytes) -> None:
    """A protocol 0 pickle where ``torch.load`` expects the storage keys: it is what
    torch.load unpickles next."""
    good = p.legacy_torch_raw(evil=False)
    keys = pickle.dumps(["0"], protocol=2)
    at = good.index(keys)
    assert scan_bytes(good[:at] + EVIL0 + good[at:]).verdict_name == "prohibited"


def test_legacy_torch_storage_sizes_must_match(scan_bytes: ScanBytes) -> None:
    good = p.legacy_torch_raw(evil=False)
    bad = good[:-24] + struct.pack("<q", 3) + b"\x00" * 12 + EVIL0
    assert scan_bytes(bad).verdict_name in (None, "prohibited")
    assert scan_bytes(good[:-1]).verdict_name is None


def test_analyse_reports_every_pickle_in_one_result() -> None:
    data = pickle.dumps(1, protocol=4) + pickle.dumps(p.Exec(), protocol=4)
    result = analyse(Cursor(io.BytesIO(data)), Location("x"), Allowlist())
    assert result.complete and result.first_complete
    assert any("os.system" in f.message or "posix.system" in f.message for f in result.findings)


# -- .npy object dtypes spelled another way ----------------------------------------------------

def npy_with_descr(descr: str, body: bytes) -> bytes:
    header = f"{{'descr': {descr}, 'fortran_order': False, 'shape': (1,), }}".encode()
    header += b" " * (-(len(header) + 11) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + body


@pytest.mark.parametrize("descr", ["'|O'", "'O'", "'object'", "'O8'", "'=O'", "'i4,O'",
                                   "('O', (2,))", "[('a', '<f8'), ('b', 'object')]",
                                   "[('a', [('b', 'O')])]", "'object_'"])
def test_npy_object_dtype_in_any_spelling_is_walked(scan_bytes: ScanBytes, descr: str) -> None:
    result = scan_bytes(npy_with_descr(descr, pickle.dumps(p.Exec(), protocol=3)))
    assert result.verdict_name == "prohibited", descr


def test_npy_numeric_arrays_are_data(scan_bytes: ScanBytes) -> None:
    for array in (np.arange(10.0), np.zeros((2, 3), dtype="<M8[ns]"),
                  np.zeros(3, dtype=[("a", "<f4", (2,)), ("b", "S3")]), np.array(["ab", "c"])):
        assert scan_bytes(p.npy(array)).verdict_name == "permitted", array.dtype


def test_npy_unusual_numeric_spelling_is_undecided_not_clean(scan_bytes: ScanBytes) -> None:
    result = scan_bytes(npy_with_descr("'float64'", b"\x00" * 8))
    assert result.verdict_name is None


# -- values that only start like a container ---------------------------------------------------

@pytest.mark.parametrize("magic", [b"\x1f\x8b", b"\x1f\x8b\x08\x00", b"PK\x03\x04", b"BZh9",
                                   b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd", b"\x93NUMPY",
                                   b"\x80\x04\x95"])
def test_bytes_value_starting_with_a_magic_number_is_data(scan_bytes: ScanBytes,
                                                          magic: bytes) -> None:
    value = magic + os.urandom(64)
    for protocol in (2, 4):
        data = pickle.dumps({"token": value, "n": np.arange(3)}, protocol=protocol)
        assert scan_bytes(data).verdict_name == "sandboxed", (magic, protocol)


def test_bytes_value_that_decompresses_is_inspected(scan_bytes: ScanBytes) -> None:
    evil = gzip.compress(pickle.dumps(p.Exec(), protocol=4))
    assert scan_bytes(pickle.dumps({"blob": evil}, protocol=4)).verdict_name == "prohibited"
    noise = gzip.compress(os.urandom(4096))
    assert scan_bytes(pickle.dumps({"blob": noise}, protocol=4)).verdict_name == "sandboxed"


# -- limits ----------------------------------------------------------------------------------------

def test_gzip_of_gzip_cannot_multiply_the_ratio(scan_bytes: ScanBytes) -> None:
    inner = pickle.dumps(b"\x00" * (8 << 20), protocol=4)
    data = gzip.compress(gzip.compress(inner, 9), 9)
    limits = ScanLimits(max_ratio=50, ratio_floor=0)
    result = scan_bytes(data, limits=limits)
    assert result.verdict_name is None
    assert "DECOMPRESSION_FAILED" in codes(result)


def test_long_global_names_keep_memory_bounded(scan_bytes: ScanBytes) -> None:
    body = b"".join(b"c" + b"m" * 60_000 + str(i).encode() + b"\nn\n0" for i in range(1500))
    data = gzip.compress(b"\x80\x02" + body + b"N.", 6)
    tracemalloc.start()
    try:
        result = scan_bytes(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.verdict_name == "prohibited"
    assert peak < 64 << 20, peak
    assert all(len(f.message) < 2000 for f in result.findings)


def test_too_many_distinct_globals_is_undecided(scan_bytes: ScanBytes) -> None:
    body = b"".join(b"cnumpy\nN%d\n0" % i for i in range(10_001))
    result = scan_bytes(b"\x80\x02" + body + b"N.")
    assert "PICKLE_TOO_COMPLEX" in codes(result)


@pytest.mark.parametrize("obj", ["state_dict", "module"])
def test_real_legacy_torch_files_pass(tmp_path, scan_bytes: ScanBytes, obj: str) -> None:  # type: ignore[no-untyped-def]
    torch = pytest.importorskip("torch")
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    path = tmp_path / "legacy.pt"
    torch.save(model.state_dict() if obj == "state_dict" else model, path,
               _use_new_zipfile_serialization=False)
    assert scan_bytes(path.read_bytes()).verdict_name == "sandboxed"
    assert scan_bytes(path.read_bytes() + EVIL0).verdict_name == "prohibited"


def test_a_walk_over_its_time_limit_is_undecided() -> None:
    from mlflow_supplychain.scanning.pickle_walk import WalkLimits

    data = b"\x80\x04" + b"N0" * 200_000 + b"N."
    result = analyse(Cursor(io.BytesIO(data)), Location("x"), Allowlist(),
                     limits=WalkLimits(max_seconds=0.0))
    assert not result.complete
    assert any("longer than" in f.message for f in result.findings)


def test_tensor_storage_starting_with_a_magic_number_is_data(scan_bytes: ScanBytes) -> None:
    for magic in (b"\x1f\x8b", b"PK\x03\x04", b"\x93NUMPY", b"BZh9"):
        data = p.zip_of({"archive/data.pkl": pickle.dumps({"w": 1}, protocol=2),
                         "archive/data/0": magic + bytes(range(200))})
        assert scan_bytes(data).verdict_name == "sandboxed", magic


def test_storage_that_starts_like_a_small_pickle_is_data(scan_bytes: ScanBytes) -> None:
    blob = b"\x80\x02N." + bytes(range(256)) * 4
    data = p.zip_of({"archive/data.pkl": pickle.dumps({"w": 1}, protocol=2),
                     "archive/data/0": blob})
    assert scan_bytes(data).verdict_name == "sandboxed"
    hidden = p.zip_of({"archive/data.pkl": pickle.dumps({"w": 1}, protocol=2),
                       "archive/data/0": b"\x80\x02N." + EVIL0})
    assert scan_bytes(hidden).verdict_name == "prohibited"
