"""``mlflow-supplychain server``: MLflow with the gated registry, in one command.

It validates the policy, prepares the data directory (SQLite database, artifacts, and the
secrets MLflow needs to be stable across restarts and workers: the webhook-secret encryption
key and the Flask secret key, each generated once, mode 0600), then replaces itself with
``mlflow server`` configured with our registry store URI and app. Extra arguments after
``--`` go to ``mlflow server`` unchanged (e.g. ``-- --gunicorn-opts "..."``).
"""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import click

from mlflow_supplychain.cli.server_prerequisites import (
    ServerSetupError,
    require_basic_auth,
    require_free_port,
    require_queue_driver,
    resolve_database_driver,
)
from mlflow_supplychain.errors import ExitCode, Problem
from mlflow_supplychain.integrity.attest import PUBLIC_KEY_ENV_VAR, generate_key_pair
from mlflow_supplychain.policy.exposure import server_warnings
from mlflow_supplychain.policy.loader import load_policy
from mlflow_supplychain.progress import on_terminal
from mlflow_supplychain.registry.caller import PROXY_SECRET_ENV_VAR
from mlflow_supplychain.server.admin_routes import ADMIN_TOKEN_ENV_VAR
from mlflow_supplychain.server.policy_holder import POLICY_ENV_VAR
from mlflow_supplychain.signing.registry_key import KEY_ENV_VAR as REGISTRY_KEY_ENV_VAR
from mlflow_supplychain.signing.registry_key import PRIVATE_KEY_FILE as REGISTRY_PRIVATE_KEY_FILE
from mlflow_supplychain.signing.registry_key import PUBLIC_KEY_FILE as REGISTRY_PUBLIC_KEY_FILE
from mlflow_supplychain.signing.registry_key import generate_registry_key

DEFAULT_DATA_DIR = "mlflow-supplychain-data"
WEBHOOK_KEY_FILE = "webhook-encryption.key"
FLASK_SECRET_FILE = "flask-secret.key"  # noqa: S105 - a file name, not a secret
ADMIN_PASSWORD_FILE = "admin-password"  # noqa: S105 - a file name, not a secret
AUTH_CONFIG_FILE = "basic_auth.ini"
ADMIN_TOKEN_FILE = "admin-token"  # noqa: S105 - a file name, not a secret
SIGNING_KEY_FILE = "attestation-signing.key"
VERIFY_KEY_FILE = "attestation-signing.pub"
_DATABASES = ("sqlite", "postgresql", "mysql")


@dataclass(frozen=True)
class ServerPlan:
    """What ``mlflow server`` will be started with."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    url: str = ""
    notes: list[str] = field(default_factory=list)
    sidecar_argv: list[str] = field(default_factory=list)
    """Empty when the sidecar is off (``--no-sidecar``)."""
    sidecar_env: dict[str, str] = field(default_factory=dict)


def normalise_backend_uri(uri: str) -> str:
    """Accept the usual spellings of a database URI; return the one MLflow and SQLAlchemy use.

    ``postgres://`` becomes ``postgresql://``; ``postgresql+psycopg2://`` and
    ``postgresql+psycopg://`` (psycopg 3) are kept, the driver travels in the registry URI.

    Raises:
        ServerSetupError: not a sqlite, postgresql or mysql URI.
    """
    if uri.startswith("postgres://"):
        uri = "postgresql://" + uri[len("postgres://"):]
    scheme = uri.split(":", 1)[0]
    if scheme.split("+", 1)[0] not in _DATABASES or "://" not in uri:
        raise ServerSetupError("Unsupported backend store URI", [Problem(
            "--backend-store-uri", f"{uri.split('@')[-1]!r} is not a database URI",
            "use sqlite:///path.db, postgresql://user@host/db (or postgresql+psycopg://...) "
            "or mysql+pymysql://user@host/db")])
    return uri


def _read_or_create_secret(path: Path, make: Callable[[], str]) -> str:
    """The secret stored at ``path``, generating it (mode 0600) on first use."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        value = path.read_text(encoding="utf-8").strip()
        if not value:
            raise ServerSetupError(f"Secret file {path} is empty", [Problem(
                str(path), "is empty", "delete it to generate a new one (webhook secrets "
                "encrypted with the old key must then be re-entered)")]) from None
        return value
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        value = make()
        handle.write(value + "\n")
    return value


