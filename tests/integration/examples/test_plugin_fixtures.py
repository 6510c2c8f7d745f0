"""The pytest plugin's fixtures against the real governed server (starter policy)."""

from __future__ import annotations

from typing import Any

import pytest

from mlflow_supplychain.client import SupplyChainClient
from mlflow_supplychain.testing.pytest_plugin import RegisterModel, RunningServer


def _codes(server: RunningServer, name: str, version: str, target: str) -> tuple[bool, set[str]]:
    decision = SupplyChainClient(server.url).evaluate(name, version, target)
    return decision.allowed, {v.code for v in decision.violations}


def test_version_with_evidence_lacks_only_human_approval(
        supplychain_server: RunningServer, register_model: RegisterModel,
        unique_model_name: str) -> None:
    registered = register_model(unique_model_name, evidence=True)
    assert registered.evidence and registered.version == "1"
    assert _codes(supplychain_server, registered.name, registered.version, "staging") == (True, set())
    allowed, codes = _codes(supplychain_server, registered.name, registered.version, "production")
    assert not allowed and codes == {"approval.missing"}


def test_version_without_evidence_is_denied(
        supplychain_server: RunningServer, register_model: RegisterModel,
        unique_model_name: str) -> None:
    registered = register_model(unique_model_name, evidence=False)
    allowed, codes = _codes(supplychain_server, registered.name, registered.version, "staging")
    assert not allowed and {"intake.missing", "scan.missing"} <= codes


def test_supplychain_client_talks_to_the_governed_server(
        supplychain_client: Any, register_model: RegisterModel, unique_model_name: str) -> None:
    registered = register_model(unique_model_name, evidence=True)
    tags = supplychain_client.get_model_version(registered.name, registered.version).tags
    assert tags["supplychain.intake.artifact_class"] == "base_model"
    assert tags["supplychain.scan.verdict"] == "permitted"
    supplychain_client.set_registered_model_alias(registered.name, "staging", registered.version)


def test_readme_example_denies_an_unreviewed_model_through_mlflow(
        register_model: RegisterModel, supplychain_client: Any, unique_model_name: str) -> None:
    """The example on the manual's 'Testing your own models' page (docs/data-scientists/testing.md), as written there."""
    from mlflow.exceptions import MlflowException

    v = register_model(unique_model_name, evidence=False)
    with pytest.raises(MlflowException, match="intake.missing"):
        supplychain_client.set_registered_model_alias(v.name, "staging", v.version)
