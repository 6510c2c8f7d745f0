"""Which checker handles which format: the one table the inspector is handed.

Adding a format: write ``checkers/<format>.py`` with a function of the
:data:`~.inspection.Checker` shape (``(inspection, stream, target) -> handled``), teach
:mod:`.formats` to recognise its first bytes, and add one line to :data:`REGISTRY`. Checkers
import only the shared types in :mod:`.inspection` (and each other's helpers), never this
module or the inspector.

The pickle family (pickles, numpy object arrays, compressed streams, legacy torch) lives in
the ``scanning`` package itself; it is registered here through thin adapters.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

from mlflow_supplychain.scanning.formats import COMPRESSED, Kind
from mlflow_supplychain.scanning.inspection import (
    ArchiveDocument,
    Checker,
    DocumentCheck,
    Inspection,
    Registry,
    Target,
)

_CHECKERS = "mlflow_supplychain.scanning.checkers"


@dataclass(frozen=True)
class Lazy:
    """The checker (or document check) ``module.name``, imported on first use: a scan
    imports only the checkers its files need (start-up time is part of the scan budget)."""

    module: str
    name: str

    def resolve(self) -> Callable[..., Any]:
        """The function itself (imports its module).

        Raises:
            ImportError, AttributeError: the registration names nothing.
        """
        function: Callable[..., Any] = getattr(importlib.import_module(self.module), self.name)
        return function

    def __call__(self, ins: Inspection, data: Any, extra: Any) -> Any:
        return self.resolve()(ins, data, extra)


def _lazy(module: str, name: str) -> Checker:
    return Lazy(module, name)


def _lazy_document(module: str, name: str) -> DocumentCheck:
    return Lazy(module, name)


def _compressed(ins: Inspection, f: BinaryIO, t: Target) -> bool:
    from mlflow_supplychain.scanning.compressed import inspect_compressed

    inspect_compressed(ins, t.kind, f, t.member, t.depth, t.size)
    return True


def _numpy(ins: Inspection, f: BinaryIO, t: Target) -> bool:
    from mlflow_supplychain.scanning.numpy_check import inspect_npy

    inspect_npy(ins, f, t.member, t.depth)
    return True


_STREAMS: dict[Kind, Checker] = {
    Kind.ZIP: _lazy(f"{_CHECKERS}.archives", "inspect_zip"),
    Kind.TAR: _lazy(f"{_CHECKERS}.archives", "inspect_tar"),
    Kind.SEVENZIP: _lazy(f"{_CHECKERS}.sevenzip", "inspect_7z"),
    Kind.NUMPY: _numpy,
    Kind.SAFETENSORS: _lazy(f"{_CHECKERS}.safetensors", "inspect_safetensors"),
    Kind.GGUF: _lazy(f"{_CHECKERS}.gguf", "inspect_gguf"),
    Kind.HDF5: _lazy(f"{_CHECKERS}.keras", "inspect_hdf5"),
    Kind.PROTOBUF: _lazy(f"{_CHECKERS}.onnx", "inspect_onnx"),
    **dict.fromkeys(COMPRESSED, _compressed),
}

REGISTRY = Registry(
    streams=_STREAMS,
    documents=(
        ArchiveDocument("schema.json",  # skops
                        _lazy_document(f"{_CHECKERS}.skops", "inspect_skops_schema")),
        ArchiveDocument("config.json",  # Keras 3 .keras, with or without metadata.json
                        _lazy_document(f"{_CHECKERS}.keras", "inspect_keras_config")),
    ),
    files={
        name: _lazy_document(f"{_CHECKERS}.chat_template", "inspect_template_document")
        for name in ("tokenizer_config.json", "chat_template.json", "chat_template.jinja")
    },
)
"""The built-in checkers. Pickles (the default container format) are handled by the
inspection itself; empty, text and unknown streams by its fallback."""
