"""Without authentication the server cannot know who approves: requests are refused."""

from __future__ import annotations

import requests

from mlflow_supplychain.testing.pytest_plugin import RunningServer, ServerFactory

from .conftest import POLICY


def test_requests_need_an_identity(supplychain_server_factory: ServerFactory,
                                   unique_model_name: str) -> None:
    server: RunningServer = supplychain_server_factory(POLICY)
    response = requests.post(f"{server.url}/api/2.0/mlflow-supplychain/transition-requests/create",
                             json={"name": unique_model_name, "version": "1",
                                   "target": "production"}, timeout=30)
    assert response.status_code == 401
    message = response.json()["message"]
    assert "not authenticated" in message and "--auth" in message
