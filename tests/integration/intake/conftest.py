"""A real, vanilla ``mlflow server`` for the intake tests: SQLite in a temp dir, a free
loopback port, ``--serve-artifacts``. Never a mock.

TODO(merge): switch to the governed-server fixture of ``mlflow_supplychain.testing.pytest_plugin``
(gate branch). The tests only need ``tracking_uri`` and ``client``; one test writes an invalid
intake tag directly, which a governed server refuses (see test_lineage_cli.py).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from mlflow import MlflowClient

STARTUP_TIMEOUT = 90.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def tracking_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("mlflow-server")
    port = _free_port()
    uri = f"http://127.0.0.1:{port}"
    env = {**os.environ, "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}
    log = open(root / "server.log", "wb")  # closed in finally, after the process exits
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1", "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
         "--serve-artifacts", "--artifacts-destination", str(root / "artifacts")],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"mlflow server exited: {(root / 'server.log').read_text()[-3000:]}")
            try:
                if requests.get(f"{uri}/health", timeout=1).ok:
                    break
            except requests.RequestException:  # refused or slow while it starts
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"mlflow server did not start: {(root / 'server.log').read_text()[-3000:]}")
            time.sleep(0.25)
        yield uri
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
        log.close()


@pytest.fixture(scope="session")
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
