"""The documents the registry signs when it promotes a version, bound to that version.

A SLSA verification summary (VSA) says "these files passed policy P"; on its own it would serve
any version that has the same name, number and bytes: a model deleted and registered again
under the same name (its first version is ``1`` again), or another target with a weaker
profile. So the registry's VSA carries, besides the standard fields, a namespaced extension
:data:`BINDING_KEY` naming the version's immutable identity digest (``version_identity``) and
the protected target it was promoted to, and a deployment checks both against what the registry
answers for that version now. The OMS bundle's model name carries the same identity digest
(``models:/<name>/<version>?identity=<digest>``): the stock ``model_signing verify`` ignores
it, our checks read it.

Pure: no MLflow, no I/O.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from mlflow_supplychain.signing import intoto

BINDING_KEY = "mlflowSupplychainPromotion"
"""Predicate key of the registry's extension: ``{"versionIdentity", "target"}``."""


def resource_uri(name: str, version: str) -> str:
    """The VSA's ``resourceUri`` for a registered model version."""
    return f"models:/{name}/{version}"


def oms_model_name(name: str, version: str, identity_digest: str) -> str:
    """The model name the registry's OMS bundle signs under (names the identity)."""
    return f"{resource_uri(name, version)}?identity={identity_digest}"


def promotion_summary(files: Mapping[str, str], *, name: str, version: str, target: str,
                      identity_digest: str, policy_digest: str,
                      inputs: Sequence[intoto.InputAttestation],
                      verified_at: datetime | None = None) -> bytes:
    """The VSA statement (canonical JSON) for a promotion the gate allowed.

    Raises:
        ValueError: the statement does not validate (no file, a bad digest).
    """
    return intoto.verification_summary(
        files, resource_uri=resource_uri(name, version),
        policy_uri=f"mlflow-supplychain:policy/{policy_digest}", policy_digest=policy_digest,
        passed=True, inputs=inputs, verified_at=verified_at,
        extensions={BINDING_KEY: {"versionIdentity": identity_digest, "target": target}})


def binding(envelope: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(identity digest, target) an envelope's VSA names, read WITHOUT verifying it: only for
    an envelope that :func:`check_promotion_summary` (or the registry itself) verified."""
    try:
        stmt = json.loads(base64.b64decode(str(envelope.get("payload", "")), validate=True))
        bound = stmt["predicate"][BINDING_KEY]
        return str(bound["versionIdentity"]), str(bound["target"])
    except (ValueError, KeyError, TypeError):
        return None, None


def check_promotion_summary(envelope: Mapping[str, Any] | bytes | str,
                            files: Mapping[str, str], trusted_keys: Sequence[Any], *,
                            name: str, version: str, target: str,
                            identity_digest: str | None) -> intoto.SummaryCheck:
    """Does the registry's VSA say PASSED for exactly ``files`` of this version identity and
    ``target``? ``identity_digest`` None means "not known to the caller": then the check fails
    (a VSA is only ever accepted for an identity the caller knows)."""
    check = intoto.check_summary(envelope, files, trusted_keys,
                                 resource_uri=resource_uri(name, version))
    if not check.ok:
        return check
    data = json.loads(envelope) if isinstance(envelope, (bytes, str)) else envelope
    bound_identity, bound_target = binding(data)
    problems = []
    if bound_identity is None:
        problems.append("names no version identity: not a promotion summary of this registry")
    elif identity_digest is None:
        problems.append("the version identity to compare it with is not known")
    elif bound_identity != identity_digest:
        problems.append(f"is for version identity {bound_identity}, not {identity_digest} (a "
                        "deleted, re-created or renamed model answers to this name now)")
    if bound_target is not None and _same_target(bound_target, target) is False:
        problems.append(f"is for target {bound_target!r}, not {target!r}")
    return intoto.SummaryCheck(tuple(problems), resource_uri=check.resource_uri,
                               policy_digest=check.policy_digest)


def _same_target(signed: str, wanted: str) -> bool:
    # "production" and "alias:production" name one alias; stage names compare case-blind
    # as MLflow's stages do, aliases as the gate matches them (case-insensitively).
    return signed.removeprefix("alias:").lower() == wanted.removeprefix("alias:").lower()
