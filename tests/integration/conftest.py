"""Shared real servers for the integration suite (fixtures come from our pytest11
plugin, ``mlflow_supplychain.testing.pytest_plugin``). Module-scoped: the plugin's pool shares
each configuration between modules and keeps only a few alive per test process."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlflow_supplychain.testing.pytest_plugin import RunningServer, ServerFactory

POLICIES = Path(__file__).parent / "policies"
ENFORCE = POLICIES / "enforce.yaml"
AUDIT = POLICIES / "audit.yaml"


@pytest.fixture(scope="module")
def gate_server(supplychain_server_factory: ServerFactory) -> RunningServer:
    """SQLite, one worker, enforce mode."""
    return supplychain_server_factory(ENFORCE)


@pytest.fixture(scope="module")
def audit_server(supplychain_server_factory: ServerFactory) -> RunningServer:
    """SQLite, one worker, audit mode."""
    return supplychain_server_factory(AUDIT)


@pytest.fixture(scope="module")
def pg_gate_server(supplychain_server_factory: ServerFactory,
                   supplychain_postgres_uri: str) -> RunningServer:
    """PostgreSQL (fresh database, psycopg2 URI form), two workers, enforce mode."""
    uri = supplychain_postgres_uri.replace("postgresql://", "postgresql+psycopg2://", 1)
    return supplychain_server_factory(ENFORCE, postgres_uri=uri, workers=2)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_gate_server(request: pytest.FixtureRequest) -> RunningServer:
    """The key tests run on both backends (PostgreSQL skips unless configured)."""
    name = "gate_server" if request.param == "sqlite" else "pg_gate_server"
    return request.getfixturevalue(name)


@pytest.fixture(scope="module")
def pg3_gate_server(supplychain_server_factory: ServerFactory,
                    supplychain_postgres_uri: str) -> RunningServer:
    """PostgreSQL through psycopg 3 (``postgresql+psycopg://``), one worker."""
    pytest.importorskip("psycopg")
    uri = supplychain_postgres_uri.replace("postgresql://", "postgresql+psycopg://", 1)
    return supplychain_server_factory(ENFORCE, postgres_uri=uri)
