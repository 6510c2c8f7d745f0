"""Every intake example is a valid record, complete for the example policy."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlflow_supplychain.cli.main import main
from mlflow_supplychain.intake.fields import ArtifactClass, LicenseOutcome
from mlflow_supplychain.intake.record_files import load_record

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
POLICY = EXAMPLES / "policy.yaml"
INTAKE = sorted((EXAMPLES / "intake").glob("*.yaml"))


def test_one_example_per_artifact_class() -> None:
    assert {p.stem for p in INTAKE} == {c.value for c in ArtifactClass}


@pytest.mark.parametrize("path", INTAKE, ids=lambda p: p.stem)
def test_intake_example_is_complete_for_the_example_policy(path: Path) -> None:
    assert main(["intake", "validate", str(path), "--policy", str(POLICY)]) == 0
    assert load_record(path).artifact_class == path.stem


def test_license_review_validates_and_carries_its_conditions() -> None:
    path = EXAMPLES / "license-review.yaml"
    assert main(["intake", "validate", str(path), "--policy", str(POLICY)]) == 0
    review = load_record(path).license
    assert review is not None
    assert review.outcome is LicenseOutcome.APPROVED_WITH_CONDITIONS and review.conditions


def test_example_policy_is_the_packaged_starter_policy() -> None:
    starter = Path(__file__).resolve().parents[3] / "mlflow_supplychain" / "policy" / "starter.yaml"
    assert POLICY.read_bytes() == starter.read_bytes()
