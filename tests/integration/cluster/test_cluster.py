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

from mlflow_supplychain.testing.cluster import Cluster, run_cluster, s3_server
from mlflow_supplychain.testing.pytest_plugin import postgres_database

pytestmark = [pytest.mark.long, pytest.mark.postgres]
POLICY = Path(__file__).parents[1] / "policies" / "cluster.yaml"
API = "/api/2.0"
TR = f"{API}/mlflow-supplychain/transition-requests"


def _redis_url() -> str:
    import redis

    url = "redis://127.0.0.1:6379/0"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError:
        if os.environ.get("MLFLOW_SUPPLYCHAIN_REQUIRE_REDIS"):
            pytest.fail("Redis is required (MLFLOW_SUPPLYCHAIN_REQUIRE_REDIS) and unreachable")
        pytest.skip("Redis is not reachable at 127.0.0.1:6379")
    return url


@pytest.fixture(scope="module")
def cluster(supplychain_postgres_uri: str, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[Cluster]:
    pytest.importorskip("moto")
    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        if os.environ.get("CI"):
            pytest.fail("CI needs nginx for the cluster test (apt-get install nginx-light)")
        pytest.skip("nginx is not installed")
    redis_url = _redis_url()
    workdir = tmp_path_factory.mktemp("cluster")
    with postgres_database(supplychain_postgres_uri) as registry_db, \
            postgres_database(supplychain_postgres_uri) as auth_db, \
            s3_server(workdir) as s3, \
            run_cluster(POLICY, workdir, backend_store_uri=registry_db,
                        auth_db_uri=auth_db.replace("postgresql://", "postgresql+psycopg2://",
                                                    1),
                        redis_url=redis_url, s3=s3, servers=2, workers=1,
                        sidecars=1) as running:
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
    import sqlalchemy

    from mlflow_supplychain.governance import audit, db

    engine = db.create_engine(cluster.backend_store_uri)
    try:
        with engine.connect() as conn:
            report = audit.verify(conn)
            actions = [r.action for r in audit.iter_records(conn)]
            aliases = conn.execute(sqlalchemy.text(
                "SELECT name, version FROM registered_model_aliases WHERE alias = 'production'"
            )).all()
            approved = {(r[0], str(r[1])) for r in conn.execute(sqlalchemy.text(
                "SELECT model_name, version FROM supplychain_transition_requests "
                "WHERE status IN ('approved', 'applied') AND target = 'production'")).all()}
    finally:
        engine.dispose()
    assert report.ok, report
    assert actions.count("gate.decision") >= 2
    for name, version in aliases:
        assert (name, str(version)) in approved, f"{name}/{version} promoted without approval"
