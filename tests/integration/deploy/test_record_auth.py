"""``deployments/record`` under basic-auth: authenticated readers only; the actor is recorded."""

from __future__ import annotations

import json

import requests
import sqlalchemy

from mlflow_supplychain.testing.pytest_plugin import RunningServer, ServerFactory

from ..conftest import ENFORCE

DIGEST = "sha256:" + "b" * 64


def test_record_needs_credentials_and_audits_the_user(
        supplychain_server_factory: ServerFactory, unique_model_name: str) -> None:
    server: RunningServer = supplychain_server_factory(ENFORCE, auth=True, workers=2)
    admin = server.admin_auth()
    api = f"{server.url}/api/2.0"
    requests.post(f"{api}/mlflow/registered-models/create", json={"name": unique_model_name},
                  auth=admin, timeout=30).raise_for_status()
    requests.post(f"{api}/mlflow/model-versions/create", auth=admin, timeout=30,
                  json={"name": unique_model_name, "source": "s3://corp-models/a"}
                  ).raise_for_status()
    body = {"name": unique_model_name, "version": "1", "manifest_digest": DIGEST,
            "artifact_digest": DIGEST, "host": "serving-1.example"}
    record = f"{api}/mlflow-supplychain/deployments/record"

    assert requests.post(record, json=body, timeout=30).status_code == 401
    assert requests.post(record, json={**body, "host": "bad host!"}, auth=admin,
                         timeout=30).status_code == 400
    assert requests.post(record, json={**body, "version": "99"}, auth=admin,
                         timeout=30).status_code == 404
    answer = requests.post(record, json=body, auth=admin, timeout=30)
    assert answer.status_code == 200, answer.text

    engine = sqlalchemy.create_engine(f"sqlite:///{server.data_dir / 'mlflow.db'}")
    with engine.connect() as conn:
        rows = conn.execute(sqlalchemy.text(
            "SELECT actor, payload FROM supplychain_audit_events WHERE action = 'deploy.load' "
            "AND subject = :s"), {"s": f"models:/{unique_model_name}/1"}).all()
    engine.dispose()
    assert [(r[0], json.loads(r[1])["host"]) for r in rows] == [("admin", "serving-1.example")]
