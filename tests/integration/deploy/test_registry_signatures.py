"""The registry signs what it vouches for: an OMS bundle that the stock ``model_signing verify``
accepts on the downloaded model with the registry's public key, and a SLSA verification summary
that ``deploy verify --registry-key`` checks against the bytes; tampering, a foreign key and
refused versions are caught."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from mlflow import MlflowClient

from mlflow_supplychain.deploy.fetch import downloaded_version
from mlflow_supplychain.errors import ExitCode
from mlflow_supplychain.signing.registry_key import PUBLIC_KEY_FILE
from mlflow_supplychain.testing.pytest_plugin import RunningServer

from .conftest import attest, cli, malicious_version, sklearn_version

pytest.importorskip("model_signing")
STOCK = Path(sys.executable).parent / "model_signing"


def _stock_verify(model: Path, signature: Path, key: Path) -> int:
    done = subprocess.run([str(STOCK), "verify", "key", str(model), "--signature",
                           str(signature), "--public_key", str(key)],
                          capture_output=True, text=True, check=False, timeout=120)
    return done.returncode


def test_promoted_version_verifies_with_stock_tools(tracking: RunningServer,
                                                    unique_model_name: str,
                                                    tmp_path: Path) -> None:
    version = sklearn_version(unique_model_name)
    attest(tracking, unique_model_name, version)
    client = MlflowClient(tracking.url, tracking.url)
    client.set_registered_model_alias(unique_model_name, "production", version)
    registry_pub = tracking.data_dir / PUBLIC_KEY_FILE

    manifest, signature = tmp_path / "manifest.json", tmp_path / "model.sig"
    code, _, err = cli("deploy", "manifest", f"models:/{unique_model_name}@production",
                       "-o", str(manifest), "--signature-out", str(signature),
                       "--tracking-uri", tracking.url)
    assert code == ExitCode.OK, err
    pinned = json.loads(manifest.read_text())
    assert pinned["verification_summary"]["payloadType"] == "application/vnd.in-toto+json"

    local = tmp_path / "model"
    with downloaded_version(client, unique_model_name, version) as directory:
        shutil.copytree(directory, local)
    # no code of ours: the stock OpenSSF tool, the registry's public key, the bytes
    assert _stock_verify(local, signature, registry_pub) == 0
    code, report, err = cli("deploy", "verify", str(manifest), "--path", str(local),
                            "--registry-key", str(registry_pub))
    assert code == ExitCode.OK, err

    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    foreign = tmp_path / "other.pub"
    foreign.write_bytes(other.public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo))
    assert _stock_verify(local, signature, foreign) != 0
    code, _, err = cli("deploy", "verify", str(manifest), "--path", str(local),
                       "--registry-key", str(foreign))
    assert code == ExitCode.DENIED and "verification summary" in err

    model_file = next(p for p in local.rglob("*.pkl"))
    model_file.write_bytes(model_file.read_bytes() + b"\x00")
    assert _stock_verify(local, signature, registry_pub) != 0
    code, _, err = cli("deploy", "verify", str(manifest), "--path", str(local),
                       "--registry-key", str(registry_pub))
    assert code == ExitCode.DENIED and "digest differs from the summary" in err


def test_the_registry_signs_nothing_the_gate_refuses(tracking: RunningServer,
                                                     unique_model_name: str,
                                                     tmp_path: Path) -> None:
    version = malicious_version(unique_model_name, tmp_path)
    attest(tracking, unique_model_name, version)
    url = f"{tracking.url}/api/2.0/mlflow-supplychain/promotions/evidence"
    denied = requests.get(url, params={"name": unique_model_name, "version": version,
                                       "target": "production"}, timeout=30)
    assert denied.status_code == 403, denied.text
    unprotected = requests.get(url, params={"name": unique_model_name, "version": version,
                                            "target": "dev"}, timeout=30)
    assert unprotected.status_code == 400, unprotected.text
    key = requests.get(f"{tracking.url}/api/2.0/mlflow-supplychain/registry-key", timeout=30)
    assert key.status_code == 200
    assert key.json()["public_key"] == (tracking.data_dir / PUBLIC_KEY_FILE).read_text()
