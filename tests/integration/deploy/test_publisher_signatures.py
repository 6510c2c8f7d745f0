"""signature_verified against a real server: the scan (the sidecar's own attestation builder,
on the version's downloaded bytes) checks the publisher's OMS signature (made with the stock
model_signing CLI) against the policy's trusted keys and CA chains; the gate allows a version
signed with a trusted key or with a certificate chaining to a trusted root, and refuses a
tampered one, an unsigned one and one signed by a stranger (key or CA), each with its own
code."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from mlflow_supplychain.deploy.fetch import downloaded_version
from mlflow_supplychain.policy.loader import load_policy
from mlflow_supplychain.sidecar.attestation import build_attestation
from mlflow_supplychain.testing.pytest_plugin import RunningServer, ServerFactory
from mlflow_supplychain.testing.registration import version_identity
from tests.unit.signing.pki import Pki, make_pki, sign_with_certificate

from ..sidecar.attestation_helpers import server_key, submit

pytest.importorskip("model_signing")
pytestmark = pytest.mark.slow


def _keys(folder: Path, name: str) -> tuple[Path, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    private = folder / f"{name}.pem"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return private, key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _weights() -> bytes:
    import numpy as np

    out = io.BytesIO()
    np.save(out, np.arange(8, dtype=np.float32))
    return out.getvalue()


def _signed_dir(folder: Path, private_key: Path) -> Path:
    model = folder / "model"
    model.mkdir(parents=True)
    (model / "MLmodel").write_text("flavors: {}\n")
    (model / "weights.npy").write_bytes(_weights())
    done = subprocess.run([str(Path(sys.executable).parent / "model_signing"), "sign", "key",
                           str(model), "--signature", str(folder / "model.sig"),
                           "--private_key", str(private_key)],
                          capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    shutil.copy(folder / "model.sig", model / "model.sig")
    return model


@pytest.fixture(scope="module")
def signed_world(supplychain_server_factory: ServerFactory,
                 tmp_path_factory: pytest.TempPathFactory
                 ) -> tuple[RunningServer, Path, Path, Pki]:
    folder = tmp_path_factory.mktemp("publishers")
    vendor_private, vendor_pem = _keys(folder, "vendor")
    stranger_private, _ = _keys(folder, "stranger")
    indented = "\n".join("      " + line for line in vendor_pem.strip().splitlines())
    pki = make_pki(folder / "pki", "globex")
    chain = "\n".join("      " + line for line in pki.root.read_text().strip().splitlines())
    policy = folder / "policy.yaml"
    policy.write_text(f"""version: 1
mode: enforce
protected:
  aliases: {{production: prod}}
profiles:
  prod:
    require: [source_allowed, scan_passed, signature_verified]
artifact_classes: {{}}
sources:
  allow: ["mlflow-artifacts:", "runs:/", "models:/"]
signatures:
  trusted_keys:
    vendor: |
{indented}
  trusted_certificates:
    globex: |
{chain}
""")
    return supplychain_server_factory(policy), vendor_private, stranger_private, pki


def _register(server: RunningServer, name: str, model: Path) -> str:
    import mlflow

    mlflow.set_tracking_uri(server.url)
    with mlflow.start_run():
        mlflow.log_artifacts(str(model), artifact_path="model")
        run_id = mlflow.active_run().info.run_id  # type: ignore[union-attr]
    return str(mlflow.register_model(f"runs:/{run_id}/model", name).version)


def _attest_as_the_sidecar(server: RunningServer, name: str, version: str) -> None:
    client = MlflowClient(server.url, server.url)
    policy = load_policy(server.policy_path)
    with downloaded_version(client, name, version) as local:
        payload, signature = build_attestation(version_identity(server, name, version),
                                               Path(local), policy, server_key(server))
    response = submit(server, payload, signature=signature)
    assert response.status_code == 200, response.text


def _promote(server: RunningServer, name: str, version: str) -> str | None:
    try:
        MlflowClient(server.url, server.url).set_registered_model_alias(name, "production",
                                                                        version)
    except MlflowException as exc:
        return exc.message
    return None


def _certificate_signed_dir(folder: Path, pki: Pki) -> Path:
    model = folder / "model"
    model.mkdir(parents=True)
    (model / "MLmodel").write_text("flavors: {}\n")
    (model / "weights.npy").write_bytes(_weights())
    sign_with_certificate(model, folder / "model.sig", pki)
    shutil.copy(folder / "model.sig", model / "model.sig")
    return model


@pytest.mark.parametrize("case", ["signed", "tampered", "unsigned", "stranger"])
def test_publisher_signature_at_promotion(signed_world: tuple[RunningServer, Path, Path, Pki],
                                          unique_model_name: str, tmp_path: Path,
                                          case: str) -> None:
    server, vendor, stranger, _ = signed_world
    model = _signed_dir(tmp_path, stranger if case == "stranger" else vendor)
    if case == "tampered":
        (model / "weights.npy").write_bytes(_weights()[:-4] + b"\x00\x00\x80\x7f")
    if case == "unsigned":
        (model / "model.sig").unlink()
    version = _register(server, unique_model_name, model)
    _attest_as_the_sidecar(server, unique_model_name, version)
    refusal = _promote(server, unique_model_name, version)
    expected = {"signed": None, "tampered": "signature.tampered",
                "unsigned": "signature.missing", "stranger": "signature.untrusted"}[case]
    if expected is None:
        assert refusal is None, refusal
    else:
        assert refusal is not None and expected in refusal, refusal
    if case == "tampered":
        assert refusal is not None and "weights.npy" in refusal


@pytest.mark.parametrize("case", ["trusted CA", "foreign CA"])
def test_certificate_signature_at_promotion(signed_world: tuple[RunningServer, Path, Path, Pki],
                                            unique_model_name: str, tmp_path: Path,
                                            case: str) -> None:
    server, _, _, pki = signed_world
    signer = pki if case == "trusted CA" else make_pki(tmp_path / "pki", "initech")
    model = _certificate_signed_dir(tmp_path, signer)
    version = _register(server, unique_model_name, model)
    _attest_as_the_sidecar(server, unique_model_name, version)
    refusal = _promote(server, unique_model_name, version)
    if case == "trusted CA":
        assert refusal is None, refusal
    else:
        assert refusal is not None and "signature.untrusted" in refusal, refusal
