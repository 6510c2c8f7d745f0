"""Setting up people on a basic-auth server, as docs/_incoming/newcomer.md tells an admin to:
a data scientist who can log and register models, and an approver from a policy group.

Under MLflow's default READ permission a new user cannot log to the Default experiment (403);
an experiment the admin grants EDIT on (or one the user creates) works, and registering a new
model makes its creator that model's manager.
"""

from __future__ import annotations

import uuid

import pytest
import requests
from mlflow.exceptions import MlflowException

from mlflow_supplychain.cli.main import main
from mlflow_supplychain.errors import ExitCode
from mlflow_supplychain.testing.pytest_plugin import RunningServer

from .conftest import INTAKE, Auth, password


def _as(monkeypatch: pytest.MonkeyPatch, server: RunningServer, auth: Auth) -> None:
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", auth[0])
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", auth[1])
    mlflow.set_tracking_uri(server.url)
    mlflow.set_registry_uri(server.url)


def _grant(server: RunningServer, username: str, resource_type: str, resource_id: str,
           permission: str) -> None:
    """MLflow 3.17's permission API (the admin grants a user a permission on a resource)."""
    answer = requests.post(f"{server.url}/api/3.0/mlflow/users/permissions/grant",
                           json={"username": username, "resource_type": resource_type,
                                 "resource_id": resource_id, "permission": permission},
                           auth=server.admin_auth(), timeout=30)
    assert answer.status_code == 200, answer.text


def test_a_data_scientist_logs_registers_and_an_approver_promotes(
        server: RunningServer, users: dict[str, Auth], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    import mlflow
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    suffix = uuid.uuid4().hex[:8]
    dana = server.user(f"dana-{suffix}", "dana-password-1234")  # the admin creates her
    model_name = f"churn-{suffix}"
    model = LogisticRegression().fit(np.array([[0.0], [1.0], [2.0], [3.0]]), [0, 0, 1, 1])

    _as(monkeypatch, server, dana)
    with pytest.raises(MlflowException, match="Permission denied|PERMISSION_DENIED|403"):
        mlflow.MlflowClient().create_run("0")  # the Default experiment: READ only

    # the admin creates the team's experiment and lets her write to it
    _as(monkeypatch, server, server.admin_auth())
    experiment_id = mlflow.MlflowClient().create_experiment(f"team-churn-{suffix}")
    _grant(server, dana[0], "experiment", experiment_id, "EDIT")

    _as(monkeypatch, server, dana)
    with mlflow.start_run(experiment_id=experiment_id):
        info = mlflow.sklearn.log_model(model, name="model", registered_model_name=model_name,
                                        serialization_format="pickle")
    version = str(info.registered_model_version)
    client = mlflow.MlflowClient()
    for key, value in INTAKE.items():  # she manages the model she registered
        client.set_model_version_tag(model_name, version, key, value)
    assert main(["request", "create", model_name, version, "--target", "production"]) == 0
    request_id = capsys.readouterr().err.split("request ", 1)[1].split(":", 1)[0]

    # erin approves: she is in the policy's identity.groups ml-security (an approver group)
    _as(monkeypatch, server, ("erin", password("erin")))
    assert main(["request", "approve", request_id, "--apply"]) == ExitCode.OK
    assert "promotion applied" in capsys.readouterr().err
    assert client.get_model_version_by_alias(model_name, "production").version == version
