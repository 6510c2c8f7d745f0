"""A scale-out deployment on one machine, started for real: the topology users run on several.

::

                        nginx (one port)
                 /            |              \\
     mlflow-supplychain   mlflow-supplychain   /sidecar/ -> scan sidecars (N)
     server 1 (W workers) server 2 (W workers)        |
                 \\            |                      Redis (shared scan queue)
            PostgreSQL (registry, our tables) + PostgreSQL (basic-auth users)
                              |
              S3-compatible artifact store (--artifacts-destination s3://...)

Every server and sidecar gets the same secrets (webhook encryption key, Flask secret, the
attestation key pair, the webhook HMAC secret), as they would from a secret store; nothing is
kept per process, so any server can answer any call and killing one loses nothing. Sidecars
talk to MLflow through the load balancer and share one Redis queue; one webhook is installed,
pointing at the sidecars behind the load balancer.

The S3 endpoint is whatever ``s3_endpoint`` names. On machines where MinIO cannot be installed,
the tests use moto's standalone S3 server (:func:`s3_server`), through the same boto3 code
paths that MinIO, AWS S3 or GCS interop take; nothing in the product special-cases it.

Everything started here runs in its own process group, is asked to die with this process
(``PR_SET_PDEATHSIG`` on Linux) and is stopped when the block ends.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from mlflow_supplychain.parent_death import set_parent_death_signal
from mlflow_supplychain.server.launcher import RunningServer, free_port, run_server

S3_ACCESS_KEY = "supplychain-test"
S3_SECRET_KEY = "supplychain-test-secret"  # noqa: S105 - a throwaway key for a loopback server
_SHARED_SECRET_FILES = ("webhook-encryption.key", "flask-secret.key", "admin-password",
                        "attestation-signing.key", "attestation-signing.pub",
                        "webhook-hmac.secret")


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    os.setsid()
    set_parent_death_signal()


def spawn(argv: list[str], *, log: Path, env: dict[str, str] | None = None,
          cwd: Path | None = None) -> subprocess.Popen[bytes]:
    """Start ``argv`` in its own session, logging to ``log``; it dies with this process."""
    handle = log.open("ab")
    try:
        return subprocess.Popen(argv, stdout=handle, stderr=subprocess.STDOUT,  # noqa: S603
                                env={**os.environ, **(env or {})}, cwd=cwd,
                                preexec_fn=_die_with_parent)  # noqa: PLW1509 - setsid+pdeathsig
    finally:
        handle.close()


def stop(process: subprocess.Popen[bytes], *, sig: int = signal.SIGTERM) -> None:
    """Stop ``process`` and its group (SIGKILL after 15 s)."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)


