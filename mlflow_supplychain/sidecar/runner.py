"""Run the sidecar: receiver (uvicorn), huey workers (a child process), periodic reconcile.

With ``install_webhooks`` it first waits for the MLflow server and registers the webhook, so
``mlflow-supplychain server`` can start it alongside MLflow. When started by the server it
exits when its parent does (``exit_with_parent``), so no orphan keeps scanning.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

import requests

from mlflow_supplychain.sidecar.settings import SidecarSettings

_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunOptions:
    host: str
    port: int
    workers: int
    reconcile_interval: float
    install_webhooks: bool
    public_url: str
    exit_with_parent: bool = False


def wait_for_server(url: str, timeout: float = 120.0) -> bool:
    """Poll ``{url}/health`` until it answers 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url.rstrip("/") + "/health", timeout=2).status_code == 200:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.3)
    return False


def _install(settings: SidecarSettings, options: RunOptions) -> None:
    from mlflow import MlflowClient

    from mlflow_supplychain.sidecar.webhooks import install_webhook

    client = MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)
    for line in install_webhook(client, options.public_url,
                                settings.webhook_secret.get_secret_value()):
        _logger.info("webhooks: %s", line)


def run(settings: SidecarSettings, options: RunOptions) -> int:
    """Serve until interrupted (or the parent exits); return an exit code."""
    import uvicorn

    from mlflow_supplychain.parent_death import set_parent_death_signal
    from mlflow_supplychain.sidecar.jobs import register_tasks
    from mlflow_supplychain.sidecar.queue import open_queue
    from mlflow_supplychain.sidecar.receiver import create_app
    from mlflow_supplychain.sidecar.reconcile import FormatPolicyWatch, reconcile_once

    parent = os.getppid()
    # the worker stops with the sidecar, even when the sidecar is killed with SIGKILL
    worker = subprocess.Popen(  # noqa: S603 - our own module
        [sys.executable, "-m", "mlflow_supplychain.sidecar.worker", str(options.workers)],
        preexec_fn=set_parent_death_signal)  # noqa: PLW1509 - prctl only, no locks taken
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host=options.host,
                                           port=options.port, log_level="warning",
                                           access_log=False))
    stop = threading.Event()

    def background() -> None:
        if not wait_for_server(settings.tracking_uri):
            _logger.error("MLflow server %s is not reachable", settings.tracking_uri)
        if options.install_webhooks:
            try:
                _install(settings, options)
            except Exception as exc:  # noqa: BLE001 - keep serving; reconcile still converges
                _logger.error("webhook install failed: %s", exc)
        tasks = register_tasks(open_queue(settings.queue_url, settings.tracking_uri), settings)
        next_sweep = 0.0
        watch = FormatPolicyWatch(str(settings.policy_path))
        while not stop.is_set():
            if options.exit_with_parent and os.getppid() != parent:
                _logger.warning("parent process exited; stopping the sidecar")
                server.should_exit = True
                return
            if worker.poll() is not None:
                _logger.error("scan worker exited (%s); stopping", worker.returncode)
                server.should_exit = True
                return
            # a format-policy change rescans at once (promoted versions first), whatever the
            # interval: until then the gate reports scan.pending for every affected version
            format_changed = watch.due()
            if format_changed or (options.reconcile_interval > 0
                                  and time.monotonic() >= next_sweep):
                try:
                    watch.swept()
                    reconcile_once(settings, tasks)
                except Exception as exc:  # noqa: BLE001 - next sweep retries
                    _logger.error("reconcile failed: %s", type(exc).__name__)
                next_sweep = time.monotonic() + options.reconcile_interval
            stop.wait(0.5)

    thread = threading.Thread(target=background, name="sidecar-reconcile", daemon=True)
    thread.start()
    try:
        server.run()
    finally:
        stop.set()
        worker.terminate()
        try:
            worker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            worker.kill()
    return 0
