"""A sidecar killed with SIGKILL takes its scan worker with it (an orphaned worker would keep
taking jobs from the queue after its sidecar is gone)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlflow_supplychain.server.launcher import free_port

REPO = Path(__file__).resolve().parents[3]


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux")
def test_scan_worker_exits_when_the_sidecar_is_killed(tmp_path: Path) -> None:
    from mlflow_supplychain.integrity.attest import generate_key_pair

    generate_key_pair(tmp_path / "attestation-signing.key", tmp_path / "attestation-signing.pub")
    sidecar = subprocess.Popen(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "mlflow_supplychain", "sidecar", "--tracking-uri",
         "http://127.0.0.1:9", "--policy", str(REPO / "examples" / "policy.yaml"),
         "--data-dir", str(tmp_path), "--port", str(free_port()), "--no-install-webhooks",
         "--reconcile-interval", "0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        workers: list[int] = []
        while not workers and time.monotonic() < deadline:
            workers = _children(sidecar.pid)
            time.sleep(0.2)
        assert workers, "the sidecar started no worker"
        os.kill(sidecar.pid, signal.SIGKILL)
        sidecar.wait(timeout=10)
        deadline = time.monotonic() + 20
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(_alive(w) for w in workers), "the scan worker outlived its sidecar"
    finally:
        with __import__("contextlib").suppress(ProcessLookupError):
            os.killpg(sidecar.pid, signal.SIGKILL)
