from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from mlflow_supplychain.cli.main import main
from mlflow_supplychain.deploy.manifest_schema import (
    DeploymentManifest,
    ScanSummary,
    json_schema,
    parse_manifest,
    read_manifest,
)
from mlflow_supplychain.deploy.verify import MismatchKind, compare, require_match
from mlflow_supplychain.errors import EvidenceError, ExitCode, IntegrityError
from mlflow_supplychain.integrity.manifest import build_manifest

D = "sha256:" + "0" * 64


def _tree(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "MLmodel").write_text("flavors: {}\n")
    (root / "model.safetensors").write_bytes(b"weights")
    (root / "sub" / "tok.json").write_text("{}")
    return root


def _manifest(root: Path, **changes: object) -> DeploymentManifest:
    built = build_manifest(root)
    fields: dict[str, object] = dict(
        registry="http://127.0.0.1:5000", requested_uri="models:/m@production", model_name="m",
        version="3", alias="production", target="production", artifact_digest=built.digest,
        files={e.path: e.sha256 for e in built.files},
        scan=ScanSummary(verdict="permitted", scanner_version="t", scanned_at="2026-01-01T00:00:00Z",
                         key_id="0" * 16),
        policy_digest=D, evidence_digest=D, created_at="2026-01-01T00:00:00Z")
    fields.update(changes)
    return DeploymentManifest.model_validate(fields)


def test_identical_tree_matches(tmp_path: Path) -> None:
    root = _tree(tmp_path / "m")
    pinned = _manifest(root)
    assert compare(pinned.files, build_manifest(root)) == []
    require_match(pinned.files, pinned.artifact_digest, build_manifest(root), subject="m")


def test_changed_missing_and_extra_files_are_each_named(tmp_path: Path) -> None:
    root = _tree(tmp_path / "m")
    pinned = _manifest(root)
    (root / "model.safetensors").write_bytes(b"evil")
    (root / "sub" / "tok.json").unlink()
    (root / "extra.pkl").write_bytes(b"x")
    found = {(m.path, m.kind) for m in compare(pinned.files, build_manifest(root))}
    assert found == {("model.safetensors", MismatchKind.CHANGED),
                     ("sub/tok.json", MismatchKind.MISSING), ("extra.pkl", MismatchKind.EXTRA)}
    with pytest.raises(IntegrityError) as excinfo:
        require_match(pinned.files, pinned.artifact_digest, build_manifest(root), subject="m")
    text = excinfo.value.diagnostics()
    assert "model.safetensors" in text and "sub/tok.json" in text and "extra.pkl" in text
    assert excinfo.value.exit_code == ExitCode.DENIED


def test_manifest_roundtrip_digest_and_strictness(tmp_path: Path) -> None:
    pinned = _manifest(_tree(tmp_path / "m"))
    path = tmp_path / "deploy.json"
    path.write_text(pinned.to_json())
    again = read_manifest(path)
    assert again == pinned and again.digest() == pinned.digest()
    data = json.loads(pinned.to_json())
    data["unexpected"] = 1
    with pytest.raises(EvidenceError, match="valid deployment manifest"):
        parse_manifest(data)
    data.pop("unexpected")
    data["files"] = {}
    with pytest.raises(EvidenceError):
        parse_manifest(data)


def test_json_schema_lists_every_field(capsys: pytest.CaptureFixture[str]) -> None:
    schema = json_schema()
    assert schema["additionalProperties"] is False
    for field in ("registry", "model_name", "version", "alias", "artifact_digest", "files",
                  "formats", "scan", "approvals", "eval_ref", "owner", "rollback_version",
                  "policy_digest", "created_at"):
        assert field in schema["properties"]
    assert main(["deploy", "schema"]) == ExitCode.OK
    assert json.loads(capsys.readouterr().out)["title"] == "DeploymentManifest"


def test_verify_cli_with_local_path_reports_files(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    # The registry half needs a server (integration tests); an unreachable one is exit 2.
    root = _tree(tmp_path / "m")
    path = tmp_path / "deploy.json"
    path.write_text(_manifest(root, registry="http://127.0.0.1:9").to_json())
    assert main(["deploy", "verify", str(path), "--path", str(root)]) == ExitCode.ERROR


def test_mutable_reference_is_refused_before_any_network_call(
        capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["deploy", "manifest", "models:/m/latest", "--tracking-uri", "http://127.0.0.1:9"])
    assert code == ExitCode.DENIED
    assert "latest" in capsys.readouterr().err


def test_importing_the_package_stays_cheap() -> None:
    import subprocess

    out = subprocess.run([sys.executable, "-c", ("import sys, mlflow_supplychain; "
                          "f = mlflow_supplychain.load_verified_model; "
                          "print('mlflow' in sys.modules)")], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"  # the loader imports MLflow only when called


def test_loader_warns_but_keeps_a_verified_model_when_the_record_fails(tmp_path: Path) -> None:
    from mlflow_supplychain.deploy.loader import _record
    from mlflow_supplychain.errors import Problem, RegistryError

    class Unreachable:
        def record_deployment(self, **kwargs: object) -> None:
            raise RegistryError("Cannot reach the MLflow server", [Problem("x", "y")])

    with pytest.warns(RuntimeWarning, match="audit record was not written"):
        _record(Unreachable(), _manifest(_tree(tmp_path / "m")))
