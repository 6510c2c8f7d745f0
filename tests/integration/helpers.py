"""Small helpers shared by the integration tests: raw REST calls and compliant intake tags."""

from __future__ import annotations

import contextlib
from typing import Any

import requests

ROOTS = ("/api/2.0", "/ajax-api/2.0")

COMPLIANT_INTAKE = {
    "supplychain.intake.artifact_class": "base_model",
    "supplychain.intake.owner": "ml-platform@example.com",
    "supplychain.intake.license.id": "Apache-2.0",
    "supplychain.intake.license.outcome": "approved",
}


def call(url: str, root: str, method: str, endpoint: str, body: dict[str, Any] | None = None,
         params: dict[str, Any] | None = None) -> requests.Response:
    """One raw request to ``{url}{root}/mlflow/{endpoint}`` (or our namespace)."""
    full = f"{url}{root}/{endpoint}"
    return requests.request(method, full, json=body, params=params, timeout=30)


def new_version(client: Any, name: str, tags: dict[str, str] | None = None,
                source: str = "s3://corp-models/fraud/1") -> str:
    """Register ``name`` (if needed) and create a version; return its number."""
    from mlflow.exceptions import MlflowException

    with contextlib.suppress(MlflowException):  # already exists
        client.create_registered_model(name)
    return str(client.create_model_version(name, source, tags=tags or {}).version)
