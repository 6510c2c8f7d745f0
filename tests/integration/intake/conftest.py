"""The intake tests run against a real governed server (``mlflow-supplychain server`` with the
example policy, SQLite in a temp dir, a free loopback port), through the pytest plugin's
fixtures. Never a mock.
"""

from __future__ import annotations

import contextlib
import os
import sys
import uuid
from pathlib import Path

import pytest
from mlflow import MlflowClient

from mlflow_supplychain.testing.pytest_plugin import RunningServer, ServerFactory

EXAMPLE_POLICY = Path(__file__).resolve().parents[3] / "examples" / "policy.yaml"


@pytest.fixture(scope="module")
def intake_server(supplychain_server_factory: ServerFactory) -> RunningServer:
    return supplychain_server_factory(EXAMPLE_POLICY)


@pytest.fixture(scope="module")
def tracking_uri(intake_server: RunningServer) -> str:
    return intake_server.url


@pytest.fixture(scope="module")
def client(tracking_uri: str) -> MlflowClient:
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


@pytest.fixture
def model_name() -> str:
    """A unique registered-model name, so tests can share the session server."""
    return f"m-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def env_tracking_uri(tracking_uri: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point the CLI (which reads MLFLOW_TRACKING_URI) at the test server."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    return tracking_uri


def register_version(client: MlflowClient, name: str, tmp_path: Path,
                     tags: dict[str, str] | None = None) -> tuple[str, str]:
    """Log a tiny model file to a run and register it. Returns (version, run_id)."""
    exp = client.get_experiment_by_name("intake-tests")
    exp_id = exp.experiment_id if exp else client.create_experiment("intake-tests")
    run = client.create_run(exp_id)
    weights = tmp_path / f"{uuid.uuid4().hex}.bin"
    weights.write_bytes(os.urandom(64))
    client.log_artifact(run.info.run_id, str(weights), "model")
    with contextlib.redirect_stdout(sys.stderr):  # MLflow prints run links on stdout
        client.set_terminated(run.info.run_id)
    if not client.search_registered_models(filter_string=f"name = '{name}'"):
        client.create_registered_model(name)
    mv = client.create_model_version(name, f"{run.info.artifact_uri}/model",
                                     run_id=run.info.run_id, tags=tags or {})
    return str(mv.version), run.info.run_id
