"""The reconcile sweep: converge on "every version attested, every protected alias compliant".

Webhooks are fire-and-forget; a sidecar may be down, a worker may die mid-scan. The sweep
walks the registry: a version whose visibility tags show no attestation under the current
*format* policy (formats section + scanner rules; approvers and profiles do not matter to a
scan), or whose stored attestation no longer verifies, is queued for a scan (unless a scan is
already pending, see :func:`queue.claim_pending`); versions holding a protected alias or stage
are queued first, so production is rescanned before the long tail. Every registered model with
a protected alias gets an alias check. Until a version is attested the gate denies it (fail
closed; ``scan.pending`` while a rescan after a format-policy change is due).

The sidecar runs a sweep at once when the policy file's format digest changes
(:class:`FormatPolicyWatch`), not only every ``--reconcile-interval``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from mlflow_supplychain.policy.loader import load_policy
from mlflow_supplychain.server.policy_holder import DEFAULT_RELOAD_INTERVAL, PolicyHolder
from mlflow_supplychain.sidecar.jobs import Tasks
from mlflow_supplychain.sidecar.server_api import ServerApi, VersionInfo
from mlflow_supplychain.sidecar.settings import SidecarSettings

_logger = logging.getLogger(__name__)


@dataclass
class ReconcileReport:
    versions: int = 0
    queued: list[str] = field(default_factory=list)
    alias_checks: list[str] = field(default_factory=list)


def needs_scan(api: ServerApi, v: VersionInfo, format_digest: str, prefix: str) -> bool:
    """Whether ``v`` lacks a valid attestation under the format policy ``format_digest``."""
    if v.tags.get(prefix + "scan.format_policy_digest") != format_digest:
        return True
    stored = api.attestation(v.name, v.version)
    return (stored is None or not stored.get("verified")
            or stored.get("payload", {}).get("format_policy_digest") != format_digest)


def promoted_first(versions: list[VersionInfo], promoted: set[tuple[str, str]]
                   ) -> list[VersionInfo]:
    """``versions`` with those in ``promoted`` (name, version) first, order kept otherwise."""
    return sorted(versions, key=lambda v: (v.name, v.version) not in promoted)


class FormatPolicyWatch:
    """Tells when the policy file's format digest changed since the last sweep."""

    def __init__(self, path: str) -> None:
        self._holder = PolicyHolder(path, check_interval=DEFAULT_RELOAD_INTERVAL)
        self._swept = self._holder.policy.format_digest

    def due(self) -> bool:
        """True once per format-policy change after the watch started."""
        return self._holder.policy.format_digest != self._swept

    def swept(self) -> None:
        self._swept = self._holder.policy.format_digest


def reconcile_once(settings: SidecarSettings, tasks: Tasks,
                   api: ServerApi | None = None) -> ReconcileReport:
    """One sweep; queues scans and alias checks, returns what it queued."""
    api = api or ServerApi(settings.tracking_uri)
    policy = load_policy(settings.policy_path)
    prefix = policy.reserved_tag_prefix
    report = ReconcileReport()
    protected = {a.lower() for a in policy.protected.aliases}
    stages = {s.lower() for s in policy.protected.stages}
    promoted: set[tuple[str, str]] = set()
    alias_models: list[str] = []
    for name, aliases in api.iter_model_aliases():
        held = [v for alias, v in aliases.items() if alias.lower() in protected]
        promoted.update((name, v) for v in held)
        if held:
            alias_models.append(name)
    versions = list(api.iter_versions())
    promoted.update((v.name, v.version) for v in versions if v.stage.lower() in stages)
    for v in promoted_first(versions, promoted):
        report.versions += 1
        if needs_scan(api, v, policy.format_digest, prefix) and tasks.enqueue_scan(
                settings, v.name, v.version):
            report.queued.append(f"{v.name}/{v.version}")
    for name in alias_models:
        tasks.check_aliases(name)
        report.alias_checks.append(name)
    _logger.info("reconcile: %d versions, %d scans queued, %d alias checks", report.versions,
                 len(report.queued), len(report.alias_checks))
    return report
