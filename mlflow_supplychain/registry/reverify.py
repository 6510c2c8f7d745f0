"""Promotion-time re-verification: re-hash a version's artifacts on the server, in-process.

Artifacts can be overwritten through the artifact API after a scan, so when the policy sets
``integrity.reverify_on_promotion`` the gate re-hashes the bytes at the version's *download
location* and hands the digest to the engine (``ArtifactEvidence.reverified_digest``), which
denies (``hash.artifacts_changed`` / ``scan.artifacts_changed``) when it differs from the attested
manifest, and (``hash.not_reverified`` / ``scan.not_reverified``) when it could not be done
within ``integrity.reverify_budget_seconds``.

The download location is what MLflow's ``get_model_version_download_uri`` answers, which is
what loaders, deployments and the sidecar read: the storage location MLflow fixed when the
version was created (:attr:`VersionRecord.download_uri`), not the version's ``source``
re-resolved now. The two differ for a version registered from ``models:/Q/1``: MLflow copies
Q/1's location at creation, so replacing Q later changes what ``source`` resolves to but not
what a deployment downloads.

Locations are resolved in the server process, without HTTP to itself: ``models:/m-<id>`` (a
logged model) and ``runs:/<id>/<path>`` through the tracking store, ``models:/<name>/<v>`` (old
rows without a storage location) through the registry's download URI of that version,
``mlflow-artifacts:/`` through the server's artifact destination. A
local destination is hashed in place (no copy); an S3 location (``s3://``, or
``mlflow-artifacts:`` over an S3 destination) is hashed as it streams in with parallel ranged
reads, nothing written to disk (:func:`~mlflow_supplychain.integrity.budget.stream_within`);
any other repository is downloaded into a temporary directory first. Nothing here runs for
unprotected targets: the provider only runs when a protected profile needs scan/hash
evidence, and only when the policy asks.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from mlflow_supplychain.integrity.budget import Rehash, rehash_within, stream_within
from mlflow_supplychain.integrity.object_store import Credentials, S3Location, S3Reader, s3_client
from mlflow_supplychain.integrity.streaming import LANES, WINDOW
from mlflow_supplychain.policy.evidence import ArtifactEvidence
from mlflow_supplychain.policy.schema import Mode, Policy, Requirement

_logger = logging.getLogger(__name__)

_LOGGED_MODEL = re.compile(r"^models:/(?P<id>m-[0-9a-f]+)/?$")
_REGISTERED = re.compile(r"^models:/(?P<name>[^/@]+)/(?P<version>[1-9][0-9]*)/?$")
_RUN = re.compile(r"^runs:/(?P<run>[0-9a-zA-Z]+)(?:/(?P<path>.*))?$")
MAX_SOURCE_HOPS = 5
CONCURRENCY_ENV_VAR = "MLFLOW_SUPPLYCHAIN_REVERIFY_CONCURRENCY"
# Re-hashing costs ~1 s of CPU per GB and the evaluate endpoint (read permission) triggers it
# too: a few slots per process keep a burst of calls from taking every core. A call that
# cannot get a slot within its budget is "not re-verified" (denied, retry).
_SLOTS = threading.BoundedSemaphore(max(1, int(os.environ.get(CONCURRENCY_ENV_VAR, "2"))))

Materialize = Callable[[], "tuple[Path, Callable[[], None]]"]


def _noop() -> None:
    return None


def storage_uri(source: str, *, registry_source: Callable[[str, str], str] | None = None
                ) -> str:
    """The storage URI behind a version's download URI (in the server process).

    Raises:
        ValueError: the source cannot be resolved (unknown form, or too many indirections).
    """
    from mlflow.server.handlers import _get_tracking_store

    uri = source
    for _ in range(MAX_SOURCE_HOPS):
        if match := _LOGGED_MODEL.match(uri):
            uri = _get_tracking_store().get_logged_model(match["id"]).artifact_location
        elif match := _RUN.match(uri):
            base = _get_tracking_store().get_run(match["run"]).info.artifact_uri
            uri = base.rstrip("/") + ("/" + match["path"] if match["path"] else "")
        elif (match := _REGISTERED.match(uri)) and registry_source is not None:
            uri = registry_source(match["name"], match["version"])
        elif uri.startswith("models:/"):
            raise ValueError(f"cannot resolve {uri!r} on the server")
        else:
            return uri
    raise ValueError(f"{source!r}: too many source indirections")


def materializer(uri: str) -> Materialize:
    """A function that makes ``uri``'s files available locally (in place when local)."""

    def local(path: Path) -> Materialize:
        return lambda: (path, _noop)

    def download(repo: Any, path: str) -> Materialize:
        def run() -> tuple[Path, Callable[[], None]]:
            scratch = tempfile.mkdtemp(prefix="supplychain-reverify-")
            try:
                out = repo.download_artifacts(path, dst_path=scratch)
            except BaseException:
                shutil.rmtree(scratch, ignore_errors=True)
                raise
            return Path(out), lambda: shutil.rmtree(scratch, ignore_errors=True)
        return run

    if uri.startswith("mlflow-artifacts:"):
        from mlflow.server.handlers import _get_artifact_repo_mlflow_artifacts
        from mlflow.store.artifact.local_artifact_repo import LocalArtifactRepository
        from mlflow.utils.uri import extract_and_normalize_path

        relative = extract_and_normalize_path(uri).lstrip("/")
        repo = _get_artifact_repo_mlflow_artifacts()
        if isinstance(repo, LocalArtifactRepository):
            root = Path(repo.artifact_dir).resolve()
            target = (root / relative).resolve()
            if root != target and root not in target.parents:
                raise ValueError("artifact path escapes the artifact destination")
            return local(target)
        return download(repo, relative)
    if uri.startswith("file:") or "://" not in uri:
        from mlflow.utils.file_utils import local_file_uri_to_path

        return local(Path(local_file_uri_to_path(uri) if uri.startswith("file:") else uri))
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    return download(get_artifact_repository(uri), "")


