"""Signed scan attestations: what the sidecar scanned, under which format policy, with what verdict.

Pure: no MLflow, no network. The sidecar builds an :class:`AttestationPayload`, signs its
canonical JSON bytes with an Ed25519 private key (:func:`sign`), and submits payload and
signature; the registry store verifies them with the public key (:func:`verify`) on submission
and again every time it reads the stored row (a row edited in the database must not count).

The signature covers the subject (the version's immutable identity: workspace, name, version,
creation time, storage location and uid, see ``version_identity``), the artifact digest (the whole
manifest is included), the scanner version and the format policy digest (the ``formats``
section and the scanner rules, the only part of the policy a verdict depends on): an
attestation for other bytes, another version or another format policy is worthless even though
its signature verifies; editing approvers or profiles leaves it valid.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mlflow_supplychain.digest_fields import Digest, FileHashes
from mlflow_supplychain.digests import canonical_json
from mlflow_supplychain.errors import IntegrityError, Problem
from mlflow_supplychain.regular_files import read_regular_file
from mlflow_supplychain.version_identity import VersionIdentity

PUBLIC_KEY_ENV_VAR = "MLFLOW_SUPPLYCHAIN_ATTESTATION_PUBLIC_KEY"
"""Names the PEM file of the key the server verifies attestations with."""

ATTESTATION_TYPE: Literal["mlflow-supplychain/scan-attestation/v3"] = (
    "mlflow-supplychain/scan-attestation/v3")
LEGACY_ATTESTATION_TYPE = "mlflow-supplychain/scan-attestation/v2"
"""v2 signed the whole policy digest; v3 signs only the format policy digest. v2 rows stored
before the upgrade still verify; the gate resolves their policy digest through the policy
history (see ``governance.policy_history``)."""
Verdict = Literal["permitted", "sandboxed", "prohibited", "error"]
MAX_FINDINGS = 200
MAX_FINDING_LEN = 500


SignatureStatusName = Literal["verified", "missing", "malformed", "untrusted", "tampered"]


class PublisherSignature(BaseModel):
    """What the scanner found of the publisher's OpenSSF Model Signing signature."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    status: SignatureStatusName
    file: str | None = Field(None, max_length=1024, description="The bundle's path, if any.")
    publisher: str | None = Field(None, max_length=64,
                                  description="The trusted key (policy name) that verified it.")
    problems: tuple[str, ...] = Field((), max_length=50,
                                      description="Files that differ, are unsigned or missing.")


