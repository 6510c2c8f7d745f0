"""Importing a model its publisher signed with OpenSSF Model Signing (stock ``model_signing``
CLI): a good signature stands in for declared hashes; tampered files, a wrong key and a missing
signature are refused with exit 1 and nothing is registered."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from mlflow import MlflowClient

from mlflow_supplychain.cli.main import main
from mlflow_supplychain.errors import ExitCode

pytestmark = pytest.mark.slow
pytest.importorskip("model_signing")
HUB = "https://huggingface.co/vendor/signed-model"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
FILES = {"model.safetensors": b"\x08\x00\x00\x00\x00\x00\x00\x00{}      weights",
         "config.json": b'{"hidden": 4}'}


def _keys(folder: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    private, public = folder / f"{name}.pem", folder / f"{name}.pub"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


def _signed_download(tmp_path: Path, private_key: Path) -> Path:
    directory = tmp_path / "download"
    directory.mkdir()
    for rel, data in FILES.items():
        (directory / rel).write_bytes(data)
    signature = tmp_path / "model.sig"
    done = subprocess.run([str(Path(sys.executable).parent / "model_signing"), "sign", "key",
                           str(directory), "--signature", str(signature),
                           "--private_key", str(private_key)],
                          capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    (directory / "model.sig").write_bytes(signature.read_bytes())
    return directory


def _import(directory: Path, name: str, *keys: Path) -> int:
    args = ["intake", "import", str(directory), "--source-url", HUB, "--revision", COMMIT,
            "--name", name, "--class", "base_model", "--owner", "ml@example.com",
            "--format", "json"]
    for key in keys:
        args += ["--trusted-key", str(key)]
    return main(args)


def _versions(client: MlflowClient, name: str) -> int:
    return len(client.search_model_versions(f"name = '{name}'"))


def test_signed_import_and_each_refusal(client: MlflowClient, model_name: str, tmp_path: Path,
                                        env_tracking_uri: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    private, public = _keys(tmp_path, "vendor")
    directory = _signed_download(tmp_path, private)

    assert _import(directory, model_name, public) == ExitCode.OK
    result = json.loads(capsys.readouterr().out)
    assert result["signature"]["status"] == "verified"
    assert set(result["verified"]) == set(FILES)
    assert _versions(client, model_name) == 1

    _, stranger = _keys(tmp_path, "stranger")
    assert _import(directory, model_name, stranger) == ExitCode.DENIED
    assert "does not verify with any --trusted-key" in capsys.readouterr().err

    (directory / "config.json").write_bytes(b'{"hidden": 5}')
    assert _import(directory, model_name, public) == ExitCode.DENIED
    err = capsys.readouterr().err
    assert "config.json" in err and "differs from the signed digest" in err

    (directory / "model.sig").unlink()
    assert _import(directory, model_name, public) == ExitCode.DENIED
    assert "no OMS signature" in capsys.readouterr().err
    assert _versions(client, model_name) == 1  # no refused import registered anything


def test_certificate_signed_import_and_refusals(client: MlflowClient, model_name: str,
                                                tmp_path: Path, env_tracking_uri: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from tests.unit.signing.pki import make_pki, sign_with_certificate

    pki = make_pki(tmp_path / "pki")
    directory = tmp_path / "download"
    directory.mkdir()
    for rel, data in FILES.items():
        (directory / rel).write_bytes(data)
    sign_with_certificate(directory, tmp_path / "model.sig", pki)
    (directory / "model.sig").write_bytes((tmp_path / "model.sig").read_bytes())

    def _import_chain(chain: Path) -> int:
        return main(["intake", "import", str(directory), "--source-url", HUB, "--revision",
                     COMMIT, "--name", model_name, "--class", "base_model", "--owner",
                     "ml@example.com", "--format", "json", "--trusted-certificate", str(chain)])

    assert _import_chain(pki.root) == ExitCode.OK
    result = json.loads(capsys.readouterr().out)
    assert result["signature"]["status"] == "verified"
    assert set(result["verified"]) == set(FILES)

    stranger = make_pki(tmp_path / "other", "stranger")
    assert _import_chain(stranger.root) == ExitCode.DENIED
    assert "--trusted-certificate" in capsys.readouterr().err

    assert _import_chain(pki.leaf_key) == ExitCode.ERROR  # a key is no CA chain
    assert "not a readable PEM certificate chain" in capsys.readouterr().err

    (directory / "config.json").write_bytes(b'{"hidden": 5}')
    assert _import_chain(pki.root) == ExitCode.DENIED
    err = capsys.readouterr().err
    assert "config.json" in err and "differs from the signed digest" in err
    assert _versions(client, model_name) == 1  # no refused import registered anything
