"""The test plugin's server pool: shared per configuration, bounded, never a live server taken
from the module that asked for it. (Starting is stubbed here; the integration suite starts
real servers through the same pool.)"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from mlflow_supplychain.testing import pytest_plugin
from mlflow_supplychain.testing.pytest_plugin import ServerPool


class Launches:
    def __init__(self) -> None:
        self.live: list[str] = []
        self.started: list[str] = []

    @contextlib.contextmanager
    def __call__(self, policy: Path, data_dir: Path, **_: Any) -> Iterator[Any]:
        self.live.append(policy.name)
        self.started.append(policy.name)
        process = subprocess.Popen(["sleep", "60"], start_new_session=True)  # a process group
        try:
            yield SimpleNamespace(policy=policy.name, process=process)
        finally:
            process.kill()
            process.wait()
            self.live.remove(policy.name)


@pytest.fixture
def pool(tmp_path_factory, monkeypatch) -> Iterator[tuple[ServerPool, Launches]]:
    launches = Launches()
    monkeypatch.setattr(pytest_plugin, "_current_module", [""])
    pool = ServerPool(tmp_path_factory, 2, launch=launches)
    yield pool, launches
    pool.close()
    assert launches.live == []


def _in_module(name: str) -> None:
    pytest_plugin._current_module[0] = name


def test_the_same_configuration_is_shared(pool):
    servers, launches = pool
    _in_module("a")
    assert servers(Path("p1")) is servers(Path("p1"))
    _in_module("b")
    assert servers(Path("p1")).policy == "p1"
    assert launches.started == ["p1"]


def test_no_more_than_the_limit_stay_alive(pool):
    servers, launches = pool
    for module, policy in [("a", "p1"), ("b", "p2"), ("c", "p3"), ("d", "p4")]:
        _in_module(module)
        servers(Path(policy))
        assert len(launches.live) <= 2
    assert launches.live == ["p3", "p4"]
    _in_module("e")
    servers(Path("p1"))  # stopped earlier: started afresh, the least recently used goes
    assert launches.live == ["p4", "p1"]
    assert servers.peak == 2


def test_a_server_the_current_module_asked_for_is_never_stopped(pool):
    servers, launches = pool
    _in_module("a")
    for policy in ("p1", "p2", "p3"):
        servers(Path(policy))
    assert launches.live == ["p1", "p2", "p3"]  # over the limit rather than pull one away


def test_a_pinned_server_stays(pool):
    servers, launches = pool
    _in_module("a")
    servers.pin(servers(Path("p1")))
    for module, policy in [("b", "p2"), ("c", "p3"), ("d", "p4")]:
        _in_module(module)
        servers(Path(policy))
    assert launches.live == ["p1", "p4"]
