"""OMS certificate mode: a model signed by model_signing's own certificate signer (leaf and
intermediate in the bundle) verifies against a root CA the policy trusts, from our own file
hashes. A foreign root, an expired leaf, a tampered file, a key-mode-only policy and a bad
chain in the policy are each refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest.importorskip("model_signing")
pytest.importorskip("OpenSSL")

from mlflow_supplychain.errors import PolicyError  # noqa: E402
from mlflow_supplychain.integrity.manifest import build_manifest  # noqa: E402
from mlflow_supplychain.policy.loader import parse_policy  # noqa: E402
from mlflow_supplychain.policy.schema import Signatures, format_policy_digest  # noqa: E402
from mlflow_supplychain.signing.oms import SignatureStatus, check_signature  # noqa: E402
from mlflow_supplychain.signing.publisher import publisher_signature  # noqa: E402
from tests.unit.signing.pki import Pki, make_pki, sign_with_certificate  # noqa: E402


def _model(folder: Path) -> Path:
    model = folder / "model"
    (model / "sub").mkdir(parents=True)
    (model / "weights.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    (model / "sub" / "config.json").write_text('{"a": 1}')
    return model


def _hashes(model: Path) -> dict[str, str]:
    return {entry.path: entry.sha256 for entry in build_manifest(model).files}


@pytest.fixture
def signed(tmp_path: Path) -> tuple[Path, bytes, Pki]:
    pki = make_pki(tmp_path / "pki")
    model = _model(tmp_path)
    sign_with_certificate(model, tmp_path / "model.sig", pki)
    return model, (tmp_path / "model.sig").read_bytes(), pki


def test_a_certificate_signature_verifies_against_the_trusted_root(
        signed: tuple[Path, bytes, Pki]) -> None:
    model, bundle, pki = signed
    check = check_signature(bundle, _hashes(model), trusted_chains=[pki.root])
    assert check.status is SignatureStatus.VERIFIED, check.detail
    assert check.trusted_chain == pki.root
    assert set(check.signed_files) == {"weights.safetensors", "sub/config.json"}
    # a policy holding root and intermediate verifies too
    both = pki.root.parent / "both.pem"
    both.write_bytes(pki.root.read_bytes() + pki.intermediate.read_bytes())
    assert check_signature(bundle, _hashes(model), trusted_chains=[both]).ok


def test_another_root_or_only_keys_is_untrusted(tmp_path: Path,
                                                signed: tuple[Path, bytes, Pki]) -> None:
    model, bundle, _ = signed
    stranger = make_pki(tmp_path / "other", "stranger")
    check = check_signature(bundle, _hashes(model), trusted_chains=[stranger.root])
    assert check.status is SignatureStatus.UNTRUSTED
    # the signer's own intermediate alone is no trust anchor
    assert not check_signature(bundle, _hashes(model),
                               trusted_chains=[signed[2].intermediate]).ok
    # no chain at all never falls back to the system's CA store
    empty = tmp_path / "empty.pem"
    empty.write_text("")
    assert check_signature(bundle, _hashes(model),
                           trusted_chains=[empty]).status is SignatureStatus.UNTRUSTED
    assert check_signature(bundle, _hashes(model)).status is SignatureStatus.UNTRUSTED


def test_an_expired_leaf_is_refused(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki", leaf_days=(-10, -1))
    model = _model(tmp_path)
    sign_with_certificate(model, tmp_path / "model.sig", pki)
    check = check_signature((tmp_path / "model.sig").read_bytes(), _hashes(model),
                            trusted_chains=[pki.root])
    assert check.status is SignatureStatus.UNTRUSTED
    assert "not valid now" in check.detail and "expired" in check.detail


def test_a_tampered_file_is_named(signed: tuple[Path, bytes, Pki]) -> None:
    model, bundle, pki = signed
    (model / "sub" / "config.json").write_text('{"a": 2}')
    (model / "extra.bin").write_bytes(b"x")
    check = check_signature(bundle, _hashes(model), trusted_chains=[pki.root])
    assert check.status is SignatureStatus.TAMPERED
    assert check.mismatched == ("sub/config.json",)
    assert check.unsigned == ("extra.bin",)


def test_the_sidecar_check_names_the_publisher_chain(tmp_path: Path,
                                                     signed: tuple[Path, bytes, Pki]) -> None:
    model, bundle, pki = signed
    (model / "model.sig").write_bytes(bundle)
    found = publisher_signature(model, _hashes(model), {},
                                {"vendor": pki.root.read_text()})
    assert found is not None and found.status == "verified" and found.publisher == "vendor"
    stranger = make_pki(tmp_path / "other", "stranger")
    found = publisher_signature(model, _hashes(model), {},
                                {"stranger": stranger.root.read_text()})
    assert found is not None and found.status == "untrusted" and found.publisher is None
    shutil.copy(model / "sub" / "config.json", model / "weights.safetensors")
    found = publisher_signature(model, _hashes(model), {}, {"vendor": pki.root.read_text()})
    assert found is not None and found.status == "tampered"
    assert any(p.startswith("weights.safetensors") for p in found.problems)


POLICY = """\
version: 1
mode: enforce
protected:
  aliases: {{production: prod}}
profiles:
  prod:
    require: [signature_verified]
artifact_classes: {{}}
sources:
  allow: ["models:/"]
signatures:
  trusted_certificates:
    vendor: |
{pem}
"""


def _policy(pem: str) -> str:
    return POLICY.format(pem="\n".join("      " + line for line in pem.splitlines()))


def test_policy_accepts_a_chain_and_binds_it_into_the_format_digest(
        signed: tuple[Path, bytes, Pki]) -> None:
    pki = signed[2]
    policy = parse_policy(_policy(pki.root.read_text() + pki.intermediate.read_text()))
    assert "vendor" in policy.signatures.trusted_certificates
    assert policy.format_digest != format_policy_digest(policy.formats)
    assert policy.format_digest != format_policy_digest(policy.formats, Signatures(
        trusted_certificates={"vendor": pki.root.read_text()}))
    assert format_policy_digest(policy.formats, Signatures()) == format_policy_digest(
        policy.formats)


@pytest.mark.parametrize("pem", [("-----BEGIN CERTIFICATE-----\nnot base64\n"
                                  "-----END CERTIFICATE-----"), "hello"])
def test_a_malformed_chain_is_a_policy_error_naming_the_field(pem: str) -> None:
    with pytest.raises(PolicyError) as err:
        parse_policy(_policy(pem))
    assert "trusted_certificates" in str(err.value.problems) + str(err.value)


def test_a_private_key_pasted_as_a_chain_is_refused(signed: tuple[Path, bytes, Pki]) -> None:
    pki = signed[2]
    with pytest.raises(PolicyError) as err:
        parse_policy(_policy(pki.root.read_text() + pki.leaf_key.read_text()))
    assert "private key" in str(err.value.problems)
    assert "BEGIN PRIVATE" not in str(err.value.problems)


def test_required_signatures_need_a_key_or_a_chain() -> None:
    text = POLICY.replace("  trusted_certificates:\n    vendor: |\n{pem}\n", "  {{}}\n")
    with pytest.raises(PolicyError) as err:
        parse_policy(text.replace("signatures:\n  {}\n", "").format())
    assert "trusted_certificates" in str(err.value.problems)
