"""DSSE envelopes signed under a key id we choose, and in-toto statements with JSON-typed
predicates: the envelope layer of our own attestations (scan results, approvals).

:mod:`mlflow_supplychain.signing.intoto` signs under securesystemslib's computed key id and
builds predicates through protobuf (numbers become floats). Our attestations name their key by
the id the rest of the product already uses (``attest.key_id``: the first 16 hex characters of
sha256 over the raw public key, or the registry key's fingerprint), and their predicates carry
integers (creation times), so this module keeps the predicate as plain JSON and validates the
statement by parsing it with the in-toto attestation library.

Anyone can verify an envelope with securesystemslib alone::

    key = SSlibKey.from_crypto(public_key, keyid="<key id>")
    Envelope.from_dict(envelope).verify([key], 1)

Pure: no I/O.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlflow_supplychain.signing.intoto import IN_TOTO_PAYLOAD_TYPE, STATEMENT_TYPE, EnvelopeRefused

MAX_SIGNATURES = 4
"""A DSSE envelope of ours carries one signature; a few more are tolerated (a co-signer),
more is refused before any verification is attempted."""


def statement_bytes(subjects: Mapping[str, str], predicate_type: str,
                    predicate: Mapping[str, Any]) -> bytes:
    """Canonical JSON of an in-toto v1 Statement about ``subjects`` (name -> sha256 hex) with
    ``predicate`` kept as given (integers stay integers).

    Raises:
        ValueError: the in-toto attestation library does not accept the statement.
    """
    document = {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": name, "digest": {"sha256": sha}}
                    for name, sha in sorted(subjects.items())],
        "predicateType": predicate_type,
        "predicate": dict(predicate),
    }
    raw = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                     allow_nan=False).encode("utf-8")
    validate_statement(raw)
    return raw


def validate_statement(raw: bytes) -> None:
    """Parse ``raw`` as an in-toto v1 Statement with the in-toto attestation library.

    Raises:
        ValueError: not a valid statement (no subject, a subject without digest...).
    """
    from google.protobuf import json_format
    from in_toto_attestation.v1.statement import Statement
    from in_toto_attestation.v1.statement_pb2 import Statement as StatementPb

    try:
        message = json_format.Parse(raw, StatementPb())
    except json_format.ParseError as exc:
        raise ValueError(f"not an in-toto statement: {str(exc)[:200]}") from None
    Statement.copy_from_pb(message).validate()


def sign(payload: bytes, private_key: Any, keyid: str) -> dict[str, Any]:
    """A DSSE envelope (JSON-ready dict) of ``payload`` (an in-toto statement), signed with
    ``private_key`` (Ed25519 or ECDSA P-256) under ``keyid``."""
    from securesystemslib.dsse import Envelope
    from securesystemslib.signer import CryptoSigner, SSlibKey  # type: ignore[attr-defined]

    public = SSlibKey.from_crypto(private_key.public_key(), keyid=keyid)
    envelope = Envelope(payload=payload, payload_type=IN_TOTO_PAYLOAD_TYPE, signatures={})
    envelope.sign(CryptoSigner(private_key, public_key=public))
    result: dict[str, Any] = envelope.to_dict()
    return result


@dataclass(frozen=True)
class EnvelopeParts:
    """An envelope's contents, parsed but NOT verified: what to check before spending a
    signature verification, and what to store."""

    statement: dict[str, Any]
    signatures: dict[str, str]
    """keyid -> base64 signature."""


def parse(envelope: Any, *, max_bytes: int) -> EnvelopeParts:
    """Check the shape of an untrusted envelope and decode its statement (no verification).

    Raises:
        EnvelopeRefused: not a DSSE envelope object, another payload type, too large, too many
            or malformed signatures, a payload that is not an in-toto v1 statement.
    """
    if not isinstance(envelope, Mapping):
        raise EnvelopeRefused("not a JSON object")
    if set(envelope) != {"payload", "payloadType", "signatures"}:
        raise EnvelopeRefused("a DSSE envelope has exactly the fields payload, payloadType and "
                              "signatures")
    if envelope["payloadType"] != IN_TOTO_PAYLOAD_TYPE:
        raise EnvelopeRefused(f"payload type {str(envelope['payloadType'])[:80]!r} is not "
                              f"{IN_TOTO_PAYLOAD_TYPE}")
    encoded = envelope["payload"]
    if not isinstance(encoded, str) or len(encoded) > max_bytes:
        raise EnvelopeRefused(f"the payload is not a string of at most {max_bytes} characters")
    try:
        raw = base64.b64decode(encoded.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise EnvelopeRefused("the payload is not base64") from None
    signatures = _signatures(envelope["signatures"])
    try:
        statement = json.loads(raw)
    except ValueError:
        raise EnvelopeRefused("the payload is not JSON") from None
    if not isinstance(statement, dict) or statement.get("_type") != STATEMENT_TYPE:
        raise EnvelopeRefused("the payload is not an in-toto v1 statement")
    try:
        validate_statement(raw)
    except ValueError as exc:
        raise EnvelopeRefused(str(exc)[:300]) from None
    return EnvelopeParts(statement, signatures)


def _signatures(value: Any) -> dict[str, str]:
    if not isinstance(value, list) or not value:
        raise EnvelopeRefused("signatures must be a non-empty list")
    if len(value) > MAX_SIGNATURES:
        raise EnvelopeRefused(f"more than {MAX_SIGNATURES} signatures")
    found: dict[str, str] = {}
    for item in value:
        if (not isinstance(item, Mapping) or set(item) != {"keyid", "sig"}
                or not isinstance(item["keyid"], str) or not isinstance(item["sig"], str)
                or not 0 < len(item["keyid"]) <= 64 or not 0 < len(item["sig"]) <= 256):
            raise EnvelopeRefused("each signature is {keyid, sig}: short strings")
        if item["keyid"] in found:
            raise EnvelopeRefused("two signatures under one key id")
        found[item["keyid"]] = item["sig"]
    return found


def verify(envelope: Mapping[str, Any], public_key: Any, keyid: str) -> dict[str, Any] | None:
    """The statement inside ``envelope`` when ``public_key`` (under ``keyid``) signed it, else
    None. Never raises on untrusted input."""
    from securesystemslib.dsse import Envelope
    from securesystemslib.signer import SSlibKey  # type: ignore[attr-defined]

    try:
        parsed = Envelope.from_dict(copy.deepcopy(dict(envelope)))  # from_dict consumes input
        if parsed.payload_type != IN_TOTO_PAYLOAD_TYPE:
            return None
        parsed.verify([SSlibKey.from_crypto(public_key, keyid=keyid)], 1)
        statement = json.loads(parsed.payload)
    except Exception:  # noqa: BLE001 - any failure on untrusted input: not verified
        return None
    return statement if isinstance(statement, dict) else None


def canonical(envelope: Mapping[str, Any]) -> str:
    """The envelope as canonical JSON text (how it is stored)."""
    return json.dumps(envelope, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
