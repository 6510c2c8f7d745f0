"""in-toto statements in DSSE envelopes, and the SLSA Verification Summary Attestation (VSA).

What the gate decides at promotion ("these files were verified against policy P: PASSED") is
exactly what a VSA states, so the registry issues one, signed, for every promotion to a
protected target; anyone holding the registry's public key can check it with standard tools
(in-toto, sigstore, securesystemslib) without this package.

Pure: statements are built and validated with the in-toto attestation library
(``in_toto_attestation``), envelopes made and verified with securesystemslib's DSSE
implementation. Keys are ``cryptography`` key objects (Ed25519 or ECDSA P-256).
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
VSA_PREDICATE_TYPE = "https://slsa.dev/verification_summary/v1"
VERIFIER_ID = "https://github.com/mlflow-supplychain/mlflow-supplychain"
MAX_ENVELOPE_BYTES = 32 * 1024 * 1024


class EnvelopeRefused(ValueError):
    """An envelope that is malformed, unsigned by a trusted key, or not the expected kind."""


def statement(subjects: Mapping[str, str], predicate_type: str,
              predicate: Mapping[str, Any]) -> bytes:
    """Canonical JSON of an in-toto v1 Statement about ``subjects`` (name -> sha256 hex).

    Raises:
        ValueError: the statement does not validate (no subject, bad digest...).
    """
    from google.protobuf import json_format
    from in_toto_attestation.v1.resource_descriptor import ResourceDescriptor
    from in_toto_attestation.v1.statement import Statement

    descriptors = [ResourceDescriptor(name=name, digest={"sha256": sha}).pb
                   for name, sha in sorted(subjects.items())]
    built = Statement(descriptors, predicate_type, dict(predicate))
    built.validate()
    document = json_format.MessageToDict(built.pb, preserving_proto_field_name=False)
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def sign_envelope(payload: bytes, private_key: Any) -> dict[str, Any]:
    """A DSSE envelope (JSON-ready dict) of ``payload`` signed with ``private_key``."""
    from securesystemslib.dsse import Envelope
    from securesystemslib.signer import CryptoSigner  # type: ignore[attr-defined]

    envelope = Envelope(payload=payload, payload_type=IN_TOTO_PAYLOAD_TYPE, signatures={})
    envelope.sign(CryptoSigner(private_key))
    result: dict[str, Any] = envelope.to_dict()
    return result


def open_envelope(envelope: Mapping[str, Any] | bytes | str,
                  trusted_keys: Sequence[Any], *,
                  predicate_type: str | None = None) -> dict[str, Any]:
    """The statement inside ``envelope`` after a trusted key verified it.

    Raises:
        EnvelopeRefused: malformed, too large, not in-toto, no trusted signature, or another
            predicate type than ``predicate_type``.
    """
    from securesystemslib.dsse import Envelope
    from securesystemslib.signer import Key, SSlibKey  # type: ignore[attr-defined]

    data = _as_dict(envelope)
    try:
        parsed = Envelope.from_dict(copy.deepcopy(dict(data)))  # from_dict consumes its input
    except Exception as exc:  # noqa: BLE001 - any parse failure of untrusted input
        raise EnvelopeRefused(f"not a DSSE envelope ({type(exc).__name__})") from None
    if parsed.payload_type != IN_TOTO_PAYLOAD_TYPE:
        raise EnvelopeRefused(f"payload type {parsed.payload_type!r} is not in-toto")
    keys: list[Key] = [SSlibKey.from_crypto(k) for k in trusted_keys]
    if not keys:
        raise EnvelopeRefused("no trusted key to verify with")
    try:
        parsed.verify(keys, 1)
    except Exception:  # noqa: BLE001 - VerificationError and friends: not trusted
        raise EnvelopeRefused("no signature verifies with a trusted key") from None
    try:
        stmt = json.loads(parsed.payload)
    except ValueError:
        raise EnvelopeRefused("the payload is not JSON") from None
    if not isinstance(stmt, dict) or stmt.get("_type") != STATEMENT_TYPE:
        raise EnvelopeRefused("the payload is not an in-toto v1 statement")
    if predicate_type is not None and stmt.get("predicateType") != predicate_type:
        raise EnvelopeRefused(f"predicate type {stmt.get('predicateType')!r}, expected "
                              f"{predicate_type!r}")
    return stmt


def _as_dict(envelope: Mapping[str, Any] | bytes | str) -> Mapping[str, Any]:
    if isinstance(envelope, Mapping):
        return envelope
    raw = envelope.encode() if isinstance(envelope, str) else envelope
    if len(raw) > MAX_ENVELOPE_BYTES:
        raise EnvelopeRefused(f"larger than {MAX_ENVELOPE_BYTES} bytes")
    try:
        data = json.loads(raw)
    except ValueError:
        raise EnvelopeRefused("not JSON") from None
    if not isinstance(data, dict):
        raise EnvelopeRefused("not a JSON object")
    return data


def envelope_digest(envelope: Mapping[str, Any]) -> str:
    """sha256 hex of the envelope's canonical JSON (how a VSA names its input attestations)."""
    return hashlib.sha256(json.dumps(envelope, sort_keys=True,
                                     separators=(",", ":")).encode()).hexdigest()


