"""Register the sidecar's webhook with the MLflow server (idempotent).

One webhook named :data:`WEBHOOK_NAME` subscribes to the events listed under
``webhook_events`` in ``plugin_manifest.yaml``. Installing again updates its URL, events and
status and always re-sets the secret (MLflow never returns it, so it cannot be compared);
duplicates with our name are deleted. Needs an admin when basic-auth is on.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from mlflow_supplychain.sidecar.events import SUBSCRIBED

WEBHOOK_NAME = "mlflow-supplychain-sidecar"
_MANIFEST = Path(__file__).resolve().parents[2] / "plugin_manifest.yaml"


def subscribed_events(manifest: Path = _MANIFEST) -> list[str]:
    """The events from ``plugin_manifest.yaml`` (the packaged list when it is not shipped)."""
    if manifest.is_file():
        doc = yaml.safe_load(manifest.read_text(encoding="utf-8")) or {}
        events = doc.get("webhook_events")
        if isinstance(events, list) and events:
            return [str(e) for e in events]
    return sorted(SUBSCRIBED)


def _all_webhooks(client: Any) -> list[Any]:
    hooks: list[Any] = []
    token = None
    while True:
        page = client.list_webhooks(max_results=100, page_token=token)
        hooks.extend(page)
        token = page.token
        if not token:
            return hooks


def install_webhook(client: Any, url: str, secret: str,
                    events: Sequence[str] | None = None) -> list[str]:
    """Create or update our webhook; return a line per change made.

    Raises:
        MlflowException: the server refused (not admin, URL not allowed...).
    """
    wanted = list(events or subscribed_events())
    ours = [h for h in _all_webhooks(client) if h.name == WEBHOOK_NAME]
    if not ours:
        hook = client.create_webhook(name=WEBHOOK_NAME, url=url, events=wanted, secret=secret,
                                     description="mlflow-supplychain scan sidecar")
        return [f"created webhook {hook.webhook_id} -> {url} for {', '.join(wanted)}"]
    first, *extra = ours
    changes: list[str] = []
    current = sorted(str(e) for e in first.events)
    if first.url != url:
        changes.append(f"url {first.url} -> {url}")
    if current != sorted(wanted):
        changes.append(f"events {', '.join(current)} -> {', '.join(sorted(wanted))}")
    if str(first.status) != "ACTIVE":
        changes.append(f"status {first.status} -> ACTIVE")
    client.update_webhook(first.webhook_id, url=url, events=wanted, secret=secret,
                          status="ACTIVE")
    summary = "; ".join(changes or ["no change"])
    report = [f"updated webhook {first.webhook_id}: {summary} (secret re-set)"]
    for hook in extra:
        client.delete_webhook(hook.webhook_id)
        report.append(f"deleted duplicate webhook {hook.webhook_id}")
    return report
