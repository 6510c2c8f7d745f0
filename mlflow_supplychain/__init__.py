"""mlflow-supplychain: the MLflow Model Registry as an enforced AI supply-chain control."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["__version__", "load_verified_model"]


def __getattr__(name: str) -> Any:
    # Lazy: importing the package must stay cheap (the scan CLI) and must not import MLflow.
    if name == "load_verified_model":
        from mlflow_supplychain.deploy.loader import load_verified_model

        return load_verified_model
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
