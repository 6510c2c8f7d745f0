"""A sidecar killed mid-scan, and webhooks lost while it is down, still converge.

The server runs without its own sidecar; the test starts and kills sidecar processes itself.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from mlflow_supplychain.testing.pytest_plugin import RunningServer, ServerFactory, free_port

from .attestation_helpers import fetch
from .models import register_files, wait_for_tags
from .test_sidecar import SIDECAR_POLICY

WEBHOOK_ENV = {"MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
               "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true", "MLFLOW_WEBHOOK_CACHE_TTL": "1"}


@pytest.fixture(scope="module")
def bare_server(supplychain_server_factory: ServerFactory) -> RunningServer:
    return supplychain_server_factory(SIDECAR_POLICY, env=WEBHOOK_ENV)


@contextmanager
def sidecar_process(server: RunningServer, port: int, log: Path, **env: str
                    ) -> Iterator[subprocess.Popen[bytes]]:
    argv = [sys.executable, "-m", "mlflow_supplychain", "sidecar", "--tracking-uri", server.url,
            "--policy", str(SIDECAR_POLICY), "--data-dir", str(server.data_dir),
            "--port", str(port), "--workers", "1", "--install-webhooks",
            "--reconcile-interval", "1", "--rescan-after", "2"]
    with open(log, "ab") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                   env={**os.environ, **env}, start_new_session=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=15)


def _wait_log(log: Path, text: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_text(errors="replace"):
        assert time.monotonic() < deadline, f"{text!r} not logged:\n" + log.read_text()[-3000:]
        time.sleep(0.2)


def test_killed_mid_scan_and_lost_webhooks_converge(bare_server, unique_model_name, tmp_path,
                                                   capsys):
    from mlflow_supplychain.cli.main import main

    log = tmp_path / "sidecar.log"
    port = free_port()
    with sidecar_process(bare_server, port, log,
                         _MLFLOW_SUPPLYCHAIN_TEST_SCAN_DELAY="30") as first:
        _wait_log(log, "webhooks: ")
        time.sleep(1.5)  # MLFLOW_WEBHOOK_CACHE_TTL=1: the server now sees the new webhook
        v1 = register_files(bare_server, unique_model_name, {"a.json": b"[1]"}, tmp_path)
        _wait_log(log, "Executing mlflow_supplychain.sidecar.jobs.supplychain.scan")
        scratch = bare_server.data_dir / "scan-scratch"
        killed = _wait_for_scratch(scratch)  # the scan's download directory exists
        os.killpg(first.pid, signal.SIGKILL)  # mid-scan: the dequeued job is lost
        first.wait(timeout=15)

    # while no sidecar runs, a version is registered: its webhook is lost
    v2 = register_files(bare_server, unique_model_name, {"b.json": b"[2]"}, tmp_path)
    assert fetch(bare_server, unique_model_name, v1).status_code == 404
    with pytest.raises(Exception, match="promotion|denied|PERMISSION_DENIED|scan"):
        bare_server.client().set_registered_model_alias(unique_model_name, "champion", v1)

    # the CLI sweep queues both into the shared SQLite queue (v1's pending marker has expired)
    time.sleep(2)
    code = main(["reconcile", "--once", "--tracking-uri", bare_server.url, "--policy",
                 str(SIDECAR_POLICY), "--data-dir", str(bare_server.data_dir),
                 "--rescan-after", "2"])
    assert code == 0
    assert "MLFLOW_SUPPLYCHAIN_SIDECAR_QUEUE" not in os.environ  # nothing leaks to later tests
    out = capsys.readouterr().out
    assert f"queued models:/{unique_model_name}/{v1}" in out
    assert f"queued models:/{unique_model_name}/{v2}" in out

    with sidecar_process(bare_server, port, log):
        for version in (v1, v2):
            tags = wait_for_tags(bare_server, unique_model_name, version, timeout=60)
            assert tags["supplychain.scan.verdict"] == "permitted"
    bare_server.client().set_registered_model_alias(unique_model_name, "champion", v1)
    # the restarted sidecar removed the killed scan's directory (a scan still running when the
    # sidecar is stopped can leave one too: the next start removes it the same way)
    assert not killed & set(scratch.glob("scan-*"))


def _wait_for_scratch(scratch: Path, timeout: float = 30.0) -> set[Path]:
    deadline = time.monotonic() + timeout
    while not (found := set(scratch.glob("scan-*"))):
        assert time.monotonic() < deadline, f"no scan directory appeared in {scratch}"
        time.sleep(0.05)
    return found
