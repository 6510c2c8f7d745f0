"""Facts about a model version, read from the registry database, turned into engine Evidence.

One query reads the version row and all its tags (an outer join), which is all the intake,
source and creator evidence there is. Other evidence comes from *providers*: small objects
that each fill some :class:`~mlflow_supplychain.policy.evidence.Evidence` fields and run only
when the profile being evaluated requires what they provide. Today that is the evaluation-run
lookup; the scan attestation (sidecar) and approvals (governance tables) plug in the same way,
by adding a provider to :func:`default_reader`, without touching the store.

No artifact is downloaded and the registry is never searched: the cost does not grow with
the size of the registry.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import sqlalchemy
from mlflow.entities.model_registry.model_version_stages import STAGE_DELETED_INTERNAL
from mlflow.store.model_registry.dbmodels.models import (
    SqlModelVersion,
    SqlModelVersionTag,
    SqlRegisteredModelAlias,
    SqlRegisteredModelTag,
)
from sqlalchemy.orm import Session

from mlflow_supplychain.intake.run_inputs import client_inputs
from mlflow_supplychain.policy.evidence import Evidence
from mlflow_supplychain.policy.schema import Policy, Requirement
from mlflow_supplychain.registry import tags as tagrules
from mlflow_supplychain.version_identity import DEFAULT_WORKSPACE, VersionIdentity

_logger = logging.getLogger(__name__)

IS_PROMPT_TAG_KEY = "mlflow.prompt.is_prompt"
try:  # MLflow >= 3.x keeps the placeholder sources of prompt versions here
    from mlflow.prompt.constants import _PROMPT_SOURCE_PLACEHOLDERS as _PLACEHOLDERS
    PROMPT_SOURCES: frozenset[str] = frozenset(_PLACEHOLDERS)
except ImportError:  # pragma: no cover - older MLflow
    PROMPT_SOURCES = frozenset({"dummy-source", "prompt-template"})


@dataclass(frozen=True)
class VersionRecord:
    """A model version as stored: what the registry knows, before any interpretation."""

    name: str
    version: str
    source: str | None
    stage: str
    user_id: str | None
    tags: Mapping[str, str] = field(default_factory=dict)
    workspace: str | None = None
    created_at: int = 0
    storage_location: str | None = None
    """Where MLflow fixed the version's bytes when it was created (None on old rows)."""
    run_id: str | None = None
    """The run that logged the model (its training run), when MLflow recorded one."""

    @property
    def download_uri(self) -> str | None:
        """The URI loaders, the sidecar and deployments download the version's bytes from:
        exactly what MLflow's ``get_model_version_download_uri`` answers (the storage
        location fixed at creation, else the source). Re-verification hashes these bytes, never
        a re-resolution of ``source`` (a ``models:/<name>/<v>`` source may since point at
        other bytes)."""
        return self.storage_location or self.source

    def identity(self, prefix: str) -> VersionIdentity:
        """The version's immutable identity; ``prefix`` is the policy's reserved tag prefix
        (the plugin-written uid tag lives under it)."""
        return VersionIdentity(
            workspace=self.workspace or DEFAULT_WORKSPACE, name=self.name,
            version=self.version, created_at=max(self.created_at, 0),
            # what get_model_version_download_uri returns: the location fixed at creation
            storage_location=self.download_uri or "",
            uid=self.tags.get(prefix + tagrules.VERSION_UID_SUFFIX, ""))

    @property
    def is_prompt(self) -> bool:
        """A prompt version: tagged as one *and* holding no artifacts.

        The tag alone is not enough: anyone may set it on a model version, which would
        otherwise exempt a real model from the gate. MLflow only lets prompt versions be
        created with a placeholder source, so the pair identifies a genuine prompt.
        """
        return (self.tags.get(IS_PROMPT_TAG_KEY, "").lower() == "true"
                and self.source in PROMPT_SOURCES)


def query_in_workspace(store: Any, session: Session, model: Any) -> Any:
    """``session.query(model)`` limited to the caller's workspace when the store has them."""
    # _get_query adds the workspace filter (MLflow >= 3.7); older stores have no workspaces.
    getter = getattr(store, "_get_query", None)
    return getter(session, model) if getter is not None else session.query(model)


_query = query_in_workspace


_WORKSPACE_COLUMNS = hasattr(SqlModelVersion, "workspace") and hasattr(SqlModelVersionTag,
                                                                       "workspace")


