"""Scan and compliance jobs, run by huey workers.

- ``scan(name, version)``: download the version's artifacts through MLflow into a scratch
  directory (size-checked first, always removed after), hash and scan them under the policy,
  sign the attestation and submit it. A version that no longer exists is dropped.
- ``check_aliases(name)``: every protected alias of ``name`` is re-evaluated by the gate; a
  non-compliant one is logged and, with compensation on, removed (the reason is recorded on
  the registered model as a ``mlflow-supplychain.compensated.<alias>`` tag).

Jobs are idempotent: running one twice submits a second, newer attestation for the same bytes.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from huey import Huey

from mlflow_supplychain.errors import SupplyChainError
from mlflow_supplychain.integrity.attest import load_private_key, now_iso
from mlflow_supplychain.policy.loader import load_policy
from mlflow_supplychain.sidecar import queue as jobqueue
from mlflow_supplychain.sidecar.attestation import build_envelope
from mlflow_supplychain.sidecar.server_api import ServerApi, ServerApiError
from mlflow_supplychain.sidecar.settings import SidecarSettings

_logger = logging.getLogger(__name__)
COMPENSATION_TAG = "mlflow-supplychain.compensated."
RETRIES = 3
PENDING_RESCAN = "scan.pending"
RETRY_DELAY = 5


class ScanJobError(SupplyChainError):
    """A scan could not produce an attestation (retried; reconcile will try again later)."""


def scan_version(settings: SidecarSettings, name: str, version: str) -> str:
    """Scan one version and submit its attestation; return what happened (for logs/tests).

    Raises:
        ScanJobError: download, hashing or submission failed (the job is retried).
    """
    api = ServerApi(settings.tracking_uri)
    try:
        # read before the download: a version replaced meanwhile has another identity, and
        # the server refuses an attestation that signs the old one
        identity = api.identity(name, version)
    except ServerApiError as exc:
        raise ScanJobError(f"cannot read the identity of models:/{name}/{version}",
                           exc.problems) from None
    if identity is None:
        _logger.info("dropping scan of models:/%s/%s: version does not exist", name, version)
        return "dropped"
    policy = load_policy(settings.policy_path)
    key = load_private_key(settings.private_key_path)
    settings.scratch_dir.mkdir(parents=True, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="scan-", dir=settings.scratch_dir)
    started = time.monotonic()
    try:
        if settings.test_scan_delay:
            time.sleep(settings.test_scan_delay)
        try:
            local = api.download(name, version, Path(workdir) / "artifacts",
                                 settings.max_bytes)
            payload, envelope = build_envelope(identity, local, policy, key)
        except SupplyChainError as exc:
            raise ScanJobError(f"scan of models:/{name}/{version} failed", exc.problems) from None
        try:
            api.submit_envelope(envelope)
        except ServerApiError as exc:
            if exc.status == 404:
                _logger.info("dropping scan of models:/%s/%s: deleted meanwhile", name, version)
                return "dropped"
            raise ScanJobError(f"attestation for models:/{name}/{version} refused",
                               exc.problems) from None
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    _logger.info("attested models:/%s/%s verdict=%s digest=%s files=%d in %.2fs", name, version,
                 payload.verdict, payload.artifact_digest, len(payload.files),
                 time.monotonic() - started)
    return payload.verdict


def check_aliases(settings: SidecarSettings, name: str) -> list[str]:
    """Re-evaluate every protected alias of ``name``; return the aliases found non-compliant."""
    policy = load_policy(settings.policy_path)
    api = ServerApi(settings.tracking_uri)
    protected = {a.lower() for a in policy.protected.aliases}
    bad: list[str] = []
    for alias, version in api.aliases(name).items():
        if alias.lower() not in protected:
            continue
        decision = api.evaluate(name, version, alias)
        if decision.get("allowed"):
            continue
        codes = {v.get("code") for v in decision.get("violations", [])}
        if codes == {PENDING_RESCAN}:
            # a format-policy change: the rescan is queued (promoted first); removing the alias
            # meanwhile would turn every policy edit into a production outage
            _logger.info("protected alias %s@%s -> version %s awaits its rescan", name, alias,
                         version)
            continue
        bad.append(alias)
        reasons = "; ".join(v.get("message", "") for v in decision.get("violations", []))[:1500]
        _logger.warning("protected alias %s@%s -> version %s is not compliant: %s", name, alias,
                        version, reasons)
        if settings.compensate:
            api.delete_alias(name, alias)
            api.set_model_tag(name, COMPENSATION_TAG + alias, json.dumps(
                {"version": version, "removed_at": now_iso(), "reason": reasons},
                sort_keys=True)[:5000])
            _logger.warning("compensate: removed alias %s@%s (was version %s)", name, alias,
                            version)
    return bad


@dataclass(frozen=True)
class Tasks:
    """The huey task handles the receiver and reconcile enqueue."""

    queue: Huey
    scan: Any
    check_aliases: Any

    def enqueue_scan(self, settings: SidecarSettings, name: str, version: str, *,
                     force: bool = False) -> bool:
        """Queue a scan unless one is already pending (``force``: queue regardless)."""
        claimed = jobqueue.claim_pending(self.queue, name, version, settings.rescan_after)
        if not claimed and not force:
            return False
        self.scan(name, version)
        return True


def register_tasks(queue: Huey, settings: SidecarSettings) -> Tasks:
    """Register the task functions on ``queue`` (same names in every process)."""

    @queue.task(name="supplychain.scan", retries=RETRIES, retry_delay=RETRY_DELAY)
    def scan_task(name: str, version: str) -> None:
        try:
            scan_version(settings, name, version)
        except ScanJobError as exc:
            _logger.error("%s", exc.diagnostics())
            raise
        finally:
            jobqueue.release_pending(queue, name, version)

    @queue.task(name="supplychain.check_aliases", retries=RETRIES, retry_delay=RETRY_DELAY)
    def alias_task(name: str) -> None:
        check_aliases(settings, name)

    return Tasks(queue=queue, scan=scan_task, check_aliases=alias_task)
