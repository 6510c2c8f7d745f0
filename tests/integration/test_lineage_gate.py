"""The gate reads lineage itself: an adapter on a flagged base cannot be promoted."""

from __future__ import annotations

from pathlib import Path

import requests

from mlflow_supplychain.testing.pytest_plugin import RunningServer, ServerFactory

from .helpers import new_version
from .sidecar.attestation_helpers import make_payload, submit

POLICY = Path(__file__).parent / "policies" / "lineage.yaml"
LICENSE = {"supplychain.intake.license.id": "Apache-2.0",
           "supplychain.intake.license.outcome": "approved"}


def _evaluate(server: RunningServer, name: str, version: str) -> dict[str, object]:
    response = requests.get(f"{server.url}/api/2.0/mlflow-supplychain/evaluate",
                            params={"name": name, "version": version, "target": "production"},
                            timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["decision"]


def test_promotion_checks_the_registered_ancestors(supplychain_server_factory: ServerFactory,
                                                   unique_model_name: str) -> None:
    server = supplychain_server_factory(POLICY)
    client = server.client()
    base = f"{unique_model_name}-base"
    adapter = f"{unique_model_name}-adapter"
    new_version(client, base, {"supplychain.intake.artifact_class": "base_model", **LICENSE})
    new_version(client, adapter, {"supplychain.intake.artifact_class": "adapter", **LICENSE,
                                  "supplychain.intake.base_model.uri": f"models:/{base}/1"})
    assert _evaluate(server, adapter, "1")["allowed"] is True

    flagged = make_payload(server, base, "1", verdict="prohibited",
                           findings=["model.pkl: imports posix.system"])
    assert submit(server, flagged).status_code == 200
    decision = _evaluate(server, adapter, "1")
    assert [v["code"] for v in decision["violations"]] == ["lineage.flagged"]
    assert f"models:/{base}/1" in decision["violations"][0]["message"]
    denied = requests.post(f"{server.url}/api/2.0/mlflow/registered-models/alias",
                           json={"name": adapter, "alias": "production", "version": "1"},
                           timeout=30)
    assert denied.status_code == 403 and "lineage.flagged" in denied.json()["message"]


def test_license_more_permissive_than_its_base_is_denied(supplychain_server_factory: ServerFactory,
                                                         unique_model_name: str) -> None:
    server = supplychain_server_factory(POLICY)
    client = server.client()
    base = f"{unique_model_name}-base"
    tune = f"{unique_model_name}-tune"
    new_version(client, base, {"supplychain.intake.artifact_class": "base_model", **LICENSE,
                               "supplychain.intake.license.commercial_use": "false"})
    new_version(client, tune, {"supplychain.intake.artifact_class": "fine_tune", **LICENSE,
                               "supplychain.intake.license.commercial_use": "true",
                               "supplychain.intake.base_model.uri": f"models:/{base}/1"})
    codes = [v["code"] for v in _evaluate(server, tune, "1")["violations"]]
    assert codes == ["license.more_permissive_than_base"]
