"""Mutated Keras .h5/.keras, GGUF with chat templates, zips, tars and 7z archives never crash
the checkers (a crash would surface as an exception out of ``Inspection.stream``)."""

from __future__ import annotations

import io
import json
import pickle
import zipfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlflow_supplychain.scanning.allowlist import Allowlist
from mlflow_supplychain.scanning.inspector import new_inspection
from mlflow_supplychain.scanning.limits import ScanLimits

from . import payloads as p

pytest.importorskip("h5py")
py7zr = pytest.importorskip("py7zr")

_TEMPLATE = "{% for m in messages %}{{ '<|' + m['role'] + '|>' + m['content'] }}{% endfor %}"
_CONFIG = json.dumps(p.keras_config(p.DENSE_LAYER)).encode()


def _seven(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with py7zr.SevenZipFile(buf, "w") as archive:
        for name, body in members.items():
            archive.writestr(body, name)
    return buf.getvalue()


_SEEDS = [
    p.h5_with_attrs({"model_config": _CONFIG}),
    p.h5_with_attrs({"model_config": _CONFIG, **{f"n{i}": b"v" for i in range(10)}},
                    libver="latest"),
    p.zip_of({"config.json": _CONFIG, "model.weights.h5": b"\x89HDF\r\n\x1a\n"}),
    p.zip_of({"a.pkl": pickle.dumps({"a": 1}), "b.txt": b"x" * 100}, zipfile.ZIP_STORED),
    p.gguf(strings=(("tokenizer.chat_template", _TEMPLATE),)),
    _seven({"a.pkl": pickle.dumps([1, 2]), "n.txt": b"hello"}),
]
_LIMITS = ScanLimits(max_spool=1 << 20, max_json=1 << 20)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(_SEEDS), st.lists(st.tuples(st.integers(0, 1 << 16),
                                                   st.integers(0, 255)), max_size=4),
       st.integers(0, 1 << 16), st.booleans())
def test_mutated_format_files_never_crash(seed: bytes, flips: list[tuple[int, int]],
                                          cut: int, truncate: bool) -> None:
    data = bytearray(seed)
    for where, value in flips:
        data[where % len(data)] = value
    if truncate:
        data = data[:cut % len(data)]
    ins = new_inspection("fuzz", Allowlist(), _LIMITS)
    ins.stream(io.BytesIO(bytes(data)), None, 0, size=len(data))
    assert ins.formats  # every path ends in a format, a finding or an error
