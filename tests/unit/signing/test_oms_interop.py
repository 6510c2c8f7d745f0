"""OMS signatures interoperate with the stock model_signing tool, both ways.

Signed by us from file hashes -> verified by the stock ``model_signing verify key`` command on
the directory (no code of ours involved); signed by the stock command -> checked by us against
the hashes of our own manifest. Tampered files, a wrong key, garbage and an oversized bundle
each get their own status.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("model_signing")
pytest.importorskip("OpenSSL")

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

from mlflow_supplychain.integrity.manifest import build_manifest  # noqa: E402
from mlflow_supplychain.signing.oms import (  # noqa: E402
    MAX_BUNDLE_BYTES,
    SignatureStatus,
    check_signature,
    public_key_fingerprint,
    sign_file_hashes,
)

STOCK_CLI = Path(sys.executable).parent / "model_signing"


def _key_pair(folder: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    private, public = folder / f"{name}.pem", folder / f"{name}.pub"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


def _model(folder: Path) -> Path:
    model = folder / "model"
    (model / "sub").mkdir(parents=True)
    (model / "MLmodel").write_text("flavors: {}\n")
    (model / "weights.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    (model / "sub" / "config.json").write_text('{"a": 1}')
    return model


def _hashes(model: Path) -> dict[str, str]:
    return {entry.path: entry.sha256 for entry in build_manifest(model).files}


def _stock(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(STOCK_CLI), *args], capture_output=True, text=True, check=False,
                          timeout=120)


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    return _key_pair(tmp_path, "registry")


def test_our_signature_verifies_with_the_stock_tool(tmp_path: Path,
                                                    keys: tuple[Path, Path]) -> None:
    model = _model(tmp_path)
    bundle = sign_file_hashes(_hashes(model), private_key=keys[0], model_name="fraud")
    signature = tmp_path / "model.sig"
    signature.write_text(bundle)
    ok = _stock("verify", "key", str(model), "--signature", str(signature),
                "--public_key", str(keys[1]))
    assert ok.returncode == 0, ok.stdout + ok.stderr

    (model / "sub" / "config.json").write_text('{"a": 2}')
    tampered = _stock("verify", "key", str(model), "--signature", str(signature),
                      "--public_key", str(keys[1]))
    assert tampered.returncode != 0


def test_a_stock_signature_is_checked_against_our_hashes(tmp_path: Path,
                                                         keys: tuple[Path, Path]) -> None:
    model = _model(tmp_path)
    signature = tmp_path / "publisher.sig"
    made = _stock("sign", "key", str(model), "--signature", str(signature),
                  "--private_key", str(keys[0]))
    assert made.returncode == 0, made.stdout + made.stderr
    bundle = signature.read_text()

    check = check_signature(bundle, _hashes(model), trusted_keys=[keys[1]])
    assert check.status is SignatureStatus.VERIFIED
    assert check.key_fingerprint == public_key_fingerprint(keys[1])

    (model / "weights.safetensors").write_bytes(b"other bytes")
    (model / "extra.py").write_text("print(1)")
    (model / "MLmodel").unlink()
    check = check_signature(bundle, _hashes(model), trusted_keys=[keys[1]])
    assert check.status is SignatureStatus.TAMPERED
    assert check.mismatched == ("weights.safetensors",)
    assert check.unsigned == ("extra.py",)
    assert check.missing == ("MLmodel",)


def test_wrong_key_garbage_and_oversized_bundles(tmp_path: Path,
                                                 keys: tuple[Path, Path]) -> None:
    model = _model(tmp_path)
    bundle = sign_file_hashes(_hashes(model), private_key=keys[0], model_name="m")
    _, other_public = _key_pair(tmp_path, "other")
    assert check_signature(bundle, _hashes(model),
                           trusted_keys=[other_public]).status is SignatureStatus.UNTRUSTED
    assert check_signature(bundle, _hashes(model),
                           trusted_keys=[other_public, keys[1]]).ok
    assert check_signature(b"\x00not json", {}, trusted_keys=[keys[1]]).status is (
        SignatureStatus.MALFORMED)
    assert check_signature('{"mediaType": "x"}', {}, trusted_keys=[keys[1]]).status is (
        SignatureStatus.MALFORMED)
    huge = b" " * (MAX_BUNDLE_BYTES + 1)
    assert check_signature(huge, {}, trusted_keys=[keys[1]]).status is SignatureStatus.MALFORMED


def test_signed_statement_is_bound_to_every_file(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    """Re-signing a subset is not the same signature: a file dropped from the hashes shows."""
    model = _model(tmp_path)
    hashes = _hashes(model)
    partial = dict(hashes)
    partial.pop("MLmodel")
    bundle = sign_file_hashes(partial, private_key=keys[0], model_name="m")
    check = check_signature(bundle, hashes, trusted_keys=[keys[1]])
    assert check.status is SignatureStatus.TAMPERED and check.unsigned == ("MLmodel",)
    shutil.rmtree(model)