@functools.cache
def _version_statement(in_workspace: bool) -> sqlalchemy.Select[Any]:
    """The :func:`read_version` query, built once: constructing an ORM query costs more CPU
    than running it (0.55 ms against 0.07 ms on SQLite), and the gate runs it on every
    protected promotion. ``in_workspace``: limited to one workspace (a bound parameter)."""
    join_on = [SqlModelVersionTag.name == SqlModelVersion.name,
               SqlModelVersionTag.version == SqlModelVersion.version]
    where = [SqlModelVersion.name == sqlalchemy.bindparam("name"),
             SqlModelVersion.version == sqlalchemy.bindparam("version"),
             SqlModelVersion.current_stage != STAGE_DELETED_INTERNAL]
    workspace_column: Any = sqlalchemy.null()
    if _WORKSPACE_COLUMNS:
        join_on.append(SqlModelVersionTag.workspace == SqlModelVersion.workspace)
        workspace_column = SqlModelVersion.workspace
        if in_workspace:  # what MLflow's _get_query adds: the caller's workspace
            where.append(SqlModelVersion.workspace == sqlalchemy.bindparam("workspace"))
    return (sqlalchemy.select(SqlModelVersion.source, SqlModelVersion.current_stage,
                              SqlModelVersion.user_id, workspace_column,
                              SqlModelVersion.creation_time, SqlModelVersion.storage_location,
                              SqlModelVersion.run_id, SqlModelVersionTag.key,
                              SqlModelVersionTag.value)
            .select_from(SqlModelVersion)
            .outerjoin(SqlModelVersionTag, sqlalchemy.and_(*join_on))
            .where(*where))


def read_version(store: Any, session: Session, name: str, version: int) -> VersionRecord | None:
    """The live (not deleted) version ``name``/``version`` with its tags, in one query.

    The same query reads what the version's identity is made of (workspace, creation time,
    storage location; the uid is a tag), so identity costs no extra round-trip. With a
    ``store``, it is limited to the caller's workspace exactly as MLflow's own queries are
    (``_get_query``); without one (None), every workspace is searched."""
    active = getattr(store, "_get_active_workspace", None)
    in_workspace = _WORKSPACE_COLUMNS and active is not None
    params: dict[str, Any] = {"name": name, "version": version}
    if in_workspace:
        params["workspace"] = active()  # type: ignore[misc]
    rows = session.connection().execute(_version_statement(in_workspace), params).all()
    if not rows:
        return None
    first = rows[0]
    tags = {key: value or "" for *_, key, value in rows if key is not None}
    return VersionRecord(name=name, version=str(version), source=first[0], stage=first[1],
                         user_id=first[2], tags=tags, workspace=first[3],
                         created_at=int(first[4] or 0), storage_location=first[5],
                         run_id=first[6] or None)


def protected_alias_versions(store: Any, session: Session, name: str,
                             aliases: Sequence[str]) -> dict[str, int]:
    """Protected aliases of registered model ``name`` -> the version each points to."""
    if not aliases:
        return {}
    # case-insensitive, like the promotion check (MySQL collations fold case anyway)
    rows = (_query(store, session, SqlRegisteredModelAlias)
            .filter(SqlRegisteredModelAlias.name == name,
                    sqlalchemy.func.lower(SqlRegisteredModelAlias.alias).in_(
                        [a.lower() for a in aliases]))
            .with_entities(SqlRegisteredModelAlias.alias, SqlRegisteredModelAlias.version)
            .all())
    return {alias: int(version) for alias, version in rows}


def versions_in_stages(store: Any, session: Session, name: str,
                       stages: Sequence[str]) -> dict[int, str]:
    """Live versions of ``name`` whose stage is one of ``stages`` -> that stage."""
    if not stages:
        return {}
    rows = (_query(store, session, SqlModelVersion)
            .filter(SqlModelVersion.name == name, SqlModelVersion.current_stage.in_(list(stages)))
            .with_entities(SqlModelVersion.version, SqlModelVersion.current_stage)
            .all())
    return {int(version): stage for version, stage in rows}


