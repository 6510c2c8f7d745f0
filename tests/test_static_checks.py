"""Lint and type checks run as part of the suite, so style regressions fail CI."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        found = shutil.which(name)
        if found is None:
            pytest.fail(f"{name} is not installed; install the test extra: pip install -e '.[test]'")
        return found
    return str(path)


def test_ruff_is_clean() -> None:
    out = subprocess.run([_tool("ruff"), "check", "mlflow_supplychain", "tests", "benchmarks",
                          "scripts", "examples"],
                         cwd=REPO, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr


def test_mypy_strict_is_clean() -> None:
    out = subprocess.run([_tool("mypy"), "mlflow_supplychain"], cwd=REPO, capture_output=True,
                         text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
