from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlflow_supplychain.integrity.budget import Rehash, rehash_within
from mlflow_supplychain.integrity.manifest import build_manifest
from mlflow_supplychain.policy.engine import evaluate
from mlflow_supplychain.policy.evidence import ArtifactEvidence, Target
from mlflow_supplychain.policy.loader import parse_policy
from mlflow_supplychain.registry.evidence_reader import VersionRecord
from mlflow_supplychain.registry.reverify import ReverifyingProvider

POLICY = """
version: 1
mode: enforce
protected: {aliases: {production: prod}}
profiles: {prod: {require: [hash_match]}}
artifact_classes: {base_model: {required: [owner]}}
sources: {allow: ["mlflow-artifacts:"]}
integrity: {reverify_on_promotion: %s, reverify_budget_seconds: 5}
"""


def _local(path: Path) -> Callable[[], tuple[Path, Callable[[], None]]]:
    return lambda: (path, lambda: None)


def test_rehash_within_budget_returns_the_manifest(tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(b"a" * 1000)
    outcome = rehash_within(_local(tmp_path), 10)
    assert outcome.digest == build_manifest(tmp_path).digest and outcome.reason is None


def test_rehash_over_budget_is_not_reverified(tmp_path: Path) -> None:
    def slow() -> tuple[Path, Callable[[], None]]:
        time.sleep(2)
        return tmp_path, lambda: None

    started = time.perf_counter()
    outcome = rehash_within(slow, 0.2)
    assert time.perf_counter() - started < 1.5
    assert outcome.digest is None and "within 0.2 s" in (outcome.reason or "")


def test_rehash_failure_is_not_reverified(tmp_path: Path) -> None:
    outcome = rehash_within(_local(tmp_path / "missing"), 5)
    assert outcome.digest is None and outcome.reason


class _Inner:
    requirements = frozenset()

    def __init__(self, digest: str) -> None:
        self.digest = digest

    def bind(self, engine: Any) -> None:
        pass

    def provide(self, record: Any, policy: Any, intake: Any) -> dict[str, Any]:
        return {"artifacts": ArtifactEvidence(digest=self.digest, files={})}


_RECORD = VersionRecord(name="m", version="1", source="models:/q/1", stage="None",
                        user_id=None, storage_location="mlflow-artifacts:/x")


def _decide(enabled: bool, recorded: str, rehashed: str | None,
            calls: list[str] | None = None) -> list[str]:
    from mlflow_supplychain.policy.evidence import Evidence

    policy = parse_policy(POLICY % ("true" if enabled else "false"))
    calls = [] if calls is None else calls

    def rehash(source: str, budget: float) -> Rehash:
        calls.append(source)
        return Rehash(rehashed, 0.1, None if rehashed else "too slow")

    provider = ReverifyingProvider(_Inner(recorded), rehash=rehash)
    fields = dict(provider.provide(_RECORD, policy, {}))
    evidence = Evidence(model_name="m", version="1", source="mlflow-artifacts:/x", creator=None,
                        intake={}, **fields)
    decision = evaluate(policy, evidence, Target.parse("production"))
    return [v.code for v in decision.violations] + [f"calls={len(calls)}"]


def test_provider_only_rehashes_when_the_policy_asks() -> None:
    d = "sha256:" + "1" * 64
    assert "calls=0" in _decide(False, d, None)
    assert "hash.not_reverified" in _decide(True, d, None)
    assert "hash.artifacts_changed" in _decide(True, d, "sha256:" + "2" * 64)
    # hash.missing is the intake's declared source hash, not re-verification
    assert [c for c in _decide(True, d, d) if c.startswith("hash.")] == ["hash.missing"]


def test_provider_rehashes_the_download_location_not_the_source() -> None:
    # MLflow fixed models:/q/1's location when the version was created; that is what loaders
    # download, whatever models:/q/1 resolves to today.
    d = "sha256:" + "1" * 64
    calls: list[str] = []
    _decide(True, d, d, calls)
    assert calls == ["mlflow-artifacts:/x"]


def test_rehash_waits_for_a_slot_no_longer_than_the_budget() -> None:
    import threading

    from mlflow_supplychain.registry.reverify import _rehash_source

    slots = threading.BoundedSemaphore(1)
    slots.acquire()  # every slot busy
    started = time.perf_counter()
    outcome = _rehash_source("mlflow-artifacts:/x", 0.2, slots=slots)
    assert time.perf_counter() - started < 1.0
    assert outcome.digest is None and "slot" in (outcome.reason or "")
