"""Start and stop ``mlflow-supplychain server`` as a child process (tests, benchmarks, demo).

:func:`run_server` runs the server on a free loopback port with a policy, a data directory,
an optional backend URI, workers, basic-auth and the scan sidecar; waits until ``/health``
answers; and kills the whole process group when the block ends. A watchdog
(:mod:`mlflow_supplychain.server.watchdog`) kills that group too if the starting process dies
first (a crashed or OOM-killed test worker, a Ctrl-C), so no server outlives its starter.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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

    def admin_auth(self) -> tuple[str, str]:
        """Basic-auth credentials of the admin of a server started with ``auth=True``."""
        from mlflow_supplychain.cli.server_cmd import ADMIN_PASSWORD_FILE

        return ("admin", (self.data_dir / ADMIN_PASSWORD_FILE).read_text().strip())

    def user(self, username: str, password: str) -> tuple[str, str]:
        """Create basic-auth user ``username`` and return its credentials.

        A user that already exists is reused when ``password`` is its password (servers are
        shared between test modules, so a second module may ask for the same user).

        Raises:
            RuntimeError: the server refused, or the user exists with another password.
        """
        import requests

        created = requests.post(f"{self.url}/api/2.0/mlflow/users/create",
                                json={"username": username, "password": password},
                                auth=self.admin_auth(), timeout=30)
        if created.status_code == 200:
            return (username, password)
        if "RESOURCE_ALREADY_EXISTS" not in created.text:
            raise RuntimeError(f"could not create user {username}: {created.status_code} "
                               f"{created.text[:300]}")
        check = requests.get(f"{self.url}/api/2.0/mlflow/users/get",
                             params={"username": username}, auth=(username, password), timeout=30)
        if check.status_code != 200:
            raise RuntimeError(f"user {username} already exists with another password")
        return (username, password)

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


def _start_watchdog(pgid: int) -> int:
    """Start the watchdog of process group ``pgid``; return the pipe end that keeps it waiting
    (close it, or die, and the watchdog stops the group)."""
    read_end, write_end = os.pipe()  # not inheritable (PEP 446): only this process holds it
    try:
        subprocess.Popen(  # noqa: S603 - our own module, no shell
            [sys.executable, "-m", "mlflow_supplychain.server.watchdog", str(pgid)],
            stdin=read_end, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)  # its own session: a Ctrl-C to the tests does not reach it
    except BaseException:
        os.close(write_end)
        raise
    finally:
        os.close(read_end)
    return write_end


def _seed_sqlite_database(target: Path) -> None:
    """Start a new server's SQLite database as a copy of an empty one already migrated to the
    installed MLflow's schema (built once per MLflow version and machine): MLflow's ~50
    migrations cost every new server ~1.7 s. The copy holds tables only; the server still
    checks the schema and creates its default experiment with its own artifact root. Any
    problem building the template leaves the server to migrate the database itself."""
    if target.exists():
        return
    try:
        template = _sqlite_template()
        shutil.copyfile(template, target)
    except Exception:  # noqa: BLE001 - an optimisation only: the server migrates by itself
        target.unlink(missing_ok=True)


def _sqlite_template() -> Path:
    import mlflow
    import sqlalchemy
    from mlflow.store.db.utils import _initialize_tables

    # Our own folder in the shared temp directory: never a database another user planted.
    folder = Path(tempfile.gettempdir()) / f"mlflow-supplychain-db-templates-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    info = folder.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise PermissionError(f"{folder} is not a private directory of this user")
    template = folder / f"mlflow-{mlflow.__version__}.db"
    if template.exists():
        return template
    fd, partial = tempfile.mkstemp(dir=folder, suffix=".partial")
    os.close(fd)
    try:
        engine = sqlalchemy.create_engine(f"sqlite:///{partial}")
        try:
            _initialize_tables(engine)
        finally:
            engine.dispose()
        os.replace(partial, template)  # atomic: concurrent builders each publish a whole file
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
    return template


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
    if backend_store_uri is None:
        _seed_sqlite_database(data_dir / "mlflow.db")
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
    try:
        watchdog = _start_watchdog(process.pid)
    except BaseException:
        _stop(process)
        raise
    server = RunningServer(f"http://127.0.0.1:{port}", process, data_dir, log_path,
                           policy, backend_store_uri, sidecar_url)
    try:
        _wait_healthy(server, timeout, static_prefix)
        if sidecar_url:
            _wait_url(sidecar_url + "/health", server, timeout)
        yield server
    finally:
        _stop(process)
        os.close(watchdog)  # the watchdog then stops any straggler left in the group
