"""The governance page over HTTP (no browser): rendering, read permission, CSRF refusals."""

from __future__ import annotations

import pytest
import requests

from mlflow_supplychain.testing.pytest_plugin import RunningServer, ServerFactory

from .conftest import (
    PAGE,
    POLICY,
    Api,
    Auth,
    alias_version,
    audit_actions,
    csrf_token,
    get_page,
    pending_request,
    request_status,
)

ACTION = PAGE + "action"


def _post(server: RunningServer, who: Auth, data: dict[str, str], *,
          origin: str | None) -> requests.Response:
    headers = {"Origin": origin} if origin else {}
    return requests.post(server.url + ACTION, data=data, auth=who, headers=headers,
                         allow_redirects=False, timeout=60)


def test_pages_render_and_link_into_mlflow(server: RunningServer, api: Api,
                                           users: dict[str, Auth],
                                           unique_model_name: str) -> None:
    version, rid = pending_request(api, users, unique_model_name)
    overview = get_page(server, PAGE, users["carol"])
    assert overview.status_code == 200
    assert "frame-ancestors 'none'" in overview.headers["Content-Security-Policy"]
    assert unique_model_name in overview.text and "Pending transition requests" in overview.text
    page = get_page(server, PAGE + "version", users["carol"], name=unique_model_name,
                    version=version)
    assert page.status_code == 200
    assert f"#/models/{unique_model_name}/versions/{version}" in page.text
    assert "approval.missing" in page.text  # what is missing, with its fix
    assert "approve_apply" not in page.text and "carol is not an authorised approver" in page.text
    trail = get_page(server, PAGE + "audit", users["carol"], name=unique_model_name)
    assert trail.status_code == 200 and "request.create" in trail.text
    css = requests.get(server.url + PAGE + "static/supplychain.css", auth=users["carol"],
                       timeout=30)
    assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")
    assert get_page(server, PAGE, None).status_code == 401  # basic-auth guards the page


def test_page_needs_read_permission_on_the_model(server: RunningServer, api: Api,
                                                 users: dict[str, Auth],
                                                 unique_model_name: str) -> None:
    version = pending_request(api, users, unique_model_name)[0]
    admin = server.admin_auth()
    denied = requests.post(server.url + "/api/3.0/mlflow/users/permissions/grant", auth=admin,
                           json={"username": "carol", "resource_type": "registered_model",
                                 "resource_id": unique_model_name,
                                 "permission": "DENY"}, timeout=30)
    if denied.status_code == 404:
        pytest.skip("this MLflow has no /api/3.0 permission-grant route")
    assert denied.status_code == 200, denied.text
    for path in ("version", "audit"):
        page = get_page(server, PAGE + path, users["carol"], name=unique_model_name,
                        version=version)
        assert page.status_code == 403, path


def test_forged_posts_are_refused_and_change_nothing(server: RunningServer, api: Api,
                                                    users: dict[str, Auth],
                                                    unique_model_name: str) -> None:
    version, rid = pending_request(api, users, unique_model_name)
    bob = users["bob"]
    page = get_page(server, PAGE + "version", bob, name=unique_model_name, version=version)
    token = csrf_token(page.text)
    carol_token = csrf_token(get_page(server, PAGE + "version", users["carol"],
                                      name=unique_model_name, version=version).text) \
        if "csrf_token" in get_page(server, PAGE + "version", users["carol"],
                                    name=unique_model_name, version=version).text else "1.x"
    form = {"request_id": str(rid), "action": "approve_apply", "comment": "forged"}
    attempts = [
        _post(server, bob, form, origin=server.url),                               # no token
        _post(server, bob, {**form, "csrf_token": token}, origin="https://evil.example"),
        _post(server, bob, {**form, "csrf_token": token}, origin=None),            # no Origin
        _post(server, bob, {**form, "csrf_token": carol_token}, origin=server.url),
        _post(server, bob, {**form, "csrf_token": "1." + token.split(".")[1]},
              origin=server.url),                                                  # expired
    ]
    assert [r.status_code for r in attempts] == [403] * 5
    assert "CSRF" in attempts[0].text
    assert request_status(api, bob, rid) == "pending"
    assert alias_version(api, bob, unique_model_name, "production") is None
    actions = [a for _, a in audit_actions(server, f"models:/{unique_model_name}/")]
    assert "request.approve" not in actions and "request.apply" not in actions


def test_refusals_use_the_workflow_rules(server: RunningServer, api: Api,
                                         users: dict[str, Auth],
                                         unique_model_name: str) -> None:
    """alice is in ml-security but requested it: the workflow refuses, even from a crafted
    form with her own valid token (the page shows her no button)."""
    version, rid = pending_request(api, users, unique_model_name)
    alice = users["alice"]
    page = get_page(server, PAGE + "version", alice, name=unique_model_name, version=version)
    assert "approve_apply" not in page.text
    assert "alice requested this promotion" in page.text
    token = csrf_token(page.text)  # her reject form is there: she is an approver
    refused = _post(server, alice, {"request_id": str(rid), "action": "approve",
                                    "csrf_token": token}, origin=server.url)
    assert refused.status_code == 403 and "requested this promotion" in refused.text
    assert request_status(api, alice, rid) == "pending"
    assert ("alice", "request.approve_refused") in audit_actions(
        server, f"models:/{unique_model_name}/")


def test_approve_and_apply_over_http(server: RunningServer, api: Api, users: dict[str, Auth],
                                     unique_model_name: str) -> None:
    version, rid = pending_request(api, users, unique_model_name)
    bob = users["bob"]
    token = csrf_token(get_page(server, PAGE + "version", bob, name=unique_model_name,
                                version=version).text)
    done = _post(server, bob, {"request_id": str(rid), "action": "approve_apply",
                               "comment": "evidence reviewed", "csrf_token": token},
                 origin=server.url)
    assert done.status_code == 303 and "notice=applied" in done.headers["Location"]
    assert request_status(api, bob, rid) == "applied"
    assert alias_version(api, bob, unique_model_name, "production") == version


def test_without_auth_the_page_is_read_only(supplychain_server_factory: ServerFactory,
                                            unique_model_name: str) -> None:
    server = supplychain_server_factory(POLICY)
    page = requests.get(server.url + PAGE, timeout=60)
    assert page.status_code == 200
    assert "approving or rejecting requests needs authentication" in page.text
    assert "csrf_token" not in page.text
    post = requests.post(server.url + ACTION, data={"request_id": "1", "action": "approve"},
                         headers={"Origin": server.url}, timeout=60)
    assert post.status_code == 403 and "authenticated session" in post.text
