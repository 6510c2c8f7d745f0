"""``mlflow-supplychain server`` checks before it starts anything: one line, exit 2."""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

import pytest

from mlflow_supplychain.cli.main import main
from mlflow_supplychain.cli.server_prerequisites import (
    ServerSetupError,
    require_free_port,
    resolve_database_driver,
)

ENFORCE = Path(__file__).parents[2] / "integration" / "policies" / "enforce.yaml"


def _free_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return str(sock.getsockname()[1])


@pytest.fixture
def busy_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def _missing(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    """Make ``import module`` fail as if the package were not installed."""
    for module in modules:
        monkeypatch.setitem(sys.modules, module, None)


def _server(tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["server", "--policy", str(ENFORCE), "--data-dir", str(tmp_path / "data"),
                 *args])
    return code, capsys.readouterr().err


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "internal error" not in err and "Traceback" not in err
    return lines[0]


def test_a_busy_port_fails_at_once_with_one_line(tmp_path, capsys, busy_port):
    start = time.monotonic()
    code, err = _server(tmp_path, capsys, "--port", str(busy_port))

    assert code == 2
    assert f"port {busy_port}" in _one_line(err) and "in use" in err and "--port" in err
    assert time.monotonic() - start < 10
    assert not (tmp_path / "data").exists(), "nothing is prepared before the checks pass"


def test_a_busy_sidecar_port_fails_at_once(tmp_path, capsys, busy_port):
    code, err = _server(tmp_path, capsys, "--port", _free_port(),
                        "--sidecar-port", str(busy_port))

    assert code == 2
    assert "--sidecar-port" in _one_line(err) and "in use" in err


def test_the_sidecar_cannot_share_the_server_port(tmp_path, capsys):
    port = _free_port()
    code, err = _server(tmp_path, capsys, "--port", port, "--sidecar-port", port)

    assert code == 2
    assert "--sidecar-port" in _one_line(err)


def test_require_free_port_passes_a_free_port():
    require_free_port("127.0.0.1", int(_free_port()), "--port")


def test_auth_without_flask_wtf_names_the_extra(tmp_path, capsys, monkeypatch):
    _missing(monkeypatch, "flask_wtf")
    code, err = _server(tmp_path, capsys, "--auth", "--no-sidecar", "--port", _free_port())

    assert code == 2
    assert "mlflow-supplychain[auth]" in _one_line(err)


def test_the_default_install_has_what_auth_needs():
    """Approvals need identity: basic-auth is part of the default install (setup.cfg)."""
    import configparser

    config = configparser.ConfigParser()
    config.read(Path(__file__).parents[3] / "setup.cfg")
    requires = config["options"]["install_requires"].split()
    assert any(r.startswith("mlflow[auth]") for r in requires), requires


@pytest.mark.parametrize("uri", ["postgresql://u@h/db", "postgres://u@h/db"])
def test_a_bare_postgres_uri_keeps_sqlalchemys_driver_when_installed(uri):
    from mlflow_supplychain.cli.server_cmd import normalise_backend_uri

    pytest.importorskip("psycopg")
    assert resolve_database_driver(normalise_backend_uri(uri)) == "postgresql://u@h/db"


def test_a_bare_postgres_uri_uses_the_driver_that_is_installed(monkeypatch):
    pytest.importorskip("psycopg2")
    _missing(monkeypatch, "psycopg")

    assert resolve_database_driver("postgresql://u@h/db") == "postgresql+psycopg2://u@h/db"


def test_no_postgres_driver_names_the_extra(tmp_path, capsys, monkeypatch):
    _missing(monkeypatch, "psycopg", "psycopg2")
    with pytest.raises(ServerSetupError, match=r"mlflow-supplychain\[postgres\]"):
        resolve_database_driver("postgresql://u@h/db")

    code, err = _server(tmp_path, capsys, "--backend-store-uri", "postgresql://u@h/db",
                        "--no-sidecar", "--port", _free_port())
    assert code == 2
    assert "mlflow-supplychain[postgres]" in _one_line(err)


@pytest.mark.parametrize(("uri", "module"), [("postgresql+psycopg://u@h/db", "psycopg"),
                                             ("postgresql+psycopg2://u@h/db", "psycopg2"),
                                             ("mysql+pymysql://u@h/db", "pymysql")])
def test_a_named_driver_that_is_missing_is_named(monkeypatch, uri, module):
    _missing(monkeypatch, module)
    with pytest.raises(ServerSetupError, match=module):
        resolve_database_driver(uri)


def test_sqlite_needs_no_driver():
    assert resolve_database_driver("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"


def test_a_redis_queue_without_the_package_names_the_extra(tmp_path, capsys, monkeypatch):
    _missing(monkeypatch, "redis")
    code, err = _server(tmp_path, capsys, "--queue", "redis://127.0.0.1:6379/0",
                        "--port", _free_port(), "--sidecar-port", _free_port())
    assert code == 2
    assert "mlflow-supplychain[redis]" in _one_line(err)


def test_the_auth_database_needs_a_driver_too(tmp_path, capsys, monkeypatch):
    _missing(monkeypatch, "psycopg", "psycopg2")
    code, err = _server(tmp_path, capsys, "--auth", "--auth-database-uri",
                        "postgresql://u@h/auth", "--no-sidecar", "--port", _free_port())
    assert code == 2
    assert "--auth-database-uri" in _one_line(err) and "[postgres]" in err
