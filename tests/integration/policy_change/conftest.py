"""A server whose policy file the tests rewrite (reloaded within 0.3 s), with dev identities.

Every test restores the base policy when it ends, so tests are independent of their order.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from mlflow_supplychain.integrity.manifest import build_manifest
from mlflow_supplychain.testing.pytest_plugin import RunningServer, ServerFactory

from ..sidecar.attestation_helpers import make_payload, submit

API = "/api/2.0/mlflow-supplychain"
BASE_POLICY = """\
version: 1
mode: enforce
protected:
  aliases: {production: prod}
  stages: {Production: prod}
profiles:
  prod:
    require: [intake_complete, source_allowed, hash_match, scan_passed, approval]
    approvals: {min: 1, approvers: [user:ml-lead], separation_of_duties: true}
artifact_classes:
  base_model: {required: [owner, source_sha256]}
sources:
  allow: ["mlflow-artifacts:", "runs:/", "models:/", "s3://corp-models/"]
identity:
  allow_unauthenticated: true
# versions are registered from s3://corp-models and never uploaded: nothing to re-hash
integrity: {reverify_on_promotion: false}
"""


def write_policy(path: Path, text: str) -> None:
    """Replace the policy file atomically (a new inode: the holder sees the change)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def status(server: RunningServer) -> dict[str, Any]:
    return dict(requests.get(f"{server.url}{API}/status", timeout=30).json())


def apply_policy(server: RunningServer, text: str) -> str:
    """Write ``text`` as the server's policy and wait until the server enforces it; return
    its digest."""
    from mlflow_supplychain.policy.loader import parse_policy

    digest = parse_policy(text).digest
    write_policy(server.policy_path, text)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if status(server)["policy"]["digest"] == digest:
            return digest
        time.sleep(0.1)
    raise AssertionError("policy not reloaded:\n" + server.log_text()[-3000:])


@pytest.fixture(scope="package")
def policy_server(supplychain_server_factory: ServerFactory,
                  tmp_path_factory: pytest.TempPathFactory) -> RunningServer:
    path = tmp_path_factory.mktemp("policy-change") / "policy.yaml"
    path.write_text(BASE_POLICY)
    return supplychain_server_factory(path, env={
        "MLFLOW_SUPPLYCHAIN_POLICY_RELOAD_SECONDS": "0.2"})


@pytest.fixture
def server(policy_server: RunningServer) -> Iterator[RunningServer]:
    apply_policy(policy_server, BASE_POLICY)
    yield policy_server
    apply_policy(policy_server, BASE_POLICY)


def as_user(user: str) -> dict[str, str]:
    return {"X-Supplychain-User": user}


def register_as(server: RunningServer, user: str, name: str, tags: dict[str, str],
                source: str) -> str:
    """``user`` (the development identity header) registers a version of ``name``: the
    version's creator is recorded, so separation of duties can be checked."""
    requests.post(f"{server.url}/api/2.0/mlflow/registered-models/create", json={"name": name},
                  headers=as_user(user), timeout=30)  # 400 when it exists already
    created = requests.post(f"{server.url}/api/2.0/mlflow/model-versions/create",
                            json={"name": name, "source": source,
                                  "tags": [{"key": k, "value": v} for k, v in tags.items()]},
                            headers=as_user(user), timeout=30)
    assert created.status_code == 200, created.text
    return str(created.json()["model_version"]["version"])


def promote(server: RunningServer, name: str, model_dir: Path, *,
            target: str = "production", intake: dict[str, str] | None = None) -> str:
    """Register a version of ``name`` with the bytes in ``model_dir`` (registered from
    s3://corp-models, never downloaded), attest them, get ml-lead's approval and promote it
    to ``target`` (an alias, or stage:Production); ``intake`` adds intake fields. Returns the
    version."""
    manifest = build_manifest(model_dir)
    files = {e.path: e.sha256 for e in manifest.files}
    first = next(iter(files.values()))
    version = register_as(server, "dana", name, {
        "supplychain.intake.artifact_class": "base_model",
        "supplychain.intake.owner": "ml-platform@example.com",
        "supplychain.intake.source_sha256": first,
        **{f"supplychain.intake.{k}": v for k, v in (intake or {}).items()}},
        source=f"s3://corp-models/{name}/1")
    payload = make_payload(server, name, version, artifact_digest=manifest.digest, files=files,
                           formats={p: "safetensors" for p in files})
    assert submit(server, payload).status_code == 200
    created = requests.post(f"{server.url}{API}/transition-requests/create",
                            json={"name": name, "version": version, "target": target},
                            headers=as_user("alice"), timeout=30)
    assert created.status_code == 200, created.text
    approved = requests.post(f"{server.url}{API}/transition-requests/approve",
                             json={"request_id": created.json()["request"]["id"], "apply": True},
                             headers=as_user("ml-lead"), timeout=30)
    assert approved.status_code == 200, approved.text
    assert approved.json().get("applied") is True, approved.text
    return version


def open_request(server: RunningServer, name: str, model_dir: Path) -> tuple[str, int]:
    """A compliant-but-unapproved version of ``name`` with an open request to production."""
    manifest = build_manifest(model_dir)
    files = {e.path: e.sha256 for e in manifest.files}
    version = register_as(server, "dana", name, {
        "supplychain.intake.artifact_class": "base_model",
        "supplychain.intake.owner": "ml-platform@example.com",
        "supplychain.intake.source_sha256": next(iter(files.values()))},
        source=f"s3://corp-models/{name}/2")
    payload = make_payload(server, name, version, artifact_digest=manifest.digest, files=files,
                           formats={p: "safetensors" for p in files})
    assert submit(server, payload).status_code == 200
    created = requests.post(f"{server.url}{API}/transition-requests/create",
                            json={"name": name, "version": version, "target": "production"},
                            headers=as_user("alice"), timeout=30)
    assert created.status_code == 200, created.text
    return version, int(created.json()["request"]["id"])


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    return folder
