"""Every script in examples/scripts runs against a real governed server (a subprocess each)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from mlflow_supplychain.testing.pytest_plugin import RunningServer, ServerFactory

REPO = Path(__file__).resolve().parents[3]
SCRIPTS = REPO / "examples" / "scripts"
EXAMPLE_POLICY = REPO / "examples" / "policy.yaml"
TESTED = {"register_with_evidence.py", "request_and_approve.py"}


def _run(script: str, *args: str, env: dict[str, str] | None = None
         ) -> subprocess.CompletedProcess[str]:
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING")}
    return subprocess.run([sys.executable, str(SCRIPTS / script), *args], cwd=REPO,
                          env={**child_env, **(env or {})}, capture_output=True, text=True,
                          timeout=120, check=False)


def test_every_script_has_a_test() -> None:
    assert {p.name for p in SCRIPTS.glob("*.py")} == TESTED


def test_register_with_evidence(supplychain_server: RunningServer, unique_model_name: str) -> None:
    done = _run("register_with_evidence.py", "--tracking-uri", supplychain_server.url,
                "--name", unique_model_name)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"registered models:/{unique_model_name}/1 with intake evidence" in done.stdout
    # everything a data scientist can supply is there; the scan attestation is the sidecar's job
    assert "promotion to staging: not yet allowed" in done.stdout
    assert "scan.missing" in done.stdout and "intake." not in done.stdout
    tags = supplychain_server.client().get_model_version(unique_model_name, "1").tags
    assert tags["supplychain.intake.artifact_class"] == "preprocessor"


@pytest.fixture(scope="module")
def auth_server(supplychain_server_factory: ServerFactory) -> RunningServer:
    return supplychain_server_factory(EXAMPLE_POLICY, auth=True)


def _user(server: RunningServer, name: str) -> tuple[str, str]:
    return server.user(name, f"{name}-password-1234")


def test_request_and_approve(auth_server: RunningServer, unique_model_name: str) -> None:
    alice, lead = _user(auth_server, "alice"), _user(auth_server, "ml-lead")
    api = auth_server.url + "/api/2.0/mlflow"
    assert requests.post(f"{api}/registered-models/create", json={"name": unique_model_name},
                         auth=alice, timeout=30).status_code == 200
    created = requests.post(f"{api}/model-versions/create", auth=alice, timeout=30, json={
        "name": unique_model_name, "source": "s3://corp-models/fraud/1"})
    assert created.status_code == 200, created.text

    env = {"MLFLOW_TRACKING_URI": auth_server.url,
           "REQUESTER_USERNAME": alice[0], "REQUESTER_PASSWORD": alice[1],
           "APPROVER_USERNAME": lead[0], "APPROVER_PASSWORD": lead[1]}
    done = _run("request_and_approve.py", unique_model_name, "1", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "status approved" in done.stdout
    assert "still missing before the promotion is allowed" in done.stdout
    assert "approval." not in done.stdout  # the approval itself is no longer missing

    # the requester approving her own request is refused: exit 1, not an error
    env["APPROVER_USERNAME"], env["APPROVER_PASSWORD"] = alice
    refused = _run("request_and_approve.py", unique_model_name, "1", "--target", "champion",
                   env=env)
    assert refused.returncode == 1, refused.stdout + refused.stderr
