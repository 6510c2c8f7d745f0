"""pytest plugin (``pytest11`` entry point): real MLflow servers with the gate, for tests.

- :func:`run_server` starts ``mlflow-supplychain server`` as a subprocess on a free loopback
  port with a policy file, a data directory, an optional backend URI, workers and basic-auth;
  waits until ``/health`` answers; and kills the whole process group on exit.
- :func:`postgres_database` creates a fresh, uniquely named PostgreSQL database from an admin
  URI and drops it afterwards.
- Fixtures: ``supplychain_server`` (session-scoped, SQLite, the policy from the overridable
  ``supplychain_policy_path``), ``supplychain_server_factory`` (session-scoped; servers are
  shared by every test that asks for the same configuration), ``supplychain_postgres_uri``
  (skips unless ``MLFLOW_SUPPLYCHAIN_TEST_POSTGRES_URI`` is set), ``unique_model_name``,
  ``supplychain_client`` (an ``MlflowClient`` for ``supplychain_server``) and ``register_model``
  (``register_model(name, *, evidence)`` creates a version on ``supplychain_server`` with or
  without the evidence the policy needs; see :mod:`mlflow_supplychain.testing.registration`).

Importing this module imports neither MLflow nor a database driver: projects that install
the package but never use these fixtures pay nothing.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mlflow_supplychain.testing.registration import RegisteredVersion
from mlflow_supplychain.testing.registration import register_model as _register_model

POSTGRES_ENV_VAR = "MLFLOW_SUPPLYCHAIN_TEST_POSTGRES_URI"
DEFAULT_START_TIMEOUT = 120.0


@dataclass
class RunningServer:
    """A live server started by :func:`run_server`."""

    url: str
    process: subprocess.Popen[bytes]
    data_dir: Path
    log_path: Path
    policy_path: Path
    backend_store_uri: str | None
    sidecar_url: str | None = None
    """``http://127.0.0.1:PORT`` of the scan sidecar, when started with ``sidecar=True``."""

    def client(self) -> Any:
        """An ``MlflowClient`` for this server."""
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.url, registry_uri=self.url)

    def log_text(self) -> str:
        """Everything the server wrote to stdout/stderr so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(server: RunningServer, timeout: float, static_prefix: str = "") -> None:
    _wait_url(server.url + static_prefix + "/health", server, timeout)


def _wait_url(url: str, server: RunningServer, timeout: float) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited with {server.process.returncode}:\n"
                               + server.log_text()[-4000:])
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"server not healthy after {timeout}s:\n" + server.log_text()[-4000:])


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)


@contextlib.contextmanager
def run_server(policy: Path, data_dir: Path, *, backend_store_uri: str | None = None,
               workers: int = 1, auth: bool = False, env: dict[str, str] | None = None,
               extra_args: tuple[str, ...] = (), sidecar: bool = False,
               static_prefix: str = "",
               timeout: float = DEFAULT_START_TIMEOUT) -> Iterator[RunningServer]:
    """Run ``mlflow-supplychain server`` until the block ends (``static_prefix``: MLflow's
    ``--static-prefix``, e.g. ``/mlflow``; ``server.url`` stays the bare origin).

    Raises:
        RuntimeError: the server exited or did not become healthy in time (with its log).
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    argv = [sys.executable, "-m", "mlflow_supplychain", "server", "--policy", str(policy),
            "--data-dir", str(data_dir), "--host", "127.0.0.1", "--port", str(port),
            "--workers", str(workers)]
    if backend_store_uri:
        argv += ["--backend-store-uri", backend_store_uri]
    if auth:
        argv.append("--auth")
    sidecar_url = None
    if sidecar:
        sidecar_port = free_port()
        argv += ["--sidecar-port", str(sidecar_port)]
        sidecar_url = f"http://127.0.0.1:{sidecar_port}"
    else:
        argv.append("--no-sidecar")
    if extra_args or static_prefix:
        argv += ["--", *extra_args, *(("--static-prefix", static_prefix) if static_prefix
                                      else ())]
    log_path = data_dir / "server.log"
    # MLflow's job runner spawns several huey consumers per server; tests do not need it and
    # on a small CI machine they compete for CPU with the server under test.
    child_env = {**os.environ, "MLFLOW_SUPPLYCHAIN_POLICY_RELOAD_SECONDS": "0.5",
                 "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **(env or {})}
    child_env.pop("MLFLOW_TRACKING_URI", None)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=child_env,
                                   start_new_session=True)
    server = RunningServer(f"http://127.0.0.1:{port}", process, data_dir, log_path,
                           policy, backend_store_uri, sidecar_url)
    try:
        _wait_healthy(server, timeout, static_prefix)
        if sidecar_url:
            _wait_url(sidecar_url + "/health", server, timeout)
        yield server
    finally:
        _stop(process)


