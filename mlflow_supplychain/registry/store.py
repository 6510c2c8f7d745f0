"""The registry-store plugin: MLflow's SQLAlchemy registry store, with the gate in front.

Every HTTP route that writes the registry (``/api/`` and the UI's ``/ajax-api/``) ends in one
of these methods, so this is where promotion is enforced. Each override asks the
:class:`~mlflow_supplychain.registry.gate.RegistryGate` first and then delegates to MLflow
unchanged; reads are not overridden at all.

Registered for the URI schemes ``supplychain+sqlite``, ``supplychain+postgresql`` and
``supplychain+mysql`` (plus their ``+driver`` forms) through the ``mlflow.model_registry_store``
entry-point group; :func:`build_store` strips the ``supplychain+`` prefix.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy.exc
from mlflow.environment_variables import MLFLOW_ENABLE_WORKSPACES
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.store.model_registry.dbmodels.models import SqlRegisteredModelAlias
from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore
from mlflow.store.model_registry.sqlalchemy_workspace_store import (
    WorkspaceAwareSqlAlchemyStore,
)
from mlflow.utils.validation import (
    _validate_model_alias_name,
    _validate_model_alias_name_reserved,
    _validate_model_name,
    _validate_model_version,
)

from mlflow_supplychain.errors import PolicyError
from mlflow_supplychain.governance import conflicts
from mlflow_supplychain.governance.attestations import AttestationProvider
from mlflow_supplychain.governance.attestations import observed as observed_attestations
from mlflow_supplychain.governance.provider import ApprovalsProvider
from mlflow_supplychain.policy.advisories import advisories
from mlflow_supplychain.policy.decision import Decision
from mlflow_supplychain.policy.evidence import Target, TargetKind
from mlflow_supplychain.policy.schema import Policy
from mlflow_supplychain.registry import late_verdicts
from mlflow_supplychain.registry.evidence_reader import default_reader
from mlflow_supplychain.registry.gate import PromotionBlocked, RegistryGate
from mlflow_supplychain.registry.lineage_provider import LineageProvider
from mlflow_supplychain.registry.promotion_signing import sign_promotion
from mlflow_supplychain.registry.reverify import ReverifyingProvider
from mlflow_supplychain.server.policy_holder import get_policy_holder

SCHEME_PREFIX = "supplychain+"
SUPPORTED_DATABASES = ("sqlite", "postgresql", "mysql")
ALIAS_WRITE_ATTEMPTS = 3
"""Tries of a protected alias write that lost a race to insert the same alias."""

_logger = logging.getLogger(__name__)


class _GatedRegistry:
    """Overrides of the registry writes; mixed in before MLflow's SqlAlchemyStore."""

    gate: RegistryGate

    def __init__(self, db_uri: str, gate: RegistryGate, **kwargs: Any) -> None:
        self.gate = gate
        super().__init__(db_uri, **kwargs)  # type: ignore[call-arg]
        gate.bind_database(self.engine)  # type: ignore[attr-defined]

    # registered models

    def create_registered_model(self, name: Any, tags: Any = None, description: Any = None,
                                deployment_job_id: Any = None) -> Any:
        self.gate.check_create_registered_model(name, tags)
        return super().create_registered_model(  # type: ignore[misc]
            name, tags=tags, description=description, deployment_job_id=deployment_job_id)

    def set_registered_model_tag(self, name: str, tag: Any) -> None:
        self.gate.check_registered_model_tag(self, name, tag.key, tag.value or "")
        super().set_registered_model_tag(name, tag)  # type: ignore[misc]

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        self.gate.check_registered_model_tag(self, name, key, None)
        super().delete_registered_model_tag(name, key)  # type: ignore[misc]

    def rename_registered_model(self, name: str, new_name: str) -> Any:
        self.gate.check_registered_model_removal(self, name, "renamed")
        result = super().rename_registered_model(name, new_name)  # type: ignore[misc]
        self.gate.after_removal(self, name, new_name=new_name)
        return result

    def delete_registered_model(self, name: str) -> None:
        self.gate.check_registered_model_removal(self, name, "deleted")
        super().delete_registered_model(name)  # type: ignore[misc]
        self.gate.after_removal(self, name)

    def set_registered_model_alias(self, name: str, alias: str, version: Any) -> None:
        target = self.gate.guard(Target(kind=TargetKind.ALIAS, name=alias))
        if target is None:
            super().set_registered_model_alias(name, alias, version)  # type: ignore[misc]
            return
        # A protected alias is evaluated and written in one transaction: no window between
        # reading the evidence and moving the alias, and no second session (each costs a
        # pool checkout and, on SQLite, three PRAGMAs). The body mirrors MLflow 3.17's
        # SqlAlchemyStore.set_registered_model_alias, with our evidence query standing in
        # for its existence check.
        _validate_model_name(name)
        _validate_model_alias_name(alias)
        _validate_model_alias_name_reserved(alias)
        number = _validate_model_version(version)
        for attempt in range(1, ALIAS_WRITE_ATTEMPTS + 1):
            try:
                decision, seen = self._set_protected_alias(name, alias, number, target)
                break
            except PromotionBlocked as blocked:
                self.gate.audit(blocked.decision)
                raise
            except MlflowException as exc:
                # Two first writes of the same alias race: both find no row, both insert, one
                # hits the primary key (MLflow answers 400); or concurrent promotions conflict
                # on the audit head (deadlock, serialization failure). Setting an alias is
                # idempotent, so the loser runs again, gate check included.
                if attempt == ALIAS_WRITE_ATTEMPTS or not _write_conflict(exc.__cause__):
                    raise
                _logger.info("alias %s@%s was written concurrently; retrying", name, alias)
        self.gate.record(self, decision)
        # after the commit: a signing failure never fails (nor un-does) an allowed promotion
        sign_promotion(self, decision, seen)

    def _set_protected_alias(self, name: str, alias: str, number: int,
                             target: Target) -> tuple[Decision | None, dict[str, int]]:
        with self.ManagedSessionMaker(read_only=False) as session:  # type: ignore[attr-defined]
            with observed_attestations() as seen:
                record, decision = self.gate.check_promotion_in(self, session, name, number,
                                                                target)
            if record is None:  # raises MLflow's own RESOURCE_DOES_NOT_EXIST
                self._get_sql_model_version(session, name, number)  # type: ignore[attr-defined]
            alias_row = SqlRegisteredModelAlias(name=name, alias=alias, version=number)
            if record is not None and hasattr(SqlRegisteredModelAlias, "workspace"):
                alias_row.workspace = record.workspace  # type: ignore[assignment]
            session.merge(alias_row)
            # a verdict stored while we judged could not see this alias: re-check before commit
            late_verdicts.still_current(session, name, number, seen)
            # the record commits with the alias: no promotion without its audit record
            self.gate.audit_applied_in(session, decision)
        return decision, seen

    # model versions

    def create_model_version(self, name: str, source: str, run_id: Any = None,
                             tags: Any = None, run_link: Any = None, description: Any = None,
                             *args: Any, **kwargs: Any) -> Any:
        tags = self.gate.prepare_version_tags(self, name, source, tags)
        return super().create_model_version(  # type: ignore[misc]
            name, source, run_id, tags, run_link, description, *args, **kwargs)

    def set_model_version_tag(self, name: str, version: Any, tag: Any) -> None:
        self.gate.check_version_tag(self, name, version, tag.key, tag.value or "")
        super().set_model_version_tag(name, version, tag)  # type: ignore[misc]

    def delete_model_version_tag(self, name: str, version: Any, key: str) -> None:
        self.gate.check_version_tag(self, name, version, key, None)
        super().delete_model_version_tag(name, version, key)  # type: ignore[misc]

    def transition_model_version_stage(self, name: str, version: Any, stage: str,
                                       archive_existing_versions: bool) -> Any:
        try:
            with observed_attestations() as seen:
                decision = self.gate.check_promotion(self, name, version,
                                                     Target(kind=TargetKind.STAGE, name=stage))
        except PromotionBlocked as blocked:
            self.gate.audit(blocked.decision)
            raise
        result = super().transition_model_version_stage(  # type: ignore[misc]
            name, version, stage, archive_existing_versions)
        if decision is not None and decision.enforced:
            late_verdicts.stage_still_current(self, name, int(result.version), result.current_stage,
                                              seen)
        self.gate.record(self, decision)
        self.gate.audit(decision, applied=True)
        sign_promotion(self, decision, seen)
        return result

    def delete_model_version(self, name: str, version: Any) -> None:
        self.gate.check_version_removal(self, name, version)
        super().delete_model_version(name, version)  # type: ignore[misc]
        self.gate.after_removal(self, name, version=version)


