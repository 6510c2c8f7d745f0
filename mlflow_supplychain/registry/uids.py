"""Writes of the reserved version-uid tag, the plugin-owned part of a version's identity.

New versions get their uid in ``RegistryGate.prepare_version_tags`` (it travels with the
create call). A rename gives every version of the model a new uid here, so evidence gathered
under the old name never matches again, not even after renaming back (see
``docs/_incoming/gate-identity.md``).
"""

from __future__ import annotations

from typing import Any

from mlflow.entities.model_registry.model_version_stages import STAGE_DELETED_INTERNAL
from mlflow.store.model_registry.dbmodels.models import SqlModelVersion, SqlModelVersionTag

from mlflow_supplychain.registry.evidence_reader import query_in_workspace
from mlflow_supplychain.version_identity import new_uid


def reissue_uids(store: Any, name: str, uid_key: str) -> int:
    """Give every live version of registered model ``name`` (caller's workspace) a fresh uid
    tag, in one transaction; return how many versions got one."""
    with store.ManagedSessionMaker(read_only=False) as session:
        versions = [int(v) for (v,) in
                    query_in_workspace(store, session, SqlModelVersion)
                    .filter(SqlModelVersion.name == name,
                            SqlModelVersion.current_stage != STAGE_DELETED_INTERNAL)
                    .with_entities(SqlModelVersion.version).all()]
        for number in versions:
            tag = SqlModelVersionTag(name=name, version=number, key=uid_key, value=new_uid())
            session.merge(store._with_workspace_field(tag))
    return len(versions)