def registered_model_is_prompt(store: Any, session: Session, name: str) -> bool:
    """Whether registered model ``name`` is tagged as a prompt."""
    row = (_query(store, session, SqlRegisteredModelTag)
           .filter(SqlRegisteredModelTag.name == name,
                   SqlRegisteredModelTag.key == IS_PROMPT_TAG_KEY)
           .with_entities(SqlRegisteredModelTag.value)
           .first())
    return row is not None and (row[0] or "").lower() == "true"


class EvidenceProvider(Protocol):
    """Fills some Evidence fields for a version; runs only when the profile needs them."""

    @property
    def requirements(self) -> frozenset[Requirement]:
        """The requirements whose evidence this provider supplies."""
        ...

    def provide(self, record: VersionRecord, policy: Policy,
                intake: Mapping[str, str]) -> Mapping[str, Any]:
        """Return ``Evidence`` field values (e.g. ``{"eval_run_found": True}``)."""
        ...


class DatabaseProvider:
    """Base of providers that read the store's database (our tables or MLflow's).

    Bound to the store's engine by :meth:`EvidenceReader.bind`. Unbound, or when the database
    fails, it provides nothing, so the requirement it serves denies (fail closed).
    """

    requirements: frozenset[Requirement] = frozenset()

    def __init__(self) -> None:
        self._engine: Any = None

    def bind(self, engine: Any) -> None:
        self._engine = engine

    def provide(self, record: VersionRecord, policy: Policy,
                intake: Mapping[str, str]) -> Mapping[str, Any]:
        if self._engine is None:
            return {}
        try:
            return self.read(self._engine, record, policy, intake)
        except sqlalchemy.exc.SQLAlchemyError as exc:
            _logger.error("%s failed for %s/%s: %s", type(self).__name__, record.name,
                          record.version, type(exc).__name__)
            return {}

    def read(self, engine: Any, record: VersionRecord, policy: Policy,
             intake: Mapping[str, str]) -> Mapping[str, Any]:
        """The Evidence fields this provider fills, read through ``engine``."""
        raise NotImplementedError


RunExists = Callable[[str], "bool | None"]


@dataclass(frozen=True)
class EvalRunProvider:
    """Looks up the evaluation run named by ``supplychain.intake.eval.ref``."""

    run_exists: RunExists
    requirements: frozenset[Requirement] = frozenset({Requirement.EVAL_EVIDENCE})

    def provide(self, record: VersionRecord, policy: Policy,
                intake: Mapping[str, str]) -> Mapping[str, Any]:
        ref = intake.get("eval.ref")
        if not ref:
            return {}
        run_id = ref[len("runs:/"):].split("/", 1)[0] if ref.startswith("runs:/") else ref
        return {"eval_run_found": self.run_exists(run_id)}


def tracking_run_exists(run_id: str) -> bool | None:
    """Whether an active run ``run_id`` exists in the server's tracking store.

    Returns None when the store cannot be asked (the engine then reports the reference as
    unverified, which denies: fail closed).
    """
    from mlflow.exceptions import MlflowException

    try:
        from mlflow.server.handlers import _get_tracking_store

        run = _get_tracking_store().get_run(run_id)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return False
        _logger.warning("eval run lookup failed for %s: %s", run_id, exc.error_code)
        return None
    except Exception as exc:  # noqa: BLE001 - any store failure means "could not verify"
        _logger.warning("eval run lookup failed for %s: %s", run_id, type(exc).__name__)
        return None
    return bool(run.info.lifecycle_stage == "active")


@dataclass(frozen=True)
class RunDatasetsProvider:
    """Reads the data sets logged on the version's training run and its ``eval.ref`` run,
    for reconciling them with the intake record's ``datasets`` (under intake_complete).

    Only for versions whose class requires ``datasets`` or whose record lists some: the read
    costs queries on the tracking store at every protected promotion, and for a record that
    says nothing about data under a class that does not ask, there is nothing to reconcile
    but an advisory. (Trade-off: such a version gets no "unrecorded" advisory.)"""

    get_inputs: Callable[[str], Sequence[Any]]
    requirements: frozenset[Requirement] = frozenset({Requirement.INTAKE_COMPLETE})

    def provide(self, record: VersionRecord, policy: Policy,
                intake: Mapping[str, str]) -> Mapping[str, Any]:
        from mlflow_supplychain.intake.fields import ArtifactClass
        from mlflow_supplychain.intake.run_inputs import read_logged_inputs

        class_value = intake.get("artifact_class")
        known = {c.value for c in ArtifactClass}
        required = class_value in known and "datasets" in policy.required_fields(
            ArtifactClass(class_value or ""))
        if not required and "datasets" not in intake:
            return {}
        found = read_logged_inputs(self.get_inputs, record.run_id, intake.get("eval.ref"))
        # incomplete: not looked up, which the gate denies where datasets are required
        return {"logged_datasets": found.datasets if found.complete else None}


