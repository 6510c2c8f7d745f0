"""A basic-auth server with the approvals policy and four users.

alice registers models and asks for promotions (she is also in ml-security, which must not let
her approve her own work); bob and erin approve; carol is in no group.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from mlflow_supplychain.testing.pytest_plugin import RunningServer, ServerFactory

POLICY = Path(__file__).parents[1] / "policies" / "approvals.yaml"
USERS = ("alice", "bob", "erin", "carol")
INTAKE = {
    "supplychain.intake.artifact_class": "base_model",
    "supplychain.intake.owner": "ml-platform@example.com",
    "supplychain.intake.license.id": "Apache-2.0",
    "supplychain.intake.license.outcome": "approved",
}
Auth = tuple[str, str]


def password(user: str) -> str:
    return f"{user}-password-1234"


def add_users(server: RunningServer) -> dict[str, Auth]:
    return {user: server.user(user, password(user)) for user in USERS}


@pytest.fixture(scope="module")
def server(supplychain_server_factory: ServerFactory) -> RunningServer:
    return supplychain_server_factory(POLICY, auth=True)


@pytest.fixture(scope="module")
def users(server: RunningServer) -> dict[str, Auth]:
    return add_users(server)


Api = Callable[..., requests.Response]


def make_api(server: RunningServer) -> Api:
    def api(method: str, endpoint: str, auth: Auth | None, **kwargs: Any) -> requests.Response:
        return requests.request(method, f"{server.url}/api/2.0/{endpoint}", auth=auth,
                                timeout=60, **kwargs)
    return api


@pytest.fixture(scope="module")
def api(server: RunningServer) -> Api:
    return make_api(server)


def register(api: Api, creator: Auth, name: str, tags: dict[str, str] | None = None) -> str:
    """``creator`` registers model ``name`` and one version; returns the version."""
    assert api("POST", "mlflow/registered-models/create", creator,
               json={"name": name}).status_code == 200
    body = {"name": name, "source": "s3://corp-models/fraud/1",
            "tags": [{"key": k, "value": v} for k, v in (tags or INTAKE).items()]}
    created = api("POST", "mlflow/model-versions/create", creator, json=body)
    assert created.status_code == 200, created.text
    return str(created.json()["model_version"]["version"])
