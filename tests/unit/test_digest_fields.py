"""Digest field types: every model that carries a digest refuses a malformed one alike."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from mlflow_supplychain.digest_fields import Digest, FileHashes

GOOD = "sha256:" + "a" * 64


class _Model(BaseModel):
    digest: Digest
    files: FileHashes = {}


def test_good_values_pass() -> None:
    assert _Model(digest=GOOD, files={"w.bin": "b" * 64}).digest == GOOD


@pytest.mark.parametrize("bad", ["sha256:" + "A" * 64, "a" * 64, "sha256:abc", ""])
def test_malformed_digest_is_a_field_error(bad: str) -> None:
    with pytest.raises(ValidationError) as info:
        _Model(digest=bad)
    err = info.value.errors()[0]
    assert err["loc"] == ("digest",)
    assert err["msg"] == "Value error, must look like sha256:<64 lowercase hex characters>"


def test_malformed_file_hash_names_the_path() -> None:
    with pytest.raises(ValidationError) as info:
        _Model(digest=GOOD, files={"ok": "c" * 64, "w.bin": "nothex"})
    assert info.value.errors()[0]["msg"] == (
        "Value error, 'w.bin': sha256 must be 64 lowercase hex characters")
