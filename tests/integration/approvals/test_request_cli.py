"""``mlflow-supplychain request ...`` against the real server, credentials from MLflow's env."""

from __future__ import annotations

import json

import pytest

from mlflow_supplychain.cli.main import main
from mlflow_supplychain.errors import ExitCode
from mlflow_supplychain.testing.pytest_plugin import RunningServer

from .conftest import Api, Auth, password, register


def _as(monkeypatch: pytest.MonkeyPatch, server: RunningServer, user: str) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", user)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password(user))


def test_request_lifecycle_through_the_cli(server: RunningServer, api: Api,
                                           users: dict[str, Auth], unique_model_name: str,
                                           monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    version = register(api, users["alice"], unique_model_name)
    _as(monkeypatch, server, "alice")
    rc = main(["request", "create", unique_model_name, version, "--target", "production",
               "--format", "json"])
    out = capsys.readouterr()
    created = json.loads(out.out)
    assert rc == ExitCode.OK  # created; the promotion is not allowed yet, and it says so
    assert "promotion not allowed yet" in out.err and "approval" in out.err
    other = register(api, users["alice"], unique_model_name + "-b")
    assert main(["request", "create", unique_model_name + "-b", other, "--target", "production",
                 "--fail-unless-allowed"]) == ExitCode.DENIED
    rid = str(created["request"]["id"])
    assert main(["request", "approve", rid]) == ExitCode.DENIED  # her own request
    assert "requested this promotion" in capsys.readouterr().err
    _as(monkeypatch, server, "bob")
    assert main(["request", "approve", rid, "--apply", "-m", "checked"]) == ExitCode.OK
    assert "promotion applied" in capsys.readouterr().err
    assert main(["request", "list", "--name", unique_model_name]) == ExitCode.OK
    assert "applied" in capsys.readouterr().out


def test_wrong_password_is_denied_not_a_crash(server: RunningServer,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "bob")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "wrong")
    assert main(["request", "list"]) == ExitCode.DENIED