class AttestationPayload(BaseModel):
    """The signed statement. Canonical JSON of :meth:`model_dump` is what is signed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["mlflow-supplychain/scan-attestation/v3",
                  "mlflow-supplychain/scan-attestation/v2"] = ATTESTATION_TYPE
    model_name: str = Field(min_length=1, max_length=256)
    version: str = Field(pattern=r"^[1-9][0-9]{0,18}$")
    identity: VersionIdentity = Field(
        description="The scanned version's identity, as the server reported it before the "
        "download; the server refuses the attestation unless it is the version's identity "
        "now, and the gate only reads attestations stored under that identity.")
    artifact_digest: Digest
    files: FileHashes = Field(description="Relative POSIX path -> sha256 hex (manifest).")
    verdict: Verdict
    findings: tuple[str, ...] = Field((), max_length=MAX_FINDINGS)
    formats: dict[str, str] = Field(default_factory=dict, description="Path -> format name.")
    scanner_version: str = Field(min_length=1, max_length=64)
    format_policy_digest: Digest | None = Field(
        None, description="v3: digest of the format policy (formats section + scanner rules) "
        "the verdict was reached under.")
    policy_digest: Digest | None = Field(
        None, description="v2 only: digest of the whole policy at scan time.")
    scanned_at: str = Field(description="ISO 8601 UTC time of the scan.")
    key_id: str = Field(pattern=r"^[0-9a-f]{16}$")
    publisher_signature: PublisherSignature | None = Field(
        None, description="The publisher's OMS signature check, when the policy trusts "
        "publishers (absent from attestations made before signatures were checked).")

    @model_validator(mode="after")
    def _subject_is_identity(self) -> AttestationPayload:
        if (self.model_name, self.version) != (self.identity.name, self.identity.version):
            raise ValueError("model_name/version differ from the identity's name/version")
        legacy = self.type == LEGACY_ATTESTATION_TYPE
        if legacy and (self.policy_digest is None or self.format_policy_digest is not None):
            raise ValueError("a v2 attestation carries policy_digest and no format_policy_digest")
        if not legacy and (self.format_policy_digest is None or self.policy_digest is not None):
            raise ValueError("a v3 attestation carries format_policy_digest and no policy_digest")
        return self

    @field_validator("findings")
    @classmethod
    def _findings(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(f[:MAX_FINDING_LEN] for f in value)

    def canonical_bytes(self) -> bytes:
        """The bytes that are signed: canonical JSON of every field (the binding field the
        payload's type does not use is left out, so v2 bytes are what v2 sidecars signed)."""
        return canonical_json(self.model_dump(mode="json", exclude_none=True))

    @classmethod
    def parse(cls, value: Any) -> AttestationPayload:
        """Validate a decoded JSON object.

        Raises:
            IntegrityError: not a well-formed attestation payload.
        """
        try:
            return cls.model_validate(value)
        except ValidationError as exc:
            problems = [Problem(".".join(str(p) for p in err["loc"]) or "payload", err["msg"],
                                "submit a payload built by mlflow-supplychain's sidecar")
                        for err in exc.errors()[:10]]
            raise IntegrityError("Malformed scan attestation", problems) from None


def now_iso() -> str:
    """The current UTC time, ISO 8601 with seconds (``2026-01-01T12:00:00Z``)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def key_id(public_key: Ed25519PublicKey) -> str:
    """First 16 hex characters of sha256 over the raw 32-byte public key."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def sign(payload: AttestationPayload, private_key: Ed25519PrivateKey) -> str:
    """Base64 Ed25519 signature over ``payload.canonical_bytes()``."""
    return base64.b64encode(private_key.sign(payload.canonical_bytes())).decode("ascii")


def verify(payload_bytes: bytes, signature: str, public_key: Ed25519PublicKey) -> bool:
    """Whether ``signature`` (base64) is ``public_key``'s signature over ``payload_bytes``.

    Never raises: malformed base64 or a wrong-length signature simply does not verify.
    """
    try:
        raw = base64.b64decode(signature.encode("ascii"), validate=True)
        public_key.verify(raw, payload_bytes)
    except (InvalidSignature, binascii.Error, ValueError, UnicodeEncodeError):
        return False
    return True


def verify_payload(payload: AttestationPayload, signature: str,
                   public_key: Ed25519PublicKey) -> bool:
    """:func:`verify` over the payload's canonical bytes, and its key id must be this key's."""
    return (payload.key_id == key_id(public_key)
            and verify(payload.canonical_bytes(), signature, public_key))


# -- keys ---------------------------------------------------------------------------------------

def generate_key_pair(private_path: Path, public_path: Path) -> str:
    """Create an Ed25519 key pair as PEM files (private key mode 0600) unless it exists.

    Returns the key id. An existing pair is kept (idempotent), so a restarted server keeps
    accepting attestations signed before the restart.

    Raises:
        IntegrityError: only one of the two files exists, or they cannot be written/read.
    """
    if private_path.exists() and public_path.exists():
        return key_id(load_public_key(public_path))
    if private_path.exists() or public_path.exists():
        raise IntegrityError("Incomplete attestation key pair", [Problem(
            str(private_path if private_path.exists() else public_path), "exists without its pair",
            "restore the missing file, or delete both to generate a new pair (attestations "
            "signed with the old key then stop counting; run 'mlflow-supplychain reconcile')")])
    private_key = Ed25519PrivateKey.generate()
    pem = private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    try:
        fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        public_path.write_bytes(private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    except OSError as exc:
        raise IntegrityError("Cannot write the attestation key pair", [Problem(
            str(private_path.parent), exc.strerror or str(exc), "use a writable data directory")
        ]) from None
    return key_id(private_key.public_key())


def _read(path: Path) -> bytes:
    # a PEM Ed25519 key is ~120 bytes; refuse FIFOs, devices and anything large
    return read_regular_file(path, limit=64 << 10, kind="Attestation key", error=IntegrityError,
                             missing_fix="check the key path")


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 private key in PEM file ``path``.

    Raises:
        IntegrityError: unreadable, or not an unencrypted Ed25519 private key.
    """
    try:
        key = serialization.load_pem_private_key(_read(path), password=None)
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, Ed25519PrivateKey):
        raise IntegrityError("Not an Ed25519 private key", [Problem(
            str(path), "is not an unencrypted PEM Ed25519 private key",
            "point at the attestation-signing.key the server generated")])
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """The Ed25519 public key in PEM file ``path``.

    Raises:
        IntegrityError: unreadable, or not an Ed25519 public key.
    """
    try:
        key = serialization.load_pem_public_key(_read(path))
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, Ed25519PublicKey):
        raise IntegrityError("Not an Ed25519 public key", [Problem(
            str(path), "is not a PEM Ed25519 public key",
            "point at the attestation-signing.pub the server generated")])
    return key
