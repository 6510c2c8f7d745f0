"""A deployment manifest never chooses where ``deploy verify`` writes or which local store it
opens: its ``registry`` field once made MLflow create a SQLite database at any path it named."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from mlflow_supplychain.cli.deploy_cmd import registry_for
from mlflow_supplychain.cli.main import main
from mlflow_supplychain.errors import EvidenceError, ExitCode

from .test_verify_and_schema import _manifest, _tree


def _files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


@pytest.mark.parametrize("registry", [
    "sqlite:///{target}/evil.db", "{target}/mlruns", "file://{target}/mlruns",
    "postgresql://postgres@127.0.0.1:5432/test", "databricks", "http://[::1", "", "http://",
])
def test_a_manifest_cannot_choose_a_local_registry(tmp_path: Path, registry: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    target = tmp_path / "victim"
    target.mkdir()
    model = _tree(tmp_path / "m")
    manifest = tmp_path / "deploy.json"
    manifest.write_text(_manifest(model, registry=registry.format(target=target)).to_json())
    before = _files_under(tmp_path)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        for argv in (["deploy", "verify", str(manifest)],
                     ["deploy", "verify", str(manifest), "--path", str(model)]):
            assert main(argv) == ExitCode.ERROR
    assert "manifest: registry" in err.getvalue() and "--tracking-uri" in err.getvalue()
    assert _files_under(tmp_path) == before  # nothing written anywhere under it


def test_the_callers_registry_wins_and_a_remote_manifest_registry_is_announced(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert registry_for("sqlite:////tmp/evil.db", "http://mine:5000") == "http://mine:5000"
    assert registry_for("https://registry.example.com", None) == "https://registry.example.com"
    assert "registry the manifest names" in capsys.readouterr().err
    with pytest.raises(EvidenceError):
        registry_for("sqlite:////tmp/evil.db", None)
