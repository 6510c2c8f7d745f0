"""Policy reload keeps the last good policy (pure file I/O, no server)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlflow_supplychain.errors import PolicyError
from mlflow_supplychain.server.policy_holder import POLICY_ENV_VAR, PolicyHolder

ENFORCE = Path(__file__).parents[1] / "integration" / "policies" / "enforce.yaml"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def test_reload_on_change_keeps_last_good(tmp_path):
    path = tmp_path / "policy.yaml"
    good = ENFORCE.read_text(encoding="utf-8")
    path.write_text(good, encoding="utf-8")
    clock = Clock()
    holder = PolicyHolder(str(path), check_interval=1.0, clock=clock)
    digest = holder.policy.digest

    _write(path, "version: 1\nprotected: {}\n")
    assert holder.policy.digest == digest  # not checked yet: interval not elapsed
    clock.now = 2.0
    assert holder.policy.digest == digest
    assert "is invalid" in (holder.state().reload_error or "")

    _write(path, good.replace("mode: enforce", "mode: audit"))
    clock.now = 4.0
    assert holder.policy.mode.value == "audit"
    assert holder.state().reload_error is None


def test_deleted_file_keeps_policy(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text(ENFORCE.read_text(encoding="utf-8"), encoding="utf-8")
    clock = Clock()
    holder = PolicyHolder(str(path), check_interval=1.0, clock=clock)
    path.unlink()
    clock.now = 5.0
    assert holder.policy.mode.value == "enforce"
    assert "cannot be read" in (holder.state().reload_error or "")


def test_from_env_fails_closed(monkeypatch, tmp_path):
    monkeypatch.delenv(POLICY_ENV_VAR, raising=False)
    with pytest.raises(PolicyError, match="No mlflow-supplychain policy"):
        PolicyHolder.from_env()
    monkeypatch.setenv(POLICY_ENV_VAR, "relative.yaml")
    with pytest.raises(PolicyError, match="absolute"):
        PolicyHolder.from_env()
    monkeypatch.setenv(POLICY_ENV_VAR, str(tmp_path / "missing.yaml"))
    with pytest.raises(PolicyError, match="does not exist"):
        PolicyHolder.from_env()
