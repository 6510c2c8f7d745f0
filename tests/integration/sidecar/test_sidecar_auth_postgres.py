"""The sidecar under basic-auth (it runs as admin) and on PostgreSQL with two server workers."""

from __future__ import annotations

import pytest

from mlflow_supplychain.testing.pytest_plugin import ServerFactory

from .models import register_sklearn, wait_for_tags
from .test_sidecar import SIDECAR_POLICY

# Two more servers (basic-auth bootstrap; PostgreSQL with two workers): ~60-100 s on 2 cores.
pytestmark = [pytest.mark.slow, pytest.mark.long]


def test_sidecar_under_basic_auth(supplychain_server_factory: ServerFactory, unique_model_name,
                                  monkeypatch: pytest.MonkeyPatch):
    server = supplychain_server_factory(SIDECAR_POLICY, auth=True, sidecar=True)
    password = server.admin_auth()[1]
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)

    version = register_sklearn(server, unique_model_name)

    tags = wait_for_tags(server, unique_model_name, version)
    assert tags["supplychain.scan.verdict"] in ("permitted", "sandboxed")
    server.client().set_registered_model_alias(unique_model_name, "champion", version)


def test_sidecar_with_postgres_and_two_workers(supplychain_server_factory: ServerFactory,
                                               supplychain_postgres_uri: str,
                                               unique_model_name):
    server = supplychain_server_factory(SIDECAR_POLICY, postgres_uri=supplychain_postgres_uri,
                                        workers=2, sidecar=True)
    versions = [register_sklearn(server, unique_model_name) for _ in range(2)]
    for version in versions:
        wait_for_tags(server, unique_model_name, version)
        server.client().set_registered_model_alias(unique_model_name, "champion", version)
