"""Register real models on a test server, and wait for the sidecar's attestation."""

from __future__ import annotations

import pickle
import time
from pathlib import Path
from typing import Any

import mlflow
import numpy as np

from mlflow_supplychain.testing.pytest_plugin import RunningServer

from ...unit.scanning.payloads import Exec


def register_sklearn(server: RunningServer, name: str) -> str:
    """``mlflow.sklearn.log_model(..., registered_model_name=name)``; return the version."""
    from sklearn.linear_model import LogisticRegression

    mlflow.set_tracking_uri(server.url)
    model = LogisticRegression().fit(np.array([[0.0], [1.0]]), [0, 1])
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(model, name="model", registered_model_name=name)
    return str(info.registered_model_version)


def register_files(server: RunningServer, name: str, files: dict[str, bytes],
                   tmp_path: Path) -> str:
    """Log ``files`` as a run's ``model`` directory and register ``runs:/<id>/model``."""
    folder = tmp_path / f"model-{time.monotonic_ns()}"
    folder.mkdir()
    for rel, data in files.items():
        (folder / rel).write_bytes(data)
    mlflow.set_tracking_uri(server.url)
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(folder), artifact_path="model")
    client = server.client()
    try:
        client.create_registered_model(name)
    except mlflow.exceptions.MlflowException:
        pass
    return str(client.create_model_version(name, f"runs:/{run.info.run_id}/model",
                                           run_id=run.info.run_id).version)


def malicious_pickle() -> bytes:
    return pickle.dumps(Exec(), protocol=4)


ATTESTATION_TAGS = ("supplychain.scan.verdict", "supplychain.scan.format_policy_digest",
                    "supplychain.scan.attested_at", "supplychain.scan.findings",
                    "supplychain.integrity.digest")


def wait_for_tags(server: RunningServer, name: str, version: str, timeout: float = 60.0
                  ) -> dict[str, Any]:
    """The version's tags once ``supplychain.scan.verdict`` appears.

    Raises:
        AssertionError: not attested within ``timeout`` (with the server log tail).
    """
    client = server.client()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tags = dict(client.get_model_version(name, version).tags)
        if all(key in tags for key in ATTESTATION_TAGS):  # written one by one, this one last
            return tags
        time.sleep(0.2)
    raise AssertionError(f"models:/{name}/{version} not attested in {timeout}s\n"
                         + server.log_text()[-3000:])
