"""Promotion re-verifies artifacts kept on S3 by streaming them (issue 19), against a real
``mlflow server`` whose artifact destination is moto's S3 server (the stand-in for MinIO/S3;
the product reads it through boto3 exactly as it would any S3 endpoint):

- an honest version is re-hashed from S3 and promoted;
- a version whose bytes are replaced in S3 after the scan is refused (changed);
- a server whose artifact root is ``s3://`` itself (no proxy): promotion re-hashes the
  ``s3://`` location, and ``deploy verify`` streams the manifest from S3 on the client side;
- the endpoint stalling (accepts connections, never answers) or gone: refused as not
  re-verified, within the budget, with the cause in the denial and the server log.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from mlflow_supplychain.errors import ExitCode
from mlflow_supplychain.testing.cluster import S3Endpoint, s3_server
from mlflow_supplychain.testing.pytest_plugin import RunningServer, run_server

from ..conftest import POLICIES
from .conftest import attest, cli, sklearn_version

BUDGET = 4
POLICY = (POLICIES / "deploy.yaml").read_text().replace("reverify_budget_seconds: 30",
                                                        f"reverify_budget_seconds: {BUDGET}")


@dataclass(frozen=True)
class World:
    server: RunningServer
    s3: S3Endpoint


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("s3-reverify")
    policy = root / "policy.yaml"
    policy.write_text(POLICY)
    assert f"reverify_budget_seconds: {BUDGET}" in POLICY
    with s3_server(root) as s3, run_server(
            policy, root / "server", env=s3.env,
            extra_args=("--artifacts-destination", f"s3://{s3.bucket}/artifacts")) as server:
        yield World(server, s3)


@pytest.fixture
def client(world: World) -> Iterator[MlflowClient]:
    import mlflow

    previous = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = world.server.url
    mlflow.set_tracking_uri(world.server.url)
    mlflow.set_registry_uri(world.server.url)
    yield MlflowClient(world.server.url, world.server.url)
    if previous is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = previous


def _keys(world: World, client: MlflowClient, name: str, version: str) -> list[str]:
    """The S3 keys of the version's artifacts (read from the bucket, not guessed)."""
    uri = client.get_model_version_download_uri(name, version)
    assert uri.startswith("mlflow-artifacts:/"), uri
    prefix = "artifacts/" + uri[len("mlflow-artifacts:/"):].strip("/") + "/"
    listed = world.s3.client().list_objects_v2(  # type: ignore[attr-defined]
        Bucket=world.s3.bucket, Prefix=prefix)
    keys = [str(o["Key"]) for o in listed.get("Contents", [])]
    assert any(k.endswith("model.pkl") for k in keys), keys
    return keys


def _refused(call: object) -> str:
    with pytest.raises(MlflowException) as excinfo:
        call()  # type: ignore[operator]
    assert excinfo.value.error_code == "PERMISSION_DENIED", excinfo.value.message
    return excinfo.value.message


def _log_since(server: RunningServer, offset: int) -> str:
    return server.log_path.read_bytes()[offset:].decode("utf-8", "replace")


def test_an_honest_version_on_s3_is_streamed_and_promoted(world: World, client: MlflowClient,
                                                         unique_model_name: str) -> None:
    version = sklearn_version(unique_model_name)
    _keys(world, client, unique_model_name, version)
    attest(world.server, unique_model_name, version, verdict="permitted")
    start = world.server.log_path.stat().st_size
    client.set_registered_model_alias(unique_model_name, "production", version)
    log = _log_since(world.server, start)
    assert f"re-verified {unique_model_name}/{version}" in log, log[-2000:]
    assert f"re-hashing s3://{world.s3.bucket}/artifacts/" in log, log[-2000:]


def test_bytes_replaced_in_s3_after_the_scan_are_refused(world: World, client: MlflowClient,
                                                         unique_model_name: str) -> None:
    from tests.unit.scanning.payloads import Exec

    version = sklearn_version(unique_model_name)
    attest(world.server, unique_model_name, version, verdict="permitted")
    pkl = next(k for k in _keys(world, client, unique_model_name, version)
               if k.endswith("model.pkl"))
    world.s3.client().put_object(  # type: ignore[attr-defined]
        Bucket=world.s3.bucket, Key=pkl, Body=pickle.dumps(Exec(), protocol=4))
    message = _refused(lambda: client.set_registered_model_alias(
        unique_model_name, "production", version))
    assert "hash.artifacts_changed" in message, message


