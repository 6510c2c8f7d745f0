"""``mlflow-supplychain sidecar``, ``webhooks install`` and ``reconcile``.

All three share one set of options; defaults live in the server's data directory (the same
``--data-dir`` as ``mlflow-supplychain server``): the attestation signing key the server
generated, the webhook HMAC secret (generated once here, mode 0600), the SQLite queue and the
scratch directory for downloads. Settings reach the sidecar's child processes as environment
variables; secrets never appear on a command line.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

from mlflow_supplychain.errors import ExitCode, Problem, SupplyChainError
from mlflow_supplychain.sidecar import settings as cfg

DEFAULT_DATA_DIR = "mlflow-supplychain-data"
WEBHOOK_SECRET_FILE = "webhook-hmac.secret"  # noqa: S105 - a file name
SIGNING_KEY_FILE = "attestation-signing.key"
QUEUE_FILE = "sidecar-queue.db"
SCRATCH_DIR = "scan-scratch"
DEFAULT_PORT = 5005


def read_or_create_secret(path: Path) -> str:
    """The webhook HMAC secret in ``path``, generated (mode 0600) on first use."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        value = path.read_text(encoding="utf-8").strip()
        if not value:
            raise SupplyChainError("Webhook secret file is empty", [Problem(
                str(path), "is empty", "delete it and run 'webhooks install' again")]) from None
        return value
    value = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
    return value


def _common(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--tracking-uri", envvar=cfg.TRACKING_ENV, required=True,
                     help="The MLflow server (env MLFLOW_TRACKING_URI)."),
        click.option("--policy", "policy_file", envvar=cfg.POLICY_ENV, required=True,
                     type=click.Path(dir_okay=False, path_type=Path),
                     help="The policy the server enforces (env MLFLOW_SUPPLYCHAIN_POLICY)."),
        click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
                     default=DEFAULT_DATA_DIR, show_default=True,
                     help="The server's data directory (keys, secret, queue, scratch)."),
        click.option("--queue", "queue_url", envvar=cfg.QUEUE_ENV, default=None,
                     help="redis://host:6379/0, or a SQLite file (default: in --data-dir)."),
        click.option("--private-key", type=click.Path(dir_okay=False, path_type=Path),
                     envvar=cfg.PRIVATE_KEY_ENV, default=None,
                     help="Attestation signing key (default: the server's, in --data-dir)."),
        click.option("--rescan-after", type=float, default=cfg.DEFAULT_RESCAN_AFTER,
                     envvar=cfg.RESCAN_AFTER_ENV,
                     show_default=True,
                     help="Seconds before reconcile re-queues a scan still pending."),
        click.option("--compensate", is_flag=True, envvar=cfg.COMPENSATE_ENV,
                     help="Remove a protected alias that points at a non-compliant version."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _settings(tracking_uri: str, policy_file: Path, data_dir: Path, queue_url: str | None,
              private_key: Path | None, rescan_after: float, compensate: bool, *,
              export: bool = False) -> cfg.SidecarSettings:
    """Resolve the options into settings; ``export`` also puts them into ``os.environ`` for
    the child processes the sidecar starts (``reconcile`` leaves the environment alone)."""
    from mlflow_supplychain.policy.loader import load_policy

    load_policy(policy_file)  # fail now on a bad policy
    data_dir = data_dir.resolve()
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = (private_key or data_dir / SIGNING_KEY_FILE).resolve()
    if not key.is_file():
        raise SupplyChainError("No attestation signing key", [Problem(
            str(key), "does not exist", "start 'mlflow-supplychain server' once with this "
            "--data-dir (it generates the pair), or pass --private-key")])
    env = {
        cfg.TRACKING_ENV: tracking_uri,
        cfg.POLICY_ENV: str(policy_file.resolve()),
        cfg.QUEUE_ENV: queue_url or str(data_dir / QUEUE_FILE),
        cfg.PRIVATE_KEY_ENV: str(key),
        cfg.SECRET_ENV: os.environ.get(cfg.SECRET_ENV)
        or read_or_create_secret(data_dir / WEBHOOK_SECRET_FILE),
        cfg.SCRATCH_ENV: str(data_dir / SCRATCH_DIR),
        cfg.RESCAN_AFTER_ENV: str(rescan_after),
        cfg.COMPENSATE_ENV: "true" if compensate else "false",
    }
    if export:
        os.environ.update(env)
    return cfg.SidecarSettings.from_env({**os.environ, **env})


@click.command()
@_common
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64),
              help="Scan worker processes.")
@click.option("--public-url", default=None,
              help="URL MLflow posts webhooks to (default http://HOST:PORT/webhook).")
@click.option("--install-webhooks/--no-install-webhooks", default=False, show_default=True,
              help="Register the webhook with the server at start.")
