"""The registry signs a promotion at the moment it makes it, and the evidence is bound to the
version's identity: stored (with a ``promotion.sign`` audit record) before anyone asks for a
manifest; the stock ``model_signing verify`` accepts the downloaded bytes with the registry's
public key and refuses a changed byte; a model deleted and re-created under the same name gets
none of the old evidence, and deployments refuse the old summary for it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy
from mlflow import MlflowClient

from mlflow_supplychain.deploy.fetch import downloaded_version
from mlflow_supplychain.errors import ExitCode, IntegrityError
from mlflow_supplychain.signing.registry_key import PUBLIC_KEY_FILE
from mlflow_supplychain.testing.pytest_plugin import RunningServer

from .conftest import attest, cli, sklearn_version

pytest.importorskip("model_signing")
STOCK = Path(sys.executable).parent / "model_signing"


def _stock_verify(model: Path, signature: Path, key: Path) -> int:
    done = subprocess.run([str(STOCK), "verify", "key", str(model), "--signature",
                           str(signature), "--public_key", str(key)],
                          capture_output=True, text=True, check=False, timeout=300)
    return done.returncode


def _engine(server: RunningServer) -> sqlalchemy.Engine:
    # SQLite in the server's data directory unless the server was given a database
    return sqlalchemy.create_engine(server.backend_store_uri
                                    or f"sqlite:///{server.data_dir / 'mlflow.db'}")


def _evidence_rows(server: RunningServer, name: str) -> list[dict[str, Any]]:
    engine = _engine(server)
    try:
        with engine.connect() as conn:
            return [dict(r) for r in conn.execute(sqlalchemy.text(
                "SELECT identity_digest, target, attestation_id, summary FROM "
                "supplychain_promotion_evidence WHERE model_name = :n ORDER BY id"),
                {"n": name}).mappings()]
    finally:
        engine.dispose()


def _audit_actions(server: RunningServer, subject: str) -> list[str]:
    engine = _engine(server)
    try:
        with engine.connect() as conn:
            return [r[0] for r in conn.execute(sqlalchemy.text(
                "SELECT action FROM supplychain_audit_events WHERE subject = :s ORDER BY seq"),
                {"s": subject})]
    finally:
        engine.dispose()


def _evidence(server: RunningServer, name: str, version: str,
              target: str = "production") -> requests.Response:
    return requests.get(f"{server.url}/api/2.0/mlflow-supplychain/promotions/evidence",
                        params={"name": name, "version": version, "target": target},
                        timeout=60)


def _download(client: MlflowClient, name: str, version: str, into: Path) -> Path:
    with downloaded_version(client, name, version) as directory:
        shutil.copytree(directory, into)
    return into


def test_promotion_signs_and_stores_evidence_the_stock_tool_accepts(
        tracking: RunningServer, unique_model_name: str, tmp_path: Path) -> None:
    name = unique_model_name
    version = sklearn_version(name)
    attest(tracking, name, version)
    assert _evidence_rows(tracking, name) == []  # nothing signed before the promotion
    client = MlflowClient(tracking.url, tracking.url)
    client.set_registered_model_alias(name, "production", version)

    # stored by the promotion itself: nobody asked for a manifest
    rows = _evidence_rows(tracking, name)
    assert [r["target"] for r in rows] == ["production"]
    assert "promotion.sign" in _audit_actions(tracking, f"models:/{name}/{version}")
    body = _evidence(tracking, name, version).json()
    assert body["issued_now"] is False, body  # served from the store, not signed on request
    assert body["identity_digest"] == rows[0]["identity_digest"]
    assert json.loads(rows[0]["summary"]) == body["verification_summary"]

    # an unprotected alias signs nothing
    client.set_registered_model_alias(name, "dev", version)
    assert len(_evidence_rows(tracking, name)) == 1

    # the stock OpenSSF tool, the registry's public key, the downloaded bytes: no code of ours
    signature = tmp_path / "model.sig"  # beside the model directory, never inside it
    signature.write_text(json.dumps(body["oms_bundle"]))
    registry_pub = tracking.data_dir / PUBLIC_KEY_FILE
    local = _download(client, name, version, tmp_path / "model")
    assert _stock_verify(local, signature, registry_pub) == 0
    model_file = next(p for p in local.rglob("*.pkl"))
    model_file.write_bytes(model_file.read_bytes()[:-1] + bytes([model_file.read_bytes()[-1] ^ 1]))
    assert _stock_verify(local, signature, registry_pub) != 0


def test_recreated_model_gets_none_of_the_old_evidence(tracking: RunningServer,
                                                       unique_model_name: str,
                                                       tmp_path: Path) -> None:
    import mlflow

    from mlflow_supplychain import load_verified_model
    from mlflow_supplychain.deploy.manifest_schema import read_manifest

    name = unique_model_name
    client = MlflowClient(tracking.url, tracking.url)
    version = sklearn_version(name)
    source = client.get_model_version(name, version).source
    run_id = client.get_model_version(name, version).run_id
    attest(tracking, name, version)
    client.set_registered_model_alias(name, "production", version)
    old = _evidence(tracking, name, version).json()
    manifest = tmp_path / "old.json"
    code, _, err = cli("deploy", "manifest", f"models:/{name}@production", "-o", str(manifest),
                       "--tracking-uri", tracking.url)
    assert code == ExitCode.OK, err
    assert read_manifest(manifest).identity_digest == old["identity_digest"]
    registry_pub = tracking.data_dir / PUBLIC_KEY_FILE
    local = _download(client, name, version, tmp_path / "model")
    code, _, err = cli("deploy", "verify", str(manifest), "--path", str(local),
                       "--registry-key", str(registry_pub), "--tracking-uri", tracking.url)
    assert code == ExitCode.OK, err

    # delete the model, register the very same bytes again under the same name: version 1 again
    client.delete_registered_model_alias(name, "production")
    client.delete_registered_model(name)
    again = mlflow.register_model(source if source.startswith("runs:/")
                                  else f"runs:/{run_id}/model", name)
    assert str(again.version) == version
    attest(tracking, name, version)

    # the old row still exists, keyed by the old identity; nothing answers for the new version
    assert {r["identity_digest"] for r in _evidence_rows(tracking, name)} == {
        old["identity_digest"]}
    fresh = _evidence(tracking, name, version)
    assert fresh.status_code == 200, fresh.text
    assert fresh.json()["issued_now"] is True
    assert fresh.json()["identity_digest"] != old["identity_digest"]

    # the old manifest (and its summary) no longer vouches: deploy verify refuses it ...
    code, _, err = cli("deploy", "verify", str(manifest), "--path", str(local),
                       "--registry-key", str(registry_pub), "--tracking-uri", tracking.url)
    assert code == ExitCode.DENIED and "version identity" in err, err

    # ... and so does the loader when the old summary is put in a new manifest
    new_manifest = tmp_path / "new.json"
    code, _, err = cli("deploy", "manifest", f"models:/{name}/{version}", "--target",
                       "production", "-o", str(new_manifest), "--tracking-uri", tracking.url)
    assert code == ExitCode.OK, err
    forged = json.loads(new_manifest.read_text())
    forged["verification_summary"] = old["verification_summary"]
    new_manifest.write_text(json.dumps(forged))
    with pytest.raises(IntegrityError, match="verification summary"):
        load_verified_model(f"models:/{name}/{version}", manifest=new_manifest,
                            tracking_uri=tracking.url, registry_key=registry_pub, record=False)
    # the honest new manifest loads with the pinned key
    model = load_verified_model(f"models:/{name}/{version}",
                                manifest=_rewrite(new_manifest, fresh.json()),
                                tracking_uri=tracking.url, registry_key=registry_pub,
                                record=False)
    assert model is not None


def _rewrite(path: Path, evidence: dict[str, Any]) -> Path:
    data = json.loads(path.read_text())
    data["verification_summary"] = evidence["verification_summary"]
    path.write_text(json.dumps(data))
    return path


def test_pinned_key_refuses_a_manifest_without_summary(tracking: RunningServer,
                                                       unique_model_name: str,
                                                       tmp_path: Path) -> None:
    from mlflow_supplychain import load_verified_model

    name = unique_model_name
    version = sklearn_version(name)
    attest(tracking, name, version)
    client = MlflowClient(tracking.url, tracking.url)
    client.set_registered_model_alias(name, "production", version)
    manifest = tmp_path / "m.json"
    code, _, err = cli("deploy", "manifest", f"models:/{name}@production", "-o", str(manifest),
                       "--tracking-uri", tracking.url)
    assert code == ExitCode.OK, err
    data = json.loads(manifest.read_text())
    data["verification_summary"] = None
    manifest.write_text(json.dumps(data))
    with pytest.raises(IntegrityError, match="did not sign"):
        load_verified_model(f"models:/{name}@production", manifest=manifest,
                            tracking_uri=tracking.url,
                            registry_key=tracking.data_dir / PUBLIC_KEY_FILE, record=False)


def test_a_protected_stage_transition_is_signed_too(supplychain_server: RunningServer,
                                                    unique_model_name: str) -> None:
    from .test_reverified_bytes import PREPROCESSOR_INTAKE, _tracking

    name = unique_model_name
    client = MlflowClient(supplychain_server.url, supplychain_server.url)
    with _tracking(supplychain_server):
        version = sklearn_version(name)
    attest(supplychain_server, name, version, verdict="permitted")
    for key, value in PREPROCESSOR_INTAKE.items():
        client.set_model_version_tag(name, version, f"supplychain.intake.{key}", value)
    client.transition_model_version_stage(name, version, "Staging")
    rows = _evidence_rows(supplychain_server, name)
    assert [r["target"] for r in rows] == ["stage:Staging"]
    body = _evidence(supplychain_server, name, version, "stage:Staging").json()
    assert body["issued_now"] is False and body["identity_digest"] == rows[0]["identity_digest"]