def wait_for(check: Callable[[], bool], *, timeout: float, what: str,
             process: subprocess.Popen[bytes] | None = None, log: Path | None = None) -> None:
    """Poll ``check`` until it is true; fail with the log tail when ``process`` dies first.

    Raises:
        RuntimeError: not true within ``timeout`` seconds, or the process exited.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            raise RuntimeError(f"{what}: process exited with {process.returncode}\n{tail}")
        with contextlib.suppress(Exception):
            if check():
                return
        time.sleep(0.25)
    raise RuntimeError(f"{what}: not ready after {timeout:.0f} s")


def _http_ok(url: str) -> bool:
    import requests

    return requests.get(url, timeout=2).status_code < 500


@dataclass
class S3Endpoint:
    """An S3-compatible endpoint and the bucket the cluster writes artifacts to."""

    url: str
    bucket: str
    process: subprocess.Popen[bytes] | None = None

    def stop(self) -> None:
        """Take the endpoint away (connections refused from now on)."""
        if self.process is not None:
            stop(self.process)

    @property
    def env(self) -> dict[str, str]:
        """What boto3 (and so MLflow's S3 artifact repository) needs to reach it."""
        return {"MLFLOW_S3_ENDPOINT_URL": self.url, "AWS_ACCESS_KEY_ID": S3_ACCESS_KEY,
                "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY, "AWS_DEFAULT_REGION": "us-east-1"}

    def client(self) -> object:
        import boto3

        return boto3.client("s3", endpoint_url=self.url, aws_access_key_id=S3_ACCESS_KEY,
                            aws_secret_access_key=S3_SECRET_KEY, region_name="us-east-1")


@contextlib.contextmanager
def s3_server(workdir: Path, *, bucket: str = "models") -> Iterator[S3Endpoint]:
    """moto's standalone S3 server on a free loopback port, with ``bucket`` created."""
    port = free_port()
    log = workdir / "s3.log"
    process = spawn([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                    log=log)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _http_ok(url + "/moto-api/"), timeout=60, what="S3 server",
                 process=process, log=log)
        endpoint = S3Endpoint(url=url, bucket=bucket, process=process)
        endpoint.client().create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
        yield endpoint
    finally:
        stop(process)


@dataclass
class RedisServer:
    """A private Redis on a free loopback port (keeps nothing on disk), to stop and restart."""

    port: int
    workdir: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        log = self.workdir / "redis.log"
        self.process = spawn([binary, "--bind", "127.0.0.1", "--port", str(self.port),
                              "--save", "", "--appendonly", "no", "--dir", str(self.workdir)],
                             log=log)
        wait_for(self._ping, timeout=30, what="redis", process=self.process, log=log)

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)
            self.process = None

    def _ping(self) -> bool:
        import socket

        with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")


@contextlib.contextmanager
def redis_server(workdir: Path) -> Iterator[RedisServer]:
    """A private ``redis-server`` for a test that stops Redis on purpose."""
    server = RedisServer(port=free_port(), workdir=workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def nginx_config(*, port: int, servers: list[int], sidecars: list[int], workdir: Path) -> str:
    """An nginx configuration balancing MLflow servers and scan sidecars on loopback.

    Non-idempotent requests (POST, PATCH...) are never retried on another server: a promotion
    must not run twice. Bodies stream through (model uploads), without a size limit.
    """
    def upstream(name: str, ports: list[int]) -> str:
        rows = "".join(f"    server 127.0.0.1:{p} max_fails=1 fail_timeout=3s;\n" for p in ports)
        return f"  upstream {name} {{\n{rows}  }}\n"

    temp = "".join(f"  {kind}_temp_path {workdir / kind};\n"
                   for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    proxy = ("      proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n"
             "      proxy_set_header Host $host;\n      proxy_request_buffering off;\n"
             "      proxy_buffering off;\n      proxy_read_timeout 300s;\n"
             "      proxy_next_upstream error timeout http_502 http_503;\n")
    return (f"worker_processes 1;\ndaemon off;\npid {workdir / 'nginx.pid'};\n"
            f"error_log {workdir / 'nginx-error.log'} warn;\n"
            "events { worker_connections 512; }\n"
            "http {\n  access_log off;\n  client_max_body_size 0;\n" + temp
            + upstream("mlflow", servers) + upstream("sidecar", sidecars)
            + f"  server {{\n    listen 127.0.0.1:{port};\n"
            + "    location /sidecar/ {\n      proxy_pass http://sidecar/;\n" + proxy + "    }\n"
            + "    location / {\n      proxy_pass http://mlflow;\n" + proxy + "    }\n"
            + "  }\n}\n")


@dataclass
class Cluster:
    """A running cluster: the load-balancer URL and each part, to stop or kill."""

    url: str
    servers: list[RunningServer]
    sidecars: list[subprocess.Popen[bytes]]
    s3: S3Endpoint | None
    backend_store_uri: str
    workdir: Path
    _start_sidecar: Callable[[int], subprocess.Popen[bytes]]

    def admin_auth(self) -> tuple[str, str]:
        """Basic-auth credentials of the admin (every server shares them)."""
        return self.servers[0].admin_auth()

    def kill_server(self, index: int) -> None:
        """kill -9 every process of server ``index`` (its workers too), as a crash would."""
        stop(self.servers[index].process, sig=signal.SIGKILL)

    def kill_sidecar(self, index: int) -> None:
        """kill -9 sidecar ``index`` and its scan workers."""
        stop(self.sidecars[index], sig=signal.SIGKILL)

    def restart_sidecar(self, index: int) -> None:
        """Start sidecar ``index`` again on its port (as a replacement machine would)."""
        self.sidecars[index] = self._start_sidecar(index)


@contextlib.contextmanager
def run_cluster(policy: Path, workdir: Path, *, backend_store_uri: str, auth_db_uri: str,
                redis_url: str, s3: S3Endpoint | None = None, servers: int = 2,
                workers: int = 2, sidecars: int = 1, sidecar_workers: int = 2,
                reconcile_interval: float = 300.0, rescan_after: float = 900.0,
                env: dict[str, str] | None = None,
                sidecar_env: dict[str, str] | None = None) -> Iterator[Cluster]:
    """Start the topology of the module docstring; stop everything when the block ends.

    Raises:
        RuntimeError: a part did not start (with its log).
    """
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        raise RuntimeError("nginx is not installed (Debian: apt-get install nginx-light)")
    workdir.mkdir(parents=True, exist_ok=True)
    lb_port = free_port()
    lb_url = f"http://127.0.0.1:{lb_port}"
    common = {**(env or {}), **(s3.env if s3 else {}),
              "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
              "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true", "MLFLOW_WEBHOOK_CACHE_TTL": "5"}
    extra: tuple[str, ...] = (("--artifacts-destination", f"s3://{s3.bucket}/artifacts")
                              if s3 else ())
    with contextlib.ExitStack() as stack:
        started: list[RunningServer] = []
        for index in range(servers):
            data_dir = workdir / f"server-{index}"
            if started:  # every server gets the first one's secrets, as from a secret store
                data_dir.mkdir(parents=True, exist_ok=True)
                _copy_secrets(started[0].data_dir, data_dir)
            started.append(stack.enter_context(run_server(
                policy, data_dir, backend_store_uri=backend_store_uri, workers=workers,
                auth=True, env={**common, "MLFLOW_AUTH_CONFIG_PATH": str(
                    _auth_config(workdir, auth_db_uri))},
                extra_args=extra)))
        from mlflow_supplychain.cli.sidecar_cmd import WEBHOOK_SECRET_FILE, read_or_create_secret

        # one webhook HMAC secret for every sidecar, made before any of them starts
        read_or_create_secret(started[0].data_dir / WEBHOOK_SECRET_FILE)
        sidecar_ports = [free_port() for _ in range(sidecars)]
        admin = started[0].admin_auth()
        for index in range(sidecars):
            data_dir = workdir / f"sidecar-{index}"
            data_dir.mkdir(parents=True, exist_ok=True)
            _copy_secrets(started[0].data_dir, data_dir)

        def start_sidecar(index: int) -> subprocess.Popen[bytes]:
            data_dir = workdir / f"sidecar-{index}"
            argv = [sys.executable, "-m", "mlflow_supplychain", "sidecar", "--tracking-uri",
                    lb_url, "--policy", str(policy), "--data-dir", str(data_dir), "--queue",
                    redis_url, "--host", "127.0.0.1", "--port", str(sidecar_ports[index]),
                    "--workers", str(sidecar_workers), "--public-url",
                    f"{lb_url}/sidecar/webhook", "--reconcile-interval",
                    str(reconcile_interval), "--rescan-after", str(rescan_after),
                    "--install-webhooks" if index == 0 else "--no-install-webhooks"]
            process = spawn(argv, log=data_dir / "sidecar.log",
                            env={**common, **(sidecar_env or {}),
                                 "MLFLOW_TRACKING_USERNAME": admin[0],
                                 "MLFLOW_TRACKING_PASSWORD": admin[1]})
            stack.callback(stop, process)
            return process

        processes = [start_sidecar(index) for index in range(sidecars)]
        config = workdir / "nginx.conf"
        config.write_text(nginx_config(port=lb_port, servers=[_port(s) for s in started],
                                       sidecars=sidecar_ports, workdir=workdir))
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (workdir / kind).mkdir(exist_ok=True)
        balancer = spawn([nginx, "-c", str(config), "-e", str(workdir / "nginx-error.log")],
                         log=workdir / "nginx.log")
        stack.callback(stop, balancer, sig=signal.SIGQUIT)
        wait_for(lambda: _http_ok(lb_url + "/health"), timeout=30, what="nginx",
                 process=balancer, log=workdir / "nginx-error.log")
        for index, (process, port) in enumerate(zip(processes, sidecar_ports, strict=True)):
            health = f"http://127.0.0.1:{port}/health"
            wait_for(functools.partial(_http_ok, health), timeout=120, what=f"sidecar {index}",
                     process=process, log=workdir / f"sidecar-{index}" / "sidecar.log")
        yield Cluster(url=lb_url, servers=started, sidecars=processes, s3=s3,
                      backend_store_uri=backend_store_uri, workdir=workdir,
                      _start_sidecar=start_sidecar)


def _port(server: RunningServer) -> int:
    return int(server.url.rsplit(":", 1)[1])


def _copy_secrets(source: Path, target: Path) -> None:
    for name in _SHARED_SECRET_FILES:
        if (source / name).exists() and not (target / name).exists():
            shutil.copy2(source / name, target / name)


def _auth_config(workdir: Path, auth_db_uri: str) -> Path:
    """One basic-auth configuration for every server (users live in a shared database)."""
    path = workdir / "basic_auth.ini"
    if not path.exists():
        path.write_text("[mlflow]\ndefault_permission = READ\n"
                        f"database_uri = {auth_db_uri}\nadmin_username = admin\n"
                        "authorization_function = "
                        "mlflow.server.auth:authenticate_request_basic_auth\n")
    return path


def terminate_database_sessions(backend_store_uri: str) -> None:
    """What a PostgreSQL restart does to the servers: every open connection to the cluster's
    database is dropped (the server itself stays up for the other tests on this machine)."""
    import psycopg2

    base, _, name = backend_store_uri.rpartition("/")
    conn = psycopg2.connect(base.replace("postgresql+psycopg2://", "postgresql://")
                            + "/postgres")
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
    finally:
        conn.close()


def promotion_invariants(backend_store_uri: str) -> tuple[list[str], int]:
    """What must hold after any load or fault, read from the registry database: the audit
    chain verifies, and every version holding ``production`` has an approved (or applied)
    request for it. Returns the problems found (empty when all hold) and the number of gate
    decisions the audit log records."""
    import sqlalchemy

    from mlflow_supplychain.governance import audit, db

    engine = db.create_engine(backend_store_uri)
    try:
        with engine.connect() as conn:
            report = audit.verify(conn)
            decisions = sum(1 for r in audit.iter_records(conn) if r.action == "gate.decision")
            promoted = conn.execute(sqlalchemy.text(
                "SELECT name, version FROM registered_model_aliases WHERE alias = 'production'"
            )).all()
            approved = {(r[0], str(r[1])) for r in conn.execute(sqlalchemy.text(
                "SELECT model_name, version FROM supplychain_transition_requests WHERE status "
                "IN ('approved', 'applied') AND target = 'production'")).all()}
    finally:
        engine.dispose()
    problems = [] if report.ok else [f"audit chain: {report}"]
    problems += [f"{n}/{v} promoted without an approved request" for n, v in promoted
                 if (n, str(v)) not in approved]
    return problems, decisions
