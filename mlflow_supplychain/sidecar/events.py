"""Parse the JSON body of an MLflow webhook delivery into an :class:`Event` (pure).

MLflow 3.17 posts ``{"entity", "action", "timestamp", "data": {...}}`` (plus ``workspace``
when workspaces are on); ``data`` is one of the TypedDicts in ``mlflow/webhooks/types.py``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

SUBSCRIBED = frozenset({"model_version.created", "model_version_tag.set",
                        "model_version_tag.deleted", "model_version_alias.created"})
_VERSION = re.compile(r"^[1-9][0-9]{0,18}$")
MAX_BODY = 1024 * 1024


class MalformedEvent(ValueError):
    """The body is not a webhook event the sidecar understands."""


@dataclass(frozen=True)
class Event:
    """One registry event: ``kind`` is ``entity.action``; ``key``/``alias`` when relevant."""

    kind: str
    name: str
    version: str
    key: str | None = None
    alias: str | None = None


def _text(data: dict[str, object], field: str, limit: int = 256) -> str:
    value = data.get(field)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value or len(value) > limit:
        raise MalformedEvent(f"data.{field} is missing or invalid")
    return value


def parse_event(body: bytes) -> Event | None:
    """The event in ``body``; None for events the sidecar does not subscribe to.

    Raises:
        MalformedEvent: not JSON, or a subscribed event without its fields.
    """
    if len(body) > MAX_BODY:
        raise MalformedEvent("body too large")
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise MalformedEvent("body is not JSON") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), dict):
        raise MalformedEvent("body is not a webhook event")
    kind = f"{doc.get('entity')}.{doc.get('action')}"
    if kind not in SUBSCRIBED:
        return None
    data = doc["data"]
    name = _text(data, "name")
    version = _text(data, "version", 20)
    if not _VERSION.match(version):
        raise MalformedEvent("data.version is not a version number")
    if kind.startswith("model_version_tag."):
        return Event(kind, name, version, key=_text(data, "key", 250))
    if kind == "model_version_alias.created":
        return Event(kind, name, version, alias=_text(data, "alias", 256))
    return Event(kind, name, version)
