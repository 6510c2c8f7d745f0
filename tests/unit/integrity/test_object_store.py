"""The S3 reader against endpoints that refuse or stall: errors, on time, without secrets."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from mlflow_supplychain.errors import ArtifactReadError
from mlflow_supplychain.integrity.budget import stream_within
from mlflow_supplychain.integrity.object_store import S3Location, S3Reader, s3_client
from mlflow_supplychain.server.launcher import free_port

SECRET = "do-not-echo-this-secret"


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture
def stalling_endpoint() -> Iterator[str]:
    """A TCP listener that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def test_s3_location_parsing() -> None:
    assert S3Location.parse("s3://b/x/y/") == S3Location("b", "x/y")
    assert S3Location.parse("s3://b") == S3Location("b", "")
    assert str(S3Location("b", "x").child("/m/")) == "s3://b/x/m"
    for bad in ("s3:///x", "gs://b/x"):
        with pytest.raises(ValueError):
            S3Location.parse(bad)


def test_a_closed_endpoint_is_unreachable(monkeypatch: pytest.MonkeyPatch,
                                          credentials: None) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", url)
    reader = S3Reader(S3Location("models", "a/m"), s3_client(timeout=2, connections=4))
    with pytest.raises(ArtifactReadError) as info:
        reader.list()
    text = info.value.diagnostics()
    assert "cannot be reached" in text
    assert url not in text and SECRET not in text


def test_a_stalled_endpoint_ends_within_the_budget(monkeypatch: pytest.MonkeyPatch,
                                                   credentials: None,
                                                   stalling_endpoint: str) -> None:
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", stalling_endpoint)
    started = time.monotonic()
    outcome = stream_within(lambda: S3Reader(S3Location("models", "a/m"),
                                             s3_client(timeout=1, connections=4)), 1.0)
    assert time.monotonic() - started < 2.5
    assert outcome.digest is None and outcome.reason is not None
    assert "within 1 s" in outcome.reason and "list" in outcome.reason
    assert SECRET not in outcome.reason and stalling_endpoint not in outcome.reason


def test_a_stalled_read_times_out_as_an_error(monkeypatch: pytest.MonkeyPatch,
                                              credentials: None,
                                              stalling_endpoint: str) -> None:
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", stalling_endpoint)
    reader = S3Reader(S3Location("models", "a/m"), s3_client(timeout=0.5, connections=4))
    started = time.monotonic()
    with pytest.raises(ArtifactReadError, match="did not answer in time"):
        reader.list()
    assert time.monotonic() - started < 5  # two attempts of 0.5 s, with backoff
