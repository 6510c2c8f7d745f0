"""in-toto statements in DSSE envelopes and the SLSA VSA: made by us, checked by the standard
libraries (in-toto attestation's Statement and VSA protos, securesystemslib's DSSE), and the
other way round; a wrong key, another resource, other bytes and a FAILED result are refused."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from mlflow_supplychain.signing.intoto import (
    VSA_PREDICATE_TYPE,
    EnvelopeRefused,
    InputAttestation,
    check_summary,
    open_envelope,
    sign_envelope,
    verification_summary,
)

FILES = {"MLmodel": "a" * 64, "model.safetensors": "b" * 64}
URI = "models:/fraud/3"


def _vsa(passed: bool = True, files: dict[str, str] | None = None) -> bytes:
    return verification_summary(files or FILES, resource_uri=URI,
                                policy_uri="https://mlflow.example.com/policy",
                                policy_digest="sha256:" + "c" * 64, passed=passed,
                                inputs=[InputAttestation("scan", "d" * 64)])


@pytest.mark.parametrize("make_key", [lambda: ec.generate_private_key(ec.SECP256R1()),
                                      ed25519.Ed25519PrivateKey.generate])
def test_vsa_round_trip_through_the_standard_libraries(make_key: Any) -> None:
    from google.protobuf import json_format
    from in_toto_attestation.predicates.vsa.v1 import vsa_pb2
    from in_toto_attestation.v1 import statement_pb2
    from in_toto_attestation.v1.statement import Statement
    from securesystemslib.dsse import Envelope
    from securesystemslib.signer import SSlibKey

    key = make_key()
    envelope = sign_envelope(_vsa(), key)
    # securesystemslib alone verifies the envelope ...
    parsed = Envelope.from_dict(json.loads(json.dumps(envelope)))
    parsed.verify([SSlibKey.from_crypto(key.public_key())], 1)
    # ... and the in-toto library parses and validates the statement and the VSA predicate
    stmt_pb = json_format.Parse(parsed.payload, statement_pb2.Statement())
    Statement.copy_from_pb(stmt_pb).validate()
    assert stmt_pb.predicate_type == VSA_PREDICATE_TYPE
    predicate = json_format.MessageToDict(stmt_pb.predicate)
    # The SLSA VSA v1 spec makes verifiedLevels an array of strings; the in-toto library's
    # proto (in-toto-attestation 0.9) declares one string, so that field is checked by hand.
    assert predicate.pop("verifiedLevels") == []
    summary = json_format.ParseDict(predicate, vsa_pb2.VerificationSummary())
    assert summary.verification_result == "PASSED" and summary.resource_uri == URI
    assert check_summary(envelope, FILES, [key.public_key()], resource_uri=URI).ok


def test_summary_refusals() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    other = ec.generate_private_key(ec.SECP256R1())
    good = sign_envelope(_vsa(), key)
    trusted = [key.public_key()]
    assert not check_summary(good, FILES, [other.public_key()], resource_uri=URI).ok
    assert not check_summary(good, FILES, trusted, resource_uri="models:/fraud/4").ok
    changed = {**FILES, "model.safetensors": "e" * 64}
    check = check_summary(good, changed, trusted, resource_uri=URI)
    assert check.problems == ("model.safetensors: digest differs from the summary",)
    extra = check_summary(good, {**FILES, "x.py": "f" * 64}, trusted, resource_uri=URI)
    assert extra.problems == ("x.py: not in the summary",)
    failed = sign_envelope(_vsa(passed=False), key)
    assert not check_summary(failed, FILES, trusted, resource_uri=URI).ok
    # a payload swapped under a valid signature
    forged = dict(good)
    forged["payload"] = sign_envelope(_vsa(files=changed), other)["payload"]
    assert not check_summary(forged, changed, trusted, resource_uri=URI).ok


@pytest.mark.parametrize("envelope", [b"not json", b"[]", b'{"payload": 1}',
                                      json.dumps({"payload": "", "payloadType": "text/plain",
                                                  "signatures": []}).encode()])
def test_malformed_envelopes_are_refused(envelope: bytes) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(EnvelopeRefused):
        open_envelope(envelope, [key.public_key()])
