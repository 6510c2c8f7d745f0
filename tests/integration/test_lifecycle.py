"""Changes that would silently break a promoted version; copies; prompts."""

from __future__ import annotations

import pytest
from mlflow.exceptions import MlflowException

from .helpers import COMPLIANT_INTAKE, new_version


def _promoted(client, name: str) -> str:
    version = new_version(client, name, COMPLIANT_INTAKE)
    client.set_registered_model_alias(name, "production", version)
    return version


def test_promoted_version_and_its_model_cannot_be_removed(any_gate_server, unique_model_name):
    client = any_gate_server.client()
    version = _promoted(client, unique_model_name)

    for action in (lambda: client.delete_model_version(unique_model_name, version),
                   lambda: client.delete_registered_model(unique_model_name),
                   lambda: client.rename_registered_model(unique_model_name,
                                                          unique_model_name + "-x")):
        with pytest.raises(MlflowException) as excinfo:
            action()
        assert excinfo.value.error_code == "PERMISSION_DENIED"
        assert "alias 'production'" in excinfo.value.message

    client.delete_registered_model_alias(unique_model_name, "production")
    client.delete_model_version(unique_model_name, version)
    client.delete_registered_model(unique_model_name)


def test_version_in_protected_stage_cannot_be_deleted(gate_server, unique_model_name):
    client = gate_server.client()
    version = new_version(client, unique_model_name, COMPLIANT_INTAKE)
    client.transition_model_version_stage(unique_model_name, version, "Production")

    with pytest.raises(MlflowException, match="stage 'Production'"):
        client.delete_model_version(unique_model_name, version)


def test_unpromoted_versions_can_be_deleted(gate_server, unique_model_name):
    client = gate_server.client()
    version = new_version(client, unique_model_name)
    client.delete_model_version(unique_model_name, version)
    client.rename_registered_model(unique_model_name, unique_model_name + "-renamed")


def test_copy_of_a_compliant_version_keeps_intake_and_can_be_promoted(any_gate_server,
                                                                       unique_model_name):
    client = any_gate_server.client()
    version = _promoted(client, unique_model_name)

    copy = client.copy_model_version(f"models:/{unique_model_name}/{version}",
                                     unique_model_name + "-copy")

    assert copy.source == f"models:/{unique_model_name}/{version}"
    for key, value in COMPLIANT_INTAKE.items():
        assert copy.tags[key] == value
    client.set_registered_model_alias(unique_model_name + "-copy", "production", copy.version)


def test_prompts_are_never_blocked(gate_server, unique_model_name):
    client = gate_server.client()
    prompt = client.register_prompt(name=unique_model_name, template="Hello {{name}}")

    client.set_prompt_alias(unique_model_name, "production", prompt.version)
    client.set_prompt_alias(unique_model_name, "champion", prompt.version)

    assert client.get_prompt_version(unique_model_name, prompt.version).template.startswith("Hello")


def test_prompt_tag_on_a_model_version_does_not_bypass_the_gate(gate_server,
                                                                unique_model_name):
    client = gate_server.client()
    version = new_version(client, unique_model_name)
    with pytest.raises(MlflowException, match="cannot be changed after creation"):
        client.set_model_version_tag(unique_model_name, version, "mlflow.prompt.is_prompt",
                                     "true")

    with pytest.raises(MlflowException, match="PERMISSION_DENIED|denied"):
        client.set_registered_model_alias(unique_model_name, "production", version)
