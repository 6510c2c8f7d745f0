"""Reading logged data sets from runs: roles, contexts, limits and failures (real MLflow
entities; the run store is a dict)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from mlflow.entities import Dataset, DatasetInput, InputTag
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INTERNAL_ERROR, RESOURCE_DOES_NOT_EXIST

from mlflow_supplychain.intake.dataset_links import MAX_LOGGED_DATASETS
from mlflow_supplychain.intake.run_inputs import read_logged_inputs

TRAIN, EVAL = "a" * 32, "b" * 32


def _input(name: str, digest: str, context: str | None = None) -> DatasetInput:
    tags = [InputTag("mlflow.data.context", context)] if context else []
    return DatasetInput(Dataset(name=name, digest=digest, source_type="s3",
                                source='{"uri": "s3://b/x"}'), tags=tags)


def _store(runs: dict[str, Any]) -> Any:
    def get_inputs(run_id: str) -> Sequence[DatasetInput]:
        found = runs.get(run_id)
        if isinstance(found, MlflowException):
            raise found
        if found is None:
            raise MlflowException(f"Run {run_id} not found", RESOURCE_DOES_NOT_EXIST)
        return list(found)
    return get_inputs


def test_training_and_evaluation_runs_are_read_with_their_roles() -> None:
    store = _store({TRAIN: [_input("tx", "1234abcd", "training")],
                    EVAL: [_input("holdout", "5678abcd")]})
    found = read_logged_inputs(store, TRAIN, f"runs:/{EVAL}/eval")
    assert found.complete
    assert [(d.name, d.run_role, d.context, d.source) for d in found.datasets] == [
        ("tx", "training", "training", 's3:{"uri": "s3://b/x"}'),
        ("holdout", "evaluation", None, 's3:{"uri": "s3://b/x"}')]
    assert [d.trains for d in found.datasets] == [True, False]


def test_an_unreadable_training_run_makes_the_answer_incomplete() -> None:
    assert not read_logged_inputs(_store({}), TRAIN, None).complete
    broken = MlflowException("database down", INTERNAL_ERROR)
    assert not read_logged_inputs(_store({TRAIN: [], EVAL: broken}), TRAIN, EVAL).complete
    # a missing evaluation run is eval_evidence's finding, not a gap in the data sets
    assert read_logged_inputs(_store({TRAIN: []}), TRAIN, EVAL).complete


@pytest.mark.parametrize("extra, complete", [(0, True), (1, False)])
def test_more_inputs_than_the_limit_is_incomplete(extra: int, complete: bool) -> None:
    inputs = [_input(f"d{i}", "1234abcd") for i in range(MAX_LOGGED_DATASETS + extra)]
    found = read_logged_inputs(_store({TRAIN: inputs}), TRAIN, None)
    assert found.complete is complete and len(found.datasets) == MAX_LOGGED_DATASETS


def test_no_runs_means_nothing_to_read() -> None:
    found = read_logged_inputs(_store({}), None, "not-a-run-ref")
    assert found.complete and found.datasets == ()


def test_the_gate_reads_the_runs_only_where_data_sets_matter() -> None:
    from pathlib import Path

    from mlflow_supplychain.policy.loader import load_policy
    from mlflow_supplychain.registry.evidence_reader import RunDatasetsProvider, VersionRecord

    policy = load_policy(Path(__file__).resolve().parents[3] / "examples" / "policy.yaml")
    record = VersionRecord(name="m", version="1", source="s3://corp-models/m", stage="None",
                           user_id=None, run_id=TRAIN)
    provider = RunDatasetsProvider(_store({TRAIN: [_input("tx", "1234abcd")]}))
    assert provider.provide(record, policy, {"artifact_class": "base_model"}) == {}
    for intake in ({"artifact_class": "fine_tune"},
                   {"artifact_class": "base_model", "datasets": "[]"}):
        logged = provider.provide(record, policy, intake)["logged_datasets"]
        assert [d.name for d in logged] == ["tx"]
    failing = RunDatasetsProvider(_store({}))
    assert failing.provide(record, policy, {"artifact_class": "fine_tune"}) == {
        "logged_datasets": None}
