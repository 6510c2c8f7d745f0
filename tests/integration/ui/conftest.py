"""A basic-auth server with the governance-page policy and the approvals test users.

alice registers versions and requests promotions (she is in ml-security, which must not let
her approve her own work); bob approves; carol is in no group.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
import requests

from mlflow_supplychain.governance import audit, db
from mlflow_supplychain.testing.pytest_plugin import RunningServer, ServerFactory

from ..approvals import conftest as approvals
from ..approvals.conftest import Api, Auth, register

POLICY = Path(__file__).parents[1] / "policies" / "ui.yaml"
TR = "mlflow-supplychain/transition-requests"
PAGE = "/supplychain/"


@pytest.fixture(scope="module")
def server(supplychain_server_factory: ServerFactory) -> RunningServer:
    return supplychain_server_factory(POLICY, auth=True)


# The approvals fixtures depend on a fixture named ``server``: here they get this package's.
users = approvals.users
api = approvals.api


def pending_request(api: Api, users: dict[str, Auth], name: str,
                    target: str = "production") -> tuple[str, int]:
    """alice registers ``name`` v1 and requests its promotion; returns (version, request id)."""
    version = register(api, users["alice"], name)
    response = api("POST", f"{TR}/create", users["alice"],
                   json={"name": name, "version": version, "target": target,
                         "comment": "ready for prod"})
    assert response.status_code == 200, response.text
    return version, int(response.json()["request"]["id"])


def request_status(api: Api, who: Auth, request_id: int) -> str:
    response = api("GET", f"{TR}/get", who, params={"request_id": str(request_id)})
    return str(response.json()["request"]["status"])


def alias_version(api: Api, who: Auth, name: str, alias: str) -> str | None:
    response = api("GET", "mlflow/registered-models/alias", who,
                   params={"name": name, "alias": alias})
    return str(response.json()["model_version"]["version"]) if response.ok else None


def audit_actions(server: RunningServer, subject_prefix: str) -> list[tuple[str, str]]:
    engine = db.create_engine(f"sqlite:///{server.data_dir / 'mlflow.db'}")
    try:
        with engine.connect() as conn:
            assert audit.verify(conn).ok
            return [(r.actor, r.action) for r in audit.iter_records(conn)
                    if r.subject.startswith(subject_prefix)]
    finally:
        engine.dispose()


def csrf_token(page_html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page_html)
    assert match, "no CSRF token in the page"
    return html.unescape(match.group(1))


def get_page(server: RunningServer, path: str, who: Auth | None,
             **params: str) -> requests.Response:
    return requests.get(server.url + path, params=params, auth=who, timeout=60)
