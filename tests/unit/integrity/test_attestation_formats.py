"""Scan attestation formats: the in-toto envelope round-trips, every malformed or untrusted
envelope is refused with a reason, and the original payload+signature format keeps verifying."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mlflow_supplychain.errors import IntegrityError
from mlflow_supplychain.integrity import attest
from mlflow_supplychain.integrity.attestation_formats import (
    FORMATS,
    for_row,
    parse_submission,
    scan_envelope,
    signed_payload,
)
from mlflow_supplychain.signing import keyed_envelopes

from .test_attest import payload


def _statement(envelope: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(base64.b64decode(envelope["payload"])))


def _resealed(statement: dict[str, Any], key: Ed25519PrivateKey,
              keyid: str | None = None) -> dict[str, Any]:
    """A validly signed envelope of an arbitrary statement (what a holder of the key can make)."""
    raw = json.dumps(statement, sort_keys=True).encode()
    return keyed_envelopes.sign(raw, key, keyid or attest.key_id(key.public_key()))


def test_an_envelope_round_trips_to_the_same_payload_and_verifies_only_with_its_key() -> None:
    key = Ed25519PrivateKey.generate()
    original = payload(key, files={"model.pkl": "c" * 64, "sub/dir/w.bin": "d" * 64})
    envelope = scan_envelope.seal(original, key)
    statement = _statement(envelope)
    assert statement["predicateType"] == scan_envelope.SCAN_PREDICATE_TYPE
    assert statement["subject"] == [{"name": "model.pkl", "digest": {"sha256": "c" * 64}},
                                    {"name": "sub/dir/w.bin", "digest": {"sha256": "d" * 64}}]
    assert statement["predicate"]["identity"]["created_at"] == 1  # an integer, not 1.0
    assert envelope["signatures"][0]["keyid"] == original.key_id

    submission = parse_submission({"envelope": envelope})
    assert submission.format == scan_envelope.NAME and submission.payload == original
    reader = FORMATS[submission.format]
    assert reader.verify(submission.text, submission.signature, key.public_key()) == original
    assert reader.from_row(submission.text, submission.signature) == original
    other = Ed25519PrivateKey.generate()
    assert reader.verify(submission.text, submission.signature, other.public_key()) is None


def test_the_original_format_still_parses_and_verifies() -> None:
    key = Ed25519PrivateKey.generate()
    original = payload(key)
    signature = attest.sign(original, key)
    submission = parse_submission({"payload": original.model_dump(mode="json"),
                                   "signature": signature})
    assert submission.format == signed_payload.NAME
    reader = for_row(None)  # rows from before the format column
    assert reader is not None
    assert reader.verify(submission.text, signature, key.public_key()) == original
    padded = submission.text.replace(",", ", ", 1)
    assert reader.verify(padded, signature, key.public_key()) is None


def test_an_unknown_stored_format_verifies_as_nothing() -> None:
    assert for_row("in-toto-dsse-v9") is None


def _refusal(body: Any) -> str:
    with pytest.raises(IntegrityError) as excinfo:
        parse_submission(body)
    return excinfo.value.diagnostics()


def test_malformed_envelopes_are_refused_with_the_reason() -> None:
    key = Ed25519PrivateKey.generate()
    good = scan_envelope.seal(payload(key), key)
    assert "exactly one of" in _refusal({})
    assert "exactly one of" in _refusal({"envelope": good, "payload": {}, "signature": "x"})
    assert "not a JSON object" in _refusal({"envelope": [good]})
    assert "exactly the fields" in _refusal({"envelope": {**good, "extra": 1}})
    assert "is not application/vnd.in-toto+json" in _refusal(
        {"envelope": {**good, "payloadType": "application/json"}})
    assert "not base64" in _refusal({"envelope": {**good, "payload": "%%%"}})
    assert "not JSON" in _refusal(
        {"envelope": {**good, "payload": base64.b64encode(b"\xff").decode()}})
    assert "non-empty list" in _refusal({"envelope": {**good, "signatures": []}})
    many = [{"keyid": f"k{i}", "sig": "AA=="} for i in range(keyed_envelopes.MAX_SIGNATURES + 1)]
    assert "more than" in _refusal({"envelope": {**good, "signatures": many}})
    assert "{keyid, sig}" in _refusal({"envelope": {**good, "signatures": [{"sig": "AA=="}]}})
    twice = good["signatures"] * 2
    assert "two signatures" in _refusal({"envelope": {**good, "signatures": twice}})
    not_statement = base64.b64encode(json.dumps({"_type": "x"}).encode()).decode()
    assert "in-toto v1 statement" in _refusal({"envelope": {**good, "payload": not_statement}})


def test_an_oversized_envelope_is_refused_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    key = Ed25519PrivateKey.generate()
    envelope = scan_envelope.seal(payload(key), key)
    monkeypatch.setattr(scan_envelope, "MAX_ENVELOPE_CHARS", len(envelope["payload"]) - 1)
    assert "at most" in _refusal({"envelope": envelope})


def test_statements_that_are_not_our_scan_predicate_are_refused() -> None:
    key = Ed25519PrivateKey.generate()
    statement = _statement(scan_envelope.seal(payload(key), key))

    def refusal(change: dict[str, Any]) -> str:
        return _refusal({"envelope": _resealed({**statement, **change}, key)})

    assert "not a predicate type this server knows" in refusal(
        {"predicateType": "https://slsa.dev/verification_summary/v1"})
    assert "not a predicate type this server knows" in refusal(
        {"predicateType": scan_envelope.SCAN_PREDICATE_TYPE.replace("v1", "v2")})
    assert "names a file twice" in refusal({"subject": statement["subject"] * 2})
    assert "is not {name, digest" in refusal(
        {"subject": [{"name": "model.pkl", "digest": {"sha256": "c" * 64, "md5": "0" * 32}}]})
    assert "scan predicate" in refusal(
        {"predicate": {**statement["predicate"], "files": {"x": "c" * 64}}})
    assert "Malformed scan attestation" in refusal(
        {"predicate": {**statement["predicate"], "verdict": "fine"}})
    assert "Malformed scan attestation" in refusal(
        {"subject": [{"name": "model.pkl", "digest": {"sha256": "not-hex"}}]})


def test_an_envelope_without_a_signature_under_the_named_key_does_not_verify() -> None:
    key = Ed25519PrivateKey.generate()
    statement = _statement(scan_envelope.seal(payload(key), key))
    submission = parse_submission({"envelope": _resealed(statement, key, keyid="0" * 16)})
    assert submission.signature == ""
    reader = FORMATS[submission.format]
    assert reader.verify(submission.text, submission.signature, key.public_key()) is None


def test_altered_subjects_or_an_unknown_signer_do_not_verify() -> None:
    key = Ed25519PrivateKey.generate()
    envelope = scan_envelope.seal(payload(key), key)
    statement = _statement(envelope)
    statement["subject"][0]["digest"]["sha256"] = "e" * 64
    altered = {**envelope, "payload": base64.b64encode(
        json.dumps(statement, sort_keys=True).encode()).decode()}
    submission = parse_submission({"envelope": altered})  # well-formed...
    reader = FORMATS[submission.format]
    assert reader.verify(submission.text, submission.signature, key.public_key()) is None

    mallory = Ed25519PrivateKey.generate()  # ...and signed, by a key the server does not trust
    forged = scan_envelope.seal(payload(mallory), mallory)
    submission = parse_submission({"envelope": forged})
    assert reader.verify(submission.text, submission.signature, key.public_key()) is None
    claimed = _resealed(_statement(forged), mallory, keyid=attest.key_id(key.public_key()))
    stored = keyed_envelopes.canonical(claimed)  # mallory claiming the trusted key id
    assert reader.verify(stored, "", key.public_key()) is None


def test_only_v3_payloads_signed_by_their_own_key_are_sealed() -> None:
    key = Ed25519PrivateKey.generate()
    with pytest.raises(ValueError, match="another key id"):
        scan_envelope.seal(payload(key), Ed25519PrivateKey.generate())
    legacy = payload(key, type=attest.LEGACY_ATTESTATION_TYPE, format_policy_digest=None,
                     policy_digest="sha256:" + "b" * 64)
    with pytest.raises(ValueError, match="v3"):
        scan_envelope.seal(legacy, key)
