"""Stored scan attestations: accept a signed submission, read the latest one back as evidence.

Rows live in ``supplychain_scan_attestations`` (the store's database). A row is only evidence
while its signature verifies with the server's public key *now*: the provider re-verifies on
every read, so editing a stored payload (or swapping the server key) makes it worthless.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import threading
import time
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from mlflow_supplychain.errors import IntegrityError, Problem
from mlflow_supplychain.governance import audit
from mlflow_supplychain.governance.policy_history import FormatDigests
from mlflow_supplychain.governance.tables import scan_attestations
from mlflow_supplychain.integrity import attestation_formats
from mlflow_supplychain.integrity.attest import (
    PUBLIC_KEY_ENV_VAR,
    AttestationPayload,
    load_public_key,
)
from mlflow_supplychain.integrity.attestation_formats import Submission, scan_envelope
from mlflow_supplychain.policy.evidence import ArtifactEvidence, ScanEvidence
from mlflow_supplychain.policy.schema import FormatVerdict, Policy, Requirement
from mlflow_supplychain.registry.evidence_reader import DatabaseProvider, VersionRecord
from mlflow_supplychain.version_identity import VersionIdentity

CLOCK_SKEW = timedelta(minutes=5)

_logger = logging.getLogger(__name__)

"""``(engine, name, version, budget seconds) -> digest of the stored bytes now, or None``."""


def _now_ms() -> int:
    return int(time.time() * 1000)


class _KeyCache:
    """The server's public key, loaded once per path (the env var is read on every call)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._path: str | None = None
        self._key: Ed25519PublicKey | None = None

    def get(self) -> Ed25519PublicKey | None:
        path = os.environ.get(PUBLIC_KEY_ENV_VAR)
        if not path:
            return None
        with self._lock:
            if path != self._path:
                self._key = load_public_key(Path(path))
                self._path = path
            return self._key


_keys = _KeyCache()


def configured_public_key() -> Ed25519PublicKey | None:
    """The public key named by ``MLFLOW_SUPPLYCHAIN_ATTESTATION_PUBLIC_KEY``; None when unset.

    Raises:
        IntegrityError: the variable names an unreadable file or not an Ed25519 key.
    """
    return _keys.get()


@dataclass(frozen=True)
class StoredAttestation:
    """One stored row, parsed; ``payload`` is None when the stored text no longer parses."""

    id: int
    model_name: str
    version: str
    payload_text: str
    signature: str
    key_id: str
    created_at: int
    payload: AttestationPayload | None
    format: str | None = None
    """The registered format of ``payload_text`` (None: the original signed payload)."""

    def verified(self, public_key: Ed25519PublicKey | None) -> bool:
        """Whether the stored text, as stored now, verifies with ``public_key`` and vouches
        for exactly ``payload``."""
        reader = attestation_formats.for_row(self.format)
        if public_key is None or self.payload is None or reader is None:
            return False
        return reader.verify(self.payload_text, self.signature, public_key) == self.payload

    @property
    def envelope(self) -> dict[str, Any] | None:
        """The stored DSSE envelope, for an attestation stored as one."""
        if self.format != scan_envelope.NAME:
            return None
        try:
            value = json.loads(self.payload_text)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None


def _parse(text: str, signature: str, format_name: str | None) -> AttestationPayload | None:
    reader = attestation_formats.for_row(format_name)
    return None if reader is None else reader.from_row(text, signature)


