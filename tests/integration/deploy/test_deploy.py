"""Deployment manifests, verification, verified loading, re-verification and rollback on a
real governed server (policy: tests/integration/policies/deploy.yaml)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from mlflow_supplychain.deploy.resolve import ReferenceRefused
from mlflow_supplychain.errors import ExitCode, IntegrityError, PromotionDenied
from mlflow_supplychain.testing.pytest_plugin import RunningServer

from .conftest import Registered, artifact_file, attest, cli, malicious_version, sklearn_version


@pytest.fixture
def promoted(tracking: RunningServer, unique_model_name: str) -> Registered:
    """A real sklearn model, attested and promoted to 'production' (re-verified on the way)."""
    version = sklearn_version(unique_model_name)
    reg = attest(tracking, unique_model_name, version)
    MlflowClient(tracking.url, tracking.url).set_registered_model_alias(
        unique_model_name, "production", version)
    return reg


def _audit(server: RunningServer, action: str, subject: str) -> list[dict[str, object]]:
    engine = sqlalchemy.create_engine(f"sqlite:///{server.data_dir / 'mlflow.db'}")
    with engine.connect() as conn:
        rows = conn.execute(sqlalchemy.text(
            "SELECT actor, payload FROM supplychain_audit_events WHERE action = :a AND "
            "subject = :s ORDER BY seq"), {"a": action, "s": subject}).all()
    engine.dispose()
    return [{"actor": r[0], **json.loads(r[1])} for r in rows]


def test_manifest_for_alias_and_version_then_verify(promoted: Registered, tracking: RunningServer,
                                                    tmp_path: Path) -> None:
    by_alias = tmp_path / "alias.json"
    code, _, err = cli("deploy", "manifest", f"models:/{promoted.name}@production",
                       "-o", str(by_alias), "--tracking-uri", tracking.url)
    assert code == ExitCode.OK, err
    manifest = json.loads(by_alias.read_text())
    assert manifest["version"] == promoted.version and manifest["alias"] == "production"
    assert manifest["artifact_digest"] == promoted.digest and manifest["files"] == promoted.files
    assert manifest["scan"]["verdict"] in ("permitted", "sandboxed")
    assert manifest["owner"] == "ml-platform@example.com" and manifest["target"] == "production"
    assert manifest["registry"] == tracking.url and "production" in manifest["aliases"]

    code, by_version, err = cli("deploy", "manifest", f"models:/{promoted.name}/{promoted.version}",
                                "--target", "production", "--tracking-uri", tracking.url)
    assert code == ExitCode.OK, err
    assert by_version["alias"] is None and by_version["files"] == promoted.files

    code, report, err = cli("deploy", "verify", str(by_alias))
    assert code == ExitCode.OK, err
    assert report["verified"] is True and report["mismatches"] == []


def test_mutable_and_unprotected_references_are_refused(promoted: Registered,
                                                        tracking: RunningServer) -> None:
    for uri in (f"models:/{promoted.name}/latest", f"models:/{promoted.name}/Production",
                "runs:/0123456789abcdef/model"):
        code, _, err = cli("deploy", "manifest", uri, "--tracking-uri", tracking.url)
        assert code == ExitCode.DENIED and "cannot be pinned" in err, (uri, err)
    client = MlflowClient(tracking.url, tracking.url)
    client.set_registered_model_alias(promoted.name, "dev", promoted.version)
    code, _, err = cli("deploy", "manifest", f"models:/{promoted.name}@dev",
                       "--tracking-uri", tracking.url)
    assert code == ExitCode.DENIED and "not a protected alias" in err


def test_tampering_is_caught_by_verify_promotion_and_loader(promoted: Registered,
                                                           tracking: RunningServer,
                                                           tmp_path: Path) -> None:
    import mlflow_supplychain

    pinned = tmp_path / "deploy.json"
    assert cli("deploy", "manifest", f"models:/{promoted.name}@production", "-o", str(pinned),
               "--tracking-uri", tracking.url)[0] == ExitCode.OK
    victim = next(p for p in promoted.files if p.endswith(".pkl"))
    path = artifact_file(tracking, promoted.name, promoted.version, victim)
    path.write_bytes(path.read_bytes() + b"\x00")  # overwritten after the scan

    code, report, err = cli("deploy", "verify", str(pinned))
    assert code == ExitCode.DENIED
    assert [m["path"] for m in report["mismatches"]] == [victim] and victim in err

    with pytest.raises(MlflowException) as excinfo:  # promotion re-hashes the bytes
        MlflowClient(tracking.url, tracking.url).set_registered_model_alias(
            promoted.name, "canary", promoted.version)
    assert "hash.artifacts_changed" in excinfo.value.message

    with pytest.raises(IntegrityError, match=victim.replace(".", r"\.")):
        mlflow_supplychain.load_verified_model(f"models:/{promoted.name}@production",
                                               manifest=pinned)


def test_loader_loads_verified_bytes_and_records_it(promoted: Registered,
                                                    tracking: RunningServer) -> None:
    import mlflow_supplychain

    model = mlflow_supplychain.load_verified_model(f"models:/{promoted.name}@production")
    assert list(model.predict([[0.0], [3.0]])) == [0, 1]
    records = _audit(tracking, "deploy.load", f"models:/{promoted.name}/{promoted.version}")
    assert records and records[-1]["artifact_digest"] == promoted.digest


def test_loader_refuses_prohibited_models(tracking: RunningServer, unique_model_name: str,
                                          tmp_path: Path) -> None:
    import mlflow_supplychain

    # An honest attestation (verdict prohibited): the gate never allows it.
    honest = malicious_version(unique_model_name, tmp_path / "a")
    attest(tracking, unique_model_name, honest)
    with pytest.raises(PromotionDenied, match="scan"):
        mlflow_supplychain.load_verified_model(f"models:/{unique_model_name}/{honest}")
    # A lying attestation (claims 'permitted'): the gate allows it, the loader's own scan
    # of the downloaded bytes refuses before anything is unpickled.
    lying = malicious_version(unique_model_name, tmp_path / "b")
    attest(tracking, unique_model_name, lying, verdict="permitted")
    with pytest.raises(IntegrityError, match="prohibited"):
        mlflow_supplychain.load_verified_model(f"models:/{unique_model_name}/{lying}")
    with pytest.raises(ReferenceRefused):
        mlflow_supplychain.load_verified_model(f"models:/{unique_model_name}/latest")


def test_rollback_moves_the_alias_through_the_gate(promoted: Registered,
                                                   tracking: RunningServer,
                                                   tmp_path: Path) -> None:
    client = MlflowClient(tracking.url, tracking.url)
    newer = attest(tracking, promoted.name, sklearn_version(promoted.name))
    client.set_model_version_tag(promoted.name, newer.version,
                                 "supplychain.intake.rollback.version", promoted.version)
    client.set_registered_model_alias(promoted.name, "production", newer.version)
    pinned = tmp_path / "newer.json"
    assert cli("deploy", "manifest", f"models:/{promoted.name}@production", "-o", str(pinned),
               "--tracking-uri", tracking.url)[0] == ExitCode.OK
    assert json.loads(pinned.read_text())["rollback_version"] == promoted.version

    code, done, err = cli("deploy", "rollback", promoted.name, "--alias", "production",
                          "--tracking-uri", tracking.url)
    assert code == ExitCode.OK, err
    assert done == {"name": promoted.name, "alias": "production",
                    "from_version": newer.version, "to_version": promoted.version}
    assert client.get_model_version_by_alias(promoted.name, "production").version == \
        promoted.version
    # The newer version's manifest still verifies (its bytes are approved); the move is noted.
    code, report, err = cli("deploy", "verify", str(pinned))
    assert code == ExitCode.OK and report["alias_version_now"] == promoted.version
    assert "now points to version" in err

    # Rolling back to a version the gate no longer allows (its bytes changed) is denied.
    client.set_registered_model_alias(promoted.name, "production", newer.version)
    victim = next(p for p in promoted.files if p.endswith(".pkl"))
    path = artifact_file(tracking, promoted.name, promoted.version, victim)
    path.write_bytes(b"replaced")
    code, _, err = cli("deploy", "rollback", promoted.name, "--alias", "production",
                       "--tracking-uri", tracking.url)
    assert code == ExitCode.DENIED and "hash.artifacts_changed" in err
    assert client.get_model_version_by_alias(promoted.name, "production").version == newer.version
