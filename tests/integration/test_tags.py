"""The governance tag namespace: reserved tags cannot be forged, intake tags are validated."""

from __future__ import annotations

import pytest
from mlflow.exceptions import MlflowException

from .helpers import ROOTS, call, new_version

FORGED = ["supplychain.scan.verdict", "supplychain.approval.granted",
          "supplychain.integrity.digest", "supplychain.gate.created_by",
          "SupplyChain.Scan.verdict", "supplychain.intakes.x"]


@pytest.mark.parametrize("key", FORGED)
def test_reserved_tag_cannot_be_set_on_a_version(gate_server, unique_model_name, key):
    client = gate_server.client()
    version = new_version(client, unique_model_name)

    with pytest.raises(MlflowException) as excinfo:
        client.set_model_version_tag(unique_model_name, version, key, "permitted")

    assert excinfo.value.error_code == "PERMISSION_DENIED"
    assert "reserved governance tag" in excinfo.value.message
    assert key not in client.get_model_version(unique_model_name, version).tags


@pytest.mark.parametrize("root", ROOTS)
def test_reserved_tags_are_refused_on_create_over_raw_http(any_gate_server, root,
                                                          unique_model_name):
    url = any_gate_server.url
    forged = [{"key": "supplychain.scan.verdict", "value": "permitted"}]

    rm = call(url, root, "POST", "mlflow/registered-models/create",
              {"name": unique_model_name, "tags": forged})
    assert rm.status_code == 403 and rm.json()["error_code"] == "PERMISSION_DENIED"

    assert call(url, root, "POST", "mlflow/registered-models/create",
                {"name": unique_model_name}).status_code == 200
    mv = call(url, root, "POST", "mlflow/model-versions/create",
              {"name": unique_model_name, "source": "s3://corp-models/x", "tags": forged})
    assert mv.status_code == 403 and "supplychain.scan.verdict" in mv.json()["message"]

    rm_tag = call(url, root, "POST", "mlflow/registered-models/set-tag",
                  {"name": unique_model_name, "key": "supplychain.approval.x", "value": "yes"})
    assert rm_tag.status_code == 403


def test_reserved_tags_cannot_be_deleted(gate_server, unique_model_name):
    client = gate_server.client()
    version = new_version(client, unique_model_name)

    with pytest.raises(MlflowException, match="PERMISSION_DENIED|reserved"):
        client.delete_model_version_tag(unique_model_name, version, "supplychain.scan.verdict")
    with pytest.raises(MlflowException, match="reserved"):
        client.delete_registered_model_tag(unique_model_name, "supplychain.scan.verdict")


@pytest.mark.parametrize(("field", "value", "words"), [
    ("source_sha256", "abc123", "sha256"),
    ("source_revision", "main", "pinned revision"),
    ("artifact_class", "big_model", "must be one of"),
    ("license.id", "Apache-2.0-ish-XYZ", ""),
    ("no_such_field", "x", "not a known intake field"),
])
def test_invalid_intake_values_are_rejected_with_400(gate_server, unique_model_name, field,
                                                    value, words):
    client = gate_server.client()
    version = new_version(client, unique_model_name)
    key = f"supplychain.intake.{field}"

    with pytest.raises(MlflowException) as on_set:
        client.set_model_version_tag(unique_model_name, version, key, value)
    with pytest.raises(MlflowException) as on_create:
        client.create_model_version(unique_model_name, "s3://corp-models/y", tags={key: value})

    for excinfo in (on_set, on_create):
        assert excinfo.value.error_code == "INVALID_PARAMETER_VALUE"
        assert key in excinfo.value.message and words in excinfo.value.message


def test_intake_tags_on_raw_http_get_400(gate_server, unique_model_name):
    client = gate_server.client()
    version = new_version(client, unique_model_name)
    response = call(gate_server.url, "/ajax-api/2.0", "POST", "mlflow/model-versions/set-tag",
                    {"name": unique_model_name, "version": version,
                     "key": "supplychain.intake.source_sha256", "value": "nothex"})
    assert response.status_code == 400
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"


@pytest.mark.parametrize(("source", "code"), [
    ("s3://other-bucket/model", "not under an allowed prefix"),
    ("s3://corp-models/huggingface.co/org/model", "public model hub"),
    ("s3://corp-models/org/model/resolve/main/", "mutable reference"),
])
def test_disallowed_sources_are_refused(gate_server, unique_model_name, source, code):
    client = gate_server.client()
    client.create_registered_model(unique_model_name)

    with pytest.raises(MlflowException) as excinfo:
        client.create_model_version(unique_model_name, source)

    assert excinfo.value.error_code == "PERMISSION_DENIED"
    assert code in excinfo.value.message
