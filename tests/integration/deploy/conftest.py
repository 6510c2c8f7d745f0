"""A governed server with promotion-time re-verification, and registered, attested models."""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mlflow_supplychain.testing.pytest_plugin import RunningServer, ServerFactory

from ..conftest import POLICIES
from ..sidecar.attestation_helpers import make_payload, submit, submit_envelope

DEPLOY_POLICY = POLICIES / "deploy.yaml"


@pytest.fixture(scope="module")
def deploy_server(supplychain_server_factory: ServerFactory) -> RunningServer:
    """SQLite, one worker; policy re-hashes artifacts when 'production'/'canary' is set."""
    return supplychain_server_factory(DEPLOY_POLICY)


@pytest.fixture
def tracking(deploy_server: RunningServer) -> Iterator[RunningServer]:
    import mlflow

    previous = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = deploy_server.url
    mlflow.set_tracking_uri(deploy_server.url)
    mlflow.set_registry_uri(deploy_server.url)
    yield deploy_server
    if previous is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = previous


@dataclass(frozen=True)
class Registered:
    name: str
    version: str
    files: dict[str, str]
    digest: str


def sklearn_version(name: str) -> str:
    """Log a small real scikit-learn model and register it; return the version."""
    import mlflow
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit(np.array([[0.0], [1.0], [2.0], [3.0]]), [0, 0, 1, 1])
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(model, name="model", registered_model_name=name,
                                        serialization_format="pickle")
    return str(info.registered_model_version)


def malicious_version(name: str, tmp_path: Path) -> str:
    """Register a version whose model.pkl calls os.system when unpickled (never unpickled)."""
    import mlflow

    from tests.unit.scanning.payloads import Exec

    folder = tmp_path / "model"
    folder.mkdir(parents=True)
    (folder / "MLmodel").write_text("flavors:\n  python_function:\n    loader_module: "
                                    "mlflow.sklearn\n    model_path: model.pkl\n")
    (folder / "model.pkl").write_bytes(pickle.dumps(Exec(), protocol=4))
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(folder), artifact_path="model")
    mv = mlflow.register_model(f"runs:/{run.info.run_id}/model", name)
    return str(mv.version)


def attest(server: RunningServer, name: str, version: str, *,
           verdict: str | None = None, bytes_of: tuple[str, str] | None = None,
           envelope: bool = False) -> Registered:
    """Hash and scan the version's real bytes (as the sidecar will) and submit the signed
    attestation (original format, or an in-toto envelope as the sidecar does with
    ``envelope``); set the intake the policy needs. ``bytes_of`` (name, version): attest that
    version's bytes instead, as a scanner fooled about the location would."""
    from mlflow import MlflowClient

    from mlflow_supplychain.deploy.fetch import downloaded_version
    from mlflow_supplychain.integrity.manifest import build_manifest
    from mlflow_supplychain.scanning.scanner import scan_path

    client = MlflowClient(server.url, server.url)
    with downloaded_version(client, *(bytes_of or (name, version))) as local:
        manifest = build_manifest(local)
        report = scan_path(local)
    files = {e.path: e.sha256 for e in manifest.files}
    payload = make_payload(
        server, name, version, artifact_digest=manifest.digest, files=files,
        verdict=verdict or report.verdict_name or "error",
        findings=[str(f) for r in report.files for f in getattr(r, "findings", ())][:20],
        formats={r.path: r.kind for r in report.files})
    response = submit_envelope(server, payload) if envelope else submit(server, payload)
    assert response.status_code == 200, response.text
    pkl = next(p for p in files if p.endswith(".pkl"))
    for key, value in {"artifact_class": "base_model", "owner": "ml-platform@example.com",
                       "source_sha256": files[pkl]}.items():
        client.set_model_version_tag(name, version, f"supplychain.intake.{key}", value)
    return Registered(name, version, files, manifest.digest)


def artifact_file(server: RunningServer, name: str, version: str, rel: str) -> Path:
    """The server-side file behind a version's artifact (to tamper with it)."""
    from mlflow import MlflowClient

    uri = MlflowClient(server.url, server.url).get_model_version_download_uri(name, version)
    assert uri.startswith("mlflow-artifacts:/"), uri
    return server.data_dir / "artifacts" / uri[len("mlflow-artifacts:/"):].lstrip("/") / rel


def cli(*args: str) -> tuple[int, Any, str]:
    """Run the CLI in-process; returns (exit code, parsed stdout JSON or None, stderr)."""
    import contextlib
    import io
    import json

    from mlflow_supplychain.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    text = out.getvalue()
    try:
        parsed = json.loads(text) if text.strip() else None
    except ValueError:
        parsed = None
    return code, parsed, err.getvalue()
