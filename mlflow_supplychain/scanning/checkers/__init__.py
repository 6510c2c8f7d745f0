"""Format checkers, one module per format, and the table that says which handles what.

Adding a format: write ``checkers/<format>.py`` with a function of the :data:`Checker` shape
(``(inspection, stream, target) -> handled``), teach :mod:`..formats` to recognise its first
bytes, and add one line to :data:`REGISTRY`. Checkers import only the shared types in
:mod:`..inspection` (and each other's helpers), never the inspector: the table is here, and
the inspector is handed it.

The pickle family (pickles, numpy object arrays, compressed streams, legacy torch) lives in
the ``scanning`` package itself; it is registered here through thin adapters.
"""

from __future__ import annotations

from typing import BinaryIO

from mlflow_supplychain.scanning.checkers.archives import inspect_tar, inspect_zip
from mlflow_supplychain.scanning.checkers.gguf import inspect_gguf
from mlflow_supplychain.scanning.checkers.keras import inspect_hdf5, inspect_keras_config
from mlflow_supplychain.scanning.checkers.onnx import inspect_onnx
from mlflow_supplychain.scanning.checkers.safetensors import inspect_safetensors
from mlflow_supplychain.scanning.checkers.skops import inspect_skops_schema
from mlflow_supplychain.scanning.formats import COMPRESSED, Kind
from mlflow_supplychain.scanning.inspection import (
    ArchiveDocument,
    Checker,
    Inspection,
    Registry,
    Target,
)


def _compressed(ins: Inspection, f: BinaryIO, t: Target) -> bool:
    from mlflow_supplychain.scanning.compressed import inspect_compressed

    inspect_compressed(ins, t.kind, f, t.member, t.depth, t.size)
    return True


def _numpy(ins: Inspection, f: BinaryIO, t: Target) -> bool:
    from mlflow_supplychain.scanning.numpy_check import inspect_npy

    inspect_npy(ins, f, t.member, t.depth)
    return True


_STREAMS: dict[Kind, Checker] = {
    Kind.ZIP: inspect_zip,
    Kind.TAR: inspect_tar,
    Kind.NUMPY: _numpy,
    Kind.SAFETENSORS: inspect_safetensors,
    Kind.GGUF: inspect_gguf,
    Kind.HDF5: inspect_hdf5,
    Kind.PROTOBUF: inspect_onnx,
    **dict.fromkeys(COMPRESSED, _compressed),
}

REGISTRY = Registry(
    streams=_STREAMS,
    documents=(
        ArchiveDocument("schema.json", inspect_skops_schema),  # skops
        ArchiveDocument("config.json", inspect_keras_config,  # Keras 3 .keras
                        frozenset({"metadata.json"})),
    ),
)
"""The built-in checkers. Pickles (the default container format) are handled by the
inspection itself; empty, text and unknown streams by its fallback."""