class SupplyChainRegistryStore(_GatedRegistry, SqlAlchemyStore):
    """MLflow's SqlAlchemyStore with the supply-chain gate."""


class WorkspaceAwareSupplyChainRegistryStore(_GatedRegistry, WorkspaceAwareSqlAlchemyStore):
    """MLflow's workspace-aware SqlAlchemyStore with the supply-chain gate."""


GATED_STORE_TYPES = (SupplyChainRegistryStore, WorkspaceAwareSupplyChainRegistryStore)


def _write_conflict(cause: BaseException | None) -> bool:
    """Whether a failed protected-alias write may simply be run again."""
    return isinstance(cause, sqlalchemy.exc.IntegrityError) or (
        cause is not None and conflicts.transient(cause))


def database_uri(store_uri: str) -> str:
    """The SQLAlchemy URI inside a ``supplychain+<db>[+driver]://...`` store URI.

    Raises:
        MlflowException: the URI is not one of ours or names an unsupported database.
    """
    if not store_uri.startswith(SCHEME_PREFIX):
        raise MlflowException(
            f"{store_uri!r} is not a mlflow-supplychain registry URI; expected "
            f"'{SCHEME_PREFIX}sqlite:///...' or '{SCHEME_PREFIX}postgresql://...'",
            INVALID_PARAMETER_VALUE)
    inner = store_uri[len(SCHEME_PREFIX):]
    database = inner.split(":", 1)[0].split("+", 1)[0]
    if database not in SUPPORTED_DATABASES:
        raise MlflowException(
            f"Registry store URI {store_uri!r}: database {database!r} is not supported; use "
            + ", ".join(SCHEME_PREFIX + d for d in SUPPORTED_DATABASES), INVALID_PARAMETER_VALUE)
    return inner