def s3_source(uri: str) -> tuple[S3Location, Credentials] | None:
    """Where ``uri``'s objects live when it is on S3 (and the keys MLflow's repository was
    given, if any); None for any other store."""
    if uri.startswith("s3://"):
        return S3Location.parse(uri), Credentials()
    if not uri.startswith("mlflow-artifacts:"):
        return None
    from mlflow.server.handlers import _get_artifact_repo_mlflow_artifacts
    from mlflow.store.artifact.s3_artifact_repo import S3ArtifactRepository
    from mlflow.utils.uri import extract_and_normalize_path

    repo = _get_artifact_repo_mlflow_artifacts()
    if not isinstance(repo, S3ArtifactRepository):
        return None
    relative = extract_and_normalize_path(uri).lstrip("/")
    if any(part == ".." for part in relative.split("/")):
        raise ValueError("artifact path escapes the artifact destination")
    bucket, prefix = repo.parse_s3_compliant_uri(repo.artifact_uri)
    # the keys MLflow's repository holds (None unless the server was given explicit ones)
    keys = Credentials(getattr(repo, "_access_key_id", None),
                       getattr(repo, "_secret_access_key", None),
                       getattr(repo, "_session_token", None))
    return S3Location(bucket, str(prefix).strip("/")).child(relative), keys


def rehasher(uri: str, *, workers: int) -> Callable[[float], Rehash]:
    """``rehash(budget)`` for the artifacts at storage URI ``uri``: streamed from S3, hashed in
    place when local, downloaded first otherwise."""
    s3 = s3_source(uri)
    if s3 is not None:
        location, keys = s3

        def stream(budget: float) -> Rehash:
            _logger.info("re-hashing %s as it streams from S3", location)
            return stream_within(lambda: S3Reader(location, s3_client(
                timeout=budget, connections=WINDOW * LANES, credentials=keys)), budget)
        return stream
    materialize = materializer(uri)
    return lambda budget: rehash_within(materialize, budget, workers=workers)


class ReverifyingProvider:
    """Wraps the attestation provider: adds a fresh re-hash to its ``artifacts`` evidence when
    the policy asks for re-verification at promotion."""

    def __init__(self, inner: Any, *,
                 rehash: Callable[[str, float], Rehash] | None = None) -> None:
        self._inner = inner
        self._rehash = rehash or _rehash_source
        self.requirements: frozenset[Requirement] = inner.requirements

    def bind(self, engine: Any) -> None:
        self._inner.bind(engine)

    def provide(self, record: Any, policy: Policy, intake: Mapping[str, str]) -> Mapping[str, Any]:
        fields = dict(self._inner.provide(record, policy, intake))
        artifacts = fields.get("artifacts")
        if not isinstance(artifacts, ArtifactEvidence):
            return fields
        if not policy.integrity.reverify_on_promotion:
            if policy.mode is Mode.ENFORCE:  # an escape hatch: said on every use
                _logger.warning("%s/%s: hash_match/scan_passed judged on the attested bytes, "
                                "not re-hashed (integrity.reverify_on_promotion is off)",
                                record.name, record.version)
            return fields
        budget = policy.integrity.reverify_budget_seconds
        outcome = self._rehash(record.download_uri or "", budget)
        if outcome.digest is None:
            _logger.warning("re-verification of %s/%s not done (%s); promotion denied, retry "
                            "it or raise integrity.reverify_budget_seconds (now %g s)",
                            record.name, record.version, outcome.reason, budget)
        else:
            _logger.info("re-verified %s/%s in %.2f s: %s", record.name, record.version,
                         outcome.seconds, "match" if outcome.digest == artifacts.digest
                         else "CHANGED")
        fields["artifacts"] = artifacts.model_copy(update={
            "reverified_digest": outcome.digest,
            "reverify_reason": None if outcome.digest else (outcome.reason or "unknown")[:400]})
        return fields


def _registry_source(name: str, version: str) -> str:
    """The download URI of ``name``/``version`` (what a ``models:/`` client would read)."""
    from mlflow.server.handlers import _get_model_registry_store

    return str(_get_model_registry_store().get_model_version_download_uri(name, version))


def _rehash_source(location: str, budget: float, *,
                   slots: threading.BoundedSemaphore = _SLOTS) -> Rehash:
    started = time.monotonic()
    if not slots.acquire(timeout=budget):
        return Rehash(None, budget, "other re-verifications used every slot for the whole "
                      f"budget ({CONCURRENCY_ENV_VAR})")
    try:
        remaining = budget - (time.monotonic() - started)
        try:
            rehash = rehasher(storage_uri(location, registry_source=_registry_source),
                              workers=min(4, os.cpu_count() or 1))
        except Exception as exc:  # noqa: BLE001 - unresolvable source: not re-verified (denies)
            # the detail stays in the server log: the reason is shown to the caller
            _logger.warning("cannot resolve the download location %r: %s: %s", location,
                            type(exc).__name__, str(exc)[:300])
            return Rehash(None, 0.0,
                          f"cannot resolve the download location ({type(exc).__name__})")
        return rehash(max(remaining, 0.001))
    finally:
        slots.release()
