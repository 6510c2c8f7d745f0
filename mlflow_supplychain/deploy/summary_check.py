"""Check the registry's signed verification summary of a deployment manifest against the bytes.

Shared by ``deploy verify --registry-key`` and ``load_verified_model``. Pure: no MLflow, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlflow_supplychain.deploy.manifest_schema import DeploymentManifest
from mlflow_supplychain.errors import Problem
from mlflow_supplychain.signing.promotion_summary import check_promotion_summary


def summary_problems(manifest: DeploymentManifest, files: Mapping[str, str], public_key: Any,
                     *, live_identity: str | None = None) -> list[Problem]:
    """Why the manifest's verification summary does not vouch for ``files`` (empty: it does).

    The summary must verify with ``public_key``, say PASSED for exactly ``files`` of the
    manifest's version and target, and name the version identity the manifest pins and, when
    given, ``live_identity`` (the registry's answer for that name and number now).
    """
    if manifest.verification_summary is None:
        return [Problem("manifest: verification_summary", "the registry did not sign this "
                        "promotion", "write the manifest again from a server with a signing key")]
    problems: list[str] = []
    known: list[str | None] = [
        i for i in dict.fromkeys((manifest.identity_digest, live_identity)) if i]
    for identity in known or [None]:  # None: no identity known, which the check refuses
        check = check_promotion_summary(
            manifest.verification_summary, files, [public_key], name=manifest.model_name,
            version=manifest.version, target=manifest.target, identity_digest=identity)
        problems += [p for p in check.problems if p not in problems]
    return [Problem("verification summary", problem, "the bytes or the summary are not the "
                    "ones the registry signed; write a new manifest") for problem in problems]