def _in_mlflow_server_command() -> bool:
    """Whether this is the ``mlflow server`` command itself (not a worker, not a client)."""
    import click

    context = click.get_current_context(silent=True)
    callback = getattr(context.command, "callback", None) if context else None
    return (context is not None and context.info_name == "server"
            and getattr(callback, "__module__", "") == "mlflow.cli")


def _warn_on_reload(event: str, state: Any, previous: str | None) -> None:
    del previous
    if event == "policy.reload":
        _warn_advisories(state.policy)


def _warn_advisories(policy: Policy) -> None:
    for where, warning in advisories(policy):
        _logger.warning("policy %s (%s): %s", policy.digest, where, warning)


def build_store(store_uri: str, tracking_uri: str | None = None) -> _GatedRegistry:
    """Entry point for ``mlflow.model_registry_store``: the gated store for ``store_uri``.

    Picks the workspace-aware variant when ``MLFLOW_ENABLE_WORKSPACES`` is on.

    Raises:
        PolicyError: no policy is configured, or it is missing/invalid (the server must not
            start without one).
        MlflowException: the URI is malformed or the database cannot be reached.
    """
    del tracking_uri  # the eval-run lookup uses the server's own tracking store
    db_uri = database_uri(store_uri)
    try:
        holder = get_policy_holder()
    except PolicyError as exc:
        if _in_mlflow_server_command():
            # MLflow logs any Exception from store set-up with its traceback; SystemExit is
            # not one, so the operator reads one line and the command exits 1 before workers.
            raise SystemExit(f"error: {exc.one_line()}") from None
        raise
    gate = RegistryGate(holder, default_reader(ApprovalsProvider(),
                                               ReverifyingProvider(AttestationProvider()),
                                               LineageProvider()))
    store_cls = (WorkspaceAwareSupplyChainRegistryStore if MLFLOW_ENABLE_WORKSPACES.get()
                 else SupplyChainRegistryStore)
    _logger.info("mlflow-supplychain registry store on %s (policy %s, mode %s)",
                 db_uri.split(":", 1)[0], holder.policy.digest, holder.policy.mode.value)
    _warn_advisories(holder.policy)
    holder.add_listener(_warn_on_reload)
    return store_cls(db_uri, gate)
