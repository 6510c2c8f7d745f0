"""The webhook receiver: an ASGI app (Starlette, served by uvicorn) in front of the queue.

``POST /webhook``: verify the signature and timestamp (``signature.verify_delivery``), parse
the event, queue the work, and only then remember the delivery id; a retry of an already
queued delivery is acknowledged without queuing again. Responses:

- 202 queued, 200 duplicate or not subscribed;
- 401 bad/missing signature or stale timestamp, 400 malformed body, 413 too large (the body
  is read in chunks and reading stops at the cap, chunked bodies included): nothing queued
  (MLflow does not retry 4xx);
- 503 the queue could not be written: MLflow retries (same delivery id), so nothing is lost.

The log names the delivery id and the event, never the secret, the signature or the body.
``GET /health`` answers ``ok``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from mlflow_supplychain.errors import WebhookAuthError
from mlflow_supplychain.sidecar import queue as jobqueue
from mlflow_supplychain.sidecar.events import MAX_BODY, Event, MalformedEvent, parse_event
from mlflow_supplychain.sidecar.jobs import Tasks, register_tasks
from mlflow_supplychain.sidecar.settings import SidecarSettings
from mlflow_supplychain.sidecar.signature import verify_delivery

_logger = logging.getLogger(__name__)
INTAKE_PREFIX = "supplychain.intake."


def dispatch(tasks: Tasks, settings: SidecarSettings, event: Event) -> str:
    """Queue the work an event calls for; return a short description."""
    if event.kind == "model_version.created":
        tasks.enqueue_scan(settings, event.name, event.version, force=True)
        return "scan"
    if event.kind.startswith("model_version_tag."):
        # An intake edit changes the evidence digest (approvals go stale by themselves);
        # re-check the aliases that may now point at a non-compliant version.
        if event.key and event.key.startswith(INTAKE_PREFIX):
            tasks.check_aliases(event.name)
            return "check_aliases"
        return "ignored"
    tasks.check_aliases(event.name)
    return "check_aliases"


async def capped_body(request: Request, limit: int) -> bytes | None:
    """The request body, or None as soon as it exceeds ``limit`` bytes.

    Read chunk by chunk, so a chunked body (no Content-Length) or one that lies about its
    length never makes us hold more than ``limit`` bytes (plus one chunk).

    Raises:
        MalformedEvent: the Content-Length header is not a number.
    """
    declared = request.headers.get("content-length")
    if declared is not None:
        if not (declared.isascii() and declared.isdigit() and len(declared) <= 18):
            raise MalformedEvent("Content-Length is not a number")
        if int(declared) > limit:
            return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _reject(status: int, reason: str, delivery: str | None = None) -> JSONResponse:
    _logger.warning("webhook rejected (%s): %s", delivery or "no valid delivery id", reason)
    return JSONResponse({"error": reason}, status_code=status)


def create_app(settings: SidecarSettings | None = None) -> Starlette:
    """The receiver app (a factory: ``uvicorn --factory ...receiver:create_app``)."""
    settings = settings or SidecarSettings.from_env()
    queue = jobqueue.open_queue(settings.queue_url, settings.tracking_uri)
    tasks = register_tasks(queue, settings)
    secret = settings.webhook_secret.get_secret_value()

    async def webhook(request: Request) -> Any:
        try:
            body = await capped_body(request, MAX_BODY)
        except MalformedEvent as exc:
            return _reject(400, str(exc))
        if body is None:
            return _reject(413, "body too large")
        try:
            delivery = verify_delivery(secret, request.headers, body, now=time.time(),
                                       window_seconds=settings.window_seconds)
        except WebhookAuthError as exc:
            return _reject(401, "; ".join(f"{p.where} {p.what}" for p in exc.problems))
        try:
            event = parse_event(body)
        except MalformedEvent as exc:
            return _reject(400, str(exc), delivery.delivery_id)
        if event is None:
            return JSONResponse({"status": "ignored"})
        try:
            if await run_in_threadpool(jobqueue.delivery_seen, queue, delivery.delivery_id):
                return JSONResponse({"status": "duplicate"})
            action = await run_in_threadpool(dispatch, tasks, settings, event)
            await run_in_threadpool(jobqueue.mark_delivery, queue, delivery.delivery_id)
        except Exception as exc:  # noqa: BLE001 - any queue failure: let MLflow retry
            _logger.error("could not queue delivery %s: %s", delivery.delivery_id,
                          type(exc).__name__)
            return JSONResponse({"error": "queue unavailable"}, status_code=503)
        _logger.info("delivery %s %s models:/%s/%s -> %s", delivery.delivery_id, event.kind,
                     event.name, event.version, action)
        return JSONResponse({"status": "queued", "action": action}, status_code=202)

    async def health(request: Request) -> Any:
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/webhook", webhook, methods=["POST"]),
                             Route("/health", health, methods=["GET"])])
