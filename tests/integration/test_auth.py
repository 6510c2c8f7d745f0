"""``supplychain-auth``: MLflow basic-auth first, then the gate, which knows the user."""

from __future__ import annotations

import pytest
import requests

from mlflow_supplychain.testing.pytest_plugin import RunningServer

from .conftest import ENFORCE

PASSWORD = "alice-password-1234"


@pytest.fixture(scope="module")
def auth_server(supplychain_server_factory) -> RunningServer:
    return supplychain_server_factory(ENFORCE, auth=True, workers=2)


@pytest.fixture(scope="module")
def admin(auth_server) -> tuple[str, str]:
    return auth_server.admin_auth()


@pytest.fixture(scope="module")
def alice(auth_server, admin) -> tuple[str, str]:
    return auth_server.user("alice", PASSWORD)


def _api(server, method, endpoint, auth, **kwargs):
    return requests.request(method, f"{server.url}/api/2.0/{endpoint}", auth=auth, timeout=30,
                            **kwargs)


def test_requests_without_credentials_are_refused(auth_server):
    assert _api(auth_server, "GET", "mlflow-supplychain/status", None).status_code == 401


def test_workers_start_cleanly(auth_server, admin):
    # the server command bootstraps the auth tables once; workers must not race on them
    for _ in range(4):
        assert _api(auth_server, "GET", "mlflow-supplychain/status", admin).status_code == 200
    assert "Traceback" not in auth_server.log_text()


def test_gate_knows_the_authenticated_user(auth_server, alice, unique_model_name):
    assert _api(auth_server, "POST", "mlflow/registered-models/create", alice,
                json={"name": unique_model_name}).status_code == 200
    created = _api(auth_server, "POST", "mlflow/model-versions/create", alice,
                   json={"name": unique_model_name, "source": "s3://corp-models/a"})
    assert created.status_code == 200, created.text
    tags = {t["key"]: t["value"] for t in created.json()["model_version"].get("tags", [])}
    assert tags["supplychain.gate.created_by"] == "alice"

    denied = _api(auth_server, "POST", "mlflow/registered-models/alias", alice,
                  json={"name": unique_model_name, "alias": "production", "version": "1"})
    assert denied.status_code == 403
    assert f"model='{unique_model_name}'" in auth_server.log_text()
    assert "user='alice'" in auth_server.log_text() or "user=alice" in auth_server.log_text()


def test_our_endpoints_work_for_ordinary_users(auth_server, alice, unique_model_name):
    _api(auth_server, "POST", "mlflow/registered-models/create", alice,
         json={"name": unique_model_name})
    _api(auth_server, "POST", "mlflow/model-versions/create", alice,
         json={"name": unique_model_name, "source": "s3://corp-models/a"})

    status = _api(auth_server, "GET", "mlflow-supplychain/status", alice)
    evaluate = _api(auth_server, "GET", "mlflow-supplychain/evaluate", alice,
                    params={"name": unique_model_name, "version": "1", "target": "production"})

    assert status.status_code == 200 and status.json()["auth"] is True
    assert evaluate.status_code == 200, evaluate.text
    assert evaluate.json()["decision"]["allowed"] is False


def test_webhooks_are_admin_only(auth_server, alice, admin):
    body = {"name": "scanner", "url": "https://scanner.example.com/hook",
            "events": [{"entity": "MODEL_VERSION", "action": "CREATED"}]}
    assert _api(auth_server, "POST", "mlflow/webhooks", alice, json=body).status_code == 403
    # admins pass authorization; the URL is then refused (no DNS here), which is not a 403
    assert _api(auth_server, "POST", "mlflow/webhooks", admin, json=body).status_code == 400
    assert _api(auth_server, "DELETE", "mlflow/webhooks/nope", alice).status_code == 403
    assert _api(auth_server, "DELETE", "mlflow/webhooks/nope", admin).status_code == 404
    assert _api(auth_server, "PATCH", "mlflow/webhooks/nope", alice,
                json={"status": "DISABLED"}).status_code == 403


def test_attestation_endpoints_under_auth(auth_server, alice, unique_model_name):
    from mlflow_supplychain.integrity import attest

    from .sidecar.attestation_helpers import make_payload

    _api(auth_server, "POST", "mlflow/registered-models/create", alice,
         json={"name": unique_model_name})
    _api(auth_server, "POST", "mlflow/model-versions/create", alice,
         json={"name": unique_model_name, "source": "s3://corp-models/a"})
    status = _api(auth_server, "GET", "mlflow-supplychain/status", alice).json()
    key = attest.load_private_key(auth_server.data_dir / "attestation-signing.key")
    payload = make_payload(auth_server, unique_model_name, "1", auth=alice,
                           format_policy_digest=status["policy"]["format_digest"])
    body = {"payload": payload.model_dump(mode="json"), "signature": attest.sign(payload, key)}
    forged = {**body, "signature": attest.sign(payload, attest.Ed25519PrivateKey.generate())}

    # any authenticated caller may submit; only the signature decides
    assert _api(auth_server, "POST", "mlflow-supplychain/attestations/submit", None,
                json=body).status_code == 401
    assert _api(auth_server, "POST", "mlflow-supplychain/attestations/submit", alice,
                json=forged).status_code == 403
    assert _api(auth_server, "POST", "mlflow-supplychain/attestations/submit", alice,
                json=body).status_code == 200
    got = _api(auth_server, "GET", "mlflow-supplychain/attestations/get", alice,
               params={"name": unique_model_name, "version": "1"})
    assert got.status_code == 200 and got.json()["verified"] is True


def test_server_user_reuses_an_existing_user_only_with_its_password(auth_server, alice):
    # servers are shared between test modules: asking again for the same user is fine...
    assert auth_server.user("alice", PASSWORD) == alice
    # ...but not with another password (that would hide a real mistake)
    with pytest.raises(RuntimeError, match="another password"):
        auth_server.user("alice", PASSWORD + "-other")
