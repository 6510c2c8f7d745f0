"""Build and submit signed attestations against a running server (tests only)."""

from __future__ import annotations

from typing import Any

import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mlflow_supplychain.integrity import attest
from mlflow_supplychain.integrity.attestation_formats import scan_envelope
from mlflow_supplychain.testing.pytest_plugin import RunningServer
from mlflow_supplychain.testing.registration import version_identity

SUBMIT = "/api/2.0/mlflow-supplychain/attestations/submit"
GET = "/api/2.0/mlflow-supplychain/attestations/get"
DIGEST = "sha256:" + "a" * 64


def server_key(server: RunningServer) -> Ed25519PrivateKey:
    return attest.load_private_key(server.data_dir / "attestation-signing.key")


def format_digest(server: RunningServer, auth: tuple[str, str] | None = None,
                  headers: dict[str, str] | None = None) -> str:
    status = requests.get(f"{server.url}/api/2.0/mlflow-supplychain/status", auth=auth,
                          headers=headers, timeout=10)
    return str(status.json()["policy"]["format_digest"])


def make_payload(server: RunningServer, name: str, version: str, *,
                 key: Ed25519PrivateKey | None = None, auth: tuple[str, str] | None = None,
                 headers: dict[str, str] | None = None, **changes: Any
                 ) -> attest.AttestationPayload:
    """A payload for the version answering to ``name``/``version`` now (its identity is read
    from the server unless ``identity`` is among ``changes``)."""
    key = key or server_key(server)
    identity = changes.pop("identity", None) or version_identity(
        server, name, version, auth=auth, headers=headers)
    fields: dict[str, Any] = {
        "model_name": name, "version": version, "identity": identity,
        "artifact_digest": DIGEST,
        "files": {"model.safetensors": "c" * 64}, "verdict": "permitted", "findings": [],
        "formats": {"model.safetensors": "safetensors"}, "scanner_version": "test",
        "format_policy_digest": (changes.pop("format_policy_digest", None)
                                 or format_digest(server, auth, headers)),
        "scanned_at": attest.now_iso(),
        "key_id": attest.key_id(key.public_key())}
    fields.update(changes)
    return attest.AttestationPayload.model_validate(fields)


def submit(server: RunningServer, payload: attest.AttestationPayload,
           key: Ed25519PrivateKey | None = None, *, root: str = "/api/2.0",
           signature: str | None = None) -> requests.Response:
    sig = signature if signature is not None else attest.sign(payload, key or server_key(server))
    return requests.post(f"{server.url}{SUBMIT.replace('/api/2.0', root)}",
                         json={"payload": payload.model_dump(mode="json"), "signature": sig},
                         timeout=30)


def submit_envelope(server: RunningServer, payload: attest.AttestationPayload,
                    key: Ed25519PrivateKey | None = None, *,
                    envelope: dict[str, Any] | None = None) -> requests.Response:
    """Submit ``payload`` as the sidecar does: sealed in a DSSE envelope (or ``envelope`` as
    given, to submit something the sidecar would not make)."""
    sealed = envelope if envelope is not None else scan_envelope.seal(
        payload, key or server_key(server))
    return requests.post(f"{server.url}{SUBMIT}", json={"envelope": sealed}, timeout=30)


def fetch(server: RunningServer, name: str, version: str) -> requests.Response:
    return requests.get(f"{server.url}{GET}", params={"name": name, "version": version},
                        timeout=30)
