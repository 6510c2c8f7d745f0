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


class FakeAliasApi:
    deleted: list[str] = []

    def __init__(self, tracking_uri: str) -> None:
        pass

    def aliases(self, name: str) -> dict[str, str]:
        return {"champion": "1"}

    def evaluate(self, name: str, version: str, target: str) -> dict[str, Any]:
        return {"allowed": False, "violations": [{"code": CODE, "message": "m"}]}

    def delete_alias(self, name: str, alias: str) -> None:
        self.deleted.append(alias)

    def set_model_tag(self, name: str, key: str, value: str) -> None:
        pass


CODE = "scan.pending"


def test_compensation_never_removes_an_alias_awaiting_its_rescan(tmp_path: Path,
                                                                  monkeypatch: Any) -> None:
    """A format-policy change makes every promoted version scan.pending: compensating
    enforcement must not tear production down while the rescans run; a real failure still
    removes the alias."""
    global CODE  # noqa: PLW0603 - the fake's answer
    from mlflow_supplychain.sidecar import jobs

    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    settings = type("S", (), {"policy_path": path, "tracking_uri": "http://x",
                              "compensate": True})()
    monkeypatch.setattr(jobs, "ServerApi", FakeAliasApi)
    CODE = "scan.pending"
    assert jobs.check_aliases(settings, "m") == []  # type: ignore[arg-type]
    assert FakeAliasApi.deleted == []
    CODE = "scan.flagged"
    assert jobs.check_aliases(settings, "m") == ["champion"]  # type: ignore[arg-type]
    assert FakeAliasApi.deleted == ["champion"]
