"""Several server processes pick up a new policy, and status shows the digest each serves."""

from __future__ import annotations

import time

import pytest
import requests

from mlflow_supplychain.policy.loader import parse_policy
from mlflow_supplychain.testing.pytest_plugin import RunningServer, ServerFactory

from .conftest import API, BASE_POLICY, write_policy

WITH_BOB = BASE_POLICY.replace("[user:ml-lead]", "[user:ml-lead, user:bob]")


@pytest.fixture(scope="module")
def two_workers(supplychain_server_factory: ServerFactory,
                tmp_path_factory: pytest.TempPathFactory) -> RunningServer:
    path = tmp_path_factory.mktemp("workers") / "policy.yaml"
    path.write_text(BASE_POLICY)
    return supplychain_server_factory(path, workers=2, env={
        "MLFLOW_SUPPLYCHAIN_POLICY_RELOAD_SECONDS": "0.2"})


def test_every_process_converges_and_status_lists_them(two_workers: RunningServer) -> None:
    new = parse_policy(WITH_BOB).digest
    write_policy(two_workers.policy_path, WITH_BOB)
    answered: dict[str, str] = {}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = requests.get(f"{two_workers.url}{API}/status", timeout=30).json()
        answered[status["process"]] = status["policy"]["digest"]
        serving = {p["process"]: p["policy_digest"] for p in status["processes"]}
        if len(answered) >= 2 and set(answered.values()) == {new} and all(
                serving.get(p) == new for p in answered):
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"workers did not converge: {answered} {status['processes']}")
    assert len({p.rsplit(":", 1)[-1] for p in answered}) >= 2  # two pids, one digest
    history = requests.get(f"{two_workers.url}{API}/policy/history", timeout=30).json()
    assert [h["digest"] for h in history["history"]].count(new) == 1  # stored once
