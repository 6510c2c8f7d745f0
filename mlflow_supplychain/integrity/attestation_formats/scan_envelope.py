"""The in-toto format: a scan attestation as an in-toto v1 Statement in a DSSE envelope.

Submitted as ``{"envelope": {"payload": ..., "payloadType": "application/vnd.in-toto+json",
"signatures": [{"keyid": "<key id>", "sig": ...}]}}``. The statement:

- ``subject``: the version's files, one resource descriptor each (``name`` = relative POSIX
  path, ``digest.sha256``);
- ``predicateType``: :data:`SCAN_PREDICATE_TYPE`;
- ``predicate``: every other field of :class:`AttestationPayload` (type v3): the version
  identity, the artifact (manifest) digest, verdict, findings, formats, scanner version,
  format policy digest, scan time, key id and the publisher signature check.

The envelope is signed with the sidecar's Ed25519 key under its key id (``attest.key_id``), so
anyone holding ``attestation-signing.pub`` can check it with securesystemslib and the in-toto
attestation library alone. What the gate judges is the same payload the original format
carries; only the encoding and the signed bytes (DSSE's PAE over the statement) differ.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from mlflow_supplychain.errors import IntegrityError, Problem
from mlflow_supplychain.integrity.attest import ATTESTATION_TYPE, AttestationPayload, key_id
from mlflow_supplychain.integrity.attestation_formats.interface import Submission
from mlflow_supplychain.signing import keyed_envelopes
from mlflow_supplychain.signing.intoto import EnvelopeRefused

NAME = "in-toto-dsse"
SCAN_PREDICATE_TYPE = "https://mlflow-supplychain.dev/attestation/scan/v1"
"""Our predicate type for scan results; a new major version gets a new URI (and format)."""
MAX_ENVELOPE_CHARS = 12 * 1024 * 1024
"""The base64 payload's limit (a manifest of ~50k files, like the submission body)."""
_NOT_IN_PREDICATE = ("type", "files")

_FIX = "submit an envelope built by mlflow-supplychain's sidecar (0.x or later)"


def predicate(payload: AttestationPayload) -> dict[str, Any]:
    """The scan predicate: the payload without its type (the predicate type says it) and files
    (the subjects carry them)."""
    if payload.type != ATTESTATION_TYPE:
        raise ValueError("only type v3 payloads are carried in envelopes")
    return {k: v for k, v in payload.model_dump(mode="json", exclude_none=True).items()
            if k not in _NOT_IN_PREDICATE}


def seal(payload: AttestationPayload, private_key: Ed25519PrivateKey) -> dict[str, Any]:
    """The DSSE envelope of ``payload``'s statement, signed under the payload's key id.

    Raises:
        ValueError: ``payload`` is not type v3, or its key id is not ``private_key``'s.
    """
    if payload.key_id != key_id(private_key.public_key()):
        raise ValueError("the payload names another key id than the signing key's")
    statement = keyed_envelopes.statement_bytes(payload.files, SCAN_PREDICATE_TYPE,
                                                predicate(payload))
    return keyed_envelopes.sign(statement, private_key, payload.key_id)


def payload_of(statement: Mapping[str, Any]) -> AttestationPayload:
    """The attestation a (verified or not) scan statement makes.

    Raises:
        IntegrityError: another predicate type, malformed subjects or predicate.
    """
    if statement.get("predicateType") != SCAN_PREDICATE_TYPE:
        raise _refused("predicateType",
                       f"{str(statement.get('predicateType'))[:100]!r} is not a predicate type "
                       f"this server knows (expected {SCAN_PREDICATE_TYPE})")
    files: dict[str, str] = {}
    for index, subject in enumerate(statement.get("subject") or ()):
        digest = subject.get("digest") if isinstance(subject, Mapping) else None
        name = subject.get("name") if isinstance(subject, Mapping) else None
        if (not isinstance(name, str) or not isinstance(digest, Mapping)
                or set(digest) != {"sha256"} or set(subject) != {"name", "digest"}):
            raise _refused(f"subject[{index}]", "is not {name, digest: {sha256}}")
        if name in files:
            raise _refused(f"subject[{index}]", "names a file twice")
        files[name] = digest["sha256"]
    body = statement.get("predicate")
    if not isinstance(body, Mapping) or any(k in body for k in _NOT_IN_PREDICATE):
        raise _refused("predicate", "is not a scan predicate object")
    return AttestationPayload.parse({**body, "type": ATTESTATION_TYPE, "files": files})


def _refused(where: str, what: str) -> IntegrityError:
    return IntegrityError("Malformed scan attestation envelope", [Problem(where, what, _FIX)])


class ScanEnvelopeFormat:
    """In-toto v1 Statement (scan predicate) in a DSSE envelope, Ed25519."""

    name = NAME
    body_key = "envelope"

    def from_body(self, body: Mapping[str, Any]) -> Submission:
        if set(body) != {"envelope"}:
            raise _refused("body", "an envelope submission is {\"envelope\": {...}} alone")
        try:
            parts = keyed_envelopes.parse(body["envelope"], max_bytes=MAX_ENVELOPE_CHARS)
        except EnvelopeRefused as exc:
            raise _refused("envelope", str(exc)) from None
        payload = payload_of(parts.statement)
        # the signature under the key id the predicate names is the one stored; without one
        # the envelope is well-formed but verifies as nothing (refused and audited as a forgery)
        signature = parts.signatures.get(payload.key_id, "")
        return Submission(NAME, payload, keyed_envelopes.canonical(body["envelope"]), signature)

    def from_row(self, text: str, signature: str) -> AttestationPayload | None:
        try:
            parts = keyed_envelopes.parse(json.loads(text), max_bytes=MAX_ENVELOPE_CHARS)
            return payload_of(parts.statement)
        except (ValueError, EnvelopeRefused, IntegrityError):
            return None

    def verify(self, text: str, signature: str,
               public_key: Ed25519PublicKey) -> AttestationPayload | None:
        try:
            envelope = json.loads(text)
        except ValueError:
            return None
        if not isinstance(envelope, dict):
            return None
        expected = key_id(public_key)
        statement = keyed_envelopes.verify(envelope, public_key, expected)
        if statement is None:
            return None
        try:
            payload = payload_of(statement)
        except IntegrityError:
            return None
        return payload if payload.key_id == expected else None


def submission(payload: AttestationPayload, private_key: Ed25519PrivateKey) -> Submission:
    """``payload`` sealed in an envelope, as the server receives it (tests, benchmarks)."""
    return ScanEnvelopeFormat().from_body({"envelope": seal(payload, private_key)})
