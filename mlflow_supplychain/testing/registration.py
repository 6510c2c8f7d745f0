"""Register test model versions on a governed server, with or without the evidence a policy needs.

Used by the ``register_model`` fixture of :mod:`mlflow_supplychain.testing.pytest_plugin`.
MLflow and the scanner are imported inside the function, so importing this module (which the
plugin does at start-up) stays free.

With ``evidence=True`` the version carries everything the plugin can produce without people:

- a run holding the artifact files (``mlflow-artifacts:`` source, so ``source_allowed`` holds);
- a ``base_model`` intake record with every field except lineage and rollback (owner,
  intended use, limitations, pinned upstream source with the files' real sha256, an approved
  Apache-2.0 license review, ``eval.ref`` naming that run, a passed security review,
  deployment targets): complete for any policy that does not require ``rollback.version``
  or ``base_model.*`` of a base model;
- a scan attestation built by really scanning the files and signed with the server's own
  key (``<data_dir>/attestation-signing.key``), as the scanner sidecar does.

What it cannot give is ``approval``: that needs a second person (a transition request
approved under basic-auth). With the starter policy the version is therefore allowed to
``staging`` and denied ``production`` only for ``approval.missing``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlflow_supplychain.server.launcher import RunningServer
    from mlflow_supplychain.version_identity import VersionIdentity

EXPERIMENT = "supplychain-tests"
TEST_SOURCE_URL = "https://git.example.com/ml/test-model"
TEST_SOURCE_REVISION = "0123456789abcdef0123456789abcdef01234567"


@dataclass(frozen=True)
class RegisteredVersion:
    """A version created by :func:`register_model`."""

    name: str
    version: str
    run_id: str
    evidence: bool


def _model_files(directory: Path) -> None:
    # Plain JSON: a permitted format, so a real scan of it is clean.
    config = {"model_type": "test", "nonce": uuid.uuid4().hex}
    (directory / "config.json").write_text(json.dumps(config) + "\n", encoding="utf-8")
    (directory / "README.md").write_text("A test model made by mlflow-supplychain.\n",
                                         encoding="utf-8")


def intake_record(files: dict[str, str], run_id: str) -> dict[str, Any]:
    """A complete ``base_model`` intake record for files (path -> sha256) logged in ``run_id``."""
    return {
        "artifact_class": "base_model",
        "owner": "ml-platform@example.com",
        "intended_use": "Integration test of the supply-chain gate",
        "limitations": "Not a real model",
        "source_url": TEST_SOURCE_URL,
        "source_revision": TEST_SOURCE_REVISION,
        "source_sha256": dict(files),
        "license": {"id": "Apache-2.0", "outcome": "approved",
                    "reviewer": "legal@example.com", "date": dt.date.today().isoformat(),
                    "commercial_use": True, "redistribution": True, "derivatives": True},
        "eval": {"ref": f"runs:/{run_id}"},
        "security_review": {"status": "passed", "reviewer": "appsec@example.com",
                            "date": dt.date.today().isoformat()},
        "deployment": {"targets": ["test-serving"]},
    }


def version_identity(server: RunningServer, name: str, version: str, *,
                     auth: tuple[str, str] | None = None,
                     headers: dict[str, str] | None = None) -> VersionIdentity:
    """The identity the server reports for ``name``/``version`` (what attestations sign).

    Raises:
        RuntimeError: the server did not answer with an identity.
    """
    import requests

    from mlflow_supplychain.version_identity import VersionIdentity

    response = requests.get(f"{server.url}/api/2.0/mlflow-supplychain/versions/identity",
                            params={"name": name, "version": version}, auth=auth,
                            headers=headers, timeout=30)
    if response.status_code != 200:
        raise RuntimeError(f"no identity for models:/{name}/{version} "
                           f"({response.status_code}): {response.text[:300]}")
    return VersionIdentity.model_validate(response.json()["identity"])


def _attest(server: RunningServer, name: str, version: str, directory: Path) -> None:
    import requests

    from mlflow_supplychain.integrity import attest
    from mlflow_supplychain.integrity.manifest import build_manifest
    from mlflow_supplychain.policy.loader import load_policy
    from mlflow_supplychain.scanning.scanner import scan_path

    policy = load_policy(server.policy_path)
    report = scan_path(directory, formats=policy.formats)
    manifest = build_manifest(directory)
    key = attest.load_private_key(server.data_dir / "attestation-signing.key")
    status = requests.get(f"{server.url}/api/2.0/mlflow-supplychain/status", timeout=30)
    status.raise_for_status()
    payload = attest.AttestationPayload(
        model_name=name, version=version, identity=version_identity(server, name, version),
        artifact_digest=manifest.digest,
        files={entry.path: entry.sha256 for entry in manifest.files},
        verdict=report.verdict_name or "error",
        findings=tuple(str(f.as_dict()) for f in report.findings),
        formats={r.path: (r.formats[0] if r.formats else r.kind) for r in report.files},
        scanner_version=report.scanner_version,
        format_policy_digest=str(status.json()["policy"]["format_digest"]),
        scanned_at=attest.now_iso(), key_id=attest.key_id(key.public_key()))
    response = requests.post(
        f"{server.url}/api/2.0/mlflow-supplychain/attestations/submit",
        json={"payload": payload.model_dump(mode="json"), "signature": attest.sign(payload, key)},
        timeout=30)
    if response.status_code != 200:
        raise RuntimeError(f"attestation refused ({response.status_code}): {response.text}")


def register_model(server: RunningServer, name: str, *, evidence: bool) -> RegisteredVersion:
    """Log two small files to a run on ``server`` and register them as a new version of ``name``.

    Raises:
        RuntimeError: the server refused the attestation.
        mlflow.exceptions.MlflowException: the server refused a registry write.
        mlflow_supplychain.errors.EvidenceError: the intake record was refused.
    """
    from mlflow.exceptions import MlflowException

    from mlflow_supplychain.intake import apply_intake

    client = server.client()
    experiment = client.get_experiment_by_name(EXPERIMENT)
    experiment_id = (experiment.experiment_id if experiment is not None
                     else client.create_experiment(EXPERIMENT))
    run = client.create_run(experiment_id)
    with tempfile.TemporaryDirectory(prefix="supplychain-model-") as tmp:
        directory = Path(tmp)
        _model_files(directory)
        client.log_artifacts(run.info.run_id, str(directory), "model")
        with contextlib.redirect_stdout(sys.stderr):  # MLflow prints run links on stdout
            client.set_terminated(run.info.run_id)
        with contextlib.suppress(MlflowException):  # already registered
            client.create_registered_model(name)
        created = client.create_model_version(name, f"{run.info.artifact_uri}/model",
                                              run_id=run.info.run_id)
        version = str(created.version)
        if evidence:
            files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
                     for p in sorted(directory.iterdir())}
            apply_intake(name, version, intake_record(files, run.info.run_id), client=client)
            _attest(server, name, version, directory)
    return RegisteredVersion(name, version, run.info.run_id, evidence)
