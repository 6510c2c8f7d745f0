"""DSSE envelopes signed under a key id we choose, and in-toto statements with JSON-typed
predicates: the envelope layer of our own attestations (scan results, approvals).

:mod:`mlflow_supplychain.signing.intoto` signs under securesystemslib's computed key id and
builds predicates through protobuf (numbers become floats). Our attestations name their key by
the id the rest of the product already uses (``attest.key_id``: the first 16 hex characters of
sha256 over the raw public key, or the registry key's fingerprint), and their predicates carry
integers (creation times), so this module keeps the predicate as plain JSON and checks the
statement against the in-toto v1 rules itself (:func:`statement_problem`).

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
        ValueError: not a valid statement (no subject, empty predicate type or predicate).
    """
    document = {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": name, "digest": {"sha256": sha}}
                    for name, sha in sorted(subjects.items())],
        "predicateType": predicate_type,
        "predicate": dict(predicate),
    }
    problem = statement_problem(document)
    if problem is not None:
        raise ValueError(problem)
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


STATEMENT_FIELDS = frozenset({"_type", "subject", "predicateType", "predicate"})


def statement_problem(statement: Any) -> str | None:
    """What makes ``statement`` not an in-toto v1 Statement (None: it is one).

    The rules the in-toto attestation library's ``Statement.validate`` applies (type, at least
    one subject, each with a name and a non-empty digest map of strings, a predicate type and a
    non-empty predicate object), plus no unknown top-level field, checked on plain JSON: the
    library parses through protobuf's pure-Python JSON reader, about 0.4 ms per subject, which
    a 50,000-file manifest would turn into seconds on every read. The interop tests check that
    the library accepts what this accepts from us.
    """
    if not isinstance(statement, Mapping) or statement.get("_type") != STATEMENT_TYPE:
        return "the payload is not an in-toto v1 statement"
    if set(statement) - STATEMENT_FIELDS:
        return "the statement has fields in-toto v1 does not define"
    subjects = statement.get("subject")
    if not isinstance(subjects, list) or not subjects:
        return "the statement has no subject"
    for index, subject in enumerate(subjects):
        digest = subject.get("digest") if isinstance(subject, Mapping) else None
        if (not isinstance(digest, Mapping) or not digest
                or not all(isinstance(k, str) and isinstance(v, str) for k, v in digest.items())
                or not isinstance(subject.get("name", ""), str)):
            return f"subject {index} has no digest"
    if not isinstance(statement.get("predicateType"), str) or not statement["predicateType"]:
        return "the statement has no predicate type"
    if not isinstance(statement.get("predicate"), Mapping) or not statement["predicate"]:
        return "the statement has no predicate"
    return None


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
    problem = statement_problem(statement)
    if problem is not None:
        raise EnvelopeRefused(problem)
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
