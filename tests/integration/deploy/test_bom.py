"""ML-BOM export against a real governed server: hashes from the verified attestation, the
model card from the intake record, pedigree along the lineage, data sets from logged inputs;
the document validates against the official CycloneDX 1.6 schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from mlflow import MlflowClient

from mlflow_supplychain.errors import ExitCode
from mlflow_supplychain.testing.pytest_plugin import RunningServer

from .conftest import attest, cli, sklearn_version


def _version_with_dataset(name: str) -> str:
    import mlflow
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    features = np.array([[0.0], [1.0], [2.0], [3.0]])
    model = LogisticRegression().fit(features, [0, 0, 1, 1])
    with mlflow.start_run():
        mlflow.log_input(mlflow.data.from_numpy(features, name="transactions-2026q1"),
                         context="training")
        info = mlflow.sklearn.log_model(model, name="model", registered_model_name=name,
                                        serialization_format="pickle")
    return str(info.registered_model_version)


@pytest.mark.slow
def test_bom_of_a_fine_tune_validates_and_states_the_evidence(
        tracking: RunningServer, unique_model_name: str, tmp_path: Path) -> None:
    client = MlflowClient(tracking.url, tracking.url)
    base_name = unique_model_name + "-base"
    base = attest(tracking, base_name, sklearn_version(base_name))
    client.set_model_version_tag(base_name, base.version, "supplychain.intake.license.id",
                                 "Apache-2.0")
    tune = attest(tracking, unique_model_name, _version_with_dataset(unique_model_name))
    for key, value in {"intended_use": "fraud scoring for card payments",
                       "limitations": "not for lending decisions",
                       "license.id": "Apache-2.0",
                       "base_model.uri": f"models:/{base_name}/{base.version}",
                       "base_model.digest": base.digest}.items():
        client.set_model_version_tag(unique_model_name, tune.version,
                                     f"supplychain.intake.{key}", value)

    out = tmp_path / "bom.json"
    code, _, err = cli("bom", f"models:/{unique_model_name}/{tune.version}", "-o", str(out),
                       "--tracking-uri", tracking.url)
    assert code == ExitCode.OK, err
    text = out.read_text()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    doc = json.loads(text)
    assert doc["specVersion"] == "1.6"
    model = next(c for c in doc["components"] if c["type"] == "machine-learning-model")
    assert model["purl"].startswith(f"pkg:mlflow/{unique_model_name}@{tune.version}")
    files = {f["name"]: f["hashes"][0]["content"] for f in model["components"]}
    assert files == tune.files
    assert model["authors"] == [{"name": "ml-platform@example.com"}]
    assert model["licenses"] == [{"license": {"id": "Apache-2.0"}}]
    card = model["modelCard"]
    assert card["considerations"] == {"useCases": ["fraud scoring for card payments"],
                                      "technicalLimitations": ["not for lending decisions"]}
    [ancestor] = model["pedigree"]["ancestors"]
    assert (ancestor["name"], ancestor["version"]) == (base_name, base.version)
    assert {"name": "mlflow-supplychain:digest", "value": base.digest} in ancestor["properties"]
    datasets = [c for c in doc["components"] if c["type"] == "data"]
    assert [d["name"] for d in datasets] == ["transactions-2026q1"]
    assert card["modelParameters"]["datasets"] == [{"ref": datasets[0]["bom-ref"]}]
    assert {"name": "mlflow-supplychain:context", "value": "training"} in datasets[0]["properties"]

    # the REST endpoint serves the same evidence, built in the server from its own stores
    served = requests.get(f"{tracking.url}/api/2.0/mlflow-supplychain/bom",
                          params={"name": unique_model_name, "version": tune.version}, timeout=60)
    assert served.status_code == 200, served.text
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(served.text) is None
    rest = json.loads(served.text)
    rest_model = next(c for c in rest["components"] if c["type"] == "machine-learning-model")
    assert {f["name"]: f["hashes"][0]["content"] for f in rest_model["components"]} == tune.files
    assert rest_model["pedigree"] == model["pedigree"]
    assert [c["name"] for c in rest["components"] if c["type"] == "data"] == [
        "transactions-2026q1"]


def test_bom_without_a_verified_attestation_is_refused(tracking: RunningServer,
                                                      unique_model_name: str) -> None:
    version = sklearn_version(unique_model_name)
    code, _, err = cli("bom", f"models:/{unique_model_name}/{version}",
                       "--tracking-uri", tracking.url)
    assert code == ExitCode.DENIED
    assert "attestation" in err.lower()
    served = requests.get(f"{tracking.url}/api/2.0/mlflow-supplychain/bom",
                          params={"name": unique_model_name, "version": version}, timeout=60)
    assert served.status_code == 404 and "attestation" in served.text


def test_bom_refuses_a_mutable_reference(tracking: RunningServer) -> None:
    code, _, err = cli("bom", "models:/anything/latest", "--tracking-uri", tracking.url)
    assert code == ExitCode.DENIED and "latest" in err