def _fernet_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii")


def _write_auth_config(data_dir: Path, auth_db_uri: str) -> Path:
    path = data_dir / AUTH_CONFIG_FILE
    path.write_text(
        "[mlflow]\n"
        "default_permission = READ\n"
        f"database_uri = {auth_db_uri}\n"
        "admin_username = admin\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n",
        encoding="utf-8")
    return path


def plan_server(*, policy_file: Path, data_dir: Path, backend_store_uri: str | None,
                host: str, port: int, workers: int, auth: bool, auth_db_uri: str | None,
                extra: Sequence[str], environ: Mapping[str, str],
                sidecar_port: int | None = None, sidecar_workers: int = 2,
                queue_url: str | None = None) -> ServerPlan:
    """Prepare the data directory and compute the ``mlflow server`` command and environment.

    Raises:
        PolicyError: the policy file is missing or invalid.
        ServerSetupError: bad backend URI, missing database driver or basic-auth package,
            unusable data directory or secret files.
    """
    policy_path = policy_file.resolve()
    policy = load_policy(policy_path)
    if auth:
        require_basic_auth()
    if sidecar_port is not None:
        require_queue_driver(queue_url)
    secret_header = policy.identity.trusted_proxy_secret_header
    if secret_header and not environ.get(PROXY_SECRET_ENV_VAR):
        raise ServerSetupError("The trusted proxy's secret is not set", [Problem(
            "identity.trusted_proxy_secret_header", f"names {secret_header}, but "
            f"{PROXY_SECRET_ENV_VAR} is unset or empty",
            f"export {PROXY_SECRET_ENV_VAR} with the secret your proxy sends")])
    requested = normalise_backend_uri(
        backend_store_uri or f"sqlite:///{data_dir.resolve() / 'mlflow.db'}")
    backend = resolve_database_driver(requested)
    if auth and auth_db_uri:
        auth_db_uri = resolve_database_driver(auth_db_uri, "--auth-database-uri")
    try:
        data_dir = data_dir.resolve()
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise ServerSetupError(f"Data directory {data_dir} cannot be created", [Problem(
            str(data_dir), exc.strerror or str(exc), "choose a writable --data-dir")]) from None
    env = {POLICY_ENV_VAR: str(policy_path)}
    notes = [f"policy {policy_path} (mode {policy.mode.value}, digest {policy.digest})",
             f"data directory {data_dir}"]
    if backend != requested:
        notes.append(f"database driver: {backend.split('://', 1)[0]} (the one installed)")
    if not environ.get("MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY"):
        env["MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY"] = _read_or_create_secret(
            data_dir / WEBHOOK_KEY_FILE, _fernet_key)
    if not environ.get("MLFLOW_FLASK_SERVER_SECRET_KEY"):
        env["MLFLOW_FLASK_SERVER_SECRET_KEY"] = _read_or_create_secret(
            data_dir / FLASK_SECRET_FILE, lambda: secrets.token_urlsafe(32))
    if not environ.get(PUBLIC_KEY_ENV_VAR):
        # Generated once: the private key is the sidecar's, the public key the server's.
        key_id = generate_key_pair(data_dir / SIGNING_KEY_FILE, data_dir / VERIFY_KEY_FILE)
        env[PUBLIC_KEY_ENV_VAR] = str(data_dir / VERIFY_KEY_FILE)
        notes.append(f"attestation key {key_id} ({data_dir / VERIFY_KEY_FILE})")
    if not environ.get(REGISTRY_KEY_ENV_VAR):
        # The registry's own key: signs OMS bundles and verification summaries of promotions.
        generate_registry_key(data_dir / REGISTRY_PRIVATE_KEY_FILE,
                              data_dir / REGISTRY_PUBLIC_KEY_FILE)
        env[REGISTRY_KEY_ENV_VAR] = str(data_dir / REGISTRY_PRIVATE_KEY_FILE)
        notes.append(f"registry signing key {data_dir / REGISTRY_PUBLIC_KEY_FILE} (pin it in "
                     "deployments)")
    app_name = "supplychain"
    if "--waitress-opts" in extra:
        app_name = "supplychain-wsgi"  # see server/wsgi.py: MLflow cannot run factories there
    if auth:
        if "--waitress-opts" in extra:
            raise ServerSetupError("--auth cannot be combined with waitress", [Problem(
                "--waitress-opts", "MLflow 3.17 cannot start app factories under waitress",
                "use the default uvicorn server or --gunicorn-opts with --auth")])
        app_name = "supplychain-auth"
        if not environ.get("MLFLOW_AUTH_CONFIG_PATH"):
            config = _write_auth_config(
                data_dir, auth_db_uri or f"sqlite:///{data_dir / 'basic_auth.db'}")
            env["MLFLOW_AUTH_CONFIG_PATH"] = str(config)
        if not environ.get("MLFLOW_AUTH_ADMIN_PASSWORD"):
            password_file = data_dir / ADMIN_PASSWORD_FILE
            env["MLFLOW_AUTH_ADMIN_PASSWORD"] = _read_or_create_secret(
                password_file, lambda: secrets.token_urlsafe(18))
            notes.append(f"basic-auth admin user 'admin', first password in {password_file}")
    else:
        # Without basic-auth nobody is an admin: webhook administration (which could unplug
        # the scanner) then needs this token, which only the sidecar and the operator hold.
        token = environ.get(ADMIN_TOKEN_ENV_VAR) or _read_or_create_secret(
            data_dir / ADMIN_TOKEN_FILE, lambda: secrets.token_urlsafe(32))
        env[ADMIN_TOKEN_ENV_VAR] = token
    for warning in server_warnings(policy, auth=auth):
        notes.append(f"WARNING: {warning}")
    argv = [sys.executable, "-m", "mlflow", "server",
            "--backend-store-uri", backend,
            "--registry-store-uri", "supplychain+" + backend,
            "--artifacts-destination", str(data_dir / "artifacts"),
            "--host", host, "--port", str(port), "--workers", str(workers),
            "--app-name", app_name, *extra]
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104 - display only
    url = f"http://{shown_host}:{port}"
    sidecar_argv: list[str] = []
    sidecar_env: dict[str, str] = {}
    if sidecar_port is not None:
        # A loopback sidecar: MLflow refuses http:// and private addresses for webhooks unless
        # told otherwise. A short cache TTL makes a freshly installed webhook live quickly
        # (MLflow caches webhook lists per event and worker, 60 s by default).
        for name, value in (("MLFLOW_WEBHOOK_ALLOWED_SCHEMES", "http,https"),
                            ("MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS", "true"),
                            ("MLFLOW_WEBHOOK_CACHE_TTL", "5")):
            if not environ.get(name):
                env[name] = value
        sidecar_argv = [sys.executable, "-m", "mlflow_supplychain", "sidecar",
                        "--tracking-uri", url, "--policy", str(policy_path),
                        "--data-dir", str(data_dir), "--host", "127.0.0.1",
                        "--port", str(sidecar_port), "--workers", str(sidecar_workers),
                        "--install-webhooks", "--exit-with-parent"]
        if queue_url:
            sidecar_argv += ["--queue", queue_url]
        if auth:  # webhook install is admin-only; the sidecar reads every model
            sidecar_env["MLFLOW_TRACKING_USERNAME"] = environ.get("MLFLOW_TRACKING_USERNAME",
                                                                  "admin")
            sidecar_env["MLFLOW_TRACKING_PASSWORD"] = (
                environ.get("MLFLOW_TRACKING_PASSWORD") or env.get("MLFLOW_AUTH_ADMIN_PASSWORD")
                or environ.get("MLFLOW_AUTH_ADMIN_PASSWORD", ""))
        if not auth:  # MLflow's client sends it as "Authorization: Bearer <token>"
            sidecar_env["MLFLOW_TRACKING_TOKEN"] = env[ADMIN_TOKEN_ENV_VAR]
        notes.append(f"sidecar at http://127.0.0.1:{sidecar_port}/webhook "
                     f"({sidecar_workers} scan workers)")
    return ServerPlan(argv=argv, env=env, url=url, notes=notes, sidecar_argv=sidecar_argv,
                      sidecar_env=sidecar_env)


