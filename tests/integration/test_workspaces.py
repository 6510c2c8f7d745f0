"""With workspaces enabled the workspace-aware store is used and evidence stays per workspace."""

from __future__ import annotations

import pytest
import requests

from mlflow_supplychain.testing.pytest_plugin import run_server

from .conftest import ENFORCE
from .helpers import COMPLIANT_INTAKE


@pytest.fixture(scope="module")
def ws_server(tmp_path_factory):
    with run_server(ENFORCE, tmp_path_factory.mktemp("ws"),
                    extra_args=("--enable-workspaces",)) as server:
        yield server


def _post(server, endpoint, body, workspace):
    return requests.post(f"{server.url}/api/2.0/mlflow/{endpoint}", json=body, timeout=30,
                         headers={"X-MLflow-Workspace": workspace})


def test_evidence_is_read_in_the_callers_workspace(ws_server):
    status = requests.get(ws_server.url + "/api/2.0/mlflow-supplychain/status", timeout=10)
    assert status.json()["store"]["type"] == "WorkspaceAwareSupplyChainRegistryStore"
    assert requests.post(ws_server.url + "/api/3.0/mlflow/workspaces", json={"name": "team-a"},
                         timeout=30).status_code in (200, 201)
    tags = [{"key": k, "value": v} for k, v in COMPLIANT_INTAKE.items()]
    for workspace, version_tags in (("default", []), ("team-a", tags)):
        assert _post(ws_server, "registered-models/create", {"name": "shared"},
                     workspace).status_code == 200
        assert _post(ws_server, "model-versions/create",
                     {"name": "shared", "source": "s3://corp-models/x", "tags": version_tags},
                     workspace).status_code == 200

    alias = {"name": "shared", "alias": "production", "version": "1"}
    assert _post(ws_server, "registered-models/alias", alias, "default").status_code == 403
    assert _post(ws_server, "registered-models/alias", alias, "team-a").status_code == 200
    forged = {"name": "shared", "version": "1", "key": "supplychain.scan.x", "value": "1"}
    assert _post(ws_server, "model-versions/set-tag", forged, "team-a").status_code == 403
