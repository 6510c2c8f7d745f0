"""Shared test configuration: the optional PostgreSQL database."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

POSTGRES_ENV = "MLFLOW_SUPPLYCHAIN_TEST_POSTGRES_URI"


@pytest.fixture
def postgres_uri() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test (dropped afterwards).

    Skips with the reason when MLFLOW_SUPPLYCHAIN_TEST_POSTGRES_URI is not set; CI sets it.
    """
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(f"PostgreSQL tests need {POSTGRES_ENV}=postgresql://user@host:port/db")
    from mlflow_supplychain.testing.pytest_plugin import postgres_database

    # Named with this process's pid, so a crashed run's databases are dropped by the next.
    with postgres_database(base) as uri:
        yield uri


_MLFLOW_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_EXPERIMENT_ID",
               "MLFLOW_EXPERIMENT_NAME", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")


@pytest.fixture(autouse=True)
def _isolate_mlflow_globals() -> Iterator[None]:
    """Every test starts with MLflow's process-wide state as the previous one found it.

    Tests share one process and many servers: a test (or our CLI, run in-process) that calls
    ``mlflow.set_tracking_uri``/``set_registry_uri``/``set_experiment`` must not send a later
    test's calls to another server (seen: a model logged to one server, registered on another,
    and MLflow's client retrying the 500 for minutes).
    """
    import sys

    saved_env = {k: os.environ.get(k) for k in _MLFLOW_ENV}
    yield
    for key, value in saved_env.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    if "mlflow" not in sys.modules:
        return
    import mlflow
    from mlflow.tracking import _model_registry, _tracking_service, fluent

    while mlflow.active_run() is not None:
        mlflow.end_run()
    _tracking_service.utils._tracking_uri = None  # back to "use the environment"
    _model_registry.utils._registry_uri = None
    fluent._active_experiment_id = None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``long`` first (stable otherwise): with two workers and whole files per
    worker, a minute-long test collected last kept one worker busy while the other idled."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)


def _remove_tree(top: str) -> None:
    """Delete ``top`` with an explicit stack: the hostile-tree tests build directories 1,100
    levels deep, which ``shutil.rmtree`` (and pytest's own clean-up of old temp folders)
    cannot remove without running out of recursion."""
    directories: list[str] = []
    stack = [top]
    while stack:
        current = stack.pop()
        directories.append(current)
        with os.scandir(current) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    os.unlink(entry.path)
    for directory in reversed(directories):
        os.rmdir(directory)


@pytest.fixture(autouse=True)
def _remove_deep_temp_trees(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a test that used ``tmp_path``, remove what it left there (deep trees included)."""
    path = request.getfixturevalue("tmp_path") if "tmp_path" in request.fixturenames else None
    yield
    if path is None:
        return
    try:
        os.chmod(path, 0o700)
        _remove_tree(str(path))
    except OSError:
        pass  # pytest's own clean-up gets another try; nothing here may fail a test
