"""Where the inspection meets the checkers: a new :class:`Inspection` wired to the built-in
:data:`~.checkers.REGISTRY`. Scanning code creates inspections here; checkers never import
this module (they take the :class:`Inspection` they are handed)."""

from __future__ import annotations

from mlflow_supplychain.scanning.allowlist import Allowlist
from mlflow_supplychain.scanning.checkers import REGISTRY
from mlflow_supplychain.scanning.inspection import Inspection
from mlflow_supplychain.scanning.limits import ScanLimits


def new_inspection(file: str, allowlist: Allowlist, limits: ScanLimits) -> Inspection:
    """An empty inspection of ``file`` using the built-in format checkers."""
    return Inspection(file, allowlist, limits, REGISTRY)
