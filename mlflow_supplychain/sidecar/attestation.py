"""Build the scan attestation for a directory of downloaded artifacts (no network, no MLflow).

The manifest is built first and the scan runs on the same directory, so the digest and the
verdict describe the same bytes. Scanner errors (an unreadable tree, a symlink) become an
``error`` verdict only when a manifest exists; without one there is nothing to attest.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mlflow_supplychain import __version__
from mlflow_supplychain.errors import ScanError
from mlflow_supplychain.integrity.attest import AttestationPayload, key_id, now_iso, sign
from mlflow_supplychain.integrity.attestation_formats import scan_envelope
from mlflow_supplychain.integrity.manifest import build_manifest
from mlflow_supplychain.policy.schema import Policy
from mlflow_supplychain.scanning.scanner import scan_path
from mlflow_supplychain.signing.publisher import publisher_signature
from mlflow_supplychain.version_identity import VersionIdentity

MAX_FINDINGS = 50


def build_envelope(identity: VersionIdentity, directory: Path, policy: Policy,
                   private_key: Ed25519PrivateKey) -> tuple[AttestationPayload, dict[str, Any]]:
    """Hash and scan ``directory`` (the artifacts of the version with ``identity``, read from
    the server before the download); return the payload and its signed DSSE envelope (an
    in-toto statement, ``integrity/attestation_formats/scan_envelope``): what the sidecar
    submits.

    Raises:
        IntegrityError: the tree cannot be hashed (symlink, special file, unreadable).
    """
    payload = build_payload(identity, directory, policy, private_key)
    return payload, scan_envelope.seal(payload, private_key)


def build_attestation(identity: VersionIdentity, directory: Path, policy: Policy,
                      private_key: Ed25519PrivateKey) -> tuple[AttestationPayload, str]:
    """Like :func:`build_envelope`, in the original format: the payload and a detached
    signature over its canonical bytes (still accepted by the server).

    Raises:
        IntegrityError: the tree cannot be hashed (symlink, special file, unreadable).
    """
    payload = build_payload(identity, directory, policy, private_key)
    return payload, sign(payload, private_key)


def build_payload(identity: VersionIdentity, directory: Path, policy: Policy,
                  private_key: Ed25519PrivateKey) -> AttestationPayload:
    """Hash and scan ``directory``; the unsigned attestation payload.

    Raises:
        IntegrityError: the tree cannot be hashed (symlink, special file, unreadable).
    """
    manifest = build_manifest(directory)
    try:
        report = scan_path(directory, formats=policy.formats)
    except ScanError as exc:
        verdict, findings, formats = "error", [exc.summary], {}
    else:
        verdict = report.verdict_name or "error"
        findings = [f"{f.code.value} {f.location.render()}: {f.message}"
                    for f in report.findings][:MAX_FINDINGS]
        formats = {r.path: (r.formats[0] if r.formats else r.kind) for r in report.files}
    payload = AttestationPayload(
        model_name=identity.name, version=identity.version, identity=identity,
        artifact_digest=manifest.digest,
        files={e.path: e.sha256 for e in manifest.files}, verdict=verdict,  # type: ignore[arg-type]
        findings=tuple(findings), formats=formats, scanner_version=__version__,
        format_policy_digest=policy.format_digest, scanned_at=now_iso(),
        key_id=key_id(private_key.public_key()),
        publisher_signature=publisher_signature(
            directory, {e.path: e.sha256 for e in manifest.files},
            policy.signatures.trusted_keys, policy.signatures.trusted_certificates))
    return payload
