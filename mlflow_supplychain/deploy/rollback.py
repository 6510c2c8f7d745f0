"""Move a protected alias back to the version its current holder names as rollback.

The alias is set through MLflow's normal API, so the server-side gate judges the rollback
version exactly like any other promotion: a rollback to a version that is no longer compliant
is denied, with the gate's explanation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlflow_supplychain.deploy.registry_facts import INTAKE_PREFIX, mlflow_error, resolve_version
from mlflow_supplychain.deploy.resolve import ModelRef
from mlflow_supplychain.errors import EvidenceError, Problem


@dataclass(frozen=True)
class Rollback:
    name: str
    alias: str
    from_version: str
    to_version: str

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "alias": self.alias, "from_version": self.from_version,
                "to_version": self.to_version}


def rollback(mlflow_client: Any, name: str, alias: str) -> Rollback:
    """Point ``alias`` at the rollback version recorded on the version it points to now.

    Raises:
        EvidenceError: the current version records no valid ``rollback.version``.
        PromotionDenied: the gate refuses the rollback version (exit 1).
        RegistryError: the alias or version does not exist, or the server fails.
    """
    from mlflow.exceptions import MlflowException

    current = resolve_version(mlflow_client, ModelRef(name=name, alias=alias))
    target = (current.tags or {}).get(INTAKE_PREFIX + "rollback.version", "")
    where = f"models:/{name}/{current.version}"
    if not target.isdigit() or target == str(current.version):
        raise EvidenceError("No rollback version is recorded", [Problem(
            f"{where} {INTAKE_PREFIX}rollback.version", repr(target) if target else "is not set",
            "record one in the intake ('rollback.version'), or set the alias explicitly")])
    try:
        mlflow_client.set_registered_model_alias(name, alias, target)
    except MlflowException as exc:
        raise mlflow_error(exc, f"models:/{name}/{target} -> @{alias}") from None
    return Rollback(name, alias, str(current.version), target)
