"""A format-policy change makes the sidecar rescan by itself, promoted versions first, with no
reconcile sweep due (issue #17)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests

from mlflow_supplychain.policy.loader import parse_policy
from mlflow_supplychain.testing.pytest_plugin import RunningServer, ServerFactory

from ..sidecar.models import register_files, wait_for_tags
from .conftest import API, write_policy

POLICY = """\
version: 1
mode: enforce
protected:
  aliases: {champion: scanned}
profiles:
  scanned:
    require: [scan_passed]
sources:
  allow: ["mlflow-artifacts:", "runs:/", "models:/"]
artifact_classes:
  base_model: {required: [owner]}
"""
STRICTER = POLICY + "formats:\n  pickle_allowlist: [mypkg.models.*]\n"
TAG = "supplychain.scan.format_policy_digest"


@pytest.fixture(scope="module")
def sidecar_server(supplychain_server_factory: ServerFactory,
                   tmp_path_factory: pytest.TempPathFactory) -> RunningServer:
    path = tmp_path_factory.mktemp("rescan") / "policy.yaml"
    path.write_text(POLICY)
    # a sweep only at start: any later rescan comes from the format-policy watch
    return supplychain_server_factory(path, sidecar=True, env={
        "MLFLOW_SUPPLYCHAIN_SIDECAR_RECONCILE_INTERVAL": "3600",
        "MLFLOW_SUPPLYCHAIN_POLICY_RELOAD_SECONDS": "0.2"})


def _decision(server: RunningServer, name: str, version: str) -> dict[str, object]:
    return dict(requests.get(f"{server.url}{API}/evaluate", timeout=30, params={
        "name": name, "version": version, "target": "champion"}).json()["decision"])


def test_format_change_rescans_without_a_human(sidecar_server, unique_model_name,
                                               tmp_path: Path) -> None:
    files = {"weights.json": b'{"w": [1, 2]}'}
    promoted = register_files(sidecar_server, unique_model_name, files, tmp_path)
    other = register_files(sidecar_server, unique_model_name, files, tmp_path)
    for version in (promoted, other):
        wait_for_tags(sidecar_server, unique_model_name, version)
    client = sidecar_server.client()
    client.set_registered_model_alias(unique_model_name, "champion", promoted)
    old_format = parse_policy(POLICY).format_digest
    new_format = parse_policy(STRICTER).format_digest

    write_policy(sidecar_server.policy_path, STRICTER)

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        decision = _decision(sidecar_server, unique_model_name, promoted)
        codes = [v["code"] for v in decision["violations"]]  # type: ignore[attr-defined]
        tags = [dict(client.get_model_version(unique_model_name, v).tags).get(TAG)
                for v in (promoted, other)]
        if tags == [new_format, new_format]:
            break
        assert codes in ([], ["scan.pending"]), decision  # never a failure to fix by hand
        time.sleep(0.3)
    else:
        raise AssertionError(f"not rescanned: {tags}\n" + sidecar_server.log_text()[-3000:])
    assert old_format != new_format
    assert _decision(sidecar_server, unique_model_name, promoted)["allowed"] is True
    # the order (promoted first) is pinned by tests/unit/sidecar/test_reconcile_order.py:
    # scans run on parallel workers, so completion times here prove nothing
