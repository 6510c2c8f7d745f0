"""Re-hash a version's artifacts at promotion time (``integrity.reverify_on_promotion``).

Artifacts can be overwritten through the artifact API after they were scanned. With the policy
flag on, the store copies the version's files from the server's own artifact store into a
temporary directory, builds the manifest and hands its digest to the engine, which denies when
it differs from the attested one. The work runs in a thread bounded by
``integrity.reverify_budget_seconds``; past the budget the promotion is denied
(``hash.not_reverified``), never allowed. The temporary copy is always removed.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import sqlalchemy
from sqlalchemy.engine import Engine

from mlflow_supplychain.integrity.manifest import build_manifest

_logger = logging.getLogger(__name__)
_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="supplychain-reverify")


def _location(engine: Engine, name: str, version: str) -> str | None:
    from mlflow.store.model_registry.dbmodels.models import SqlModelVersion

    table: Any = SqlModelVersion.__table__
    with engine.connect() as conn:
        row = conn.execute(sqlalchemy.select(table.c.storage_location, table.c.source).where(
            table.c.name == name, table.c.version == int(version))).first()
    if row is None:
        return None
    return str(row[0] or row[1] or "") or None


def _resolve(uri: str) -> str:
    """``runs:/`` and ``models:/m-...`` sources -> the artifact URI they point at (through the
    server's own tracking store, no HTTP round trip)."""
    from mlflow.server.handlers import _get_tracking_store

    if uri.startswith("runs:/"):
        run_id, _, path = uri[len("runs:/"):].partition("/")
        base = _get_tracking_store().get_run(run_id).info.artifact_uri
        return f"{base.rstrip('/')}/{path}" if path else str(base)
    if uri.startswith("models:/m-"):
        model_id = uri[len("models:/"):].strip("/")
        return str(_get_tracking_store().get_logged_model(model_id).artifact_location)
    return uri


def _repository(uri: str) -> tuple[Any, str]:
    """The artifact repository holding ``uri`` and the path inside it."""
    from mlflow.server import ARTIFACTS_DESTINATION_ENV_VAR  # type: ignore[attr-defined]
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    if uri.startswith("mlflow-artifacts:"):
        # The server proxies these to --artifacts-destination; read that store directly.
        destination = os.environ[ARTIFACTS_DESTINATION_ENV_VAR]
        return get_artifact_repository(destination), urlparse(uri).path.lstrip("/")
    return get_artifact_repository(uri), ""


def _hash(uri: str) -> str:
    repo, path = _repository(_resolve(uri))
    workdir = tempfile.mkdtemp(prefix="supplychain-reverify-")
    try:
        dest = Path(workdir) / "artifacts"
        dest.mkdir()
        local = repo.download_artifacts(path, dst_path=str(dest))
        return build_manifest(local).digest
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def reverified_digest(engine: Engine, name: str, version: str, budget_seconds: float
                      ) -> str | None:
    """The digest of the version's artifacts as stored now; None when it cannot be computed
    within ``budget_seconds`` (or at all), which the engine treats as "not re-verified"."""
    try:
        uri = _location(engine, name, version)
    except sqlalchemy.exc.SQLAlchemyError as exc:
        _logger.error("reverify: cannot read models:/%s/%s: %s", name, version,
                      type(exc).__name__)
        return None
    if uri is None:
        return None
    future = _pool.submit(_hash, uri)
    try:
        return future.result(timeout=budget_seconds)
    except FutureTimeout:
        _logger.warning("reverify of models:/%s/%s exceeded %.0fs", name, version,
                        budget_seconds)
    except Exception as exc:  # noqa: BLE001 - any failure means "not re-verified" (deny)
        _logger.warning("reverify of models:/%s/%s failed: %s", name, version,
                        type(exc).__name__)
    return None
