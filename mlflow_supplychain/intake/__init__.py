"""Intake evidence: field catalog, license ids, records, lineage, and the registry-facing API.

The Python API for data scientists, usable right after ``log_model``::

    from mlflow_supplychain.intake import apply_intake, show_intake
    apply_intake("fraud", 3, "intake.yaml")
    print(show_intake("fraud", 3))

The registry-facing functions are imported lazily, so the pure modules of this package
(``fields``, ``licenses``, ``records``...) stay importable without loading MLflow.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlflow_supplychain.intake.mirror import import_directory
    from mlflow_supplychain.intake.registry_io import (
        apply_intake,
        lineage_evidence,
        read_lineage,
        show_intake,
    )

_LAZY = {
    "apply_intake": "mlflow_supplychain.intake.registry_io",
    "show_intake": "mlflow_supplychain.intake.registry_io",
    "read_lineage": "mlflow_supplychain.intake.registry_io",
    "lineage_evidence": "mlflow_supplychain.intake.registry_io",
    "import_directory": "mlflow_supplychain.intake.mirror",
}
__all__ = ["apply_intake", "import_directory", "lineage_evidence", "read_lineage", "show_intake"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