def latest(conn: Connection, identity_digest: str) -> StoredAttestation | None:
    """The newest stored attestation for the version with this identity digest (one query).

    Keyed by identity, never by name and number: a renamed, re-created or other-workspace
    version answering to the same name finds nothing. Rows stored before identities existed
    have no digest and are never found.
    """
    row = conn.execute(
        select(scan_attestations)
        .where(scan_attestations.c.identity_digest == identity_digest)
        .order_by(scan_attestations.c.id.desc()).limit(1)).first()
    if row is None:
        return None
    stored = StoredAttestation(id=row.id, model_name=row.model_name, version=row.version,
                               payload_text=row.payload, signature=row.signature,
                               key_id=row.key_id, created_at=row.created_at,
                               payload=_parse(row.payload, row.signature, row.format),
                               format=row.format)
    if stored.payload is not None and stored.payload.identity.digest() != identity_digest:
        # the signed identity is what counts, not the column (a row moved in the database)
        return dataclasses.replace(stored, payload=None)
    return stored


def _reject(summary: str, where: str, what: str, fix: str) -> IntegrityError:
    return IntegrityError(summary, [Problem(where, what, fix)])


def binds_current_policy(payload: AttestationPayload, policy: Policy) -> bool:
    """Whether the payload was made under ``policy``'s format policy (v3), or under ``policy``
    itself (a v2 payload, which signed the whole policy digest)."""
    if payload.format_policy_digest is not None:
        return payload.format_policy_digest == policy.format_digest
    return payload.policy_digest == policy.digest


def verifies(submission: Submission, public_key: Ed25519PublicKey | None) -> bool:
    """Whether ``public_key`` vouches for the submission's payload in its own format."""
    reader = attestation_formats.FORMATS.get(submission.format)
    return (public_key is not None and reader is not None
            and reader.verify(submission.text, submission.signature, public_key)
            == submission.payload)


def check_submission(submission: Submission,
                     public_key: Ed25519PublicKey | None, *, policy: Policy,
                     previous: StoredAttestation | None, now: datetime | None = None) -> None:
    """Decide whether a submitted attestation may be stored (the version's existence is the
    caller's check).

    Raises:
        IntegrityError: no key configured, bad signature (or an envelope signed by another
            key), another format policy (v3) or another policy (a v2 submission from a sidecar
            not yet upgraded), a time in the future, or older than the attestation already
            stored (a replay of an earlier scan).
    """
    if public_key is None:
        raise _reject("Attestations cannot be verified", PUBLIC_KEY_ENV_VAR, "is not set",
                      "start the server with 'mlflow-supplychain server' or point the variable "
                      "at the sidecar's public key")
    payload = submission.payload
    if not verifies(submission, public_key):
        raise _reject("Attestation signature does not verify", "signature",
                      "is not the configured key's signature over this payload (an untrusted "
                      "or unknown key, or altered content)",
                      "submit attestations signed by the sidecar's key")
    if payload.format_policy_digest is not None:
        if payload.format_policy_digest != policy.format_digest:
            raise _reject("Attestation is stale", "format_policy_digest",
                          f"is {payload.format_policy_digest}, the server's format policy is "
                          f"{policy.format_digest}",
                          "rescan under the current policy (the sidecar re-reads the policy "
                          "file; check it is the file the server enforces)")
    elif payload.policy_digest != policy.digest:
        raise _reject("Attestation is stale", "policy_digest",
                      f"is {payload.policy_digest}, the server enforces {policy.digest}",
                      "upgrade the sidecar, or rescan under the current policy")
    moment = now or datetime.now(timezone.utc)
    scanned = _scanned_at(payload)
    if scanned is None or scanned > moment + CLOCK_SKEW:
        raise _reject("Attestation time is invalid", "scanned_at",
                      f"{payload.scanned_at!r} is unparseable or in the future",
                      "check the sidecar host's clock")
    before = _scanned_at(previous.payload) if previous and previous.payload else None
    if before is not None and scanned < before:
        raise _reject("Attestation is older than the stored one", "scanned_at",
                      f"{payload.scanned_at} precedes {previous.payload.scanned_at}"  # type: ignore[union-attr]
                      , "submit a fresh scan")


