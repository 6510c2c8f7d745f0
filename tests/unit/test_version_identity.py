"""The version identity value: every field takes part in the digest (pure, no MLflow)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mlflow_supplychain.policy.evidence import evidence_digest
from mlflow_supplychain.version_identity import VersionIdentity, new_uid

BASE = VersionIdentity(workspace="default", name="fraud", version="1", created_at=1700000000000,
                       storage_location="mlflow-artifacts:/1/abc/artifacts/model",
                       uid="a" * 32)


@pytest.mark.parametrize("change", [
    {"workspace": "team-b"}, {"name": "fraud-old"}, {"version": "2"}, {"created_at": 1700000000001},
    {"storage_location": "mlflow-artifacts:/1/abd/artifacts/model"}, {"uid": "b" * 32},
    {"uid": ""}])
def test_every_field_changes_the_digest(change: dict[str, object]) -> None:
    other = BASE.model_copy(update=change)
    assert other.digest() != BASE.digest()
    assert evidence_digest({}, None, other.digest()) != evidence_digest({}, None, BASE.digest())


def test_digest_is_stable_and_frozen() -> None:
    same = VersionIdentity.model_validate(BASE.model_dump(mode="json"))
    assert same.digest() == BASE.digest() and same == BASE
    with pytest.raises(ValidationError):
        BASE.name = "x"  # type: ignore[misc]


@pytest.mark.parametrize("bad", [{"version": "01"}, {"version": "1" * 20}, {"uid": "xyz"},
                                 {"workspace": ""}, {"created_at": -1}, {"extra": 1}])
def test_malformed_identities_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        VersionIdentity.model_validate({**BASE.model_dump(mode="json"), **bad})


def test_uids_are_fresh() -> None:
    assert len({new_uid() for _ in range(100)}) == 100
