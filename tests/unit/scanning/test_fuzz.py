"""Property tests: arbitrary and mutated bytes never crash the scanner or come out clean
when they are damaged pickles."""

from __future__ import annotations

import io
import pickle

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlflow_supplychain.scanning.allowlist import Allowlist
from mlflow_supplychain.scanning.inspection import Inspection
from mlflow_supplychain.scanning.inspector import new_inspection
from mlflow_supplychain.scanning.limits import DEFAULT_LIMITS

from . import payloads as p

_SEEDS = [pickle.dumps({"a": [1, 2.0, "x", b"y"]}, protocol=proto) for proto in range(6)]
_SEEDS += [p.zip_of({"a.pkl": _SEEDS[4]}), p.npy(__import__("numpy").arange(4)),
           p.safetensors_raw({"a": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]}}, b"xy"),
           p.gguf(), p.onnx_model(), p.compressed("gzip", _SEEDS[2])]


def _inspect(data: bytes) -> Inspection:
    ins = new_inspection("fuzz", Allowlist(), DEFAULT_LIMITS)
    ins.stream(io.BytesIO(data), None, 0, size=len(data))
    return ins


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_random_bytes_never_crash(data: bytes) -> None:
    _inspect(data)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(_SEEDS), st.integers(min_value=0, max_value=4095),
       st.integers(min_value=0, max_value=255), st.booleans())
def test_mutated_files_never_crash(seed: bytes, where: int, value: int, cut: bool) -> None:
    index = where % len(seed)
    data = seed[:index] if cut else seed[:index] + bytes([value]) + seed[index + 1:]
    _inspect(data)