def tracking_run_inputs(run_id: str) -> Sequence[Any]:
    """The dataset inputs of run ``run_id`` in the server's own tracking store (raises
    MlflowException when the run does not exist).

    On MLflow's SQL tracking store this reads the run row and its inputs only: ``get_run``
    also loads every metric, param, tag and logged-model link, which made a protected
    promotion of a version with a training run ~60 ms slower at p50 (benchmarks/
    bench_datasets.py). Those are private methods (``_get_run``, ``_get_run_inputs``, in
    MLflow 2.x and 3.x); any other store, or a future MLflow without them, takes ``get_run``.
    """
    from mlflow.server.handlers import _get_tracking_store

    store = _get_tracking_store()
    get_run_row = getattr(store, "_get_run", None)
    get_inputs = getattr(store, "_get_run_inputs", None)
    sessions = getattr(store, "ManagedSessionMaker", None)
    if get_run_row is None or get_inputs is None or sessions is None:
        return client_inputs(store)(run_id)
    with sessions() as session:
        get_run_row(run_uuid=run_id, session=session, eager=False)  # raises when missing
        return tuple(get_inputs(session=session, run_uuids=[run_id])[0])


class EvidenceReader:
    """Turns a :class:`VersionRecord` into engine :class:`Evidence` using providers."""

    def __init__(self, providers: Sequence[EvidenceProvider] = ()) -> None:
        self._providers = tuple(providers)

    def bind(self, engine: Any) -> None:
        """Give every provider that reads our tables (has ``bind``) the store's engine."""
        for provider in self._providers:
            binder = getattr(provider, "bind", None)
            if binder is not None:
                binder(engine)

    def evidence(self, record: VersionRecord, policy: Policy,
                 requirements: Sequence[Requirement]) -> Evidence:
        """Evidence for ``record``; providers run only for the ``requirements`` given."""
        prefix = policy.reserved_tag_prefix
        intake = tagrules.intake_values(record.tags, prefix)
        creator = record.tags.get(prefix + tagrules.CREATED_BY_SUFFIX) or record.user_id
        fields: dict[str, Any] = {}
        needed = set(requirements)
        for provider in self._providers:
            if provider.requirements & needed:
                fields.update(provider.provide(record, policy, intake))
        return Evidence(model_name=record.name, version=record.version, source=record.source,
                        creator=creator, intake=intake,
                        identity_digest=record.identity(prefix).digest(), **fields)


def default_reader(*extra: EvidenceProvider) -> EvidenceReader:
    """The reader the store uses: every evidence source available in this release."""
    return EvidenceReader([EvalRunProvider(tracking_run_exists),
                           RunDatasetsProvider(tracking_run_inputs), *extra])


def protected_alias_page(store: Any, session: Session, aliases: Sequence[str], *,
                         after: tuple[str, str] | None, limit: int
                         ) -> tuple[list[tuple[str, str, int]], tuple[str, str] | None]:
    """One page of (model name, alias, version) for every protected alias in the registry,
    ordered by name and alias, keyset-paginated (token: the last (name, alias) seen); one
    query. Case-insensitive like :func:`protected_alias_versions`."""
    if not aliases:
        return [], None
    query = (_query(store, session, SqlRegisteredModelAlias)
             .filter(sqlalchemy.func.lower(SqlRegisteredModelAlias.alias).in_(
                 [a.lower() for a in aliases])))
    if after is not None:
        query = query.filter(sqlalchemy.tuple_(SqlRegisteredModelAlias.name,
                                               SqlRegisteredModelAlias.alias) > after)
    rows = (query.order_by(SqlRegisteredModelAlias.name, SqlRegisteredModelAlias.alias)
            .with_entities(SqlRegisteredModelAlias.name, SqlRegisteredModelAlias.alias,
                           SqlRegisteredModelAlias.version)
            .limit(limit + 1).all())
    items = [(str(n), str(a), int(v)) for n, a, v in rows[:limit]]
    return items, ((items[-1][0], items[-1][1]) if len(rows) > limit else None)
