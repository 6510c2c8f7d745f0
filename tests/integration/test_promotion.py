"""Protected promotions through every route: blocked without evidence, allowed with it."""

from __future__ import annotations

import pytest
from mlflow.exceptions import MlflowException

from .helpers import COMPLIANT_INTAKE, ROOTS, call, new_version


@pytest.mark.parametrize("root", ROOTS)
def test_protected_alias_is_blocked_then_allowed_over_raw_http(any_gate_server, root,
                                                               unique_model_name):
    client = any_gate_server.client()
    version = new_version(client, unique_model_name,
                          {"supplychain.intake.artifact_class": "base_model"})
    body = {"name": unique_model_name, "alias": "production", "version": version}

    denied = call(any_gate_server.url, root, "POST", "mlflow/registered-models/alias", body)

    assert denied.status_code == 403
    error = denied.json()
    assert error["error_code"] == "PERMISSION_DENIED"
    for missing in ("owner", "license.id", "license.outcome"):
        assert f"intake field '{missing}' is missing" in error["message"]
    assert "Fix:" in error["message"]

    for key, value in COMPLIANT_INTAKE.items():
        client.set_model_version_tag(unique_model_name, version, key, value)
    allowed = call(any_gate_server.url, root, "POST", "mlflow/registered-models/alias", body)

    assert allowed.status_code == 200, allowed.text
    assert client.get_model_version_by_alias(unique_model_name, "production").version == version


def test_client_sees_permission_denied_and_no_alias_is_set(gate_server, unique_model_name):
    client = gate_server.client()
    version = new_version(client, unique_model_name)

    with pytest.raises(MlflowException) as excinfo:
        client.set_registered_model_alias(unique_model_name, "production", version)

    assert excinfo.value.error_code == "PERMISSION_DENIED"
    assert client.get_registered_model(unique_model_name).aliases == {}


@pytest.mark.parametrize("root", ROOTS)
def test_stage_transition_follows_the_profile(any_gate_server, root, unique_model_name):
    client = any_gate_server.client()
    bare = new_version(client, unique_model_name)
    good = new_version(client, unique_model_name, COMPLIANT_INTAKE)
    endpoint = "mlflow/model-versions/transition-stage"

    def transition(version: str, stage: str):
        return call(any_gate_server.url, root, "POST", endpoint, {
            "name": unique_model_name, "version": version, "stage": stage,
            "archive_existing_versions": False})

    assert transition(bare, "Production").status_code == 403
    assert transition(good, "Production").status_code == 200
    scan = transition(good, "Staging")
    assert scan.status_code == 403
    assert "scan.missing" in scan.json()["message"]
    assert transition(bare, "Archived").status_code == 200  # unprotected stage
    assert client.get_model_version(unique_model_name, good).current_stage == "Production"


def test_requirements_without_producers_yet_deny(any_gate_server, unique_model_name):
    client = any_gate_server.client()
    version = new_version(client, unique_model_name, COMPLIANT_INTAKE)

    with pytest.raises(MlflowException, match="scan.missing"):
        client.set_registered_model_alias(unique_model_name, "champion", version)
    with pytest.raises(MlflowException, match="approval.missing"):
        client.set_registered_model_alias(unique_model_name, "reviewed", version)


def test_denied_license_and_bad_source_are_reported(gate_server, unique_model_name):
    client = gate_server.client()
    tags = {**COMPLIANT_INTAKE, "supplychain.intake.license.id": "CC-BY-NC-4.0"}
    version = new_version(client, unique_model_name, tags)

    with pytest.raises(MlflowException, match="license.denied"):
        client.set_registered_model_alias(unique_model_name, "production", version)


def test_unprotected_alias_and_reads_are_unaffected(any_gate_server, unique_model_name):
    client = any_gate_server.client()
    version = new_version(client, unique_model_name)

    client.set_registered_model_alias(unique_model_name, "candidate", version)
    client.delete_registered_model_alias(unique_model_name, "candidate")
    client.set_model_version_tag(unique_model_name, version, "team", "fraud")
    client.delete_model_version_tag(unique_model_name, version, "team")

    assert client.get_model_version(unique_model_name, version).version == version
    assert client.get_registered_model(unique_model_name).name == unique_model_name
    found = client.search_model_versions(f"name = '{unique_model_name}'")
    assert [mv.version for mv in found] == [version]
    assert client.get_latest_versions(unique_model_name, stages=["None"])[0].version == version


def test_psycopg3_uri_form_is_governed(pg3_gate_server, unique_model_name):
    client = pg3_gate_server.client()
    version = new_version(client, unique_model_name)
    with pytest.raises(MlflowException, match="intake.missing"):
        client.set_registered_model_alias(unique_model_name, "production", version)
    for key, value in COMPLIANT_INTAKE.items():
        client.set_model_version_tag(unique_model_name, version, key, value)
    client.set_registered_model_alias(unique_model_name, "production", version)
    assert "postgresql+psycopg://" in " ".join(pg3_gate_server.process.args)


def test_protected_aliases_are_guarded_in_every_case_spelling(gate_server, unique_model_name):
    client = gate_server.client()
    version = new_version(client, unique_model_name)
    for alias in ("PRODUCTION", "Production"):
        with pytest.raises(MlflowException, match="PERMISSION_DENIED|denied"):
            client.set_registered_model_alias(unique_model_name, alias, version)
