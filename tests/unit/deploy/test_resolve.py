from __future__ import annotations

import pytest

from mlflow_supplychain.deploy.resolve import (
    ModelRef,
    ReferenceRefused,
    parse_model_uri,
    strip_credentials,
)
from mlflow_supplychain.errors import ExitCode


@pytest.mark.parametrize(("uri", "ref"), [
    ("models:/fraud@production", ModelRef(name="fraud", alias="production")),
    ("models:/fraud/12", ModelRef(name="fraud", version="12")),
    ("models:/fraud/3/", ModelRef(name="fraud", version="3")),
    ("models:/my%20model@champion", ModelRef(name="my model", alias="champion")),
])
def test_pinnable_uris(uri: str, ref: ModelRef) -> None:
    assert parse_model_uri(uri) == ref


@pytest.mark.parametrize(("uri", "why"), [
    ("models:/fraud/latest", "latest"),
    ("models:/fraud/LATEST", "latest"),
    ("models:/fraud@latest", "latest"),
    ("models:/fraud/Production", "stage"),
    ("models:/fraud/staging", "stage"),
    ("runs:/0123abcd/model", "run artifact"),
    ("s3://bucket/model", "not a registry URI"),
    ("https://huggingface.co/org/model", "not a registry URI"),
    ("models:/m-0123456789abcdef", "malformed"),
    ("models:/fraud/0", "not a version number"),
    ("models:/fraud/abc", "not a version number"),
    ("models:/@prod", "malformed"),
])
def test_mutable_and_unregistered_references_are_refused(uri: str, why: str) -> None:
    with pytest.raises(ReferenceRefused) as excinfo:
        parse_model_uri(uri)
    assert excinfo.value.exit_code == ExitCode.DENIED
    assert why in excinfo.value.diagnostics()
    assert "fix:" in excinfo.value.diagnostics()


def test_credentials_never_reach_a_manifest() -> None:
    assert strip_credentials("https://u:secret@mlflow.example/x") == "https://mlflow.example/x"
    assert strip_credentials("http://127.0.0.1:5000") == "http://127.0.0.1:5000"