@contextlib.contextmanager
def _stalling(port: int) -> Iterator[None]:
    """Listen on ``port``, accept every connection and never answer."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen(64)
    server.settimeout(0.1)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError):
                held.append(server.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        server.close()


def test_direct_s3_root_reverifies_and_deploy_verify_streams(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, unique_model_name: str) -> None:
    import mlflow

    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    with s3_server(tmp_path) as s3, run_server(
            policy, tmp_path / "server", env=s3.env,
            extra_args=("--default-artifact-root", f"s3://{s3.bucket}/direct",
                        "--no-serve-artifacts")) as server:
        for key, value in {**s3.env, "MLFLOW_TRACKING_URI": server.url}.items():
            monkeypatch.setenv(key, value)  # this client reads and writes S3 itself
        mlflow.set_tracking_uri(server.url)
        mlflow.set_registry_uri(server.url)
        client = MlflowClient(server.url, server.url)
        version = sklearn_version(unique_model_name)
        assert client.get_model_version_download_uri(unique_model_name, version).startswith(
            f"s3://{s3.bucket}/direct/")
        attest(server, unique_model_name, version, verdict="permitted")
        client.set_registered_model_alias(unique_model_name, "production", version)
        pinned = tmp_path / "pinned.json"
        assert cli("deploy", "manifest", f"models:/{unique_model_name}@production", "-o",
                   str(pinned), "--tracking-uri", server.url)[0] == ExitCode.OK
        code, report, err = cli("deploy", "verify", str(pinned), "--tracking-uri", server.url)
        assert code == ExitCode.OK, err
        assert "downloading" not in err  # streamed, not downloaded

        uri = client.get_model_version_download_uri(unique_model_name, version)
        prefix = uri[len(f"s3://{s3.bucket}/"):].rstrip("/") + "/"
        listed = s3.client().list_objects_v2(  # type: ignore[attr-defined]
            Bucket=s3.bucket, Prefix=prefix)
        pkl = next(str(o["Key"]) for o in listed["Contents"] if o["Key"].endswith("model.pkl"))
        s3.client().put_object(Bucket=s3.bucket, Key=pkl,  # type: ignore[attr-defined]
                               Body=b"replaced")
        code, report, err = cli("deploy", "verify", str(pinned), "--tracking-uri", server.url)
        assert code == ExitCode.DENIED, err
        assert report["verified"] is False and report["mismatches"], report
        client.delete_registered_model_alias(unique_model_name, "production")
        message = _refused(lambda: client.set_registered_model_alias(
            unique_model_name, "production", version))
        assert "hash.artifacts_changed" in message, message


def test_a_stalled_or_stopped_endpoint_denies_within_the_budget(
        world: World, client: MlflowClient, unique_model_name: str) -> None:
    """Last in the module: it takes the S3 endpoint away."""
    version = sklearn_version(unique_model_name)
    attest(world.server, unique_model_name, version, verdict="permitted")
    world.s3.stop()
    port = urlparse(world.s3.url).port
    assert port is not None

    with _stalling(port):
        start = world.server.log_path.stat().st_size
        began = time.monotonic()
        message = _refused(lambda: client.set_registered_model_alias(
            unique_model_name, "production", version))
        took = time.monotonic() - began
        assert "hash.not_reverified" in message, message
        assert f"did not finish within {BUDGET} s" in message, message
        assert took < BUDGET + 15, took  # it returns (generously bounded: not a timing test)
        log = _log_since(world.server, start)
        assert f"did not finish within {BUDGET} s" in log, log[-2000:]
        assert "waiting for the object store" in log, log[-2000:]

    start = world.server.log_path.stat().st_size
    message = _refused(lambda: client.set_registered_model_alias(
        unique_model_name, "production", version))
    assert "hash.not_reverified" in message, message
    assert "the S3 endpoint cannot be reached" in message, message
    log = _log_since(world.server, start)
    assert "the S3 endpoint cannot be reached" in log, log[-2000:]
    for text in (log, message):
        assert "supplychain-test-secret" not in text and world.s3.url not in text