@contextlib.contextmanager
def postgres_database(admin_uri: str) -> Iterator[str]:
    """Create a uniquely named database next to ``admin_uri``'s; yield its URI; drop it."""
    import psycopg2  # type: ignore[import-untyped]
    from psycopg2 import sql  # type: ignore[import-untyped]

    name = "mlflow_sc_" + uuid.uuid4().hex[:12]
    base, _, _ = admin_uri.rpartition("/")
    connect_uri = re.sub(r"^postgresql\+\w+://", "postgresql://", admin_uri)
    conn = psycopg2.connect(connect_uri)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        yield f"{base}/{name}"
    finally:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        conn.close()


@pytest.fixture(scope="session")
def supplychain_postgres_uri() -> str:
    """Admin URI of the test PostgreSQL server; skips when not configured."""
    uri = os.environ.get(POSTGRES_ENV_VAR)
    if not uri:
        pytest.skip(f"PostgreSQL tests need {POSTGRES_ENV_VAR} "
                    "(e.g. postgresql://postgres@127.0.0.1:5432/test)")
    return uri


ServerFactory = Callable[..., RunningServer]


@pytest.fixture(scope="session")
def supplychain_server_factory(tmp_path_factory: pytest.TempPathFactory
                               ) -> Iterator[ServerFactory]:
    """Start (or reuse) a server: ``factory(policy_path, *, postgres_uri=None, workers=1,
    auth=False, env=None, sidecar=False)`` (``sidecar=True``: with the scan sidecar).
    Servers with the same arguments are shared for the session."""
    stack = contextlib.ExitStack()
    cache: dict[tuple[Any, ...], RunningServer] = {}

    def start(policy: Path, *, postgres_uri: str | None = None, workers: int = 1,
              auth: bool = False, env: dict[str, str] | None = None,
              sidecar: bool = False) -> RunningServer:
        key = (str(policy), postgres_uri, workers, auth, tuple(sorted((env or {}).items())),
               sidecar)
        if key not in cache:
            backend = stack.enter_context(postgres_database(postgres_uri)) if postgres_uri \
                else None
            data_dir = tmp_path_factory.mktemp("mlflow-supplychain-server")
            cache[key] = stack.enter_context(run_server(
                policy, data_dir, backend_store_uri=backend, workers=workers, auth=auth,
                env=env, sidecar=sidecar))
        return cache[key]

    with stack:
        yield start


@pytest.fixture(scope="session")
def supplychain_policy_path() -> Path:
    """The policy ``supplychain_server`` enforces: the packaged starter policy.

    Override this fixture (session scope) in your ``conftest.py`` to test your own policy.
    """
    from importlib import resources

    return Path(str(resources.files("mlflow_supplychain.policy").joinpath("starter.yaml")))


@pytest.fixture(scope="session")
def supplychain_server(supplychain_server_factory: ServerFactory,
                       supplychain_policy_path: Path) -> RunningServer:
    """The common case: one SQLite server, one worker, ``supplychain_policy_path``."""
    return supplychain_server_factory(supplychain_policy_path)


@pytest.fixture
def unique_model_name(request: pytest.FixtureRequest) -> str:
    """A registered-model name no other test uses (safe on a shared server)."""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", request.node.name)[:40].strip("-")
    return f"{stem}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def supplychain_client(supplychain_server: RunningServer) -> Any:
    """An ``MlflowClient`` (tracking and registry) for ``supplychain_server``."""
    return supplychain_server.client()


RegisterModel = Callable[..., RegisteredVersion]


@pytest.fixture
def register_model(supplychain_server: RunningServer) -> RegisterModel:
    """``register_model(name, *, evidence)``: a new version of ``name`` on ``supplychain_server``.

    ``evidence=True`` adds a complete intake record and a signed scan attestation of the real
    files (everything except human approval); ``evidence=False`` registers the bare version.
    Returns a :class:`~mlflow_supplychain.testing.registration.RegisteredVersion`.
    """

    def register(name: str, *, evidence: bool) -> RegisteredVersion:
        return _register_model(supplychain_server, name, evidence=evidence)

    return register
