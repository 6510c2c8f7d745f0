"""Fixtures for scanner tests: write a payload to tmp_path and scan it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from mlflow_supplychain.scanning.limits import ScanLimits
from mlflow_supplychain.scanning.results import FileResult
from mlflow_supplychain.scanning.scanner import scan_path

ScanBytes = Callable[..., FileResult]


@pytest.fixture
def scan_bytes(tmp_path: Path) -> ScanBytes:
    """Write ``data`` under an innocent name and return the scan result of that one file."""
    counter = iter(range(10_000))

    def run(data: bytes, name: str = "model.bin", limits: ScanLimits | None = None,
            **kwargs: object) -> FileResult:
        target = tmp_path / f"{next(counter)}-{name}"
        target.write_bytes(data)
        extra = {"limits": limits} if limits is not None else {}
        report = scan_path(target, **extra, **kwargs)  # type: ignore[arg-type]
        assert len(report.files) == 1
        return report.files[0]

    return run


def codes(result: FileResult) -> set[str]:
    return {f.code.name for f in result.findings}
