"""Data sets against a real governed server: a fine-tune's record lists its data, the gate links
it with the data set MLflow logged on the training run (mlflow.log_input), refuses a denied data
license and a record the run contradicts, and the store refuses a malformed list on write."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from mlflow_supplychain.cli.main import main
from mlflow_supplychain.errors import ExitCode
from mlflow_supplychain.testing.pytest_plugin import RunningServer, ServerFactory

POLICY = Path(__file__).parents[1] / "policies" / "datasets.yaml"
PREFIX = "supplychain.intake."


@pytest.fixture(scope="module")
def server(supplychain_server_factory: ServerFactory) -> RunningServer:
    return supplychain_server_factory(POLICY)


@pytest.fixture
def tracking(server: RunningServer) -> Iterator[RunningServer]:
    import mlflow

    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(server.url)
    yield server
    mlflow.set_tracking_uri(previous)


def _trained_version(server: RunningServer, name: str) -> tuple[str, str]:
    """A run that logged its training data with mlflow.log_input, and a version registered
    from it (run_id set); returns (version, the digest MLflow logged)."""
    version, digest, _ = _trained_run_and_version(server, name)
    return version, digest


def _trained_run_and_version(server: RunningServer, name: str) -> tuple[str, str, str]:
    import mlflow
    import numpy as np

    client = server.client()
    with mlflow.start_run() as run:
        data = mlflow.data.from_numpy(np.arange(12.0).reshape(4, 3), name="tickets-2026q1")
        mlflow.log_input(data, context="training")
    with contextlib.suppress(Exception):
        client.create_registered_model(name)
    version = client.create_model_version(name, "s3://corp-models/tickets/1",
                                          run_id=run.info.run_id)
    return str(version.version), str(data.digest), run.info.run_id


def _record(tmp_path: Path, datasets: list[dict[str, str]]) -> Path:
    path = tmp_path / "record.yaml"
    path.write_text(yaml.safe_dump({
        "artifact_class": "fine_tune", "owner": "support-ml@example.com",
        "license": {"id": "Apache-2.0", "outcome": "approved", "reviewer": "legal@example.com",
                    "date": "2026-03-10"},
        "base_model": {"uri": "https://git.example.com/base@" + "2" * 40,
                       "digest": "sha256:" + "1" * 64},
        "finetune": {"summary": "LoRA r=16"},
        "datasets": datasets}))
    return path


def _cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def _promote(server: RunningServer, name: str, version: str) -> requests.Response:
    return requests.post(f"{server.url}/api/2.0/mlflow/registered-models/alias",
                         json={"name": name, "alias": "production", "version": version},
                         timeout=60)


def _decision(server: RunningServer, name: str, version: str) -> dict[str, Any]:
    response = requests.get(f"{server.url}/api/2.0/mlflow-supplychain/evaluate",
                            params={"name": name, "version": version, "target": "production"},
                            timeout=60)
    assert response.status_code == 200, response.text
    return dict(response.json()["decision"])


def _entry(digest: str, **over: str) -> dict[str, str]:
    return {"name": "tickets-2026q1", "context": "training", "digest": digest,
            "license": "CC-BY-4.0", "source": "s3://corp-datasets/tickets/2026q1", **over}


def test_fine_tune_with_its_logged_data_recorded_is_promoted(
        tracking: RunningServer, unique_model_name: str, tmp_path: Path) -> None:
    version, digest, run_id = _trained_run_and_version(tracking, unique_model_name)
    # the record's block comes from the run: licenses are left for the reviewer to fill in
    code, block, err = _cli("intake", "datasets", run_id, "--tracking-uri", tracking.url)
    assert code == ExitCode.OK, err
    [listed] = yaml.safe_load(block)["datasets"]
    assert (listed["name"], listed["context"], listed["digest"], listed["license"]) == (
        "tickets-2026q1", "training", digest, "")
    unfilled = _record(tmp_path, [listed])
    assert _cli("intake", "validate", str(unfilled))[0] == ExitCode.ERROR
    record = _record(tmp_path, [_entry(digest)])
    code, _, err = _cli("intake", "apply", str(record), "--name", unique_model_name,
                        "--version", version, "--tracking-uri", tracking.url)
    assert code == ExitCode.OK, err
    code, shown, err = _cli("intake", "show", "--name", unique_model_name, "--version", version,
                            "--format", "json", "--tracking-uri", tracking.url)
    assert code == ExitCode.OK, err
    assert json.loads(shown)["datasets"] == [_entry(digest)]
    decision = _decision(tracking, unique_model_name, version)
    assert decision["allowed"] is True and decision["advisories"] == [], decision
    page = requests.get(f"{tracking.url}/supplychain/version",
                        params={"name": unique_model_name, "version": version}, timeout=60)
    assert "data sets: 1 in the record, 1 logged on the runs" in page.text, page.text[:2000]
    assert _promote(tracking, unique_model_name, version).status_code == 200


def test_denied_data_license_blocks_promotion(tracking: RunningServer, unique_model_name: str,
                                             tmp_path: Path) -> None:
    version, digest = _trained_version(tracking, unique_model_name)
    record = _record(tmp_path, [_entry(digest, license="CC-BY-NC-4.0")])
    assert _cli("intake", "apply", str(record), "--name", unique_model_name, "--version",
                version, "--tracking-uri", tracking.url)[0] == ExitCode.OK
    denied = _promote(tracking, unique_model_name, version)
    assert denied.status_code == 403
    assert "dataset.license_denied" in denied.json()["message"]
    assert "CC-BY-NC-4.0" in denied.json()["message"]


def test_record_the_run_contradicts_is_refused(tracking: RunningServer, unique_model_name: str,
                                               tmp_path: Path) -> None:
    version, digest = _trained_version(tracking, unique_model_name)
    client = tracking.client()
    wrong = "0badf00d" if digest != "0badf00d" else "0badcafe"
    assert _cli("intake", "apply", str(_record(tmp_path, [_entry(wrong)])), "--name",
                unique_model_name, "--version", version,
                "--tracking-uri", tracking.url)[0] == ExitCode.OK
    codes = [v["code"] for v in _decision(tracking, unique_model_name, version)["violations"]]
    assert codes == ["dataset.digest_mismatch"]
    other = json.dumps([_entry(digest, name="something-else")])
    client.set_model_version_tag(unique_model_name, version, PREFIX + "datasets", other)
    decision = _decision(tracking, unique_model_name, version)
    assert [v["code"] for v in decision["violations"]] == ["dataset.unrecorded"]
    assert "tickets-2026q1" in decision["violations"][0]["message"]
    assert _promote(tracking, unique_model_name, version).status_code == 403


def test_malformed_datasets_tag_is_refused_on_write(tracking: RunningServer,
                                                    unique_model_name: str) -> None:
    from mlflow.exceptions import MlflowException

    version, digest = _trained_version(tracking, unique_model_name)
    client = tracking.client()
    for bad in ("[]", '[{"name": "x"}]', json.dumps([_entry(digest, license="Made-Up")])):
        with pytest.raises(MlflowException) as info:
            client.set_model_version_tag(unique_model_name, version, PREFIX + "datasets", bad)
        assert "datasets" in str(info.value)


def test_bom_lists_the_recorded_and_logged_data_once(tracking: RunningServer,
                                                     unique_model_name: str) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    from tests.integration.sidecar.attestation_helpers import make_payload, submit

    version, digest = _trained_version(tracking, unique_model_name)
    client = tracking.client()
    held_out = {"name": "holdout", "context": "evaluation", "digest": "ab" * 32,
                "license": "LicenseRef-internal", "source": "https://data.example.com/holdout"}
    client.set_model_version_tag(unique_model_name, version, PREFIX + "datasets",
                                 json.dumps([_entry(digest), held_out]))
    assert submit(tracking, make_payload(tracking, unique_model_name, version)).status_code == 200
    served = requests.get(f"{tracking.url}/api/2.0/mlflow-supplychain/bom",
                          params={"name": unique_model_name, "version": version}, timeout=60)
    assert served.status_code == 200, served.text
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(served.text) is None
    data = {c["name"]: c for c in json.loads(served.text)["components"] if c["type"] == "data"}
    assert sorted(data) == ["holdout", "tickets-2026q1"]  # the logged one is listed once
    tickets = data["tickets-2026q1"]
    assert tickets["licenses"] == [{"license": {"id": "CC-BY-4.0"}}]
    assert tickets["externalReferences"][0]["url"] == "s3://corp-datasets/tickets/2026q1"
    assert {"name": "mlflow-supplychain:digest", "value": digest} in tickets["properties"]
    assert data["holdout"]["hashes"] == [{"alg": "SHA-256", "content": "ab" * 32}]
