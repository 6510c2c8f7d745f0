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


def test_record_and_logged_datasets_are_merged_without_duplicates() -> None:
    from mlflow_supplychain.bom.datasets import merge_datasets
    from mlflow_supplychain.intake.dataset_links import LoggedDataset
    from mlflow_supplychain.intake.datasets import DatasetContext, DatasetEntry

    sha = "d" * 64
    recorded = (
        DatasetEntry(name="tickets", context=DatasetContext.FINE_TUNING, digest="9a7c5e3b",
                     license="CC-BY-4.0", source="s3://data/tickets"),
        DatasetEntry(name="corpus", context=DatasetContext.TRAINING, digest=sha,
                     license="MIT", source="https://data.example.com/corpus"),
        DatasetEntry(name="unlogged", context=DatasetContext.EVALUATION, digest="0badf00d",
                     license="LicenseRef-internal"),
    )

    def logged(name: str, digest: str, role: str = "training") -> LoggedDataset:
        return LoggedDataset(name=name, digest=digest, context=None, run_id="e" * 32,
                             run_role=role, source='local:{"uri": "/data"}')  # type: ignore[arg-type]

    runs = (logged("tickets", "9a7c5e3b"), logged("tickets", "9a7c5e3b", "evaluation"),
            logged("corpus", "c0ffee00"), logged("scraped", "5ca1ab1e"),
            logged("scraped", "5ca1ab1e", "evaluation"))
    facts = merge_datasets(recorded, runs)
    assert [(f.name, f.digest) for f in facts] == [
        ("tickets", "9a7c5e3b"), ("corpus", sha), ("unlogged", "0badf00d"),
        ("scraped", "5ca1ab1e")]
    assert facts[1].logged_digest == "c0ffee00" and facts[1].license == "MIT"
    assert facts[3].license is None and facts[3].run_id == "e" * 32

    doc = json.loads(build_ml_bom(ModelBomFacts(**{**FACTS.__dict__, "datasets": facts})))
    data = {c["name"]: c for c in doc["components"] if c["type"] == "data"}
    assert sorted(data) == ["corpus", "scraped", "tickets", "unlogged"]
    assert data["corpus"]["hashes"] == [{"alg": "SHA-256", "content": sha}]
    assert data["corpus"]["externalReferences"] == [
        {"type": "distribution", "url": "https://data.example.com/corpus"}]
    assert data["tickets"]["licenses"] == [{"license": {"id": "CC-BY-4.0"}}]
    props = {p["name"]: p["value"] for p in data["scraped"]["properties"]}
    assert props["mlflow-supplychain:digest"] == "5ca1ab1e"
    assert props["mlflow-supplychain:source"].startswith("local:")
    model = next(c for c in doc["components"] if c["type"] == "machine-learning-model")
    assert len(model["modelCard"]["modelParameters"]["datasets"]) == 4
