"""pytest plugin (``pytest11`` entry point): real MLflow servers with the gate, for tests.

- :func:`run_server` starts ``mlflow-supplychain server`` as a subprocess on a free loopback
  port with a policy file, a data directory, an optional backend URI, workers and basic-auth;
  waits until ``/health`` answers; and kills the whole process group on exit.
- :func:`postgres_database` creates a fresh, uniquely named PostgreSQL database from an admin
  URI and drops it afterwards; databases left by a test process that died (named with its
  pid) are dropped by the next one. :func:`mysql_database` does the same on MySQL/MariaDB.
- Fixtures: ``supplychain_server`` (session-scoped, SQLite, the policy from the overridable
  ``supplychain_policy_path``), ``supplychain_server_factory`` (session-scoped; servers are
  shared by every test that asks for the same configuration, and at most
  ``MLFLOW_SUPPLYCHAIN_TEST_MAX_SERVERS`` (default 3) stay alive per test process: call the
  factory from module- or function-scoped fixtures, since a server the current test module
  did not ask for may be stopped to make room), ``supplychain_postgres_uri``
  (skips unless ``MLFLOW_SUPPLYCHAIN_TEST_POSTGRES_URI`` is set), ``supplychain_mysql_uri``
  (skips unless ``MLFLOW_SUPPLYCHAIN_TEST_MYSQL_URI`` is set), ``unique_model_name``,
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
MYSQL_ENV_VAR = "MLFLOW_SUPPLYCHAIN_TEST_MYSQL_URI"
MAX_SERVERS_ENV_VAR = "MLFLOW_SUPPLYCHAIN_TEST_MAX_SERVERS"
DEFAULT_MAX_SERVERS = 3
DATABASE_PREFIX = "mlflow_sc_"
# mlflow_sc_<creator pid>_<random>: a database whose creator is gone on this machine is stale.
_DATABASE_NAME = re.compile(rf"^{DATABASE_PREFIX}(\d+)_[0-9a-f]{{12}}$")
_swept: set[str] = set()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def _drop_database(cur: Any, name: str) -> None:
    from psycopg2 import sql  # type: ignore[import-untyped]

    cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
    cur.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


def drop_stale_databases(cur: Any) -> list[str]:
    """Drop the test databases whose creating process is no longer alive on this machine
    (a test process that crashed or was killed never ran its clean-up); return their names."""
    cur.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                (DATABASE_PREFIX + "%",))
    stale = [name for (name,) in cur.fetchall()
             if (m := _DATABASE_NAME.match(name)) and not _pid_alive(int(m.group(1)))]
    for name in stale:
        _drop_database(cur, name)
    return stale


@contextlib.contextmanager
def postgres_database(admin_uri: str) -> Iterator[str]:
    """Create a uniquely named database next to ``admin_uri``'s; yield its URI; drop it.

    The name carries this process's pid; the first call in a process also drops databases
    left behind by test processes that died.
    """
    import psycopg2  # type: ignore[import-untyped]
    from psycopg2 import sql

    name = f"{DATABASE_PREFIX}{os.getpid()}_{uuid.uuid4().hex[:12]}"
    base, _, _ = admin_uri.rpartition("/")
    connect_uri = re.sub(r"^postgresql\+\w+://", "postgresql://", admin_uri)
    conn = psycopg2.connect(connect_uri)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            if connect_uri not in _swept:
                _swept.add(connect_uri)
                drop_stale_databases(cur)
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        yield f"{base}/{name}"
    finally:
        with conn.cursor() as cur:
            _drop_database(cur, name)
        conn.close()


def _mysql_connect(admin_uri: str) -> Any:
    """A PyMySQL connection (autocommit) to the server of a ``mysql[+pymysql]://`` URI."""
    import pymysql
    from sqlalchemy.engine import make_url

    url = make_url(admin_uri)
    if url.get_backend_name() != "mysql":
        raise ValueError(f"not a mysql:// URI: {url.render_as_string(hide_password=True)}")
    return pymysql.connect(host=url.host or "127.0.0.1", port=url.port or 3306,
                           user=url.username or "root", password=url.password or "",
                           autocommit=True, charset="utf8mb4")


def drop_stale_mysql_databases(cur: Any) -> list[str]:
    """:func:`drop_stale_databases` for MySQL/MariaDB."""
    cur.execute("SHOW DATABASES")
    stale = [name for (name,) in cur.fetchall()
             if (m := _DATABASE_NAME.match(name)) and not _pid_alive(int(m.group(1)))]
    for name in stale:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")  # name matched _DATABASE_NAME
    return stale


@contextlib.contextmanager
def mysql_database(admin_uri: str) -> Iterator[str]:
    """:func:`postgres_database` for MySQL/MariaDB (utf8mb4): a fresh database next to
    ``admin_uri``'s, yielded as a ``mysql+pymysql://`` URI, dropped afterwards."""
    from sqlalchemy.engine import make_url

    name = f"{DATABASE_PREFIX}{os.getpid()}_{uuid.uuid4().hex[:12]}"
    conn = _mysql_connect(admin_uri)
    try:
        with conn.cursor() as cur:
            if admin_uri not in _swept:
                _swept.add(admin_uri)
                drop_stale_mysql_databases(cur)
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        url = make_url(admin_uri).set(drivername="mysql+pymysql", database=name)
        yield url.render_as_string(hide_password=False)
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()


