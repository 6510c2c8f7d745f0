"""A user with DENY on a model learns nothing about it from our routes or pages (class 9).

MLflow's basic-auth refuses such a user ``model-versions/get``; our request, evaluate,
attestation, deployment and page routes must answer the same way, and listings leave the
model out.
"""

from __future__ import annotations

import requests

from mlflow_supplychain.testing.pytest_plugin import RunningServer

from .conftest import Api, Auth, register

TR = "mlflow-supplychain/transition-requests"


def _deny(server: RunningServer, user: str, model: str) -> None:
    granted = requests.post(f"{server.url}/api/3.0/mlflow/users/permissions/grant",
                            json={"username": user, "resource_type": "registered_model",
                                  "resource_id": model, "permission": "DENY"},
                            auth=server.admin_auth(), timeout=30)
    assert granted.status_code == 200, granted.text


def _page(server: RunningServer, path: str, who: Auth, **params: str) -> requests.Response:
    return requests.get(f"{server.url}/supplychain/{path}", params=params, auth=who, timeout=30)


def test_deny_hides_the_gate_decision_everywhere(server: RunningServer, api: Api,
                                                 users: dict[str, Auth],
                                                 unique_model_name: str) -> None:
    name = unique_model_name
    version = register(api, users["alice"], name)
    created = api("POST", f"{TR}/create", users["alice"],
                  json={"name": name, "version": version, "target": "production"})
    assert created.status_code == 200, created.text
    rid = str(created.json()["request"]["id"])
    carol, bob = users["carol"], users["bob"]
    # before the DENY carol reads it like anyone (default READ): the test can see a leak
    assert api("GET", f"{TR}/get", carol, params={"request_id": rid}).status_code == 200
    _deny(server, "carol", name)
    assert api("GET", "mlflow/model-versions/get", carol,
               params={"name": name, "version": version}).status_code == 403  # MLflow's answer

    refused = {
        "get": api("GET", f"{TR}/get", carol, params={"request_id": rid}),
        "approve": api("POST", f"{TR}/approve", carol, json={"request_id": rid}),
        "reject": api("POST", f"{TR}/reject", carol, json={"request_id": rid}),
        "cancel": api("POST", f"{TR}/cancel", carol, json={"request_id": rid}),
        "create": api("POST", f"{TR}/create", carol,
                      json={"name": name, "version": version, "target": "production"}),
        "evaluate": api("GET", "mlflow-supplychain/evaluate", carol,
                        params={"name": name, "version": version, "target": "production"}),
        "attestation": api("GET", "mlflow-supplychain/attestations/get", carol,
                           params={"name": name, "version": version}),
        "version page": _page(server, "version", carol, name=name, version=version),
        "audit page": _page(server, "audit", carol, name=name),
    }
    assert {k: r.status_code for k, r in refused.items()} == {k: 403 for k in refused}
    assert all("production" not in r.text and "approval" not in r.text
               for r in refused.values())

    listed = api("GET", f"{TR}/list", carol, params={"max_results": "1000"})
    assert listed.status_code == 200
    assert name not in listed.text
    assert api("GET", f"{TR}/list", carol, params={"name": name}).json()["requests"] == []
    overview = _page(server, "", carol)
    assert overview.status_code == 200 and name not in overview.text

    # others still see it, and the request is untouched by carol's attempts
    seen = api("GET", f"{TR}/get", bob, params={"request_id": rid})
    assert seen.status_code == 200 and seen.json()["request"]["status"] == "pending"
    assert name in api("GET", f"{TR}/list", bob, params={"name": name}).text
    assert name in _page(server, "", bob).text
