"""Approvers see why (issue #17), in a real browser: blocking evidence before the buttons,
promotion disabled while the gate would refuse, a confirmed approval of evidence that cannot
pass, the overview's compliance column, the lineage picture and the policy page."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from mlflow_supplychain.integrity import attest
from mlflow_supplychain.testing.pytest_plugin import RunningServer

from ..approvals.conftest import INTAKE, register
from ..sidecar.attestation_helpers import SUBMIT, make_payload, server_key
from .conftest import PAGE, TR, Api, Auth, alias_version, request_status
from .test_browser import (
    CHROMIUM,
    LAUNCH_ARGS,
    REQUIRE_ENV_VAR,
    _format_digest,
    _page,
    _version_url,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        reason = "browser tests need Debian's Chromium at /usr/bin/chromium"
        if os.environ.get(REQUIRE_ENV_VAR):
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                              args=LAUNCH_ARGS)
        yield instance
        instance.close()


def _flag(server: RunningServer, users: dict[str, Auth], name: str, version: str) -> None:
    payload = make_payload(server, name, version, verdict="prohibited", auth=users["carol"],
                           findings=["model.pkl: pickle_unsafe: global os.system"],
                           files={"model.pkl": "d" * 64}, formats={"model.pkl": "pickle_unsafe"},
                           format_policy_digest=_format_digest(server, users["carol"]))
    submitted = requests.post(server.url + SUBMIT, auth=users["carol"], timeout=30,
                              json={"payload": payload.model_dump(mode="json"),
                                    "signature": attest.sign(payload, server_key(server))})
    assert submitted.status_code == 200, submitted.text


def _flagged_request(server: RunningServer, api: Api, users: dict[str, Auth],
                     name: str) -> tuple[str, int]:
    """A version scanned ``prohibited`` *before* its request (the request binds the evidence
    as it is, so an approval can be recorded)."""
    version = register(api, users["alice"], name)
    _flag(server, users, name, version)
    response = api("POST", f"{TR}/create", users["alice"],
                   json={"name": name, "version": version, "target": "champion"})
    assert response.status_code == 200, response.text
    return version, int(response.json()["request"]["id"])


def test_a_prohibited_scan_disables_promotion_and_approval_needs_confirmation(
        server: RunningServer, api: Api, users: dict[str, Auth], browser: Any,
        unique_model_name: str) -> None:
    version, rid = _flagged_request(server, api, users, unique_model_name)
    page = _page(browser, users["bob"])

    page.goto(f"{server.url}{PAGE}")
    row = page.locator("tr", has_text=unique_model_name)
    assert "blocked: scan.flagged" in row.locator("td.compliance").inner_text()

    page.goto(_version_url(server, unique_model_name, version))
    section = page.locator(f"#request-{rid}")
    blocking = section.locator("div.blocking")
    assert "scan.flagged" in blocking.inner_text()
    # the blocking evidence comes before any button
    assert section.inner_html().index("blocking") < section.inner_html().index("<button")
    assert section.get_by_role("button", name="Approve & promote").is_disabled()
    section.get_by_role("button", name="Approve only").click()  # unticked: the browser stops
    assert request_status(api, users["carol"], rid) == "pending"
    section.get_by_label("I approve this evidence although it cannot pass now").check()
    with page.expect_response(f"{server.url}{PAGE}action") as posted:
        section.get_by_role("button", name="Approve only").click()
    assert posted.value.status in (200, 303)
    page.wait_for_url("**notice=approved**")
    assert request_status(api, users["carol"], rid) == "approved"
    assert alias_version(api, users["carol"], unique_model_name, "champion") is None
    page.context.close()


def test_forged_promote_of_blocked_evidence_is_refused(server: RunningServer, api: Api,
                                                       users: dict[str, Auth], browser: Any,
                                                       unique_model_name: str) -> None:
    """The disabled button is not the control: the server refuses the action too."""
    version, rid = _flagged_request(server, api, users, unique_model_name)
    page = _page(browser, users["bob"])
    page.goto(_version_url(server, unique_model_name, version))
    form = page.locator(f"#request-{rid} form.decide")
    form.get_by_role("button", name="Approve & promote").evaluate("b => b.disabled = false")
    form.get_by_label("I approve this evidence although it cannot pass now").check()
    with page.expect_response(f"{server.url}{PAGE}action") as posted:
        form.get_by_role("button", name="Approve & promote").click()
    assert posted.value.status == 409
    assert "Promotion is disabled while the gate would refuse it" in page.content()
    assert request_status(api, users["carol"], rid) == "pending"
    page.context.close()


def test_lineage_picture_and_policy_page(server: RunningServer, api: Api,
                                         users: dict[str, Auth], browser: Any,
                                         unique_model_name: str) -> None:
    base = unique_model_name + "-base"
    register(api, users["alice"], base)
    derived = register(api, users["alice"], unique_model_name, {
        **INTAKE, "supplychain.intake.base_model.uri": f"models:/{base}/1"})
    page = _page(browser, users["bob"])
    page.goto(_version_url(server, unique_model_name, derived))
    svg = page.locator("svg.lineage")
    assert svg.is_visible()
    assert svg.locator("g.node").count() == 2
    assert svg.locator("g.state-self").count() == 1
    assert base in svg.inner_html() and svg.locator("a").count() == 1  # the base links
    page.context.close()

    admin = _page(browser, server.admin_auth())
    admin.goto(f"{server.url}{PAGE}policy")
    assert "Active policy" in admin.content()
    assert admin.locator("table.history tr.current").count() == 1
    admin.context.close()
    bob = requests.get(f"{server.url}{PAGE}policy", auth=users["bob"], timeout=30)
    assert bob.status_code == 403  # evaluates every model: admins only