# -- the verification summary ---------------------------------------------------------------


@dataclass(frozen=True)
class InputAttestation:
    """Evidence a VSA says it relied on (the scan attestation, the approvals...)."""

    uri: str
    sha256: str


def verification_summary(files: Mapping[str, str], *, resource_uri: str, policy_uri: str,
                         policy_digest: str, passed: bool,
                         inputs: Sequence[InputAttestation] = (),
                         verified_at: datetime | None = None,
                         extensions: Mapping[str, Any] | None = None) -> bytes:
    """The in-toto statement of a SLSA VSA v1: ``files`` were verified against the policy.

    ``policy_digest`` is ``sha256:<hex>``. ``extensions`` are added to the predicate under
    their own (namespaced) keys; consumers that do not know them ignore them, as in-toto asks.
    """
    when = (verified_at or datetime.now(timezone.utc)).astimezone(timezone.utc)
    algorithm, _, hexdigest = policy_digest.partition(":")
    predicate = {
        "verifier": {"id": VERIFIER_ID},
        "timeVerified": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "resourceUri": resource_uri,
        "policy": {"uri": policy_uri, "digest": {algorithm or "sha256": hexdigest}},
        "inputAttestations": [{"uri": i.uri, "digest": {"sha256": i.sha256}} for i in inputs],
        "verificationResult": "PASSED" if passed else "FAILED",
        "verifiedLevels": [],
        "slsaVersion": "1.0",
    }
    for key, value in (extensions or {}).items():
        if key in predicate:
            raise ValueError(f"extension {key!r} would replace a VSA field")
        predicate[key] = value
    return statement(files, VSA_PREDICATE_TYPE, predicate)


@dataclass(frozen=True)
class SummaryCheck:
    """What :func:`check_summary` found; ``problems`` is empty when the VSA vouches for it."""

    problems: tuple[str, ...]
    resource_uri: str | None = None
    policy_digest: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def check_summary(envelope: Mapping[str, Any] | bytes | str, files: Mapping[str, str],
                  trusted_keys: Sequence[Any], *, resource_uri: str) -> SummaryCheck:
    """Does the registry's signed VSA say PASSED for exactly ``files`` of ``resource_uri``?"""
    try:
        stmt = open_envelope(envelope, trusted_keys, predicate_type=VSA_PREDICATE_TYPE)
    except EnvelopeRefused as exc:
        return SummaryCheck((f"verification summary: {exc}",))
    predicate = stmt.get("predicate") or {}
    problems = []
    if predicate.get("verificationResult") != "PASSED":
        problems.append(f"verification result is {predicate.get('verificationResult')!r}")
    if predicate.get("resourceUri") != resource_uri:
        problems.append(f"is about {predicate.get('resourceUri')!r}, not {resource_uri!r}")
    signed = {s.get("name"): (s.get("digest") or {}).get("sha256")
              for s in stmt.get("subject") or ()}
    for path in sorted(set(signed) | set(files)):
        if signed.get(path) != files.get(path):
            problems.append(f"{path}: " + ("not in the summary" if path not in signed
                                           else "missing" if path not in files
                                           else "digest differs from the summary"))
    digest = (predicate.get("policy") or {}).get("digest") or {}
    policy = f"sha256:{digest['sha256']}" if "sha256" in digest else None
    return SummaryCheck(tuple(problems), resource_uri=predicate.get("resourceUri"),
                        policy_digest=policy)
