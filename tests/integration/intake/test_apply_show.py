"""apply/show round-trip on a real MLflow server, and references that must exist."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient

from mlflow_supplychain.cli.main import main
from mlflow_supplychain.errors import EvidenceError, ExitCode
from mlflow_supplychain.intake import apply_intake, show_intake
from mlflow_supplychain.intake.records import TAG_PREFIX

from .conftest import register_version

pytestmark = pytest.mark.slow
HEX = "ab" * 32


def _record(run_id: str, rollback: str | None = None) -> dict[str, object]:
    record: dict[str, object] = {
        "artifact_class": "base_model", "owner": "ml-platform@example.com",
        "intended_use": "Fraud scoring", "source_url": "https://huggingface.co/org/model",
        "source_revision": "0123456789abcdef0123456789abcdef01234567",
        "source_sha256": {"model.safetensors": HEX},
        "license": {"id": "llama3.1", "outcome": "approved_with_conditions",
                    "reviewer": "legal@example.com", "date": "2026-01-31",
                    "commercial_use": True, "conditions": "Built with Llama"},
        "eval": {"ref": f"runs:/{run_id}"},
        "security_review": {"status": "passed", "reviewer": "appsec@example.com"},
        "deployment": {"targets": ["eu-prod", "us-prod"]},
    }
    if rollback:
        record["rollback"] = {"version": int(rollback)}
    return record


def test_apply_show_round_trip(client: MlflowClient, model_name: str, tmp_path: Path,
                               env_tracking_uri: str, capsys: pytest.CaptureFixture[str]) -> None:
    first, _ = register_version(client, model_name, tmp_path)
    version, run_id = register_version(client, model_name, tmp_path)
    path = tmp_path / "record.yaml"
    path.write_text(yaml.safe_dump(_record(run_id, rollback=first)))

    applied = apply_intake(model_name, version, path, client=client)
    tags = client.get_model_version(model_name, version).tags
    assert tags[TAG_PREFIX + "license.id"] == "llama3.1"
    assert tags[TAG_PREFIX + "deployment.targets"] == "eu-prod, us-prod"
    assert show_intake(model_name, version, client=client) == applied

    assert main(["intake", "show", "--name", model_name, "--version", version,
                 "--format", "json"]) == ExitCode.OK
    shown = json.loads(capsys.readouterr().out)
    assert shown["license"]["outcome"] == "approved_with_conditions"
    assert shown["rollback"] == {"version": int(first)}

    # applying a smaller record replaces the intake: fields it drops are removed
    smaller = {k: v for k, v in _record(run_id).items() if k != "deployment"}
    path.write_text(yaml.safe_dump(smaller))
    assert main(["intake", "apply", str(path), "--name", model_name, "--version", version]) == 0
    tags = client.get_model_version(model_name, version).tags
    assert TAG_PREFIX + "deployment.targets" not in tags
    assert TAG_PREFIX + "rollback.version" not in tags


def test_dangling_references_are_refused_before_any_write(client: MlflowClient, model_name: str,
                                                           tmp_path: Path) -> None:
    version, _ = register_version(client, model_name, tmp_path)
    record = _record("f" * 32, rollback="99")
    record.update({"artifact_class": "fine_tune", "finetune": {"summary": "LoRA"},
                   "base_model": {"uri": "models:/no-such-base/1", "digest": f"sha256:{HEX}"}})
    with pytest.raises(EvidenceError) as err:
        apply_intake(model_name, version, record, client=client)
    wheres = " ".join(p.where for p in err.value.problems)
    assert "eval.ref" in wheres and "base_model.uri" in wheres and "rollback.version" in wheres
    assert not any(k.startswith(TAG_PREFIX) for k in client.get_model_version(model_name, version).tags)


def test_value_too_long_for_a_tag_is_rejected_not_truncated(client: MlflowClient, model_name: str,
                                                            tmp_path: Path) -> None:
    version, run_id = register_version(client, model_name, tmp_path)
    record = _record(run_id)
    record["source_sha256"] = {f"shard-{i:05d}.safetensors": HEX for i in range(1300)}
    with pytest.raises(EvidenceError) as err:
        apply_intake(model_name, version, record, client=client)
    assert err.value.problems[0].where == TAG_PREFIX + "source_sha256"
    assert "100000" in err.value.problems[0].what
    assert not any(k.startswith(TAG_PREFIX) for k in client.get_model_version(model_name, version).tags)


def test_cli_exit_codes(client: MlflowClient, model_name: str, tmp_path: Path,
                        env_tracking_uri: str, capsys: pytest.CaptureFixture[str]) -> None:
    version, _ = register_version(client, model_name, tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text("artifact_class: base_model\nowner: me\nsource_revision: main\n")
    assert main(["intake", "apply", str(bad), "--name", model_name, "--version", version]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:3 source_revision" in err and "not a pinned revision" in err
    # no record on the version yet: show says how to write one
    assert main(["intake", "show", "--name", model_name, "--version", version]) == 2
    assert "intake apply" in capsys.readouterr().err
    assert main(["intake", "show", "--name", model_name, "--version", "999"]) == 2


def test_python_api_right_after_log_model(env_tracking_uri: str, client: MlflowClient,
                                          model_name: str, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow
    from sklearn.linear_model import LogisticRegression

    monkeypatch.setenv("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    register_version(client, f"{model_name}-setup", tmp_path)  # makes sure the experiment exists
    exp_id = client.get_experiment_by_name("intake-tests").experiment_id
    with mlflow.start_run(experiment_id=exp_id) as run:  # MLFLOW_TRACKING_URI, no global state
        info = mlflow.sklearn.log_model(LogisticRegression().fit([[0.0], [1.0]], [0, 1]),
                                        name="model", registered_model_name=model_name,
                                        pip_requirements=["scikit-learn"])
    record = {"artifact_class": "base_model", "owner": "ds@example.com",
              "eval": {"ref": run.info.run_id}}
    applied = apply_intake(model_name, info.registered_model_version, record, client=client)
    assert show_intake(model_name, info.registered_model_version, client=client) == applied
