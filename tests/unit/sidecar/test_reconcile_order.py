"""The reconcile sweep queues versions holding a protected alias or stage first, and judges
scans by the format policy only."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlflow_supplychain.policy.loader import parse_policy
from mlflow_supplychain.sidecar.reconcile import reconcile_once
from mlflow_supplychain.sidecar.server_api import VersionInfo

POLICY = """\
version: 1
protected:
  aliases: {champion: scanned}
  stages: {Production: scanned}
profiles:
  scanned: {require: [scan_passed]}
sources: {allow: ["runs:/"]}
artifact_classes: {base_model: {required: [owner]}}
"""


@dataclass
class FakeApi:
    versions: list[VersionInfo]
    aliases: dict[str, dict[str, str]]

    def iter_versions(self) -> Any:
        return iter(self.versions)

    def iter_model_aliases(self) -> Any:
        return iter(self.aliases.items())

    def attestation(self, name: str, version: str) -> dict[str, Any]:
        return {"verified": True, "payload": {"format_policy_digest": "sha256:old"}}


@dataclass
class FakeTasks:
    queued: list[str] = field(default_factory=list)

    def enqueue_scan(self, settings: Any, name: str, version: str) -> bool:
        self.queued.append(f"{name}/{version}")
        return True

    def check_aliases(self, name: str) -> None:
        pass


@dataclass
class Settings:
    policy_path: Path


def test_promoted_versions_are_queued_first(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    current = parse_policy(POLICY).format_digest
    fresh = {"supplychain.scan.format_policy_digest": current}
    versions = [VersionInfo("a", "1", "runs:/x"), VersionInfo("a", "2", "runs:/x"),
                VersionInfo("b", "1", "runs:/x", stage="Production"),
                VersionInfo("c", "1", "runs:/x", tags=fresh),  # attested under this format
                VersionInfo("a", "3", "runs:/x")]
    api = FakeApi(versions, {"a": {"champion": "2", "dev": "3"}})
    tasks = FakeTasks()

    reconcile_once(Settings(path), tasks, api)  # type: ignore[arg-type]

    # c/1's tag matches, but the stored attestation still names the old format policy
    assert tasks.queued[:2] == ["a/2", "b/1"]
    assert sorted(tasks.queued[2:]) == ["a/1", "a/3", "c/1"]
