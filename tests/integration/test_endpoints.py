"""Our REST endpoints and the live form of ``gate check``."""

from __future__ import annotations

import mlflow
import pytest

import mlflow_supplychain
from mlflow_supplychain.cli.main import main
from mlflow_supplychain.client import SupplyChainClient

from .helpers import COMPLIANT_INTAKE, ROOTS, call, new_version


@pytest.mark.parametrize("root", ROOTS)
def test_evaluate_returns_the_decision_without_promoting(gate_server, root, unique_model_name):
    client = gate_server.client()
    version = new_version(client, unique_model_name)
    params = {"name": unique_model_name, "version": version, "target": "production"}

    response = call(gate_server.url, root, "GET", "mlflow-supplychain/evaluate", params=params)

    assert response.status_code == 200, response.text
    decision = response.json()["decision"]
    assert decision["allowed"] is False and decision["profile"] == "prod"
    assert {v["code"] for v in decision["violations"]} >= {"intake.missing"}
    assert client.get_registered_model(unique_model_name).aliases == {}
    stage = call(gate_server.url, root, "POST", "mlflow-supplychain/evaluate",
                 body={**params, "target": "stage:Staging"})
    assert stage.json()["decision"]["profile"] == "scanned"


def test_evaluate_errors_are_4xx(gate_server):
    url = gate_server.url
    missing = call(url, "/api/2.0", "GET", "mlflow-supplychain/evaluate", params={"name": "x"})
    assert missing.status_code == 400
    unknown = call(url, "/api/2.0", "GET", "mlflow-supplychain/evaluate",
                   params={"name": "no-such-model", "version": "1", "target": "production"})
    assert unknown.status_code == 404


@pytest.mark.parametrize("root", ROOTS)
def test_status_reports_policy_versions_and_store(gate_server, root):
    status = call(gate_server.url, root, "GET", "mlflow-supplychain/status").json()

    assert status["policy"]["mode"] == "enforce"
    assert status["policy"]["digest"].startswith("sha256:")
    assert status["policy"]["reload_error"] is None
    assert status["plugin_version"] == mlflow_supplychain.__version__
    assert status["mlflow_version"] == mlflow.__version__
    assert status["store"] == {"type": "SupplyChainRegistryStore", "database": "sqlite"}
    assert status["auth"] is False


def test_gate_check_live_exit_codes(gate_server, unique_model_name, capsys):
    client = gate_server.client()
    bare = new_version(client, unique_model_name)
    good = new_version(client, unique_model_name, COMPLIANT_INTAKE)
    base = ["--target", "production", "--tracking-uri", gate_server.url]

    assert main(["gate", "check", unique_model_name, bare, *base]) == 1
    assert main(["gate", "check", unique_model_name, good, *base, "--format", "json"]) == 0
    assert '"allowed": true' in capsys.readouterr().out
    assert main(["gate", "check", "no-such-model", "1", *base]) == 2
    assert main(["gate", "check", unique_model_name, good, "--target", "production",
                 "--tracking-uri", "http://127.0.0.1:9"]) == 2


def test_client_status_and_the_starter_policy_server(supplychain_server, unique_model_name):
    status = SupplyChainClient(supplychain_server.url).status()
    assert status["policy"]["path"].endswith("starter.yaml")
    client = supplychain_server.client()
    version = new_version(client, unique_model_name, COMPLIANT_INTAKE)
    decision = SupplyChainClient(supplychain_server.url).evaluate(
        unique_model_name, version, "production")
    assert not decision.allowed and decision.profile is not None
