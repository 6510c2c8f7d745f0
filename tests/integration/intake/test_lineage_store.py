"""Lineage read straight from MLflow's registry store, as the server-side gate will do it."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.entities.model_registry import ModelVersionTag
from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore

from mlflow_supplychain.intake import lineage_evidence
from mlflow_supplychain.intake.records import TAG_PREFIX
from mlflow_supplychain.policy.evidence import AncestorState

pytestmark = pytest.mark.slow


def test_lineage_evidence_from_a_registry_store(tmp_path: Path) -> None:
    store = SqlAlchemyStore(f"sqlite:///{tmp_path / 'registry.db'}")
    reviewed = {"artifact_class": "base_model", "owner": "ml", "license.id": "gemma",
                "license.outcome": "rejected"}
    derived = {"artifact_class": "fine_tune", "owner": "ml", "license.id": "gemma",
               "license.outcome": "approved", "base_model.uri": "models:/base/1",
               "base_model.digest": "sha256:" + "a" * 64}
    for name, intake in (("base", reviewed), ("ft", derived)):
        store.create_registered_model(name)
        store.create_model_version(name, f"mlflow-artifacts:/{name}", tags=[
            ModelVersionTag(TAG_PREFIX + k, v) for k, v in intake.items()])
    (ancestor,) = lineage_evidence("ft", "1", client=store)
    assert ancestor.uri == "models:/base/1" and ancestor.state is AncestorState.REJECTED
    assert ancestor.license is not None and ancestor.license["license.id"] == "gemma"