def _bootstrap_basic_auth(plan_env: Mapping[str, str]) -> dict[str, str]:
    """Create the auth tables and admin user once, before any worker starts.

    ``mlflow server`` does this itself only for its own ``basic-auth`` app; for a composed
    app every worker would run the auth migrations at once and crash on "table already
    exists" (mlflow/server/__init__.py ``_bootstrap_basic_auth``). Returns the environment
    that tells workers it is done.
    """
    os.environ.update(plan_env)  # mlflow.server.auth reads its config at import
    from mlflow.server.auth import bootstrap_admin_user

    bootstrap_admin_user()
    return {"_MLFLOW_AUTH_ADMIN_BOOTSTRAPPED": "true"}


@click.command(context_settings={"ignore_unknown_options": True})
@click.option("--policy", "policy_file", required=True,
              type=click.Path(dir_okay=False, path_type=Path), help="Policy YAML to enforce.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              default=DEFAULT_DATA_DIR, show_default=True,
              help="SQLite database, artifacts and generated secrets.")
@click.option("--backend-store-uri", default=None,
              help="Database URI instead of SQLite in the data directory "
                   "(postgresql://, postgresql+psycopg2://, postgresql+psycopg://, mysql+pymysql://).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option("--auth", is_flag=True, help="Compose MLflow basic-auth before the gate.")
@click.option("--auth-database-uri", default=None,
              help="Basic-auth user database (default: SQLite in the data directory).")
@click.option("--sidecar/--no-sidecar", "with_sidecar", default=True, show_default=True,
              help="Start the scan sidecar and install its webhook.")
@click.option("--sidecar-port", default=5005, show_default=True, type=click.IntRange(1, 65535))
@click.option("--sidecar-workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option("--queue", "queue_url", default=None,
              help="Sidecar queue: redis://127.0.0.1:6379/0 (default: SQLite in --data-dir).")
@click.argument("extra", nargs=-1, type=click.UNPROCESSED)
def server(policy_file: Path, data_dir: Path, backend_store_uri: str | None, host: str,
           port: int, workers: int, auth: bool, auth_database_uri: str | None,
           with_sidecar: bool, sidecar_port: int, sidecar_workers: int, queue_url: str | None,
           extra: tuple[str, ...]) -> ExitCode:
    """Start MLflow with the supply-chain gate (replaces this process with 'mlflow server').

    The sidecar runs as a child process that exits with the server.
    """
    require_free_port(host, port, "--port")
    if with_sidecar:
        if sidecar_port == port and host in ("127.0.0.1", "0.0.0.0", "::", "localhost"):  # noqa: S104
            raise ServerSetupError(f"--sidecar-port {sidecar_port} is the server's --port; "
                                   "choose another --sidecar-port")
        require_free_port("127.0.0.1", sidecar_port, "--sidecar-port")
    plan = plan_server(policy_file=policy_file, data_dir=data_dir,
                       backend_store_uri=backend_store_uri, host=host, port=port,
                       workers=workers, auth=auth, auth_db_uri=auth_database_uri,
                       extra=extra, environ=os.environ,
                       sidecar_port=sidecar_port if with_sidecar else None,
                       sidecar_workers=sidecar_workers, queue_url=queue_url)
    for note in plan.notes:
        click.echo(f"mlflow-supplychain: {note}", err=True)
    click.echo(f"mlflow-supplychain: starting MLflow at {plan.url}", err=True)
    click.echo(plan.url)
    sys.stdout.flush()
    sys.stderr.flush()
    env = {**os.environ, **plan.env}
    if auth:
        env.update(_bootstrap_basic_auth(plan.env))
    if on_terminal():
        # Started before execve, so its parent is the server: progress until /health answers.
        subprocess.Popen([sys.executable, "-m", "mlflow_supplychain.server.startup_notice",  # noqa: S603
                          plan.url], env=env, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL)
    if plan.sidecar_argv:
        # Started before execve: the sidecar's parent becomes 'mlflow server' (same pid), and
        # --exit-with-parent stops it when that process ends.
        subprocess.Popen(plan.sidecar_argv, env={**env, **plan.sidecar_env})  # noqa: S603
    os.execve(plan.argv[0], plan.argv, env)  # noqa: S606 - our own argv, no shell
    return ExitCode.ERROR  # pragma: no cover - execve does not return
