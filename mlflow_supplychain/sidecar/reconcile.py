"""The reconcile sweep: converge on "every version attested, every protected alias compliant".

Webhooks are fire-and-forget; a sidecar may be down, a worker may die mid-scan. The sweep
walks the registry: a version whose visibility tags show no attestation under the current
policy, or whose stored attestation no longer verifies, is queued for a scan (unless a scan is
already pending, see :func:`queue.claim_pending`); every registered model with a protected
alias gets an alias check. Until a version is attested the gate denies it (fail closed).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from mlflow_supplychain.policy.loader import load_policy
from mlflow_supplychain.sidecar.jobs import Tasks
from mlflow_supplychain.sidecar.server_api import ServerApi, VersionInfo
from mlflow_supplychain.sidecar.settings import SidecarSettings

_logger = logging.getLogger(__name__)


@dataclass
class ReconcileReport:
    versions: int = 0
    queued: list[str] = field(default_factory=list)
    alias_checks: list[str] = field(default_factory=list)


def needs_scan(api: ServerApi, v: VersionInfo, policy_digest: str, prefix: str) -> bool:
    """Whether ``v`` lacks a valid attestation under ``policy_digest``."""
    if v.tags.get(prefix + "scan.policy_digest") != policy_digest:
        return True
    stored = api.attestation(v.name, v.version)
    return (stored is None or not stored.get("verified")
            or stored.get("payload", {}).get("policy_digest") != policy_digest)


def reconcile_once(settings: SidecarSettings, tasks: Tasks,
                   api: ServerApi | None = None) -> ReconcileReport:
    """One sweep; queues scans and alias checks, returns what it queued."""
    api = api or ServerApi(settings.tracking_uri)
    policy = load_policy(settings.policy_path)
    prefix = policy.reserved_tag_prefix
    report = ReconcileReport()
    for v in api.iter_versions():
        report.versions += 1
        if needs_scan(api, v, policy.digest, prefix) and tasks.enqueue_scan(
                settings, v.name, v.version):
            report.queued.append(f"{v.name}/{v.version}")
    protected = {a.lower() for a in policy.protected.aliases}
    for name, aliases in api.iter_model_aliases():
        if any(alias.lower() in protected for alias in aliases):
            tasks.check_aliases(name)
            report.alias_checks.append(name)
    _logger.info("reconcile: %d versions, %d scans queued, %d alias checks", report.versions,
                 len(report.queued), len(report.alias_checks))
    return report
