"""Real MLflow server + real sidecar processes on loopback: webhooks in, attestations out."""

from __future__ import annotations

import json
import time
import uuid

import pytest
import requests
from mlflow.exceptions import MlflowException

from mlflow_supplychain.sidecar.signature import sign
from mlflow_supplychain.testing.pytest_plugin import RunningServer, ServerFactory

from ..conftest import POLICIES
from .attestation_helpers import fetch
from .models import malicious_pickle, register_files, register_sklearn, wait_for_tags

SIDECAR_POLICY = POLICIES / "sidecar.yaml"


@pytest.fixture(scope="module")
def sidecar_server(supplychain_server_factory: ServerFactory) -> RunningServer:
    return supplychain_server_factory(SIDECAR_POLICY, sidecar=True, env={
        "MLFLOW_SUPPLYCHAIN_SIDECAR_RECONCILE_INTERVAL": "3"})


def test_registered_sklearn_model_is_attested_and_promotable(sidecar_server,
                                                             unique_model_name):
    started = time.monotonic()
    version = register_sklearn(sidecar_server, unique_model_name)

    tags = wait_for_tags(sidecar_server, unique_model_name, version)

    latency = time.monotonic() - started
    assert tags["supplychain.scan.verdict"] in ("permitted", "sandboxed")
    assert tags["supplychain.integrity.digest"].startswith("sha256:")
    stored = fetch(sidecar_server, unique_model_name, version).json()
    assert stored["verified"] is True
    assert "model.skops" in stored["payload"]["files"] or "model.pkl" in stored["payload"]["files"]
    client = sidecar_server.client()
    client.set_registered_model_alias(unique_model_name, "champion", version)
    _declare_hashes(sidecar_server, unique_model_name, version)
    client.set_registered_model_alias(unique_model_name, "production", version)  # re-hashed
    print(f"registration-to-attestation: {latency:.2f}s")


def test_malicious_pickle_is_flagged_and_promotion_denied(sidecar_server, unique_model_name,
                                                          tmp_path):
    version = register_files(sidecar_server, unique_model_name,
                             {"model.pkl": malicious_pickle()}, tmp_path)

    tags = wait_for_tags(sidecar_server, unique_model_name, version)

    assert tags["supplychain.scan.verdict"] == "prohibited"
    assert int(tags["supplychain.scan.findings"]) >= 1
    with pytest.raises(MlflowException) as excinfo:
        sidecar_server.client().set_registered_model_alias(unique_model_name, "champion",
                                                           version)
    assert excinfo.value.error_code == "PERMISSION_DENIED"
    assert "prohibited" in excinfo.value.message and "system" in excinfo.value.message


def test_artifacts_overwritten_after_the_scan_deny_promotion(sidecar_server, unique_model_name,
                                                             tmp_path):
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    version = register_files(sidecar_server, unique_model_name,
                             {"weights.json": b'{"w": [1, 2, 3]}'}, tmp_path)
    wait_for_tags(sidecar_server, unique_model_name, version)
    _declare_hashes(sidecar_server, unique_model_name, version)
    client = sidecar_server.client()
    uri = client.get_model_version_download_uri(unique_model_name, version)
    replaced = tmp_path / "weights.json"
    replaced.write_bytes(b'{"w": [6, 6, 6]}')
    get_artifact_repository(uri, tracking_uri=sidecar_server.url).log_artifact(str(replaced))

    with pytest.raises(MlflowException) as excinfo:
        client.set_registered_model_alias(unique_model_name, "production", version)
    assert "hash.artifacts_changed" in excinfo.value.message
    # a scan-only profile judges the re-hashed bytes too: the verdict is about other bytes
    with pytest.raises(MlflowException) as excinfo:
        client.set_registered_model_alias(unique_model_name, "champion", version)
    assert "scan.artifacts_changed" in excinfo.value.message


def _declare_hashes(server: RunningServer, name: str, version: str) -> None:
    files = fetch(server, name, version).json()["payload"]["files"]
    server.client().set_model_version_tag(name, version, "supplychain.intake.source_sha256",
                                          json.dumps(files))


