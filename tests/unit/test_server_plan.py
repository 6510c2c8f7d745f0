"""``mlflow-supplychain server`` planning: URIs, secrets, environment (no process started)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from mlflow_supplychain.cli.server_cmd import (
    ServerSetupError,
    normalise_backend_uri,
    plan_server,
)
from mlflow_supplychain.errors import PolicyError

ENFORCE = Path(__file__).parents[1] / "integration" / "policies" / "enforce.yaml"


@pytest.mark.parametrize(("uri", "expected"), [
    ("postgres://u@h/db", "postgresql://u@h/db"),
    ("postgresql+psycopg2://u@h/db", "postgresql+psycopg2://u@h/db"),
    ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
    ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
])
def test_normalise_backend_uri(uri, expected):
    assert normalise_backend_uri(uri) == expected


@pytest.mark.parametrize("uri", ["file:///tmp/mlruns", "/tmp/mlruns", "redis://x"])
def test_non_database_backends_are_refused(uri):
    with pytest.raises(ServerSetupError):
        normalise_backend_uri(uri)


def _plan(tmp_path: Path, **kwargs):
    args = {"policy_file": ENFORCE, "data_dir": tmp_path / "data", "backend_store_uri": None,
            "host": "0.0.0.0", "port": 5005, "workers": 2, "auth": False, "auth_db_uri": None,  # noqa: S104
            "extra": (), "environ": {}}
    return plan_server(**{**args, **kwargs})


def test_plan_generates_secrets_once(tmp_path):
    first = _plan(tmp_path)
    second = _plan(tmp_path)
    key_file = tmp_path / "data" / "webhook-encryption.key"

    assert first.env == second.env
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert first.env["MLFLOW_SUPPLYCHAIN_POLICY"] == str(ENFORCE.resolve())
    argv = first.argv
    assert argv[argv.index("--registry-store-uri") + 1].startswith("supplychain+sqlite:///")
    assert argv[argv.index("--app-name") + 1] == "supplychain"
    assert first.url == "http://127.0.0.1:5005"


def test_plan_respects_operator_secrets_and_auth(tmp_path):
    plan = _plan(tmp_path, auth=True, backend_store_uri="postgresql+psycopg://u@h/db",
                 environ={"MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY": "k"})

    assert "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY" not in plan.env
    assert plan.argv[plan.argv.index("--app-name") + 1] == "supplychain-auth"
    assert "supplychain+postgresql+psycopg://u@h/db" in plan.argv
    assert Path(plan.env["MLFLOW_AUTH_CONFIG_PATH"]).read_text().count("database_uri") == 1
    assert plan.env["MLFLOW_AUTH_ADMIN_PASSWORD"]


def test_plan_refuses_invalid_policy(tmp_path):
    bad = tmp_path / "p.yaml"
    bad.write_text("version: 2\n")
    with pytest.raises(PolicyError):
        _plan(tmp_path, policy_file=bad)


def test_plan_generates_the_attestation_key_pair_once(tmp_path):
    first = _plan(tmp_path)
    second = _plan(tmp_path)
    private = tmp_path / "data" / "attestation-signing.key"

    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert first.env["MLFLOW_SUPPLYCHAIN_ATTESTATION_PUBLIC_KEY"] == str(
        tmp_path / "data" / "attestation-signing.pub")
    assert (tmp_path / "data" / "attestation-signing.pub").read_bytes() and first.env == second.env
    assert first.sidecar_argv == []  # no sidecar unless asked for


def test_plan_with_sidecar(tmp_path):
    plan = _plan(tmp_path, sidecar_port=6001, sidecar_workers=3, queue_url="redis://r:6379/1",
                 auth=True, environ={"MLFLOW_AUTH_ADMIN_PASSWORD": "pw",
                                     "MLFLOW_WEBHOOK_CACHE_TTL": "30"})

    assert plan.env["MLFLOW_WEBHOOK_ALLOWED_SCHEMES"] == "http,https"
    assert plan.env["MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS"] == "true"
    assert "MLFLOW_WEBHOOK_CACHE_TTL" not in plan.env  # the operator's value wins
    argv = plan.sidecar_argv
    assert argv[argv.index("--tracking-uri") + 1] == plan.url
    assert argv[argv.index("--port") + 1] == "6001" and argv[argv.index("--workers") + 1] == "3"
    assert argv[argv.index("--queue") + 1] == "redis://r:6379/1"
    assert "--install-webhooks" in argv and "--exit-with-parent" in argv
    assert plan.sidecar_env == {"MLFLOW_TRACKING_USERNAME": "admin",
                                "MLFLOW_TRACKING_PASSWORD": "pw"}
    assert not any("pw" in a for a in argv)
