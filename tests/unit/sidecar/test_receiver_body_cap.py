"""The webhook receiver stops reading a body at the cap, chunked or not."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.requests import Request

from mlflow_supplychain.sidecar.events import MalformedEvent
from mlflow_supplychain.sidecar.receiver import capped_body

CHUNK = b"x" * 1000


def _request(headers: list[tuple[bytes, bytes]], chunks: int) -> tuple[Request, list[int]]:
    reads = [0]

    async def receive() -> dict[str, Any]:
        reads[0] += 1
        return {"type": "http.request", "body": CHUNK, "more_body": reads[0] < chunks}

    scope = {"type": "http", "method": "POST", "path": "/webhook", "headers": headers,
             "query_string": b""}
    return Request(scope, receive), reads  # type: ignore[arg-type]


def test_a_chunked_body_is_read_only_up_to_the_cap() -> None:
    request, reads = _request([(b"transfer-encoding", b"chunked")], chunks=1_000_000)
    assert asyncio.run(capped_body(request, 10_000)) is None
    assert reads[0] == 11  # one chunk past the cap, never the gigabyte behind it


def test_a_lying_content_length_does_not_help() -> None:
    request, reads = _request([(b"content-length", b"10")], chunks=1_000_000)
    assert asyncio.run(capped_body(request, 10_000)) is None
    assert reads[0] == 11


def test_declared_length_over_the_cap_is_refused_unread() -> None:
    request, reads = _request([(b"content-length", b"20000")], chunks=20)
    assert asyncio.run(capped_body(request, 10_000)) is None
    assert reads[0] == 0


@pytest.mark.parametrize("value", [b"abc", b"-1", b"\xd9\xa1", b"9" * 40])
def test_malformed_content_length_is_a_400(value: bytes) -> None:
    request, _ = _request([(b"content-length", value)], chunks=1)
    with pytest.raises(MalformedEvent):
        asyncio.run(capped_body(request, 10_000))


def test_a_body_under_the_cap_is_returned_whole() -> None:
    request, _ = _request([], chunks=3)
    assert asyncio.run(capped_body(request, 10_000)) == CHUNK * 3
