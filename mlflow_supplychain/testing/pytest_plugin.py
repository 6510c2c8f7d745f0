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
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# Re-exported (``X as X``): part of the plugin's public API, used by projects' own tests.
from mlflow_supplychain.server.launcher import DEFAULT_START_TIMEOUT as DEFAULT_START_TIMEOUT
from mlflow_supplychain.server.launcher import RunningServer as RunningServer
from mlflow_supplychain.server.launcher import free_port as free_port
from mlflow_supplychain.server.launcher import run_server as run_server
from mlflow_supplychain.testing.registration import RegisteredVersion
from mlflow_supplychain.testing.registration import register_model as _register_model

POSTGRES_ENV_VAR = "MLFLOW_SUPPLYCHAIN_TEST_POSTGRES_URI"


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
        # Stop them all at once (each takes ~1.5 s to shut down); the stack then reaps each.
        for running in cache.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(running.process.pid, signal.SIGTERM)


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
