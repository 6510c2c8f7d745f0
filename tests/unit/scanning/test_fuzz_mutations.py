"""Mutation fuzzing over real files, for the pickle walker and every registered checker.

Hypothesis mutates seed files (flip, insert, delete, truncate, duplicate a slice) and checks
that the scanner never crashes, never hangs, keeps memory bounded, and never calls a pickle
clean when the walker could not parse all of it. Bounded for CI (a few seconds); set
``MLFLOW_SUPPLYCHAIN_FUZZ_EXAMPLES`` (e.g. 20000) for a longer run.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import signal
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlflow_supplychain.scanning.allowlist import Allowlist
from mlflow_supplychain.scanning.cursor import Cursor
from mlflow_supplychain.scanning.findings import Location
from mlflow_supplychain.scanning.format_policy import DEFAULT
from mlflow_supplychain.scanning.formats import Kind, sniff
from mlflow_supplychain.scanning.inspection import Inspection
from mlflow_supplychain.scanning.inspector import new_inspection
from mlflow_supplychain.scanning.limits import DEFAULT_LIMITS
from mlflow_supplychain.scanning.pickles import analyse
from mlflow_supplychain.scanning.registry import REGISTRY

from . import payloads as p

EXAMPLES = int(os.environ.get("MLFLOW_SUPPLYCHAIN_FUZZ_EXAMPLES", "120"))
SECONDS = 10
"""Per-example wall limit: a hang is a failure, not a stuck CI job."""
MEMORY = 64 << 20


def _sklearn() -> bytes:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    return pickle.dumps(LogisticRegression().fit(rng.random((20, 3)), rng.integers(0, 2, 20)), 4)


def _joblib() -> bytes:
    import joblib

    out = io.BytesIO()
    joblib.dump({"a": np.arange(50.0), "o": np.array([1, "x"], dtype=object)}, out)
    return out.getvalue()


PICKLES = {
    "dict_p0": pickle.dumps({"a": [1, 2.0, "x", b"y"]}, 0),
    "dict_p2": pickle.dumps(collections.OrderedDict(w=np.zeros(3)), 2),
    "framed_p5": pickle.dumps({"b": b"\x01" * 70_000, "l": list(range(300))}, 5),
    "sklearn_p4": _sklearn(),
    "joblib": _joblib(),
    "legacy_torch": p.legacy_torch_raw(evil=False),
    "several": b"I1\n." + pickle.dumps([1], 2),
}
def _sevenzip(members: dict[str, bytes]) -> bytes:
    import py7zr

    out = io.BytesIO()
    with py7zr.SevenZipFile(out, "w") as archive:
        for name, data in members.items():
            archive.writestr(data, name)
    return out.getvalue()


CHECKER_SEEDS: dict[Kind, bytes] = {
    Kind.ZIP: p.torch_like_zip(PICKLES["dict_p2"]),
    Kind.TAR: p.tar_of({"a.pkl": PICKLES["dict_p2"], "b.txt": b"hi"}),
    Kind.SEVENZIP: _sevenzip({"a.pkl": PICKLES["dict_p2"], "b.txt": b"hi"}),
    Kind.NUMPY: p.npy(np.array([1, "x"], dtype=object)),
    Kind.SAFETENSORS: p.safetensors_raw(
        {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\x00" * 8),
    Kind.GGUF: p.gguf(tensors=2),
    Kind.HDF5: p.fake_h5(p.keras_config(p.DENSE_LAYER)),
    Kind.PROTOBUF: p.onnx_model(),
    Kind.GZIP: p.compressed("gzip", PICKLES["dict_p2"]),
    Kind.BZIP2: p.compressed("bz2", PICKLES["dict_p2"]),
    Kind.XZ: p.compressed("xz", PICKLES["dict_p2"]),
    Kind.LZMA: p.compressed("lzma", PICKLES["dict_p2"]),
    Kind.ZLIB: p.compressed("zlib", PICKLES["dict_p2"]),
    Kind.ZSTD: p.compressed("zstd", PICKLES["dict_p2"]),
}
OPTIONAL = {Kind.LZ4}
"""Checkers whose codec is an optional dependency (no seed without it)."""


def test_every_registered_checker_has_a_seed() -> None:
    missing = set(REGISTRY.streams) - set(CHECKER_SEEDS) - OPTIONAL
    assert not missing, f"add a fuzz seed for {sorted(k.value for k in missing)}"
    for kind, seed in CHECKER_SEEDS.items():
        assert sniff(seed[:512]) is kind, kind


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        how = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "duplicate"]))
        if how == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif how == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif how == "delete":
            del data[at:at + draw(st.integers(1, 16))]
        elif how == "truncate":
            del data[at:]
        else:
            data[at:at] = data[at:at + draw(st.integers(1, 64))]
    return bytes(data)


@contextmanager
def bounded() -> Iterator[None]:
    def hang(*_: object) -> None:
        raise AssertionError(f"no verdict within {SECONDS} s")

    previous = signal.signal(signal.SIGALRM, hang)
    signal.alarm(SECONDS)
    tracemalloc.start()
    try:
        yield
        peak = tracemalloc.get_traced_memory()[1]
        assert peak < MEMORY, f"peak {peak} bytes"
    finally:
        tracemalloc.stop()
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _inspect(data: bytes) -> Inspection:
    ins = new_inspection("fuzz", Allowlist(), DEFAULT_LIMITS)
    ins.stream(io.BytesIO(data), None, 0, size=len(data))
    return ins


def _clean(ins: Inspection) -> bool:
    return DEFAULT.worst(ins.formats) in ("permitted", "sandboxed")


_FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 200,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@_FUZZ
@given(mutated(list(PICKLES.values())))
def test_pickle_walker_never_clean_on_what_it_could_not_parse(data: bytes) -> None:
    with bounded():
        walked = analyse(Cursor(io.BytesIO(data)), Location("fuzz"), Allowlist())
        ins = _inspect(data)
    if data[:2] in (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05") and not walked.complete:
        assert not _clean(ins), (walked, ins.findings)


@_FUZZ
@given(mutated(list(CHECKER_SEEDS.values())))
def test_checkers_never_crash_hang_or_balloon(data: bytes) -> None:
    with bounded():
        ins = _inspect(data)
    assert all(f.location.file == "fuzz" for f in ins.findings)


PICKLE_FAMILY = (Kind.NUMPY, Kind.GZIP, Kind.BZIP2, Kind.XZ, Kind.LZMA, Kind.ZLIB, Kind.ZSTD)


@pytest.mark.parametrize("kind", PICKLE_FAMILY)
def test_truncated_pickle_family_seeds_are_never_clean(kind: Kind) -> None:
    """A compressed stream or object array cut short is never verified."""
    seed = CHECKER_SEEDS[kind]
    for cut in (len(seed) // 3, len(seed) // 2, len(seed) - 3):
        ins = _inspect(seed[:cut])
        assert not _clean(ins), (kind, cut, ins.formats)
