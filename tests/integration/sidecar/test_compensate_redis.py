"""Compensating enforcement (alias removed by the sidecar) on a Redis-backed queue.

Audit mode lets a protected alias move to a non-compliant version, as on a server where the
store plugin cannot block; the sidecar, told to compensate, removes the alias and says why.
"""

from __future__ import annotations

import json
import os
import time
import uuid

import pytest

from mlflow_supplychain.testing.pytest_plugin import RunningServer, ServerFactory

from ..conftest import POLICIES
from .models import malicious_pickle, register_files, register_sklearn, wait_for_tags

REDIS_URL = "redis://127.0.0.1:6379/7"


@pytest.fixture(scope="module")
def compensating_server(supplychain_server_factory: ServerFactory) -> RunningServer:
    redis = pytest.importorskip("redis")
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.exceptions.ConnectionError:
        if os.environ.get("MLFLOW_SUPPLYCHAIN_REQUIRE_REDIS"):  # CI: must run, never skip
            pytest.fail("Redis is required (MLFLOW_SUPPLYCHAIN_REQUIRE_REDIS) but not running")
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    return supplychain_server_factory(POLICIES / "sidecar_audit.yaml", sidecar=True, env={
        "MLFLOW_SUPPLYCHAIN_SIDECAR_COMPENSATE": "true",
        "MLFLOW_SUPPLYCHAIN_SIDECAR_QUEUE": REDIS_URL,
        "MLFLOW_SUPPLYCHAIN_SIDECAR_RECONCILE_INTERVAL": "600",
        "_TEST_RUN": uuid.uuid4().hex})  # a fresh server per run (the queue is shared)


def test_alias_on_flagged_version_is_removed_and_recorded(compensating_server,
                                                          unique_model_name, tmp_path):
    client = compensating_server.client()
    bad = register_files(compensating_server, unique_model_name,
                         {"model.pkl": malicious_pickle()}, tmp_path)
    assert wait_for_tags(compensating_server, unique_model_name, bad)[
        "supplychain.scan.verdict"] == "prohibited"

    client.set_registered_model_alias(unique_model_name, "champion", bad)  # audit: allowed

    deadline = time.monotonic() + 30
    while "champion" in client.get_registered_model(unique_model_name).aliases:
        assert time.monotonic() < deadline, compensating_server.log_text()[-3000:]
        time.sleep(0.3)
    tags = client.get_registered_model(unique_model_name).tags
    record = json.loads(tags["mlflow-supplychain.compensated.champion"])
    assert record["version"] == bad and "prohibited" in record["reason"]


def test_compliant_alias_is_kept(compensating_server, unique_model_name):
    client = compensating_server.client()
    good = register_sklearn(compensating_server, unique_model_name)
    wait_for_tags(compensating_server, unique_model_name, good)
    client.set_registered_model_alias(unique_model_name, "champion", good)
    time.sleep(3)  # the alias webhook has been handled by now
    assert client.get_registered_model(unique_model_name).aliases["champion"] == good
