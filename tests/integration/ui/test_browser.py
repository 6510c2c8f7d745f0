"""The governance page in a real browser: Playwright driving Debian's Chromium.

Never downloads a browser (no ``playwright install``): it uses ``/usr/bin/chromium``, which
``.ci/run`` installs, and skips with the reason when it is absent. Set
``MLFLOW_SUPPLYCHAIN_SCREENSHOTS=docs/screenshots`` to write PNGs of the main views.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from mlflow_supplychain.integrity import attest
from mlflow_supplychain.testing.pytest_plugin import RunningServer

from ..sidecar.attestation_helpers import SUBMIT, make_payload, server_key
from .conftest import (
    PAGE,
    Api,
    Auth,
    alias_version,
    audit_actions,
    pending_request,
    request_status,
)

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS_ENV_VAR = "MLFLOW_SUPPLYCHAIN_SCREENSHOTS"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]

REQUIRE_ENV_VAR = "MLFLOW_SUPPLYCHAIN_REQUIRE_BROWSER"  # set by .ci/run: never skip in CI
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        reason = ("browser tests need Debian's Chromium at /usr/bin/chromium "
                  "(apt-get install chromium; .ci/run installs it)")
        if os.environ.get(REQUIRE_ENV_VAR):
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright  # the test extra installs it

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                              args=LAUNCH_ARGS)
        yield instance
        instance.close()


def _page(browser: Any, who: Auth) -> Any:
    context = browser.new_context(http_credentials={"username": who[0], "password": who[1]},
                                  viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    return page


def _shot(page: Any, name: str) -> None:
    folder = os.environ.get(SCREENSHOTS_ENV_VAR)
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def _version_url(server: RunningServer, name: str, version: str) -> str:
    return f"{server.url}{PAGE}version?name={name}&version={version}"


def test_approver_approves_and_the_alias_moves(server: RunningServer, api: Api,
                                               users: dict[str, Auth], browser: Any,
                                               unique_model_name: str) -> None:
    version, rid = pending_request(api, users, unique_model_name)
    page = _page(browser, users["bob"])
    page.goto(f"{server.url}{PAGE}")
    row = page.locator("tr", has_text=unique_model_name)
    row.get_by_role("link", name="Review").click()
    page.wait_for_url("**/supplychain/version?**")
    assert page.locator(f"#request-{rid}").get_by_text("pending").is_visible()
    _shot(page, "version-pending")
    page.locator(f"#request-{rid} textarea[name=comment]").fill("Evidence reviewed")
    page.locator(f"#request-{rid}").get_by_role("button", name="Approve & promote").click()
    page.wait_for_url("**notice=applied**")
    assert page.get_by_role("status").inner_text() == "Approved and promoted."
    assert page.locator(f"#request-{rid}").get_by_text("applied").first.is_visible()
    assert alias_version(api, users["carol"], unique_model_name, "production") == version
    assert request_status(api, users["carol"], rid) == "applied"
    page.get_by_role("link", name="Audit trail").click()
    page.wait_for_url("**/supplychain/audit?**")
    assert page.locator("tr.action-request-apply").count() == 1
    _shot(page, "audit")
    page.context.close()


def test_non_approver_sees_no_button_and_a_forged_post_is_refused(
        server: RunningServer, api: Api, users: dict[str, Auth], browser: Any,
        unique_model_name: str) -> None:
    version, rid = pending_request(api, users, unique_model_name)
    carol = _page(browser, users["carol"])
    carol.goto(_version_url(server, unique_model_name, version))
    section = carol.locator(f"#request-{rid}")
    assert section.get_by_text("pending").is_visible()
    assert section.get_by_role("button").count() == 0
    assert "not an authorised approver" in section.inner_text()
    carol.context.close()

    # An attacker's page, on another origin, auto-submits a form to the approve action while
    # bob (an approver) is signed in: the browser sends his credentials, not a valid token.
    bob = _page(browser, users["bob"])
    attacker = (f'<form method="post" action="{server.url}{PAGE}action">'
                f'<input name="request_id" value="{rid}"><input name="action" '
                'value="approve_apply"><input name="csrf_token" value="1.forged"></form>'
                "<script>document.forms[0].submit()</script>")
    bob.route("http://attacker.test/", lambda route: route.fulfill(
        status=200, content_type="text/html", body=attacker))
    with bob.expect_response(f"{server.url}{PAGE}action") as posted:
        bob.goto("http://attacker.test/")
    assert posted.value.status == 403
    assert "CSRF check failed" in bob.content()
    bob.context.close()
    assert request_status(api, users["bob"], rid) == "pending"
    assert alias_version(api, users["bob"], unique_model_name, "production") is None
    actions = [a for _, a in audit_actions(server, f"models:/{unique_model_name}/")]
    assert "request.approve" not in actions


def test_flagged_version_shows_its_findings(server: RunningServer, api: Api,
                                            users: dict[str, Auth], browser: Any,
                                            unique_model_name: str) -> None:
    version, rid = pending_request(api, users, unique_model_name, target="champion")
    finding = "model.pkl: pickle_unsafe: global os.system (prohibited)"
    payload = make_payload(server, unique_model_name, version, verdict="prohibited",
                           auth=users["carol"],
                           findings=[finding], files={"model.pkl": "d" * 64},
                           formats={"model.pkl": "pickle_unsafe"},
                           format_policy_digest=_format_digest(server, users["carol"]))
    submitted = requests.post(server.url + SUBMIT, auth=users["carol"], timeout=30,
                              json={"payload": payload.model_dump(mode="json"),
                                    "signature": attest.sign(payload, server_key(server))})
    assert submitted.status_code == 200, submitted.text
    page = _page(browser, users["bob"])
    page.goto(_version_url(server, unique_model_name, version))
    scan = page.locator("section.scan.flagged")
    assert scan.get_by_text("prohibited").first.is_visible()
    assert scan.locator("ul.findings li").inner_text() == finding
    champion = page.locator("section.checklist", has_text="→ champion")
    assert champion.locator("tr.unmet", has_text="Scan").get_by_text("scan.flagged").is_visible()
    _shot(page, "version-flagged")
    page.goto(f"{server.url}{PAGE}")  # aliases and requests left by the tests above
    _shot(page, "overview")
    page.context.close()


def _format_digest(server: RunningServer, who: Auth) -> str:
    status = requests.get(f"{server.url}/api/2.0/mlflow-supplychain/status", auth=who,
                          timeout=10)
    return str(status.json()["policy"]["format_digest"])
