"""The server refuses to start ungoverned; policy reload keeps the last good policy."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import requests
from mlflow.exceptions import MlflowException

from mlflow_supplychain.cli.main import main
from mlflow_supplychain.testing.pytest_plugin import free_port, run_server

from .conftest import AUDIT, ENFORCE
from .helpers import new_version


def _mlflow_server(tmp_path, registry_uri: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    db = f"sqlite:///{tmp_path / 'mlflow.db'}"
    argv = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", db,
            "--registry-store-uri", registry_uri, "--app-name", "supplychain",
            "--host", "127.0.0.1", "--port", str(free_port()), "--workers", "1"]
    child_env = {**os.environ, **env}
    return subprocess.run(argv, env=child_env, capture_output=True, text=True, timeout=120,
                          start_new_session=True, check=False)


def test_app_refuses_an_ungoverned_registry(tmp_path):
    result = _mlflow_server(tmp_path, f"sqlite:///{tmp_path / 'mlflow.db'}",
                            {"MLFLOW_SUPPLYCHAIN_POLICY": str(ENFORCE)})

    assert result.returncode != 0
    assert "registry is not governed" in result.stderr
    assert "supplychain+" in result.stderr


@pytest.mark.parametrize(("value", "expected"), [(None, "is not set"),
                                                  ("policy.yaml", "must be absolute")])
def test_store_refuses_to_start_without_a_policy(tmp_path, monkeypatch, value, expected):
    monkeypatch.delenv("MLFLOW_SUPPLYCHAIN_POLICY", raising=False)
    env = {"MLFLOW_SUPPLYCHAIN_POLICY": value} if value else {}
    result = _mlflow_server(tmp_path, f"supplychain+sqlite:///{tmp_path / 'mlflow.db'}", env)

    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if " INFO " not in line]
    assert len(errors) == 1, result.stderr  # one line, no traceback
    assert "MLFLOW_SUPPLYCHAIN_POLICY" in errors[0] and expected in errors[0]


def test_server_command_refuses_an_invalid_policy(tmp_path, capsys):
    bad = tmp_path / "policy.yaml"
    bad.write_text("version: 1\nmode: enforce\nprotected: {}\n", encoding="utf-8")

    code = main(["server", "--policy", str(bad), "--data-dir", str(tmp_path / "data")])

    assert code == 2
    assert "is invalid" in capsys.readouterr().err


def test_reload_keeps_last_good_policy_and_reports_it(tmp_path):
    policy = tmp_path / "policy.yaml"
    shutil.copy(ENFORCE, policy)
    with run_server(policy, tmp_path / "data") as server:
        client = server.client()
        name = "reload-model"
        version = new_version(client, name)
        status_url = server.url + "/api/2.0/mlflow-supplychain/status"
        good_digest = requests.get(status_url, timeout=10).json()["policy"]["digest"]

        policy.write_text("version: 1\nmode: audit\nprotected: {}\n", encoding="utf-8")
        status = _wait_for(status_url, lambda s: s["policy"]["reload_error"] is not None)

        assert status["policy"]["digest"] == good_digest
        assert "is invalid" in status["policy"]["reload_error"]
        with pytest.raises(MlflowException, match="denied"):
            client.set_registered_model_alias(name, "production", version)
        assert "policy reload failed" in server.log_text()

        shutil.copy(AUDIT, policy)
        status = _wait_for(status_url, lambda s: s["policy"]["mode"] == "audit")
        assert status["policy"]["reload_error"] is None
        client.set_registered_model_alias(name, "production", version)


def _wait_for(url: str, predicate, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status = requests.get(url, timeout=10).json()
        if predicate(status) or time.monotonic() > deadline:
            return status
        time.sleep(0.3)


def test_gunicorn_serves_the_gated_app(tmp_path):
    with run_server(ENFORCE, tmp_path / "data", workers=2,
                    extra_args=("--gunicorn-opts", "--timeout 60")) as server:
        client = server.client()
        version = new_version(client, "gunicorn-model")
        with pytest.raises(MlflowException, match="PERMISSION_DENIED|denied"):
            client.set_registered_model_alias("gunicorn-model", "production", version)
        status = requests.get(server.url + "/ajax-api/2.0/mlflow-supplychain/status",
                              timeout=10).json()
        assert status["store"]["type"] == "SupplyChainRegistryStore"
        assert "gunicorn" in server.log_text().lower()


def test_waitress_serves_the_gated_app(tmp_path):
    pytest.importorskip("waitress")
    with run_server(ENFORCE, tmp_path / "data",
                    extra_args=("--waitress-opts", "--threads=4")) as server:
        client = server.client()
        version = new_version(client, "waitress-model")
        with pytest.raises(MlflowException, match="PERMISSION_DENIED|denied"):
            client.set_registered_model_alias("waitress-model", "production", version)
        assert requests.get(server.url + "/api/2.0/mlflow-supplychain/status",
                            timeout=10).status_code == 200


def test_a_seeded_sqlite_server_skips_migrations_and_owns_its_default_experiment(tmp_path):
    """run_server copies a migrated template database; the server must still be a normal one:
    its own default experiment and artifact root, the template untouched."""
    with run_server(ENFORCE, tmp_path / "first"):
        pass  # builds the template if this machine has none yet
    with run_server(ENFORCE, tmp_path / "second") as server:
        assert "Creating initial MLflow database tables" not in server.log_text()
        client = server.client()
        default = client.get_experiment("0")
        assert default.name == "Default"
        assert str(tmp_path / "first") not in default.artifact_location
        run = client.create_run("0")
        client.log_text(run.info.run_id, "hello", "note.txt")
        assert client.download_artifacts(run.info.run_id, "note.txt", str(tmp_path))
    folder = Path(tempfile.gettempdir()) / f"mlflow-supplychain-db-templates-{os.getuid()}"
    assert folder.stat().st_mode & 0o077 == 0  # private: never a database another user planted
    template = next(folder.glob("mlflow-*.db"))
    with sqlite3.connect(template) as conn:  # tables only: no experiment, no run leaked into it
        assert conn.execute("SELECT COUNT(*) FROM experiments").fetchone() == (0,)
        assert conn.execute("SELECT COUNT(*) FROM runs").fetchone() == (0,)


def test_server_refuses_a_proxy_secret_header_without_the_secret(tmp_path, capsys, monkeypatch):
    from mlflow_supplychain.registry.caller import PROXY_SECRET_ENV_VAR

    from .conftest import POLICIES

    monkeypatch.delenv(PROXY_SECRET_ENV_VAR, raising=False)
    code = main(["server", "--policy", str(POLICIES / "proxy.yaml"),
                 "--data-dir", str(tmp_path / "data")])

    assert code == 2
    assert PROXY_SECRET_ENV_VAR in capsys.readouterr().err