@click.option("--reconcile-interval", type=float, default=300.0, show_default=True,
              envvar="MLFLOW_SUPPLYCHAIN_SIDECAR_RECONCILE_INTERVAL",
              help="Seconds between reconcile sweeps (0: never).")
@click.option("--exit-with-parent", is_flag=True, hidden=True)
def sidecar(tracking_uri: str, policy_file: Path, data_dir: Path, queue_url: str | None,
            private_key: Path | None, rescan_after: float, compensate: bool, host: str,
            port: int, workers: int, public_url: str | None, install_webhooks: bool,
            reconcile_interval: float, exit_with_parent: bool) -> ExitCode:
    """Receive MLflow webhooks, scan every registered version, submit signed attestations."""
    import logging
    import sys

    from mlflow_supplychain.sidecar.runner import RunOptions, run

    settings = _settings(tracking_uri, policy_file, data_dir, queue_url, private_key,
                         rescan_after, compensate, export=True)
    logger = logging.getLogger("mlflow_supplychain")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104 - display only
    options = RunOptions(host=host, port=port, workers=workers,
                         reconcile_interval=reconcile_interval,
                         install_webhooks=install_webhooks,
                         public_url=public_url or f"http://{shown}:{port}/webhook",
                         exit_with_parent=exit_with_parent)
    click.echo(f"mlflow-supplychain sidecar: listening on http://{shown}:{port}/webhook", err=True)
    with _admin_token(data_dir):  # installs the webhook on an unauthenticated server too
        return ExitCode(run(settings, options))


@click.group()
def webhooks() -> None:
    """Manage the sidecar's MLflow webhook."""


@contextlib.contextmanager
def _admin_token(data_dir: Path) -> Iterator[None]:
    """Without credentials in the environment, present the server's admin token (from its
    data directory) as MLflow's bearer token while the block runs: an unauthenticated server
    accepts webhook administration only with it."""
    from mlflow_supplychain.cli.server_cmd import ADMIN_TOKEN_FILE

    path = data_dir / ADMIN_TOKEN_FILE
    if any(os.environ.get(v) for v in ("MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME")) \
            or not path.is_file():
        yield
        return
    os.environ["MLFLOW_TRACKING_TOKEN"] = path.read_text(encoding="utf-8").strip()
    try:
        yield
    finally:
        os.environ.pop("MLFLOW_TRACKING_TOKEN", None)


@webhooks.command("install")
@click.option("--tracking-uri", envvar=cfg.TRACKING_ENV, required=True,
              help="The MLflow server (env MLFLOW_TRACKING_URI).")
@click.option("--url", "hook_url", required=True, help="The sidecar's webhook URL.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              default=DEFAULT_DATA_DIR, show_default=True,
              help="Where the webhook secret lives (generated once).")
def install(tracking_uri: str, hook_url: str, data_dir: Path) -> ExitCode:
    """Create or update the webhook (idempotent); print what changed."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from mlflow_supplychain.sidecar.webhooks import install_webhook

    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    secret = os.environ.get(cfg.SECRET_ENV) or read_or_create_secret(
        data_dir / WEBHOOK_SECRET_FILE)
    try:
        with _admin_token(data_dir):  # MLflow's client reads its credentials when created
            client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
            lines = install_webhook(client, hook_url, secret)
    except MlflowException as exc:
        raise SupplyChainError("Webhook install refused", [Problem(
            tracking_uri, exc.error_code, "run as an admin; for a loopback/private URL the "
            "server needs MLFLOW_WEBHOOK_ALLOWED_SCHEMES=http,https and "
            "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS=true")]) from None
    for line in lines:
        click.echo(line)
    return ExitCode.OK


@click.command()
@_common
@click.option("--once", is_flag=True, help="One sweep, then exit.")
@click.option("--interval", type=float, default=300.0, show_default=True)
def reconcile(tracking_uri: str, policy_file: Path, data_dir: Path, queue_url: str | None,
              private_key: Path | None, rescan_after: float, compensate: bool, once: bool,
              interval: float) -> ExitCode:
    """Queue scans for versions without a valid attestation; re-check protected aliases."""
    import time

    from mlflow_supplychain.sidecar.jobs import register_tasks
    from mlflow_supplychain.sidecar.queue import open_queue
    from mlflow_supplychain.sidecar.reconcile import reconcile_once

    settings = _settings(tracking_uri, policy_file, data_dir, queue_url, private_key,
                         rescan_after, compensate)
    tasks = register_tasks(open_queue(settings.queue_url, settings.tracking_uri), settings)
    while True:
        report = reconcile_once(settings, tasks)
        click.echo(f"{report.versions} versions, {len(report.queued)} scans queued, "
                   f"{len(report.alias_checks)} alias checks queued")
        for item in report.queued:
            click.echo(f"  queued models:/{item}")
        if once:
            return ExitCode.OK
        time.sleep(interval)
