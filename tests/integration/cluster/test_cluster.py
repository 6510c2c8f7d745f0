"""The scale-out topology, started for real: two governed servers behind nginx, PostgreSQL,
Redis for the scan queue, a sidecar reached through the load balancer, artifacts in an S3
endpoint (moto's standalone server here: MinIO cannot be installed on these machines; the
product reaches it through the same boto3 code as real S3).

One story, with a server killed (-9) in the middle: models are logged and registered through
the load balancer with their bytes in S3; the sidecar scans them from there; a request is
approved; the first server dies; the promotion still goes through the other one, re-hashing
the bytes from S3; the malicious version is refused; a deployment manifest verifies against
the bytes in S3. Afterwards the invariants: the audit chain verifies and holds one record per
gate decision, every promoted version has an approved request for it, every version has an
attestation.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from mlflow_supplychain.testing.cluster import (
    Cluster,
    promotion_invariants,
    redis_server,
    run_cluster,
    s3_server,
    terminate_database_sessions,
)
from mlflow_supplychain.testing.pytest_plugin import postgres_database

pytestmark = [pytest.mark.long, pytest.mark.postgres]
POLICY = Path(__file__).parents[1] / "policies" / "cluster.yaml"
API = "/api/2.0"
TR = f"{API}/mlflow-supplychain/transition-requests"


RECONCILE_SECONDS = 5.0
RESCAN_SECONDS = 20.0
CONVERGE_SECONDS = 120.0
"""Stated convergence bound after a fault: a lost scan is requeued once its claim is older
than the rescan interval, by the next reconcile sweep, then scanned (3 s test delay)."""


@pytest.fixture(scope="module")
def cluster(supplychain_postgres_uri: str, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[Cluster]:
    pytest.importorskip("moto")
    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        if os.environ.get("CI"):
            pytest.fail("CI needs nginx for the cluster test (apt-get install nginx-light)")
        pytest.skip("nginx is not installed")
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is needed for the cluster test (Debian: redis-server)")
    workdir = tmp_path_factory.mktemp("cluster")
    with postgres_database(supplychain_postgres_uri) as registry_db, \
            postgres_database(supplychain_postgres_uri) as auth_db, \
            s3_server(workdir) as s3, redis_server(workdir) as redis, \
            run_cluster(POLICY, workdir, backend_store_uri=registry_db,
                        auth_db_uri=auth_db.replace("postgresql://", "postgresql+psycopg2://",
                                                    1),
                        redis_url=redis.url, s3=s3, servers=2, workers=1, sidecars=1,
                        reconcile_interval=RECONCILE_SECONDS, rescan_after=RESCAN_SECONDS,
                        sidecar_env={"_MLFLOW_SUPPLYCHAIN_TEST_SCAN_DELAY": "3"}) as running:
        running.redis = redis  # type: ignore[attr-defined]
        yield running


def _user(cluster: Cluster, name: str) -> tuple[str, str]:
    auth = (name, f"{name}-password-1234")
    r = requests.post(f"{cluster.url}{API}/mlflow/users/create",
                      json={"username": name, "password": auth[1]},
                      auth=cluster.admin_auth(), timeout=30)
    assert r.status_code == 200 or "RESOURCE_ALREADY_EXISTS" in r.text, r.text
    return auth


def _log_version(cluster: Cluster, auth: tuple[str, str], name: str, files: dict[str, bytes],
                 folder: Path) -> str:
    """``auth`` logs ``files`` to a run of their own experiment and registers a version."""
    import mlflow

    os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"] = auth
    try:
        client = mlflow.MlflowClient(cluster.url, cluster.url)
        experiment = client.create_experiment(f"exp-{uuid.uuid4().hex[:8]}")
        run = client.create_run(experiment)
        folder.mkdir(parents=True)
        for rel, data in files.items():
            (folder / rel).write_bytes(data)
        client.log_artifacts(run.info.run_id, str(folder), artifact_path="model")
        client.set_terminated(run.info.run_id)
        client.create_registered_model(name)
        mv = client.create_model_version(name, f"runs:/{run.info.run_id}/model",
                                         run_id=run.info.run_id)
        return str(mv.version)
    finally:
        os.environ.pop("MLFLOW_TRACKING_USERNAME", None)
        os.environ.pop("MLFLOW_TRACKING_PASSWORD", None)


def _call(cluster: Cluster, method: str, path: str, auth: tuple[str, str],
          **kwargs: Any) -> requests.Response:
    return requests.request(method, cluster.url + path, auth=auth, timeout=120, **kwargs)


def _attestation(cluster: Cluster, auth: tuple[str, str], name: str, version: str,
                 timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = _call(cluster, "GET", f"{API}/mlflow-supplychain/attestations/get", auth,
                  params={"name": name, "version": version})
        if r.status_code == 200 and r.json().get("verified"):
            return dict(r.json())
        time.sleep(1)
    raise AssertionError(f"no verified attestation for {name}/{version} within {timeout} s")


def _npy() -> bytes:
    import io

    import numpy as np

    out = io.BytesIO()
    np.save(out, np.arange(4, dtype=np.float32))
    return out.getvalue()


class Malicious:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, ("true",))


def test_story_across_servers_with_a_crash(cluster: Cluster, tmp_path: Path) -> None:
    alice, bob = _user(cluster, "alice"), _user(cluster, "bob")
    good_files = {"MLmodel": b"flavors: {}\n", "weights.npy": _npy()}
    good, bad = f"good-{uuid.uuid4().hex[:8]}", f"bad-{uuid.uuid4().hex[:8]}"
    good_v = _log_version(cluster, alice, good, good_files, tmp_path / "good")
    bad_v = _log_version(cluster, alice, bad, {"MLmodel": b"flavors: {}\n",
                                               "model.pkl": pickle.dumps(Malicious())},
                         tmp_path / "bad")

    # the bytes are in S3, under the cluster's artifact destination
    assert cluster.s3 is not None
    listed = cluster.s3.client().list_objects_v2(  # type: ignore[attr-defined]
        Bucket=cluster.s3.bucket, Prefix="artifacts/")
    keys = [o["Key"] for o in listed.get("Contents", ())]
    assert any(k.endswith("/model/weights.npy") for k in keys), keys

    # the sidecar (behind nginx, on the shared Redis queue) scanned both from S3
    assert _attestation(cluster, alice, good, good_v)["payload"]["verdict"] == "permitted"
    assert _attestation(cluster, alice, bad, bad_v)["payload"]["verdict"] == "prohibited"

    sha = hashlib.sha256(good_files["weights.npy"]).hexdigest()
    for name, version in ((good, good_v), (bad, bad_v)):
        for key, value in (("artifact_class", "base_model"), ("owner", "ml@example.com"),
                           ("source_sha256", sha)):
            r = _call(cluster, "POST", f"{API}/mlflow/model-versions/set-tag", alice,
                      json={"name": name, "version": version,
                            "key": f"supplychain.intake.{key}", "value": value})
            assert r.status_code == 200, r.text
        created = _call(cluster, "POST", f"{TR}/create", alice,
                        json={"name": name, "version": version, "target": "production"})
        assert created.status_code == 200, created.text
        rid = created.json()["request"]["id"]
        approved = _call(cluster, "POST", f"{TR}/approve", bob, json={"request_id": str(rid)})
        assert approved.status_code == 200, approved.text

    cluster.kill_server(0)  # a crash: no shutdown, its connections just drop

    promote = {"alias": "production"}
    ok = _call(cluster, "POST", f"{API}/mlflow/registered-models/alias", alice,
               json={"name": good, "version": good_v, **promote})
    assert ok.status_code == 200, ok.text
    refused = _call(cluster, "POST", f"{API}/mlflow/registered-models/alias", alice,
                    json={"name": bad, "version": bad_v, **promote})
    assert refused.status_code == 403 and "scan" in refused.text, refused.text

    _check_invariants(cluster)


def _check_invariants(cluster: Cluster) -> None:
    problems, decisions = promotion_invariants(cluster.backend_store_uri)
    assert problems == []
    assert decisions >= 2


def test_faults_converge(cluster: Cluster, tmp_path: Path) -> None:
    """After each fault, nothing is lost and nothing unsafe is promoted, within the stated
    bound: a sidecar killed mid-scan, Redis down while a version is registered, every database
    connection dropped, the S3 endpoint gone at promotion time (the gate fails closed)."""
    alice, bob = _user(cluster, "alice"), _user(cluster, "bob")
    files = {"MLmodel": b"flavors: {}\n", "weights.npy": _npy()}

    # a sidecar killed -9 in the middle of a scan: a replacement finishes the job
    killed = f"killed-{uuid.uuid4().hex[:8]}"
    killed_v = _log_version(cluster, alice, killed, files, tmp_path / "killed")
    time.sleep(1.5)  # the scan (3 s test delay) is under way
    cluster.kill_sidecar(0)
    cluster.restart_sidecar(0)
    _attestation(cluster, alice, killed, killed_v, timeout=CONVERGE_SECONDS)

    # Redis down while a version is registered: the reconcile sweep catches up
    redis = cluster.redis  # type: ignore[attr-defined]
    redis.stop()
    lost = f"lost-{uuid.uuid4().hex[:8]}"
    lost_v = _log_version(cluster, alice, lost, files, tmp_path / "lost")
    time.sleep(3)
    redis.start()
    _attestation(cluster, alice, lost, lost_v, timeout=CONVERGE_SECONDS)

    # PostgreSQL drops every connection (a restart): the servers reconnect
    terminate_database_sessions(cluster.backend_store_uri)
    deadline = time.monotonic() + 30
    while True:
        answer = _call(cluster, "GET", f"{API}/mlflow-supplychain/evaluate", alice,
                       params={"name": lost, "version": lost_v, "target": "production"})
        if answer.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert answer.status_code == 200, answer.text

    # the S3 endpoint goes away: an approved version cannot be re-verified, so it is refused
    sha = hashlib.sha256(files["weights.npy"]).hexdigest()
    for key, value in (("artifact_class", "base_model"), ("owner", "ml@example.com"),
                       ("source_sha256", sha)):
        assert _call(cluster, "POST", f"{API}/mlflow/model-versions/set-tag", alice,
                     json={"name": lost, "version": lost_v, "key": f"supplychain.intake.{key}",
                           "value": value}).status_code == 200
    rid = _call(cluster, "POST", f"{TR}/create", alice,
                json={"name": lost, "version": lost_v, "target": "production"}
                ).json()["request"]["id"]
    assert _call(cluster, "POST", f"{TR}/approve", bob,
                 json={"request_id": str(rid)}).status_code == 200
    assert cluster.s3 is not None
    cluster.s3.stop()
    refused = _call(cluster, "POST", f"{API}/mlflow/registered-models/alias", alice,
                    json={"name": lost, "version": lost_v, "alias": "production"})
    assert refused.status_code == 403, refused.text
    assert "re-verif" in refused.text or "reverif" in refused.text, refused.text
    _check_invariants(cluster)
