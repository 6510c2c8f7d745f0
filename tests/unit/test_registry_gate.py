"""The gate's refusals of tag changes and removals, with the registry reads faked."""

from __future__ import annotations

from contextlib import nullcontext
from types import SimpleNamespace
from typing import Any

import pytest
from mlflow.exceptions import MlflowException

from mlflow_supplychain.policy.loader import parse_policy
from mlflow_supplychain.registry import evidence_reader as facts
from mlflow_supplychain.registry.evidence_reader import VersionRecord
from mlflow_supplychain.registry.gate import RegistryGate

from .policy.bad_policies import GOOD


class _Store:
    def ManagedSessionMaker(self) -> Any:  # MLflow store API name
        return nullcontext(None)


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> RegistryGate:
    monkeypatch.setattr(facts, "registered_model_is_prompt", lambda store, s, name: name == "p")
    monkeypatch.setattr(facts, "read_version", lambda store, s, name, number: VersionRecord(
        name=name, version=str(number), source=next(iter(facts.PROMPT_SOURCES)) if name == "p"
        else "s3://bucket/model", stage="None", user_id=None,
        tags={"mlflow.prompt.is_prompt": "true"} if name == "p" else {}))
    monkeypatch.setattr(facts, "protected_alias_versions",
                        lambda store, s, name, aliases: {"production": 2})
    monkeypatch.setattr(facts, "versions_in_stages", lambda store, s, name, stages: {})
    holder: Any = SimpleNamespace(policy=parse_policy(GOOD))
    return RegistryGate(holder, reader=None)  # type: ignore[arg-type]  # never read here


def _refusal(call: Any) -> MlflowException:
    with pytest.raises(MlflowException) as info:
        call()
    return info.value


def test_reserved_tag_set_on_a_registered_model_is_refused(gate: RegistryGate) -> None:
    err = _refusal(lambda: gate.check_registered_model_tag(_Store(), "m", "supplychain.scan.x",
                                                           "1"))
    assert err.error_code == "PERMISSION_DENIED"
    assert err.message.startswith("Tag 'supplychain.scan.x' of registered model 'm' cannot be set")


def test_reserved_tag_delete_on_a_version_is_refused(gate: RegistryGate) -> None:
    err = _refusal(lambda: gate.check_version_tag(_Store(), "m", "3", "supplychain.scan.x", None))
    assert err.message.startswith("Tag 'supplychain.scan.x' of 'm' version 3 cannot be deleted")


def test_invalid_intake_value_on_a_version_is_a_400(gate: RegistryGate) -> None:
    err = _refusal(lambda: gate.check_version_tag(_Store(), "m", "3",
                                                  "supplychain.intake.source_revision", "main"))
    assert err.error_code == "INVALID_PARAMETER_VALUE"


def test_prompts_skip_intake_rules_and_other_tags_pass(gate: RegistryGate) -> None:
    gate.check_registered_model_tag(_Store(), "p", "supplychain.intake.source_revision", "main")
    gate.check_version_tag(_Store(), "p", "1", "supplychain.intake.source_revision", "main")
    gate.check_version_tag(_Store(), "m", "1", "team", "x")


def test_prompts_get_no_reserved_tags_and_keep_their_marker(gate: RegistryGate) -> None:
    # class 11: reserved tags on a prompt would stay on the version once it is no prompt
    for call in (
            lambda: gate.check_registered_model_tag(_Store(), "p", "supplychain.scan.x", "1"),
            lambda: gate.check_version_tag(_Store(), "p", "1", "supplychain.scan.x", None),
            lambda: gate.check_version_tag(_Store(), "p", "1", "supplychain.gate.created_by",
                                           "bob"),
            lambda: gate.check_version_tag(_Store(), "p", "1", "mlflow.prompt.is_prompt", None),
            lambda: gate.check_version_tag(_Store(), "m", "1", "mlflow.prompt.is_prompt",
                                           "true"),
            lambda: gate.check_registered_model_tag(_Store(), "p", "mlflow.prompt.is_prompt",
                                                    None)):
        assert _refusal(call).error_code == "PERMISSION_DENIED"


def test_removing_a_model_with_a_promoted_version_is_refused(gate: RegistryGate) -> None:
    err = _refusal(lambda: gate.check_registered_model_removal(_Store(), "m", "renamed"))
    assert err.error_code == "PERMISSION_DENIED"
    assert err.message.startswith(
        "Registered model 'm' cannot be renamed: it has promoted versions\n"
        "  - version 2: is held by protected alias 'production'")


def test_deleting_a_promoted_version_is_refused_and_others_pass(gate: RegistryGate) -> None:
    err = _refusal(lambda: gate.check_version_removal(_Store(), "m", "2"))
    assert err.message.startswith("Version 2 of 'm' cannot be deleted: it is promoted")
    gate.check_version_removal(_Store(), "m", "1")
    gate.check_version_removal(_Store(), "p", "2")
