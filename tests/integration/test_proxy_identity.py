"""Identity from an authenticating reverse proxy (issue #14 classes 7 and 8).

The server trusts ``X-Remote-User`` only from the pinned proxy (shared secret + loopback
address here). The version's creator is recorded whatever the identity source, so separation
of duties holds under proxy identity too; an underscore spelling, a missing or wrong secret,
or a repeated header identifies nobody.
"""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from mlflow_supplychain.registry.caller import PROXY_SECRET_ENV_VAR
from mlflow_supplychain.testing.pytest_plugin import RunningServer, ServerFactory

from .conftest import POLICIES

SECRET = "proxy-secret-for-tests-0123456789"
TR = "mlflow-supplychain/transition-requests"
INTAKE = {
    "supplychain.intake.artifact_class": "base_model",
    "supplychain.intake.owner": "ml-platform@example.com",
    "supplychain.intake.license.id": "Apache-2.0",
    "supplychain.intake.license.outcome": "approved",
}


@pytest.fixture(scope="module")
def proxy_server(supplychain_server_factory: ServerFactory) -> RunningServer:
    return supplychain_server_factory(POLICIES / "proxy.yaml", env={PROXY_SECRET_ENV_VAR: SECRET})


@pytest.fixture(params=["sqlite", "postgresql"])
def any_proxy_server(request: pytest.FixtureRequest,
                     supplychain_server_factory: ServerFactory) -> RunningServer:
    """The separation-of-duties attack on both backends (PostgreSQL skips unless set)."""
    if request.param == "sqlite":
        return request.getfixturevalue("proxy_server")
    admin_uri: str = request.getfixturevalue("supplychain_postgres_uri")
    uri = admin_uri.replace("postgresql://", "postgresql+psycopg2://", 1)
    return supplychain_server_factory(POLICIES / "proxy.yaml", postgres_uri=uri,
                                      env={PROXY_SECRET_ENV_VAR: SECRET})


def as_user(user: str) -> dict[str, str]:
    """What the pinned proxy adds to a request of ``user``."""
    return {"X-Remote-User": user, "X-Proxy-Secret": SECRET}


def _api(server: RunningServer, method: str, endpoint: str, headers: dict[str, str],
         **kwargs: Any) -> requests.Response:
    return requests.request(method, f"{server.url}/api/2.0/{endpoint}", headers=headers,
                            timeout=60, **kwargs)


def _register(server: RunningServer, name: str, headers: dict[str, str]) -> dict[str, str]:
    """A new model ``name`` with one version registered with ``headers``; the version's tags."""
    assert _api(server, "POST", "mlflow/registered-models/create", headers,
                json={"name": name}).status_code == 200
    created = _api(server, "POST", "mlflow/model-versions/create", headers, json={
        "name": name, "source": "s3://corp-models/m/1",
        "tags": [{"key": k, "value": v} for k, v in INTAKE.items()]})
    assert created.status_code == 200, created.text
    return {t["key"]: t["value"] for t in created.json()["model_version"].get("tags", [])}


def _request(server: RunningServer, name: str, headers: dict[str, str]) -> requests.Response:
    return _api(server, "POST", f"{TR}/create", headers,
                json={"name": name, "version": "1", "target": "production"})


def _approve(server: RunningServer, rid: int, headers: dict[str, str]) -> requests.Response:
    return _api(server, "POST", f"{TR}/approve", headers, json={"request_id": str(rid)})


def test_proxy_creator_cannot_approve_their_own_version(any_proxy_server: RunningServer,
                                                        unique_model_name: str) -> None:
    proxy_server = any_proxy_server
    tags = _register(proxy_server, unique_model_name, as_user("alice"))
    assert tags["supplychain.gate.created_by"] == "alice"
    created = _request(proxy_server, unique_model_name, as_user("bob"))
    assert created.status_code == 200, created.text
    rid = created.json()["request"]["id"]

    own = _approve(proxy_server, rid, as_user("alice"))  # alice is in ml-security
    assert own.status_code == 403 and "created this model version" in own.json()["message"]
    assert _approve(proxy_server, rid, as_user("erin")).status_code == 200


@pytest.mark.parametrize("headers", [
    {"X_Remote_User": "bob", "X-Proxy-Secret": SECRET},          # underscore spelling
    {"X-Remote_User": "bob", "X-Proxy-Secret": SECRET},
    {"X-Remote-User": "bob"},                                    # not from the proxy
    {"X-Remote-User": "bob", "X-Proxy-Secret": SECRET[:-1]},
    {"X-Remote-User": "bob", "X_Proxy_Secret": SECRET},
    {"X-Remote-User": "bob", "X-Proxy-Secret": SECRET, "X-Forwarded-For": "10.9.9.9"},
], ids=["underscore", "mixed", "no-secret", "wrong-secret", "underscore-secret",
        "other-address"])
def test_only_the_pinned_proxy_and_exact_header_identify(proxy_server: RunningServer,
                                                         unique_model_name: str,
                                                         headers: dict[str, str]) -> None:
    # The version itself is registered anonymously-to-us (MLflow has no auth here), so its
    # creator is unknown and nobody may approve it: separation of duties fails closed.
    tags = _register(proxy_server, unique_model_name, headers)
    assert "supplychain.gate.created_by" not in tags
    refused = _request(proxy_server, unique_model_name, headers)
    assert refused.status_code == 401, refused.text
    rid = _request(proxy_server, unique_model_name, as_user("bob")).json()["request"]["id"]
    unknown = _approve(proxy_server, rid, as_user("erin"))
    assert unknown.status_code == 403 and "creator is unknown" in unknown.json()["message"]


def test_a_repeated_user_header_identifies_nobody(proxy_server: RunningServer) -> None:
    url = urlsplit(proxy_server.url)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=60)
    body = json.dumps({"name": "x", "version": "1", "target": "production"})
    conn.putrequest("POST", f"/api/2.0/{TR}/create")
    for name, value in (("X-Remote-User", "bob"), ("X-Remote-User", "admin"),
                        ("X-Proxy-Secret", SECRET), ("Content-Type", "application/json"),
                        ("Content-Length", str(len(body)))):
        conn.putheader(name, value)
    conn.endheaders(body.encode())
    response = conn.getresponse()
    assert response.status == 401, response.read()[:300]
    conn.close()