def _post(server: RunningServer, body: bytes, *, secret: str, delivery: str | None = None,
          timestamp: int | None = None, signature: str | None = None) -> requests.Response:
    delivery = delivery or str(uuid.uuid4())
    ts = str(timestamp if timestamp is not None else int(time.time()))
    headers = {"Content-Type": "application/json", "X-MLflow-Delivery-Id": delivery,
               "X-MLflow-Timestamp": ts,
               "X-MLflow-Signature": signature or sign(secret, delivery, ts, body)}
    assert server.sidecar_url
    return requests.post(server.sidecar_url + "/webhook", data=body, headers=headers,
                         timeout=30)


def _event(name: str, version: str) -> bytes:
    return json.dumps({"entity": "model_version", "action": "created",
                       "timestamp": "2026-01-01T00:00:00+00:00",
                       "data": {"name": name, "version": version, "source": "x", "run_id": None,
                                "tags": {}, "description": None}}).encode()


def test_forged_stale_replayed_and_orphan_webhooks(sidecar_server, unique_model_name):
    secret = (sidecar_server.data_dir / "webhook-hmac.secret").read_text().strip()
    body = _event(unique_model_name, "1")

    forged = _post(sidecar_server, body, secret="not-the-secret")
    unsigned = _post(sidecar_server, body, secret=secret, signature="v1,AAAA")
    stale = _post(sidecar_server, body, secret=secret, timestamp=int(time.time()) - 3600)
    malformed = _post(sidecar_server, b"{not json", secret=secret)
    orphan_id = str(uuid.uuid4())
    orphan = _post(sidecar_server, body, secret=secret, delivery=orphan_id)
    replay = _post(sidecar_server, body, secret=secret, delivery=orphan_id)

    assert [r.status_code for r in (forged, unsigned, stale)] == [401, 401, 401]
    assert malformed.status_code == 400
    assert orphan.status_code == 202 and replay.json() == {"status": "duplicate"}
    log = sidecar_server.log_text()
    assert secret not in log and "not-the-secret" not in log
    deadline = time.monotonic() + 20
    while f"dropping scan of models:/{unique_model_name}/1" not in sidecar_server.log_text():
        assert time.monotonic() < deadline, sidecar_server.log_text()[-3000:]
        time.sleep(0.2)
    assert fetch(sidecar_server, unique_model_name, "1").status_code == 404


def test_webhooks_install_is_idempotent(sidecar_server, tmp_path, monkeypatch):
    from mlflow_supplychain.cli.main import main
    from mlflow_supplychain.cli.server_cmd import ADMIN_TOKEN_FILE

    args = ["webhooks", "install", "--tracking-uri", sidecar_server.url,
            "--data-dir", str(sidecar_server.data_dir), "--url",
            f"{sidecar_server.sidecar_url}/webhook"]
    assert main(args) == 0
    # without --auth, listing webhooks is webhook administration too: it needs the admin token
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN",
                       (sidecar_server.data_dir / ADMIN_TOKEN_FILE).read_text().strip())
    hooks = [h for h in sidecar_server.client().list_webhooks()
             if h.name == "mlflow-supplychain-sidecar"]
    assert len(hooks) == 1
    assert hooks[0].url == f"{sidecar_server.sidecar_url}/webhook"
    assert sorted(str(e) for e in hooks[0].events) == sorted(
        ["model_version.created", "model_version_tag.set", "model_version_tag.deleted",
         "model_version_alias.created"])




def test_oversized_webhook_bodies_get_413_chunked_too(sidecar_server):
    import requests

    from mlflow_supplychain.sidecar.events import MAX_BODY

    def chunks():
        for _ in range(4 * MAX_BODY // 65536):
            yield b"x" * 65536

    url = f"{sidecar_server.sidecar_url}/webhook"
    chunked = requests.post(url, data=chunks(), timeout=60)  # Transfer-Encoding: chunked
    assert chunked.status_code == 413
    declared = requests.post(url, data=b"x" * (MAX_BODY + 1), timeout=60)
    assert declared.status_code == 413
