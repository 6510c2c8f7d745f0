"""Download a registered version's artifacts into a private temporary directory, or hash them
as they stream from S3 when only their manifest is needed (:func:`streamed_manifest`).

The storage location comes from the registry (``get_model_version_download_uri``), not
``models:/`` itself: MLflow's models repository adds a ``registered_model_meta`` file to what it
downloads, which is not part of the artifact and would show up as an extra file. The total size
is listed first and checked against a limit and the free disk space, so a huge or growing
artifact cannot fill the disk.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mlflow_supplychain.deploy.registry_facts import mlflow_error
from mlflow_supplychain.errors import Problem, RegistryError
from mlflow_supplychain.integrity.manifest import Manifest

MAX_BYTES_ENV_VAR = "MLFLOW_SUPPLYCHAIN_MAX_DOWNLOAD_BYTES"
DEFAULT_MAX_BYTES = 200 * 1024**3


def _listed_size(repo: Any, path: str | None = None, depth: int = 0) -> int:
    total = 0
    for info in repo.list_artifacts(path):
        if info.is_dir:
            if depth > 64:
                raise RegistryError("Artifact tree too deep", [Problem(info.path, "over 64 "
                                    "levels", "flatten the artifact")])
            total += _listed_size(repo, info.path, depth + 1)
        else:
            total += int(info.file_size or 0)
    return total


@contextlib.contextmanager
def downloaded_version(mlflow_client: Any, name: str, version: str, *,
                       scratch: str | None = None) -> Iterator[Path]:
    """Yield a private directory holding the version's artifacts; removed afterwards.

    Raises:
        RegistryError: the version or its artifacts cannot be listed or downloaded, or they
            are larger than the limit (``MLFLOW_SUPPLYCHAIN_MAX_DOWNLOAD_BYTES``) or the free
            disk space.
    """
    from mlflow.exceptions import MlflowException
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    subject = f"models:/{name}/{version}"
    try:
        uri = mlflow_client.get_model_version_download_uri(name, version)
        repo = get_artifact_repository(uri)
        size = _listed_size(repo)
    except MlflowException as exc:
        raise mlflow_error(exc, subject) from None
    limit = int(os.environ.get(MAX_BYTES_ENV_VAR, DEFAULT_MAX_BYTES))
    directory = tempfile.mkdtemp(prefix="supplychain-deploy-", dir=scratch)  # mode 0700
    try:
        free = shutil.disk_usage(directory).free
        if size > limit or size > free:
            raise RegistryError("Artifacts too large to download here", [Problem(
                subject, f"{size} bytes; limit {limit}, free disk {free}",
                f"free disk space or raise {MAX_BYTES_ENV_VAR}")])
        try:
            local = repo.download_artifacts("", dst_path=directory)
        except (MlflowException, OSError) as exc:
            raise RegistryError("Cannot download the artifacts", [Problem(
                subject, f"{type(exc).__name__}: {exc}"[:500], "check the artifact store")]
            ) from None
        yield Path(local)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def streamed_manifest(mlflow_client: Any, name: str, version: str) -> Manifest | None:
    """The manifest of the version's artifacts hashed as they stream from S3, nothing written
    to disk, when its download location is ``s3://`` (read with this machine's S3 settings and
    credentials, as MLflow's download would); None for any other store (download instead:
    ``mlflow-artifacts:`` goes through the tracking server, which this client cannot bypass).

    Raises:
        RegistryError: the version cannot be looked up.
        ArtifactReadError: the objects cannot be listed or read, break the path rules of
            :mod:`~mlflow_supplychain.integrity.object_tree`, or changed while read.
    """
    from mlflow.exceptions import MlflowException

    from mlflow_supplychain.integrity.object_store import (
        READ_TIMEOUT,
        S3Location,
        S3Reader,
        s3_client,
    )
    from mlflow_supplychain.integrity.streaming import LANES, WINDOW, stream_manifest

    try:
        uri = str(mlflow_client.get_model_version_download_uri(name, version))
    except MlflowException as exc:
        raise mlflow_error(exc, f"models:/{name}/{version}") from None
    if not uri.startswith("s3://"):
        return None
    reader = S3Reader(S3Location.parse(uri),
                      s3_client(timeout=READ_TIMEOUT, connections=WINDOW * LANES))
    return stream_manifest(reader.list(), reader.fetch)
