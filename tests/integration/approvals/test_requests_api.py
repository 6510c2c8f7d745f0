"""Transition requests on a real server with basic-auth and several users."""

from __future__ import annotations

from typing import Any

import requests

from mlflow_supplychain.governance import audit, db
from mlflow_supplychain.testing.pytest_plugin import RunningServer

from .conftest import INTAKE, Api, Auth, register

TR = "mlflow-supplychain/transition-requests"


def _create(api: Api, who: Auth, name: str, version: str, target: str = "production") -> Any:
    response = api("POST", f"{TR}/create", who, json={"name": name, "version": version,
                                                      "target": target, "comment": "ship it"})
    assert response.status_code == 200, response.text
    return response.json()


def _approve(api: Api, who: Auth, request_id: int, apply: bool = False) -> requests.Response:
    return api("POST", f"{TR}/approve", who, json={"request_id": str(request_id),
                                                   "comment": "lgtm", "apply": apply})


def _set_alias(api: Api, who: Auth, name: str, version: str, alias: str) -> requests.Response:
    return api("POST", "mlflow/registered-models/alias", who,
               json={"name": name, "alias": alias, "version": version})


def _audit_actions(server: RunningServer) -> list[tuple[str, str]]:
    engine = db.create_engine(server.backend_store_uri or
                              f"sqlite:///{server.data_dir / 'mlflow.db'}")
    try:
        with engine.connect() as conn:
            assert audit.verify(conn).ok
            return [(r.actor, r.action) for r in audit.iter_records(conn)]
    finally:
        engine.dispose()


def test_create_shows_what_is_missing(api: Api, users: dict[str, Auth],
                                      unique_model_name: str) -> None:
    version = register(api, users["alice"], unique_model_name)
    answer = _create(api, users["alice"], unique_model_name, version)
    assert answer["request"]["status"] == "pending"
    assert answer["request"]["requester"] == "alice"
    assert [v["code"] for v in answer["decision"]["violations"]] == ["approval.missing"]
    assert _set_alias(api, users["alice"], unique_model_name, version,
                      "production").status_code == 403


def test_separation_of_duties_and_authorisation(api: Api, users: dict[str, Auth],
                                                unique_model_name: str) -> None:
    version = register(api, users["alice"], unique_model_name)
    rid = _create(api, users["bob"], unique_model_name, version)["request"]["id"]
    creator = _approve(api, users["alice"], rid)  # in ml-security, but created the version
    requester = _approve(api, users["bob"], rid)
    outsider = _approve(api, users["carol"], rid)
    assert (creator.status_code, requester.status_code, outsider.status_code) == (403, 403, 403)
    assert "created this model version" in creator.json()["message"]
    assert "requested this promotion" in requester.json()["message"]
    assert "not an authorised approver" in outsider.json()["message"]
    assert _approve(api, users["erin"], rid).json()["request"]["status"] == "approved"


def test_approve_and_apply(server: RunningServer, api: Api, users: dict[str, Auth],
                           unique_model_name: str) -> None:
    version = register(api, users["alice"], unique_model_name)
    rid = _create(api, users["alice"], unique_model_name, version)["request"]["id"]
    answer = _approve(api, users["bob"], rid, apply=True).json()
    assert answer["applied"] is True and answer["request"]["status"] == "applied"
    assert answer["decision"]["allowed"] is True
    alias = api("GET", "mlflow/registered-models/alias", users["carol"],
                params={"name": unique_model_name, "alias": "production"})
    assert alias.json()["model_version"]["version"] == version
    actions = _audit_actions(server)
    assert ("alice", "request.create") in actions and ("bob", "request.approve") in actions
    assert ("bob", "gate.decision") in actions and ("bob", "request.apply") in actions


def test_ci_promotes_later_with_plain_mlflow(api: Api, users: dict[str, Auth],
                                             unique_model_name: str) -> None:
    version = register(api, users["alice"], unique_model_name)
    rid = _create(api, users["alice"], unique_model_name, version)["request"]["id"]
    assert _approve(api, users["bob"], rid).json()["request"]["status"] == "approved"
    assert _set_alias(api, users["alice"], unique_model_name, version,
                      "production").status_code == 200
    got = api("GET", f"{TR}/get", users["alice"], params={"request_id": rid}).json()
    assert got["request"]["status"] == "applied"


