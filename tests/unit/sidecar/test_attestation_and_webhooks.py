"""The attestation a scan job builds, and the idempotent webhook install."""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mlflow_supplychain.integrity import attest
from mlflow_supplychain.integrity.manifest import build_manifest
from mlflow_supplychain.policy.loader import load_policy
from mlflow_supplychain.sidecar.attestation import build_attestation
from mlflow_supplychain.sidecar.webhooks import WEBHOOK_NAME, install_webhook, subscribed_events
from mlflow_supplychain.version_identity import VersionIdentity

from ..scanning.payloads import Exec

POLICY = Path(__file__).parents[2] / "integration" / "policies" / "sidecar.yaml"


def _identity(name: str, version: str) -> VersionIdentity:
    return VersionIdentity(workspace="default", name=name, version=version, created_at=1,
                           storage_location="mlflow-artifacts:/1/m", uid="b" * 32)


def test_clean_directory(tmp_path: Path) -> None:
    (tmp_path / "weights.json").write_text('{"w": [1]}')
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "notes.txt").write_text("hello")
    key = Ed25519PrivateKey.generate()
    policy = load_policy(POLICY)

    payload, signature = build_attestation(_identity("m", "2"), tmp_path, policy, key)

    assert payload.verdict == "permitted" and payload.findings == ()
    assert payload.artifact_digest == build_manifest(tmp_path).digest
    assert set(payload.files) == {"weights.json", "sub/notes.txt"}
    assert payload.format_policy_digest == policy.format_digest and payload.policy_digest is None
    assert attest.verify_payload(payload, signature, key.public_key())


def test_malicious_pickle(tmp_path: Path) -> None:
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(Exec(), protocol=4))
    payload, _ = build_attestation(_identity("m", "1"), tmp_path, load_policy(POLICY),
                                   Ed25519PrivateKey.generate())
    assert payload.verdict == "prohibited"
    assert any("system" in f for f in payload.findings)


@dataclass
class Hook:
    webhook_id: str
    name: str
    url: str
    events: list[str]
    status: str = "ACTIVE"


@dataclass
class FakeClient:
    hooks: list[Hook] = field(default_factory=list)
    secrets: dict[str, str] = field(default_factory=dict)

    def list_webhooks(self, max_results: int, page_token: Any) -> Any:
        class Page(list):  # type: ignore[type-arg]
            token = None
        return Page(self.hooks)

    def create_webhook(self, *, name: str, url: str, events: list[str], secret: str,
                       description: str) -> Hook:
        hook = Hook(f"w{len(self.hooks)}", name, url, list(events))
        self.hooks.append(hook)
        self.secrets[hook.webhook_id] = secret
        return hook

    def update_webhook(self, webhook_id: str, *, url: str, events: list[str], secret: str,
                       status: str) -> None:
        hook = next(h for h in self.hooks if h.webhook_id == webhook_id)
        hook.url, hook.events, hook.status = url, list(events), status
        self.secrets[webhook_id] = secret

    def delete_webhook(self, webhook_id: str) -> None:
        self.hooks = [h for h in self.hooks if h.webhook_id != webhook_id]


def test_install_is_idempotent_and_reports_changes() -> None:
    client = FakeClient()
    first = install_webhook(client, "http://127.0.0.1:5005/webhook", "s1")
    again = install_webhook(client, "http://127.0.0.1:5005/webhook", "s1")
    moved = install_webhook(client, "http://127.0.0.1:6000/webhook", "s2")

    assert first[0].startswith("created webhook")
    assert "no change" in again[0]
    assert "url http://127.0.0.1:5005/webhook -> http://127.0.0.1:6000/webhook" in moved[0]
    assert len(client.hooks) == 1 and client.secrets["w0"] == "s2"
    assert sorted(client.hooks[0].events) == sorted(subscribed_events())


def test_install_removes_duplicates_and_reactivates() -> None:
    client = FakeClient([Hook("a", WEBHOOK_NAME, "u", ["model_version.created"], "DISABLED"),
                         Hook("b", WEBHOOK_NAME, "u", []), Hook("c", "someone-else", "x", [])])
    lines = install_webhook(client, "u", "s")
    assert "status DISABLED -> ACTIVE" in lines[0]
    assert lines[1] == "deleted duplicate webhook b"
    assert [h.webhook_id for h in client.hooks] == ["a", "c"]


def test_manifest_events_are_the_receivers() -> None:
    from mlflow_supplychain.sidecar.events import SUBSCRIBED

    assert set(subscribed_events()) == SUBSCRIBED
