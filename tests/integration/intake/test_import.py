"""Mirror-and-pin import into a real MLflow server: wrong hash, branch revision, good import."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient
from mlflow.artifacts import download_artifacts

from mlflow_supplychain.cli.main import main
from mlflow_supplychain.errors import ExitCode
from mlflow_supplychain.intake import show_intake
from mlflow_supplychain.intake.records import TAG_PREFIX

pytestmark = pytest.mark.slow
HUB = "https://huggingface.co/org/tiny-model"
COMMIT = "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432"
DATASET = {"name": "tiny-corpus", "context": "training", "digest": "c" * 64, "license": "CC0-1.0",
           "source": "hf://datasets/org/tiny-corpus"}
FILES = {"model.safetensors": b"\x08\x00\x00\x00\x00\x00\x00\x00{}      weights",
         "config.json": b'{"hidden": 4}', "tokenizer/vocab.txt": b"a\nb\n"}


def _download(tmp_path: Path) -> tuple[Path, Path]:
    """A model directory as a hub client leaves it, and sha256sum-style declared hashes."""
    directory = tmp_path / "download"
    for rel, data in FILES.items():
        (directory / rel).parent.mkdir(parents=True, exist_ok=True)
        (directory / rel).write_bytes(data)
    (directory / ".cache" / "huggingface").mkdir(parents=True)
    (directory / ".cache" / "huggingface" / "download.lock").write_text("")
    hashes = tmp_path / "SHA256SUMS"
    hashes.write_text("".join(f"{hashlib.sha256(d).hexdigest()}  {p}\n" for p, d in FILES.items()))
    return directory, hashes


def _import(directory: Path, hashes: Path, name: str, revision: str = COMMIT, *extra: str) -> int:
    return main(["intake", "import", str(directory), "--source-url", HUB, "--revision", revision,
                 "--expected-hashes", str(hashes), "--name", name, "--class", "base_model",
                 *extra])


def test_good_pinned_import(client: MlflowClient, model_name: str, tmp_path: Path,
                            env_tracking_uri: str, capsys: pytest.CaptureFixture[str]) -> None:
    directory, hashes = _download(tmp_path)
    record = tmp_path / "record.yaml"
    record.write_text(yaml.safe_dump({
        "artifact_class": "base_model", "owner": "ml-platform@example.com",
        "license": {"id": "Apache-2.0", "outcome": "approved", "reviewer": "legal@example.com",
                    "date": "2026-01-31"},
        "datasets": [DATASET]}))
    assert _import(directory, hashes, model_name, COMMIT, "--record", str(record),
                   "--format", "json") == ExitCode.OK
    result = json.loads(capsys.readouterr().out)
    assert set(result["verified"]) == set(FILES) == set(result["files"])  # .cache skipped

    mv = client.get_model_version(model_name, result["version"])
    assert mv.source.startswith("mlflow-artifacts:/") and "huggingface" not in mv.source
    assert mv.tags[TAG_PREFIX + "source_url"] == HUB
    assert mv.tags[TAG_PREFIX + "source_revision"] == COMMIT
    declared = json.loads(mv.tags[TAG_PREFIX + "source_sha256"])
    assert declared == {p: hashlib.sha256(d).hexdigest() for p, d in FILES.items()}
    assert show_intake(model_name, mv.version, client=client).license is not None
    assert json.loads(mv.tags[TAG_PREFIX + "datasets"]) == [DATASET]  # the record's data sets

    # the controlled copy holds exactly the verified bytes
    local = Path(download_artifacts(artifact_uri=mv.source, dst_path=str(tmp_path / "dl"),
                                    tracking_uri=env_tracking_uri))
    for rel, data in FILES.items():
        assert (local / rel).read_bytes() == data


def test_wrong_hash_is_refused_naming_the_file(client: MlflowClient, model_name: str,
                                               tmp_path: Path, env_tracking_uri: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    directory, hashes = _download(tmp_path)
    (directory / "model.safetensors").write_bytes(b"tampered weights")
    assert _import(directory, hashes, model_name, COMMIT, "--owner", "ml") == ExitCode.DENIED
    err = capsys.readouterr().err
    assert "model.safetensors: has sha256" in err and "nothing was imported" in err
    assert "config.json" not in err
    assert not client.search_registered_models(filter_string=f"name = '{model_name}'")


@pytest.mark.parametrize("revision", ["main", "v1.0", "latest", "9f8e7d6"])
def test_mutable_revision_is_refused(tmp_path: Path, model_name: str, env_tracking_uri: str,
                                     client: MlflowClient, revision: str,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    directory, hashes = _download(tmp_path)
    assert _import(directory, hashes, model_name, revision, "--owner", "ml") == ExitCode.ERROR
    err = capsys.readouterr().err
    assert f"--revision: {revision!r} is not a commit hash" in err
    assert "40-character commit hash" in err
    assert not client.search_registered_models(filter_string=f"name = '{model_name}'")