def check_identity(payload: AttestationPayload, current: VersionIdentity) -> None:
    """Refuse an attestation signed for another version than the one now at its name.

    Raises:
        IntegrityError: the signed identity differs from ``current`` (the version was renamed,
            deleted and re-created, or lives in another workspace since the scan started).
    """
    if payload.identity == current:
        return
    differing = sorted(k for k, v in payload.identity.model_dump().items()
                       if current.model_dump().get(k) != v)
    raise _reject("Attestation is for another version", "identity",
                  f"the signed identity differs from {current.describe()}'s in "
                  f"{', '.join(differing)}",
                  "rescan the version as it is now ('mlflow-supplychain reconcile')")


def _scanned_at(payload: AttestationPayload) -> datetime | None:
    try:
        value = datetime.fromisoformat(payload.scanned_at.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo is not None else None


def store(conn: Connection, submission: Submission, *, policy_digest: str, actor: str) -> int:
    """Insert the attestation in its own format, keyed by the identity it signs, and its
    ``attestation.accept`` audit record (caller's transaction). The caller has checked that the
    signed identity is the version's identity now (:func:`check_identity`).

    Returns the row id.
    """
    now = _now_ms()
    payload = submission.payload
    # the original format keeps NULL, as every row before 0008: a server rolled back before
    # 0008 still reads those, and finds no evidence in an envelope row (fail closed)
    original = submission.format == attestation_formats.ORIGINAL
    result = conn.execute(scan_attestations.insert().values(
        model_name=payload.model_name, version=payload.version,
        workspace=payload.identity.workspace, identity_digest=payload.identity.digest(),
        artifact_digest=payload.artifact_digest,
        payload=submission.text, signature=submission.signature,
        key_id=payload.key_id, created_at=now,
        format=None if original else submission.format))
    audit.append(conn, actor=actor, action="attestation.accept",
                 subject=f"models:/{payload.model_name}/{payload.version}",
                 payload={"identity": payload.identity.digest(),
                          "workspace": payload.identity.workspace,
                          "artifact_digest": payload.artifact_digest, "verdict": payload.verdict,
                          "findings": len(payload.findings), "key_id": payload.key_id,
                          "scanner_version": payload.scanner_version,
                          "format": submission.format},
                 policy_digest=policy_digest, ts_ms=now)
    key = result.inserted_primary_key
    return int(key[0]) if key else 0


def record_rejection(engine: Engine, *, subject: str, reason: str, policy_digest: str,
                     actor: str) -> None:
    """Append an ``attestation.reject`` audit record; a failure is logged, never raised."""
    try:
        with engine.begin() as conn:
            audit.append(conn, actor=actor, action="attestation.reject", subject=subject,
                         payload={"reason": reason[:300]}, policy_digest=policy_digest,
                         ts_ms=_now_ms())
    except Exception as exc:  # noqa: BLE001 - the rejection itself stands regardless
        _logger.error("could not audit an attestation rejection: %s", type(exc).__name__)


def scan_evidence(payload: AttestationPayload, signature_valid: bool,
                  format_policy_digest: str | None = None) -> ScanEvidence:
    """The engine's view of an attestation. ``format_policy_digest`` is the format policy a
    legacy (v2) attestation was made under, resolved by the caller through the policy
    history; v3 attestations sign theirs."""
    verdict = None if payload.verdict == "error" else FormatVerdict(payload.verdict)
    return ScanEvidence(model_name=payload.model_name, version=payload.version,
                        identity_digest=payload.identity.digest(),
                        artifact_digest=payload.artifact_digest,
                        format_policy_digest=payload.format_policy_digest or format_policy_digest,
                        verdict=verdict, findings=payload.findings,
                        signature_valid=signature_valid, **_publisher_fields(payload))


def _publisher_fields(payload: AttestationPayload) -> dict[str, Any]:
    found = payload.publisher_signature
    if found is None:
        return {}
    return {"publisher_signature": found.status, "publisher": found.publisher,
            "signature_problems": found.problems}


def legacy_format_digest(conn: Connection, payload: AttestationPayload,
                         policy: Policy) -> str | None:
    """The format policy digest a v2 attestation (which signed the whole policy digest) was
    made under: the current one when it names the current policy, else the one the policy
    history records for its digest; None when the history does not know it (the gate then
    reports ``scan.pending`` and the sidecar rescans)."""
    if payload.policy_digest is None:
        return payload.format_policy_digest
    if payload.policy_digest == policy.digest:
        return policy.format_digest
    return _format_digests.lookup(conn, payload.policy_digest)


_format_digests = FormatDigests()


_pending: ContextVar[StoredAttestation | None] = ContextVar("supplychain_pending_attestation",
                                                           default=None)


@contextlib.contextmanager
def pending(submission: Submission) -> Iterator[None]:
    """Within the block, the provider answers with this (verified, not yet stored) attestation
    for its subject instead of the stored one: the gate can judge a version on a verdict
    before the verdict is committed (late-verdict compensation, one transaction)."""
    payload = submission.payload
    token = _pending.set(StoredAttestation(
        id=0, model_name=payload.model_name, version=payload.version,
        payload_text=submission.text, signature=submission.signature,
        key_id=payload.key_id, created_at=_now_ms(), payload=payload,
        format=None if submission.format == attestation_formats.ORIGINAL
        else submission.format))
    try:
        yield
    finally:
        _pending.reset(token)


_observed: ContextVar[dict[str, int] | None] = ContextVar(
    "supplychain_observed_attestations", default=None)


@contextlib.contextmanager
def observed() -> Iterator[dict[str, int]]:
    """Within the block, the provider notes the id of each stored attestation it judged on,
    by version identity digest (0: none was stored), so a promotion can check before it
    commits that no newer verdict arrived meanwhile."""
    seen: dict[str, int] = {}
    token = _observed.set(seen)
    try:
        yield seen
    finally:
        _observed.reset(token)


def latest_id(conn: Connection, identity_digest: str) -> int:
    """The id of the newest stored attestation for the version with this identity (0: none)."""
    row = conn.execute(
        select(scan_attestations.c.id)
        .where(scan_attestations.c.identity_digest == identity_digest)
        .order_by(scan_attestations.c.id.desc()).limit(1)).first()
    return int(row[0]) if row is not None else 0


class AttestationProvider(DatabaseProvider):
    """Gate evidence from the latest stored attestation, re-verified on every read.

    Unbound, or when the query fails, it provides nothing: the scan and hash requirements then
    deny (fail closed). Promotion-time re-hashing wraps this provider
    (``registry.reverify.ReverifyingProvider``).
    """

    requirements = frozenset({Requirement.SCAN_PASSED, Requirement.HASH_MATCH,
                              Requirement.SIGNATURE_VERIFIED})

    def read(self, engine: Any, record: VersionRecord, policy: Policy,
             intake: Mapping[str, str]) -> Mapping[str, Any]:
        digest = record.identity(policy.reserved_tag_prefix).digest()
        stored = _pending.get()
        with engine.connect() as conn:
            if (stored is None or stored.payload is None
                    or stored.payload.identity.digest() != digest):
                stored = latest(conn, digest)
                if (seen := _observed.get()) is not None:
                    seen[digest] = stored.id if stored else 0
            if stored is None or stored.payload is None:
                return {}
            format_digest = legacy_format_digest(conn, stored.payload, policy)
        try:
            key = configured_public_key()
        except IntegrityError as exc:
            _logger.error("attestation public key unusable: %s", exc.summary)
            key = None
        valid = stored.verified(key)
        if not valid:
            _logger.warning("stored attestation %d for %s/%s does not verify", stored.id,
                            record.name, record.version)
        payload = stored.payload
        fields: dict[str, Any] = {"scan": scan_evidence(payload, valid, format_digest)}
        if valid:  # an unverified manifest is no evidence of the bytes either
            fields["artifacts"] = ArtifactEvidence(digest=payload.artifact_digest,
                                                   files=dict(payload.files))
        return fields
