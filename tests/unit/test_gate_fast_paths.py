"""Unprotected targets and foreign tags never reach the database (performance contract)."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.exceptions import MlflowException

from mlflow_supplychain.policy.evidence import Target, TargetKind
from mlflow_supplychain.registry.evidence_reader import EvidenceReader
from mlflow_supplychain.registry.gate import RegistryGate
from mlflow_supplychain.server.policy_holder import PolicyHolder

ENFORCE = Path(__file__).parents[1] / "integration" / "policies" / "enforce.yaml"


class NoDatabase:
    """A store whose every session use fails the test."""

    def ManagedSessionMaker(self, *args, **kwargs):  # MLflow's attribute name
        raise AssertionError("the database was queried")


@pytest.fixture
def gate() -> RegistryGate:
    return RegistryGate(PolicyHolder(str(ENFORCE)), EvidenceReader())


def test_unprotected_targets_skip_the_database(gate):
    store = NoDatabase()
    assert gate.check_promotion(store, "m", "1", Target(kind=TargetKind.ALIAS, name="dev")) is None
    assert gate.check_promotion(store, "m", "1", Target(kind=TargetKind.STAGE, name="Archived")) \
        is None
    assert gate.guard(Target(kind=TargetKind.ALIAS, name="Production")).name == "production"


def test_foreign_and_valid_intake_tags_skip_the_database(gate):
    store = NoDatabase()
    gate.check_version_tag(store, "m", "1", "team", "fraud")
    gate.check_version_tag(store, "m", "1", "supplychain.intake.owner", "team")
    gate.check_registered_model_tag(store, "m", "team", None)
    gate.check_create_registered_model("m", None)


def test_reserved_tag_refusal_checks_for_prompts_first(gate):
    with pytest.raises(AssertionError, match="database"):
        gate.check_version_tag(NoDatabase(), "m", "1", "supplychain.scan.x", "1")


def test_bad_source_is_refused_without_database(gate):
    with pytest.raises(MlflowException, match="not under an allowed prefix"):
        gate.prepare_version_tags(NoDatabase(), "m", "file:///tmp/model", [])
