"""Our scan and approval envelopes, checked by the standard libraries alone: securesystemslib's
DSSE verification with the public key, the in-toto attestation library's Statement parser.
Nothing of mlflow_supplychain's verification code runs on the checking side; a wrong key or
altered subjects fail there too."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from google.protobuf import json_format
from in_toto_attestation.v1 import statement_pb2
from in_toto_attestation.v1.statement import Statement
from securesystemslib.dsse import Envelope
from securesystemslib.exceptions import VerificationError
from securesystemslib.signer import SSlibKey

from mlflow_supplychain.governance import approval_statement
from mlflow_supplychain.integrity import attest
from mlflow_supplychain.integrity.attestation_formats import scan_envelope

FILES = {"MLmodel": "a" * 64, "model.safetensors": "b" * 64}
IDENTITY = {"workspace": "default", "name": "fraud", "version": "3", "created_at": 1700000000123,
            "storage_location": "s3://bucket/models/m-1", "uid": "c" * 32}


def _third_party_open(envelope: dict[str, Any], public_pem: bytes, keyid: str | None
                      ) -> dict[str, Any]:
    """What a verifier with only the public key and the standard libraries does."""
    public_key = serialization.load_pem_public_key(public_pem)
    key = SSlibKey.from_crypto(public_key, keyid=keyid)  # type: ignore[arg-type]
    parsed = Envelope.from_dict(json.loads(json.dumps(envelope)))
    assert parsed.payload_type == "application/vnd.in-toto+json"
    parsed.verify([key], 1)
    message = json_format.Parse(parsed.payload, statement_pb2.Statement())  # type: ignore[attr-defined]
    Statement.copy_from_pb(message).validate()
    return dict(json.loads(parsed.payload))


def _pem(private_key: Any) -> bytes:
    return bytes(private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))


def _scan_envelope(key: Ed25519PrivateKey) -> dict[str, Any]:
    payload = attest.AttestationPayload.model_validate({
        "model_name": "fraud", "version": "3", "identity": IDENTITY,
        "artifact_digest": "sha256:" + "d" * 64, "files": FILES, "verdict": "permitted",
        "scanner_version": "0.1.0", "format_policy_digest": "sha256:" + "e" * 64,
        "scanned_at": "2026-12-02T12:00:00Z", "key_id": attest.key_id(key.public_key())})
    return scan_envelope.seal(payload, key)


def test_a_scan_envelope_verifies_with_securesystemslib_and_parses_as_a_statement() -> None:
    key = Ed25519PrivateKey.generate()
    envelope = _scan_envelope(key)
    keyid = envelope["signatures"][0]["keyid"]
    statement = _third_party_open(envelope, _pem(key), keyid)
    assert statement["predicateType"] == "https://mlflow-supplychain.dev/attestation/scan/v1"
    assert {s["name"]: s["digest"]["sha256"] for s in statement["subject"]} == FILES
    assert statement["predicate"]["identity"] == IDENTITY
    assert statement["predicate"]["verdict"] == "permitted"
    # the key id is documented as sha256 over the raw public key, first 16 hex characters
    raw = key.public_key().public_bytes(serialization.Encoding.Raw,
                                        serialization.PublicFormat.Raw)
    digest = hashes.Hash(hashes.SHA256())
    digest.update(raw)
    assert keyid == digest.finalize().hex()[:16]


def test_a_scan_envelope_fails_standard_verification_with_another_key_or_other_subjects() -> None:
    key = Ed25519PrivateKey.generate()
    envelope = _scan_envelope(key)
    keyid = envelope["signatures"][0]["keyid"]
    with pytest.raises(VerificationError):
        _third_party_open(envelope, _pem(Ed25519PrivateKey.generate()), keyid)
    statement = json.loads(base64.b64decode(envelope["payload"]))
    statement["subject"][0]["digest"]["sha256"] = "f" * 64
    altered = {**envelope, "payload": base64.b64encode(json.dumps(statement).encode()).decode()}
    with pytest.raises(VerificationError):
        _third_party_open(altered, _pem(key), keyid)


def test_an_approval_envelope_verifies_with_the_registry_public_key_alone() -> None:
    registry = ec.generate_private_key(ec.SECP256R1())
    facts = approval_statement.ApprovalFacts(
        request_id=7, model_name="fraud", version="3", workspace="default",
        identity_digest="sha256:" + "1" * 64, target="alias:champion", requester="alice",
        evidence_digest="sha256:" + "2" * 64, policy_digest="sha256:" + "3" * 64,
        approver="bob", approver_groups=("ml-leads",), approved_at_ms=1764676800123,
        artifact_digest="sha256:" + "4" * 64)
    envelope = json.loads(approval_statement.seal(facts, registry))
    statement = _third_party_open(envelope, _pem(registry), None)  # securesystemslib's key id
    assert statement["predicateType"] == "https://mlflow-supplychain.dev/attestation/approval/v1"
    assert statement["subject"] == [{"name": "models:/fraud/3", "digest": {"sha256": "1" * 64}}]
    predicate = statement["predicate"]
    assert predicate["approver"] == {"name": "bob", "groups": ["ml-leads"]}
    assert predicate["request"]["id"] == 7 and predicate["request"]["target"] == "alias:champion"
    assert predicate["approvedAt"] == "2025-12-02T12:00:00.123Z"
    with pytest.raises(VerificationError):
        _third_party_open(envelope, _pem(ec.generate_private_key(ec.SECP256R1())), None)


def test_our_approval_check_refuses_another_version_request_or_key() -> None:
    registry = ec.generate_private_key(ec.SECP256R1())
    facts = approval_statement.ApprovalFacts(
        request_id=7, model_name="fraud", version="3", workspace="default",
        identity_digest="sha256:" + "1" * 64, target="alias:champion", requester="alice",
        evidence_digest="sha256:" + "2" * 64, policy_digest="sha256:" + "3" * 64,
        approver="bob", approver_groups=(), approved_at_ms=0)
    envelope = approval_statement.seal(facts, registry)
    public = [registry.public_key()]
    assert approval_statement.check(envelope, public, identity_digest=facts.identity_digest,
                                    request_id=7, approver="bob").ok
    assert not approval_statement.check(envelope, public, identity_digest="sha256:" + "9" * 64,
                                        request_id=7).ok
    assert not approval_statement.check(envelope, public, identity_digest=facts.identity_digest,
                                        request_id=8).ok
    other = [ec.generate_private_key(ec.SECP256R1()).public_key()]
    assert not approval_statement.check(envelope, other, identity_digest=facts.identity_digest,
                                        request_id=7).ok


def _library_accepts(statement: Any) -> bool:
    try:
        message = json_format.Parse(json.dumps(statement), statement_pb2.Statement())  # type: ignore[attr-defined]
        Statement.copy_from_pb(message).validate()
    except (json_format.ParseError, ValueError):
        return False
    return True


GOOD_STATEMENT = {"_type": "https://in-toto.io/Statement/v1",
                  "subject": [{"name": "a", "digest": {"sha256": "a" * 64}}],
                  "predicateType": "https://example.com/p/v1", "predicate": {"k": 1}}


@pytest.mark.parametrize("change", [
    {}, {"_type": "https://in-toto.io/Statement/v0.1"}, {"subject": []},
    {"subject": [{"name": "a"}]}, {"subject": [{"name": "a", "digest": {}}]},
    {"predicateType": ""}, {"predicate": {}}, {"extra": 1},
])
def test_our_statement_rules_agree_with_the_in_toto_library(change: dict[str, Any]) -> None:
    from mlflow_supplychain.signing.keyed_envelopes import statement_problem

    statement = {**GOOD_STATEMENT, **change}
    assert (statement_problem(statement) is None) == _library_accepts(statement)
