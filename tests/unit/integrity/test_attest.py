"""Attestation payloads, Ed25519 signing and key files (pure, no MLflow)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from mlflow_supplychain.errors import IntegrityError
from mlflow_supplychain.integrity import attest

DIGEST = "sha256:" + "a" * 64
POLICY = "sha256:" + "b" * 64


def payload(key: Ed25519PrivateKey, **changes: object) -> attest.AttestationPayload:
    fields: dict[str, object] = {
        "model_name": "fraud", "version": "3", "artifact_digest": DIGEST,
        "files": {"model.pkl": "c" * 64}, "verdict": "sandboxed",
        "findings": ["pickle.global model.pkl: sklearn.tree"], "formats": {"model.pkl": "pickle"},
        "scanner_version": "0.1.0", "format_policy_digest": POLICY, "scanned_at": attest.now_iso(),
        "key_id": attest.key_id(key.public_key())}
    identity_changes = changes.pop("identity_changes", {})
    fields.update(changes)
    fields["identity"] = {"workspace": "default", "name": fields["model_name"],
                          "version": fields["version"], "created_at": 1,
                          "storage_location": "s3://b/m", "uid": "a" * 32,
                          **identity_changes}  # type: ignore[dict-item]
    return attest.AttestationPayload.model_validate(fields)


def test_sign_and_verify_round_trip() -> None:
    key = Ed25519PrivateKey.generate()
    p = payload(key)
    sig = attest.sign(p, key)
    assert attest.verify(p.canonical_bytes(), sig, key.public_key())
    assert attest.verify_payload(p, sig, key.public_key())


@pytest.mark.parametrize("change", [{"version": "4"}, {"model_name": "other"},
                                    {"artifact_digest": "sha256:" + "d" * 64},
                                    {"format_policy_digest": "sha256:" + "e" * 64},
                                    {"verdict": "permitted"}, {"findings": []},
                                    {"identity_changes": {"created_at": 2}},
                                    {"identity_changes": {"workspace": "team-b"}},
                                    {"identity_changes": {"uid": "b" * 32}},
                                    {"identity_changes": {"storage_location": "s3://b/x"}}])
def test_any_changed_field_breaks_the_signature(change: dict[str, object]) -> None:
    key = Ed25519PrivateKey.generate()
    sig = attest.sign(payload(key), key)
    assert not attest.verify_payload(payload(key, **change), sig, key.public_key())


def test_other_key_and_garbage_signatures_do_not_verify() -> None:
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    p = payload(key)
    assert not attest.verify_payload(p, attest.sign(p, other), key.public_key())
    for garbage in ["", "not base64!", "AAAA", "é"]:
        assert not attest.verify(p.canonical_bytes(), garbage, key.public_key())


def test_key_id_must_match_the_verifying_key() -> None:
    key = Ed25519PrivateKey.generate()
    p = payload(key, key_id="0" * 16)
    assert not attest.verify_payload(p, attest.sign(p, key), key.public_key())


def test_canonical_bytes_are_stable() -> None:
    key = Ed25519PrivateKey.generate()
    p = payload(key, scanned_at="2026-01-01T00:00:00Z")
    again = attest.AttestationPayload.parse(p.model_dump(mode="json"))
    assert again.canonical_bytes() == p.canonical_bytes()
    assert p.canonical_bytes().startswith(b'{"artifact_digest":')


@pytest.mark.parametrize("bad", [{"artifact_digest": "md5:1"}, {"version": "0"},
                                 {"files": {"a": "XYZ"}}, {"verdict": "fine"},
                                 {"extra": 1}, {"type": "other/v1"}])
def test_malformed_payloads_are_refused(bad: dict[str, object]) -> None:
    key = Ed25519PrivateKey.generate()
    fields = payload(key).model_dump(mode="json")
    fields.update(bad)
    with pytest.raises(IntegrityError):
        attest.AttestationPayload.parse(fields)


def test_key_pair_files(tmp_path: Path) -> None:
    priv, pub = tmp_path / "k.key", tmp_path / "k.pub"
    kid = attest.generate_key_pair(priv, pub)
    assert os.stat(priv).st_mode & 0o777 == 0o600
    assert attest.generate_key_pair(priv, pub) == kid  # idempotent
    private_key = attest.load_private_key(priv)
    assert attest.key_id(attest.load_public_key(pub)) == kid
    assert attest.key_id(private_key.public_key()) == kid
    with pytest.raises(IntegrityError):
        attest.load_private_key(pub)
    with pytest.raises(IntegrityError):
        attest.load_public_key(tmp_path / "missing.pub")
    pub.unlink()
    with pytest.raises(IntegrityError):
        attest.generate_key_pair(priv, pub)


def test_subject_must_be_the_signed_identity() -> None:
    key = Ed25519PrivateKey.generate()
    fields = payload(key).model_dump(mode="json")
    fields["identity"]["name"] = "other"
    with pytest.raises(IntegrityError, match="identity"):
        attest.AttestationPayload.parse(fields)


def test_legacy_v2_payload_keeps_its_signed_bytes() -> None:
    """A v2 attestation (stored before format binding) still verifies: its canonical bytes are
    what a v2 sidecar signed (no format_policy_digest key), and its binding is policy_digest."""
    key = Ed25519PrivateKey.generate()
    legacy = payload(key, type=attest.LEGACY_ATTESTATION_TYPE, format_policy_digest=None,
                     policy_digest=POLICY)
    assert b"format_policy_digest" not in legacy.canonical_bytes()
    assert b'"policy_digest"' in legacy.canonical_bytes()
    assert attest.verify_payload(legacy, attest.sign(legacy, key), key.public_key())


@pytest.mark.parametrize("fields", [
    {"type": "mlflow-supplychain/scan-attestation/v2"},  # v2 without policy_digest
    {"policy_digest": POLICY},  # v3 with both bindings
    {"format_policy_digest": None},  # v3 without its binding
])
def test_each_version_carries_exactly_its_own_binding(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        payload(Ed25519PrivateKey.generate(), **fields)
