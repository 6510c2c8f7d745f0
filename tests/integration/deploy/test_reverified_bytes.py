"""Promotion re-verifies the bytes deployments will load, for every byte-dependent requirement.

Attacks (issue 14, classes 3-5), each against a real server:

- bytes changed after the scan through the ``mlflow-artifacts`` API, under the *shipped starter
  policy* (re-verification on by default);
- a version registered from ``models:/Q/1`` whose Q was replaced afterwards: the re-hash must
  follow the location MLflow fixed at creation (what loaders download), not ``source``;
- a profile needing ``scan_passed`` but not ``hash_match``: an attestation about other bytes
  than the re-hashed ones is no pass.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from mlflow_supplychain.testing.pytest_plugin import RunningServer

from .conftest import attest, malicious_version, sklearn_version

PREPROCESSOR_INTAKE = {  # the starter policy's lightest artifact class
    "artifact_class": "preprocessor", "owner": "ml-platform@example.com",
    "intended_use": "feature scaling for the fraud model", "license.id": "Apache-2.0",
    "license.outcome": "approved"}


@contextlib.contextmanager
def _tracking(server: RunningServer) -> Iterator[None]:
    import mlflow

    previous = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = server.url
    mlflow.set_tracking_uri(server.url)
    mlflow.set_registry_uri(server.url)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = previous


def _put_artifact(server: RunningServer, name: str, version: str, rel: str,
                  data: bytes) -> None:
    """Write a file under the version's download location through the ``mlflow-artifacts``
    HTTP API (the route any user with write access to the experiment has)."""
    client = MlflowClient(server.url, server.url)
    uri = client.get_model_version_download_uri(name, version)
    if uri.startswith("runs:/"):
        run_id, _, sub = uri[len("runs:/"):].partition("/")
        uri = client.get_run(run_id).info.artifact_uri.rstrip("/") + "/" + sub
    assert uri.startswith("mlflow-artifacts:/"), uri
    path = uri[len("mlflow-artifacts:/"):].strip("/") + "/" + rel
    response = requests.put(f"{server.url}/api/2.0/mlflow-artifacts/artifacts/{path}",
                            data=data, timeout=30)
    assert response.status_code == 200, response.text


def _refused(call: object, *codes: str) -> str:
    with pytest.raises(MlflowException) as excinfo:
        call()  # type: ignore[operator]
    assert excinfo.value.error_code == "PERMISSION_DENIED", excinfo.value.message
    assert any(code in excinfo.value.message for code in codes), excinfo.value.message
    return excinfo.value.message


def test_starter_policy_refuses_bytes_put_after_the_scan(supplychain_server: RunningServer,
                                                          unique_model_name: str) -> None:
    """Class 3 under the packaged starter policy: 'staging' needs a passing scan; a file PUT
    into the run afterwards is caught by the re-hash, for the alias and the stage."""
    import pickle

    from tests.unit.scanning.payloads import Exec

    client = MlflowClient(supplychain_server.url, supplychain_server.url)
    with _tracking(supplychain_server):
        version = sklearn_version(unique_model_name)
    attest(supplychain_server, unique_model_name, version, verdict="permitted")
    for key, value in PREPROCESSOR_INTAKE.items():
        client.set_model_version_tag(unique_model_name, version, f"supplychain.intake.{key}",
                                     value)
    client.set_registered_model_alias(unique_model_name, "staging", version)  # honest: passes
    client.delete_registered_model_alias(unique_model_name, "staging")

    _put_artifact(supplychain_server, unique_model_name, version, "extra.pkl",
                  pickle.dumps(Exec(), protocol=4))

    _refused(lambda: client.set_registered_model_alias(unique_model_name, "staging", version),
             "scan.artifacts_changed")
    _refused(lambda: client.transition_model_version_stage(unique_model_name, version,
                                                           "Staging"),
             "scan.artifacts_changed")
    assert "staging" not in client.get_registered_model(unique_model_name).aliases
    assert client.get_model_version(unique_model_name, version).current_stage == "None"


def test_rehash_follows_the_download_location_not_the_source(tracking: RunningServer,
                                                             unique_model_name: str,
                                                             tmp_path: Path) -> None:
    """Class 4: Z/1 registered from models:/Q/1 while Q/1 is a pickle; Q is then replaced by a
    harmless model. Loaders download Z/1 from the location fixed at creation (the pickle); an
    attestation of the harmless bytes must not let Z/1 through, for either profile."""
    client = MlflowClient(tracking.url, tracking.url)
    q, z = unique_model_name + "-q", unique_model_name + "-z"
    malicious_version(q, tmp_path / "pickle")
    client.create_registered_model(z)
    zv = str(client.create_model_version(z, f"models:/{q}/1").version)
    pickle_location = client.get_model_version_download_uri(z, zv)

    client.delete_registered_model(q)
    assert sklearn_version(q) == "1"  # models:/Q/1 now resolves to harmless bytes
    assert client.get_model_version_download_uri(z, zv) == pickle_location  # fixed by MLflow

    attest(tracking, z, zv, verdict="permitted", bytes_of=(q, "1"))
    _refused(lambda: client.set_registered_model_alias(z, "production", zv),
             "hash.artifacts_changed")
    _refused(lambda: client.set_registered_model_alias(z, "staging", zv),
             "scan.artifacts_changed")
    assert not client.get_registered_model(z).aliases


def test_scan_only_profile_uses_the_rehashed_digest(tracking: RunningServer,
                                                    unique_model_name: str) -> None:
    """Class 5: with re-verification on, a profile requiring scan_passed but not hash_match
    refuses bytes changed after the scan, as the hash_match profile does."""
    client = MlflowClient(tracking.url, tracking.url)
    version = sklearn_version(unique_model_name)
    reg = attest(tracking, unique_model_name, version)
    client.set_registered_model_alias(unique_model_name, "staging", version)
    client.delete_registered_model_alias(unique_model_name, "staging")

    victim = next(p for p in reg.files if p.endswith(".pkl"))
    _put_artifact(tracking, unique_model_name, version, victim, b"other bytes")

    _refused(lambda: client.set_registered_model_alias(unique_model_name, "production", version),
             "hash.artifacts_changed")
    _refused(lambda: client.set_registered_model_alias(unique_model_name, "staging", version),
             "scan.artifacts_changed")
