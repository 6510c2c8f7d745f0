"""The ML-BOM builder: a document that does not validate is never returned."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mlflow_supplychain.bom import ml_bom
from mlflow_supplychain.bom.ml_bom import AncestorFact, DatasetFact, ModelBomFacts, build_ml_bom
from mlflow_supplychain.errors import IntegrityError

FACTS = ModelBomFacts(
    registry="https://mlflow.example.com", name="fraud", version="3",
    artifact_digest="sha256:" + "a" * 64, files={"model.safetensors": "b" * 64},
    intake={"owner": "risk", "intended_use": "scoring", "license.id": "llama3.1"},
    ancestors=(AncestorFact("models:/base/1", "sha256:" + "c" * 64, "Apache-2.0"),),
    datasets=(DatasetFact("tx", "training", digest="1234abcd", license="CC-BY-4.0"),))


def test_named_model_licenses_and_spdx_ids_both_validate() -> None:
    doc = json.loads(build_ml_bom(FACTS))
    model = next(c for c in doc["components"] if c["type"] == "machine-learning-model")
    assert model["licenses"] == [{"license": {"name": "llama3.1"}}]
    assert model["pedigree"]["ancestors"][0]["licenses"] == [{"license": {"id": "Apache-2.0"}}]


def test_an_invalid_document_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_card(facts: Any, refs: Any) -> dict[str, Any]:
        return {"considerations": {"useCases": "not a list"}}

    monkeypatch.setattr(ml_bom, "_model_card", broken_card)
    with pytest.raises(IntegrityError, match="does not validate"):
        build_ml_bom(FACTS)
