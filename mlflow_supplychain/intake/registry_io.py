"""Intake records and lineage against a live MLflow registry, through the plain ``MlflowClient``.

This is the adapter: it reads and writes ``supplychain.intake.*`` model-version tags, checks
that what a record references exists (the evaluation run, a registered base, the rollback
version), gathers lineage facts for :mod:`.lineage`, and converts MLflow exceptions into our
error tree. It works against any MLflow server; on a governed server the registry store
validates the same tags again on write.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol, TypeVar

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from mlflow_supplychain.errors import EvidenceError, Problem, RegistryError
from mlflow_supplychain.intake.lineage import (
    LineageGraph,
    VersionFacts,
    ancestors,
    build_graph,
    component,
    facts_from_tags,
    model_uri,
    parse_model_uri,
)
from mlflow_supplychain.intake.record_files import load_record
from mlflow_supplychain.intake.records import (
    TAG_PREFIX,
    IntakeRecord,
    parse_record,
    record_from_fields,
    record_to_fields,
)
from mlflow_supplychain.policy.evidence import Ancestor
from mlflow_supplychain.policy.schema import Policy

logger = logging.getLogger(__name__)
T = TypeVar("T")

PROMPT_TAGS = ("mlflow.prompt.is_prompt", "mlflow.prompt.text")
_PAGE = 1000


def client_or_default(client: MlflowClient | None) -> MlflowClient:
    """``client``, or an ``MlflowClient`` for MLFLOW_TRACKING_URI."""
    return client if client is not None else MlflowClient()


def call_registry(what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call MLflow; turn its exceptions into RegistryError naming what we tried."""
    try:
        return fn(*args, **kwargs)
    except MlflowException as exc:
        raise RegistryError(f"MLflow could not {what}", [Problem(
            what, f"{exc.error_code}: {exc.message}",
            "check MLFLOW_TRACKING_URI, the name and version, and your permissions")]) from None
    except OSError as exc:  # connection errors from requests are OSErrors
        raise RegistryError(f"MLflow could not {what}", [Problem(
            what, f"{type(exc).__name__}: {exc}", "check that the tracking server is reachable "
            "(MLFLOW_TRACKING_URI)")]) from None


def registry_has(fn: Callable[..., object], *args: Any) -> bool:
    """True if the lookup succeeds, False if MLflow says it does not exist; other errors raise."""
    try:
        fn(*args)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return False
        raise RegistryError("MLflow lookup failed", [Problem(
            str(args), f"{exc.error_code}: {exc.message}", "check the tracking server")]) from None
    return True


def read_intake_fields(name: str, version: str | int, *,
                       client: MlflowClient | None = None) -> dict[str, str]:
    """The version's intake fields (tag names without the ``supplychain.intake.`` prefix).

    Raises:
        RegistryError: the version does not exist or MLflow cannot be reached.
    """
    mv = call_registry(f"read {model_uri(name, str(version))}", client_or_default(client).get_model_version,
               name, str(version))
    return {k[len(TAG_PREFIX):]: v for k, v in (mv.tags or {}).items() if k.startswith(TAG_PREFIX)}


def show_intake(name: str, version: str | int, *, client: MlflowClient | None = None) -> IntakeRecord:
    """The intake record stored on a version.

    Raises:
        EvidenceError: the version has no record, or its tags do not form a valid record.
        RegistryError: the version does not exist or MLflow cannot be reached.
    """
    fields = read_intake_fields(name, version, client=client)
    uri = model_uri(name, str(version))
    if not fields:
        raise EvidenceError(f"{uri} has no intake record", [Problem(
            uri, f"has no {TAG_PREFIX}* tags",
            f"write one: mlflow-supplychain intake apply record.yaml --name {name} "
            f"--version {version}")])
    return record_from_fields(fields, source=uri)


def _as_record(record_or_path: IntakeRecord | Mapping[str, Any] | str | os.PathLike[str]) -> IntakeRecord:
    if isinstance(record_or_path, (str, os.PathLike)):
        return load_record(Path(record_or_path))
    if isinstance(record_or_path, Mapping):
        return parse_record(record_or_path)
    return record_or_path


def check_references(name: str, version: str, fields: Mapping[str, str],
                     client: MlflowClient) -> list[Problem]:
    """What the record references must exist: the evaluation run, a registered base, the
    rollback version. Returns one problem per dangling reference."""
    problems: list[Problem] = []
    uri = model_uri(name, version)
    ref = fields.get("eval.ref")
    if ref is not None:
        run_id = ref.removeprefix("runs:/").split("/", 1)[0]
        if not registry_has(client.get_run, run_id):
            problems.append(Problem(f"{uri} eval.ref", f"run {run_id} does not exist on this server",
                                    "point eval.ref at the run that logged the evaluation"))
    base = fields.get("base_model.uri")
    parsed = parse_model_uri(base) if base else None
    if parsed is not None:
        if parsed == (name, version):
            problems.append(Problem(f"{uri} base_model.uri", "names the version itself",
                                    "name the base this version was derived from"))
        elif not registry_has(client.get_model_version, *parsed):
            problems.append(Problem(f"{uri} base_model.uri", f"{base} is not registered",
                                    "register the base first (or import it with 'mlflow-"
                                    "supplychain intake import'), then reference that version"))
    rollback = fields.get("rollback.version")
    if rollback is not None:
        if rollback == version:
            problems.append(Problem(f"{uri} rollback.version", "names the version itself",
                                    "name an earlier version to fall back to"))
        elif not registry_has(client.get_model_version, name, rollback):
            problems.append(Problem(f"{uri} rollback.version",
                                    f"version {rollback} of {name!r} does not exist",
                                    "name a registered version of the same model"))
    return problems


