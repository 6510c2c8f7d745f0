"""``policy impact`` against a real server holding a few hundred versions (issue #17): it
reports exactly the promoted versions a change would break, and nothing for a harmless one."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
import requests

from mlflow_supplychain.cli.main import main
from mlflow_supplychain.errors import ExitCode
from mlflow_supplychain.testing.pytest_plugin import RunningServer

from .conftest import API, BASE_POLICY, open_request, promote

BULK_MODELS, BULK_VERSIONS = 40, 8  # 320 plain versions: impact must not even read them
WITH_BOB = BASE_POLICY.replace("[user:ml-lead]", "[user:ml-lead, user:bob]")
NEEDS_LICENSE = BASE_POLICY.replace("required: [owner, source_sha256]",
                                    "required: [owner, source_sha256, license.id]")
AUDIT = BASE_POLICY.replace("mode: enforce", "mode: audit")


def _impact(server: RunningServer, policy_text: str, tmp_path: Path) -> tuple[int, Any]:
    path = tmp_path / "proposed.yaml"
    path.write_text(policy_text)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["policy", "impact", str(path), "--tracking-uri", server.url,
                     "--format", "json"])
    return code, (json.loads(out.getvalue()) if out.getvalue().strip() else err.getvalue())


def _ours(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if str(r.get("model_name", r.get("model", ""))).startswith("impact-")]


@pytest.fixture(scope="module")
def registry(policy_server: RunningServer, tmp_path_factory: pytest.TempPathFactory
             ) -> dict[str, Any]:
    """Hundreds of plain versions, six promoted ones (four by alias, two by stage; the even
    ones carry a license id) and one open request."""
    from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore

    # the bulk straight through MLflow's own store (no HTTP, no gate), as bench_page does
    plain = SqlAlchemyStore(f"sqlite:///{policy_server.data_dir / 'mlflow.db'}")
    for n in range(BULK_MODELS):
        name = f"impact-bulk-{n:04d}"
        plain.create_registered_model(name)
        for _ in range(BULK_VERSIONS):
            plain.create_model_version(name, f"s3://corp-models/{name}")
    plain.engine.dispose()

    folder = tmp_path_factory.mktemp("impact-model")
    (folder / "model.safetensors").write_bytes(b"\x02\x00\x00\x00\x00\x00\x00\x00{}")
    promoted: dict[tuple[str, str, str], bool] = {}
    for i in range(6):
        name = f"impact-promoted-{i}"
        target = "stage:Production" if i >= 4 else "production"
        licensed = i % 2 == 0
        version = promote(policy_server, name, folder, target=target,
                          intake={"license.id": "Apache-2.0"} if licensed else None)
        promoted[(name, version, target)] = licensed
    name, version, request_id = ("impact-requested",
                                 *open_request(policy_server, "impact-requested", folder))
    return {"promoted": promoted, "request": (name, version, request_id)}


def test_impact_reports_exactly_the_versions_a_change_breaks(registry, server,
                                                             tmp_path: Path) -> None:
    code, report = _impact(server, NEEDS_LICENSE, tmp_path)

    assert code == ExitCode.DENIED, report
    expected = {(n, v, t) for (n, v, t), licensed in registry["promoted"].items()
                if not licensed}
    assert {(b["model"], b["version"], b["target"]) for b in _ours(report["breaking"])} == expected
    rows = _ours(report["rows"])
    assert not any(r["model_name"].startswith("impact-bulk-") for r in rows)
    broken = next(r for r in rows if (r["model_name"], r["version"], r["target"]) in expected)
    assert any(v.startswith("intake.missing") and "license.id" in v
               for v in broken["proposed"]["violations"]), broken
    name, version, request_id = registry["request"]
    request_row = next(r for r in rows if r["request_id"] == request_id)
    assert (request_row["model_name"], request_row["version"]) == (name, version)
    assert request_row["holding"] == "request"  # listed, but never counted as promoted
    assert report["current_digest"] != report["proposed_digest"]
    # nothing was applied: the server still enforces the base policy and allows them all
    status = requests.get(f"{server.url}{API}/status", timeout=30).json()
    assert status["policy"]["digest"] == report["current_digest"]


def test_adding_an_approver_breaks_nothing(registry, server, tmp_path: Path) -> None:
    code, report = _impact(server, WITH_BOB, tmp_path)

    assert code == ExitCode.OK, report
    assert report["breaking"] == [] and report["format_changed"] is False
    ours = _ours(report["rows"])
    assert len([r for r in ours if r["holding"] != "request"]) == len(registry["promoted"])
    assert {r["change"] for r in ours if r["holding"] != "request"} == {"unchanged"}


def test_audit_to_enforce_shows_what_starts_being_blocked(registry, server,
                                                          tmp_path: Path) -> None:
    from .conftest import apply_policy

    apply_policy(server, AUDIT)
    code, report = _impact(server, BASE_POLICY, tmp_path)
    # the open request's version has no approval: allowed nowhere, blocked from now on
    name, version, request_id = registry["request"]
    row = next(r for r in _ours(report["rows"]) if r["request_id"] == request_id)
    assert row["change"] == "blocks" and row["proposed"]["enforced"] is True
    assert any(v.startswith("approval.missing") for v in row["proposed"]["violations"])
    assert code == ExitCode.OK  # every promoted version is compliant under both


def test_invalid_or_oversized_proposals_cannot_decide(registry, server, tmp_path: Path) -> None:
    code, message = _impact(server, BASE_POLICY.replace("mode: enforce", "mode: maybe"), tmp_path)
    assert code == ExitCode.ERROR and "mode" in message
    huge = requests.post(f"{server.url}{API}/policy/impact", timeout=30,
                         json={"policy": BASE_POLICY + "#" * (300 * 1024)})
    assert huge.status_code == 400 and "exceeds" in huge.json()["message"]
    bad = requests.post(f"{server.url}{API}/policy/impact", timeout=30,
                        json={"policy": "protected: [oops"})
    assert bad.status_code == 400