@pytest.fixture(scope="session")
def supplychain_mysql_uri() -> str:
    """Admin URI of the test MySQL/MariaDB server; skips when not configured."""
    uri = os.environ.get(MYSQL_ENV_VAR)
    if not uri:
        pytest.skip(f"MySQL/MariaDB tests need {MYSQL_ENV_VAR} "
                    "(e.g. mysql+pymysql://root@127.0.0.1:3306/test)")
    return uri


@pytest.fixture(scope="session")
def supplychain_postgres_uri() -> str:
    """Admin URI of the test PostgreSQL server; skips when not configured."""
    uri = os.environ.get(POSTGRES_ENV_VAR)
    if not uri:
        pytest.skip(f"PostgreSQL tests need {POSTGRES_ENV_VAR} "
                    "(e.g. postgresql://postgres@127.0.0.1:5432/test)")
    return uri


ServerFactory = Callable[..., RunningServer]
_Key = tuple[Any, ...]
_current_module: list[str] = [""]
"""The test module being set up or run (``pytest_runtest_setup``), for the server pool."""


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Note the module before its fixtures are set up (the server pool's eviction uses it)."""
    _current_module[0] = str(item.path)


class ServerPool:
    """Servers shared per configuration, at most ``limit`` alive at once.

    Starting a server beyond the limit first stops the least recently requested one that the
    current test module has not asked for (a module only holds the servers it asked for, as
    long as fixtures that call the pool are module- or function-scoped). Asking again for a
    stopped configuration starts it afresh. ``pin`` exempts a server held by a session-scoped
    fixture.
    """

    def __init__(self, tmp_path_factory: pytest.TempPathFactory, limit: int,
                 launch: Callable[..., contextlib.AbstractContextManager[RunningServer]]
                 = run_server) -> None:
        self._tmp = tmp_path_factory
        self._launch = launch
        self._limit = max(limit, 1)
        self._live: dict[_Key, tuple[RunningServer, contextlib.ExitStack]] = {}
        self._last_module: dict[_Key, str] = {}
        self._pinned: set[_Key] = set()
        self.started = 0
        self.peak = 0

    def __call__(self, policy: Path, *, postgres_uri: str | None = None, workers: int = 1,
                 auth: bool = False, env: dict[str, str] | None = None,
                 sidecar: bool = False, mysql_uri: str | None = None) -> RunningServer:
        key = (str(policy), postgres_uri, workers, auth, tuple(sorted((env or {}).items())),
               sidecar, mysql_uri)
        self._last_module[key] = _current_module[0]
        if key in self._live:
            self._live[key] = self._live.pop(key)  # most recently used last
            return self._live[key][0]
        self._make_room()
        stack = contextlib.ExitStack()
        try:
            backend = (stack.enter_context(postgres_database(postgres_uri)) if postgres_uri
                       else stack.enter_context(mysql_database(mysql_uri)) if mysql_uri
                       else None)
            data_dir = self._tmp.mktemp("mlflow-supplychain-server")
            server = stack.enter_context(self._launch(
                policy, data_dir, backend_store_uri=backend, workers=workers, auth=auth,
                env=env, sidecar=sidecar))
        except BaseException:
            stack.close()
            raise
        self._live[key] = (server, stack)
        self.started += 1
        self.peak = max(self.peak, len(self._live))
        return server

    def pin(self, server: RunningServer) -> None:
        """Never stop ``server`` before the session ends."""
        self._pinned.update(k for k, (s, _) in self._live.items() if s is server)

    def _make_room(self) -> None:
        for key in list(self._live):  # least recently used first
            if len(self._live) < self._limit:
                return
            if key in self._pinned or self._last_module.get(key) == _current_module[0]:
                continue
            self._live.pop(key)[1].close()

    def close(self) -> None:
        """Stop every server: all at once (each takes ~1.5 s to shut down), then reap each."""
        for server, _ in self._live.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.process.pid, signal.SIGTERM)
        while self._live:
            self._live.popitem()[1][1].close()


@pytest.fixture(scope="session")
def supplychain_server_factory(tmp_path_factory: pytest.TempPathFactory
                               ) -> Iterator[ServerFactory]:
    """Start (or reuse) a server: ``factory(policy_path, *, postgres_uri=None, workers=1,
    auth=False, env=None, sidecar=False, mysql_uri=None)`` (``sidecar=True``: with the scan
    sidecar; ``mysql_uri``: on a fresh MySQL/MariaDB database instead of PostgreSQL).
    Servers with the same arguments are shared; at most ``MLFLOW_SUPPLYCHAIN_TEST_MAX_SERVERS``
    (default 3) are alive at once, so call it from module- or function-scoped fixtures."""
    pool = ServerPool(tmp_path_factory,
                      int(os.environ.get(MAX_SERVERS_ENV_VAR) or DEFAULT_MAX_SERVERS))
    try:
        yield pool
    finally:
        pool.close()


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
    server = supplychain_server_factory(supplychain_policy_path)
    if isinstance(supplychain_server_factory, ServerPool):
        supplychain_server_factory.pin(server)  # held for the whole session
    return server


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