def apply_intake(name: str, version: str | int,
                 record_or_path: IntakeRecord | Mapping[str, Any] | str | os.PathLike[str], *,
                 client: MlflowClient | None = None) -> IntakeRecord:
    """Validate an intake record and write it as the version's ``supplychain.intake.*`` tags.

    Usable right after ``log_model``::

        info = mlflow.sklearn.log_model(model, name="model", registered_model_name="fraud")
        apply_intake("fraud", info.registered_model_version, "intake.yaml")

    The record replaces the version's intake: fields it does not set are removed. Everything
    is validated before the first write. MLflow has no batch write for version tags, so a
    connection lost mid-way can leave some fields written; apply again to finish.

    Raises:
        EvidenceError: the record is invalid, a value does not fit in a tag, or a referenced
            run or version does not exist.
        RegistryError: the version does not exist or MLflow cannot be reached.
    """
    mlflow_client = client_or_default(client)
    version = str(version)
    record = _as_record(record_or_path)
    fields = record_to_fields(record)
    current = read_intake_fields(name, version, client=mlflow_client)
    problems = check_references(name, version, fields, mlflow_client)
    if problems:
        raise EvidenceError(f"Intake record for {model_uri(name, version)} references things "
                            "that do not exist", problems)
    for field, value in sorted(fields.items()):
        if current.get(field) != value:
            call_registry(f"set {TAG_PREFIX}{field} on {model_uri(name, version)}",
                  mlflow_client.set_model_version_tag, name, version, TAG_PREFIX + field, value)
    for field in sorted(set(current) - set(fields)):
        call_registry(f"delete {TAG_PREFIX}{field} on {model_uri(name, version)}",
              mlflow_client.delete_model_version_tag, name, version, TAG_PREFIX + field)
    logger.info("applied intake record to %s (%d fields)", model_uri(name, version), len(fields))
    return record


# -- lineage ---------------------------------------------------------------------------------

class RegistrySearch(Protocol):
    """What lineage reading needs: ``MlflowClient`` has it, and so does MLflow's registry store
    (``SqlAlchemyStore``), so the server-side gate can read lineage without calling itself
    over HTTP."""

    def search_registered_models(self, filter_string: str | None = None, max_results: int = ...,
                                 order_by: list[str] | None = None,
                                 page_token: str | None = None) -> Any: ...

    def search_model_versions(self, filter_string: str | None = None, max_results: int = ...,
                              order_by: list[str] | None = None,
                              page_token: str | None = None) -> Any: ...


def _pages(fetch: Callable[[str | None], Any]) -> Iterator[Any]:
    token: str | None = None
    while True:
        page = fetch(token)
        yield from page
        token = page.token
        if not token:
            return


def read_version_facts(*, client: RegistrySearch | None = None) -> list[VersionFacts]:
    """Facts about every model version in the registry (prompts excluded), for lineage.

    ``client`` is an ``MlflowClient`` (default: MLFLOW_TRACKING_URI) or a registry store.

    Raises:
        RegistryError: MLflow cannot be reached.
    """
    mlflow_client: RegistrySearch = client if client is not None else MlflowClient()
    aliases: dict[tuple[str, str], list[str]] = {}
    prompts: set[str] = set()
    models = _pages(lambda token: call_registry("list registered models",
                                        mlflow_client.search_registered_models,
                                        max_results=_PAGE, page_token=token))
    for model in models:
        if any((model.tags or {}).get(t) for t in PROMPT_TAGS):
            prompts.add(model.name)
        for alias, version in (model.aliases or {}).items():
            aliases.setdefault((model.name, str(version)), []).append(alias)
    versions = _pages(lambda token: call_registry("list model versions",
                                          mlflow_client.search_model_versions,
                                          max_results=_PAGE, page_token=token))
    facts = []
    for mv in versions:
        tags = dict(mv.tags or {})
        if mv.name in prompts or any(t in tags for t in PROMPT_TAGS):
            continue
        facts.append(facts_from_tags(
            mv.name, str(mv.version), tags,
            tuple(sorted(aliases.get((mv.name, str(mv.version)), [])))))
    return facts


def read_lineage(name: str | None = None, version: str | int | None = None, *,
                 client: RegistrySearch | None = None, policy: Policy | None = None) -> LineageGraph:
    """The lineage graph of the registry, or the part connected to ``name`` (and ``version``).

    With ``policy``, a version missing fields its class requires is ``unknown``.

    Raises:
        RegistryError: MLflow cannot be reached, or ``name`` has no versions.
    """
    graph = build_graph(read_version_facts(client=client),
                        policy.required_fields if policy is not None else None)
    if name is None:
        return graph
    part = component(graph, name, None if version is None else str(version))
    if not part.nodes:
        what = model_uri(name, str(version)) if version is not None else name
        raise RegistryError(f"{what} is not in the registry", [Problem(
            what, "has no registered versions", "check the model name and version")])
    return part


def lineage_evidence(name: str, version: str | int, *, client: RegistrySearch | None = None,
                     policy: Policy | None = None) -> tuple[Ancestor, ...]:
    """``Evidence.lineage`` for one version: its ancestors, nearest first, with their states
    and license reviews (for the engine's lineage and license-inheritance rules)."""
    graph = read_lineage(name, version, client=client, policy=policy)
    return ancestors(graph, model_uri(name, str(version)))
