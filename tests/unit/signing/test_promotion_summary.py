"""The registry's promotion summary is bound to one version identity and one target: a summary
for v1 does not serve a re-created v1 (another identity) nor another target; the standard VSA
fields stay readable by the in-toto library (which ignores the extension, as in-toto asks)."""

from __future__ import annotations

import json

from cryptography.hazmat.primitives.asymmetric import ec

from mlflow_supplychain.signing.intoto import InputAttestation, sign_envelope
from mlflow_supplychain.signing.promotion_summary import (
    BINDING_KEY,
    binding,
    check_promotion_summary,
    oms_model_name,
    promotion_summary,
)

FILES = {"MLmodel": "a" * 64, "model.safetensors": "b" * 64}
IDENTITY = "sha256:" + "1" * 64
OTHER = "sha256:" + "2" * 64


def _signed(key: ec.EllipticCurvePrivateKey, target: str = "production") -> dict:
    return sign_envelope(promotion_summary(
        FILES, name="fraud", version="3", target=target, identity_digest=IDENTITY,
        policy_digest="sha256:" + "c" * 64, inputs=[InputAttestation("scan", "d" * 64)]), key)


def _check(envelope: dict, key: ec.EllipticCurvePrivateKey, **overrides: object) -> list[str]:
    args: dict = {"name": "fraud", "version": "3", "target": "production",
                  "identity_digest": IDENTITY, **overrides}
    files = args.pop("files", FILES)
    return list(check_promotion_summary(envelope, files, [key.public_key()], **args).problems)


def test_bound_summary_passes_for_its_identity_and_target_only() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    envelope = _signed(key)
    assert binding(envelope) == (IDENTITY, "production")
    assert _check(envelope, key) == []
    assert _check(envelope, key, target="alias:Production") == []  # one alias, two spellings
    assert any("version identity" in p for p in _check(envelope, key, identity_digest=OTHER))
    assert any("not known" in p for p in _check(envelope, key, identity_digest=None))
    assert any("target" in p for p in _check(envelope, key, target="staging"))
    assert any("models:/fraud/4" in p for p in _check(envelope, key, version="4"))
    changed = {**FILES, "MLmodel": "e" * 64}
    assert any("digest differs" in p for p in _check(envelope, key, files=changed))
    other_key = ec.generate_private_key(ec.SECP256R1())
    assert _check(envelope, other_key) != []


def test_an_unbound_summary_is_refused() -> None:
    from mlflow_supplychain.signing.intoto import verification_summary

    key = ec.generate_private_key(ec.SECP256R1())
    plain = sign_envelope(verification_summary(
        FILES, resource_uri="models:/fraud/3", policy_uri="p", policy_digest="sha256:" + "c" * 64,
        passed=True), key)
    assert any("names no version identity" in p for p in _check(plain, key))


def test_standard_vsa_fields_parse_with_the_in_toto_library() -> None:
    import base64

    from google.protobuf import json_format
    from in_toto_attestation.predicates.vsa.v1 import vsa_pb2

    key = ec.generate_private_key(ec.SECP256R1())
    stmt = json.loads(base64.b64decode(_signed(key)["payload"]))
    predicate = stmt["predicate"]
    assert predicate[BINDING_KEY] == {"versionIdentity": IDENTITY, "target": "production"}
    predicate.pop("verifiedLevels")  # a list in the spec, a string in the library's proto
    summary = json_format.ParseDict(predicate, vsa_pb2.VerificationSummary(),
                                    ignore_unknown_fields=True)
    assert summary.verification_result == "PASSED"
    assert summary.resource_uri == "models:/fraud/3"


def test_oms_model_name_names_the_identity() -> None:
    assert oms_model_name("fraud", "3", IDENTITY) == f"models:/fraud/3?identity={IDENTITY}"
