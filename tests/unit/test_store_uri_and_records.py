"""Store URI parsing, prompt recognition and evidence assembly (no database)."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.exceptions import MlflowException

from mlflow_supplychain.intake.fields import validate_field
from mlflow_supplychain.policy.engine import source_violation
from mlflow_supplychain.policy.loader import load_policy
from mlflow_supplychain.policy.schema import Requirement
from mlflow_supplychain.registry.evidence_reader import (
    EvalRunProvider,
    EvidenceReader,
    VersionRecord,
)
from mlflow_supplychain.registry.store import database_uri

POLICY = load_policy(Path(__file__).parents[1] / "integration" / "policies" / "enforce.yaml")


@pytest.mark.parametrize(("uri", "inner"), [
    ("supplychain+sqlite:////tmp/a.db", "sqlite:////tmp/a.db"),
    ("supplychain+postgresql+psycopg2://u@h/db", "postgresql+psycopg2://u@h/db"),
    ("supplychain+mysql+pymysql://u@h/db", "mysql+pymysql://u@h/db"),
])
def test_database_uri(uri, inner):
    assert database_uri(uri) == inner


@pytest.mark.parametrize("uri", ["sqlite:///a.db", "supplychain+mssql://h/db",
                                 "supplychain+file:///x"])
def test_database_uri_refuses(uri):
    with pytest.raises(MlflowException):
        database_uri(uri)


def _record(tags: dict[str, str], source: str = "s3://corp-models/x") -> VersionRecord:
    return VersionRecord(name="m", version="1", source=source, stage="None", user_id=None,
                         tags=tags)


def test_prompt_needs_tag_and_placeholder_source():
    assert _record({"mlflow.prompt.is_prompt": "true"}, source="prompt-template").is_prompt
    assert not _record({"mlflow.prompt.is_prompt": "true"}).is_prompt
    assert not _record({}, source="prompt-template").is_prompt


def test_reader_runs_providers_only_when_required():
    calls: list[str] = []

    def exists(run_id: str) -> bool:
        calls.append(run_id)
        return True

    reader = EvidenceReader([EvalRunProvider(exists)])
    record = _record({"supplychain.intake.eval.ref": "runs:/" + "a" * 32 + "/eval",
                      "supplychain.gate.created_by": "alice"})

    plain = reader.evidence(record, POLICY, [Requirement.INTAKE_COMPLETE])
    with_eval = reader.evidence(record, POLICY, [Requirement.EVAL_EVIDENCE])

    assert plain.eval_run_found is None and with_eval.eval_run_found is True
    assert calls == ["a" * 32]
    assert plain.creator == "alice"
    assert plain.intake == {"eval.ref": "runs:/" + "a" * 32 + "/eval"}


@pytest.mark.parametrize(("source", "code"), [
    ("s3://corp-models/a", None),
    ("models:/m/3", None),
    ("models:/m@production", "source.mutable_ref"),
    ("s3://elsewhere/a", "source.not_allowed"),
    ("", "source.missing"),
])
def test_source_violation(source, code):
    violation = source_violation(POLICY, source)
    assert (violation.code if violation else None) == code


def test_broken_license_expression_is_a_message_not_a_crash():
    assert "not a valid license expression" in validate_field("license.id", "MIT OR")