def test_intake_edit_after_request_makes_it_stale(api: Api, users: dict[str, Auth],
                                                  unique_model_name: str) -> None:
    version = register(api, users["alice"], unique_model_name)
    rid = _create(api, users["alice"], unique_model_name, version)["request"]["id"]
    edited = api("POST", "mlflow/model-versions/set-tag", users["alice"],
                 json={"name": unique_model_name, "version": version,
                       "key": "supplychain.intake.owner", "value": "someone-else@example.com"})
    assert edited.status_code == 200
    refused = _approve(api, users["bob"], rid)
    assert refused.status_code == 403 and "stale" in refused.json()["message"]
    got = api("GET", f"{TR}/get", users["alice"], params={"request_id": rid}).json()
    assert got["request"]["status"] == "stale"


def test_approval_granted_before_an_edit_no_longer_counts(api: Api, users: dict[str, Auth],
                                                          unique_model_name: str) -> None:
    version = register(api, users["alice"], unique_model_name)
    rid = _create(api, users["alice"], unique_model_name, version)["request"]["id"]
    assert _approve(api, users["bob"], rid).status_code == 200
    api("POST", "mlflow/model-versions/set-tag", users["alice"],
        json={"name": unique_model_name, "version": version,
              "key": "supplychain.intake.owner", "value": "someone-else@example.com"})
    denied = _set_alias(api, users["alice"], unique_model_name, version, "production")
    assert denied.status_code == 403 and "approval.stale" in denied.json()["message"]


def test_two_of_m(api: Api, users: dict[str, Auth], unique_model_name: str) -> None:
    version = register(api, users["alice"], unique_model_name)
    rid = _create(api, users["alice"], unique_model_name, version, "champion")["request"]["id"]
    first = _approve(api, users["bob"], rid).json()
    assert first["request"]["status"] == "pending"
    assert [v["code"] for v in first["decision"]["violations"]] == ["approval.insufficient"]
    assert _approve(api, users["bob"], rid).status_code == 403  # same person twice
    assert _set_alias(api, users["alice"], unique_model_name, version,
                      "champion").status_code == 403
    second = _approve(api, users["erin"], rid, apply=True).json()
    assert second["request"]["status"] == "applied" and second["applied"] is True


def test_reject_and_cancel(api: Api, users: dict[str, Auth], unique_model_name: str) -> None:
    version = register(api, users["alice"], unique_model_name)
    rid = _create(api, users["alice"], unique_model_name, version)["request"]["id"]
    body = {"request_id": str(rid), "comment": "no"}
    assert api("POST", f"{TR}/reject", users["carol"], json=body).status_code == 403
    assert api("POST", f"{TR}/cancel", users["bob"], json=body).status_code == 403
    rejected = api("POST", f"{TR}/reject", users["bob"], json=body).json()
    assert rejected["request"]["status"] == "rejected"
    assert _approve(api, users["erin"], rid).status_code == 409  # not open any more
    rid2 = _create(api, users["alice"], unique_model_name, version)["request"]["id"]
    cancelled = api("POST", f"{TR}/cancel", users["alice"],
                    json={"request_id": str(rid2)}).json()
    assert cancelled["request"]["status"] == "cancelled"


def test_list_filters_and_pages(api: Api, users: dict[str, Auth], unique_model_name: str) -> None:
    versions = [register(api, users["alice"], unique_model_name) if i == 0 else
                str(api("POST", "mlflow/model-versions/create", users["alice"], json={
                    "name": unique_model_name, "source": "s3://corp-models/fraud/1",
                    "tags": [{"key": k, "value": v} for k, v in INTAKE.items()]}
                    ).json()["model_version"]["version"]) for i in range(3)]
    for v in versions:
        _create(api, users["alice"], unique_model_name, v)
    page = api("GET", f"{TR}/list", users["carol"],
               params={"name": unique_model_name, "max_results": 2}).json()
    assert [r["version"] for r in page["requests"]] == versions[::-1][:2]
    rest = api("GET", f"{TR}/list", users["carol"],
               params={"name": unique_model_name, "page_token": page["next_page_token"]}).json()
    assert [r["version"] for r in rest["requests"]] == versions[:1]
    bad = api("GET", f"{TR}/list", users["carol"], params={"status": "done"})
    assert bad.status_code == 400 and "status" in bad.json()["message"]


def test_ajax_api_twin(server: RunningServer, users: dict[str, Auth]) -> None:
    response = requests.get(f"{server.url}/ajax-api/2.0/{TR}/list", auth=users["carol"],
                            timeout=30)
    assert response.status_code == 200 and "requests" in response.json()


def test_unauthenticated_is_refused(api: Api) -> None:
    assert api("GET", f"{TR}/list", None).status_code == 401
