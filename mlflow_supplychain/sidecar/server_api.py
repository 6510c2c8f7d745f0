"""What the sidecar asks of the MLflow server: versions, artifacts, our endpoints.

Everything goes through MLflow's own client and REST helpers, so basic-auth credentials
(``MLFLOW_TRACKING_USERNAME``/``PASSWORD`` or a token) and TLS settings work as for any client.
MLflow exceptions are converted here; callers see :class:`ServerApiError` or None.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlflow_supplychain.errors import Problem, RegistryError
from mlflow_supplychain.version_identity import VersionIdentity

_logger = logging.getLogger(__name__)
API = "/api/2.0/mlflow-supplychain"


class ServerApiError(RegistryError):
    """The MLflow server refused or failed a sidecar request."""

    def __init__(self, summary: str, problems: Any = (), *, status: int | None = None,
                 error_code: str | None = None) -> None:
        super().__init__(summary, problems)
        self.status = status
        self.error_code = error_code


@dataclass(frozen=True)
class VersionInfo:
    name: str
    version: str
    source: str
    tags: dict[str, str] = field(default_factory=dict)
    stage: str = "None"


class ServerApi:
    """A thin, typed facade over MlflowClient and our REST endpoints for one server."""

    def __init__(self, tracking_uri: str) -> None:
        from mlflow import MlflowClient

        self.tracking_uri = tracking_uri
        self._client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    # -- registry -------------------------------------------------------------------------

    def version(self, name: str, version: str) -> VersionInfo | None:
        """The version, or None when it does not exist (deleted, never created).

        Raises:
            ServerApiError: any other failure.
        """
        from mlflow.exceptions import MlflowException

        try:
            mv = self._client.get_model_version(name, version)
        except MlflowException as exc:
            if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                return None
            raise ServerApiError("Cannot read the model version", [Problem(
                f"models:/{name}/{version}", exc.error_code, "check the server")]) from None
        return VersionInfo(name=name, version=str(mv.version), source=mv.source or "",
                           tags=dict(mv.tags or {}))

    def aliases(self, name: str) -> dict[str, str]:
        """Alias -> version of registered model ``name`` ({} when it is gone)."""
        from mlflow.exceptions import MlflowException

        try:
            model = self._client.get_registered_model(name)
        except MlflowException:
            return {}
        return {alias: str(v) for alias, v in (model.aliases or {}).items()}

    def delete_alias(self, name: str, alias: str) -> None:
        """Remove ``alias`` from ``name`` (compensating enforcement)."""
        self._client.delete_registered_model_alias(name, alias)

    def set_model_tag(self, name: str, key: str, value: str) -> None:
        self._client.set_registered_model_tag(name, key, value)

    def iter_versions(self) -> Iterator[VersionInfo]:
        """Every live model version (prompts excluded), page by page."""
        token: str | None = None
        while True:
            page = self._client.search_model_versions(max_results=200, page_token=token)
            for mv in page:
                tags = dict(mv.tags or {})
                if tags.get("mlflow.prompt.is_prompt", "").lower() == "true":
                    continue
                yield VersionInfo(name=mv.name, version=str(mv.version),
                                  source=mv.source or "", tags=tags,
                                  stage=str(mv.current_stage or "None"))
            token = page.token
            if not token:
                return

    def iter_model_aliases(self) -> Iterator[tuple[str, dict[str, str]]]:
        """(name, alias -> version) of every registered model, page by page."""
        token: str | None = None
        while True:
            page = self._client.search_registered_models(max_results=200, page_token=token)
            for model in page:
                yield model.name, {a: str(v) for a, v in (model.aliases or {}).items()}
            token = page.token
            if not token:
                return

    # -- artifacts ------------------------------------------------------------------------

    def download(self, name: str, version: str, dest: Path, max_bytes: int) -> Path:
        """Download the version's artifacts into ``dest``, refusing more than ``max_bytes``.

        The size is summed from the artifact listing before anything is downloaded.

        Raises:
            ServerApiError: too large, or the download failed.
        """
        from mlflow.exceptions import MlflowException
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        try:
            uri = self._client.get_model_version_download_uri(name, version)
            repo = get_artifact_repository(uri, tracking_uri=self.tracking_uri)
            total = _listed_size(repo, None, max_bytes)
            if total > max_bytes:
                raise ServerApiError("Artifacts exceed the sidecar's disk budget", [Problem(
                    f"models:/{name}/{version}", f"over {max_bytes} bytes",
                    "raise MLFLOW_SUPPLYCHAIN_SIDECAR_MAX_BYTES")])
            dest.mkdir(parents=True, exist_ok=True)  # MLflow requires an existing directory
            local = repo.download_artifacts("", dst_path=str(dest))
        except MlflowException as exc:
            raise ServerApiError("Cannot download the artifacts", [Problem(
                f"models:/{name}/{version}", exc.error_code, "check the version's source")
            ]) from None
        except OSError as exc:
            raise ServerApiError("Cannot download the artifacts", [Problem(
                f"models:/{name}/{version}", type(exc).__name__, "check the version's source")
            ]) from None
        return Path(local)

    # -- our endpoints --------------------------------------------------------------------

    def _call(self, method: str, endpoint: str, **kwargs: Any) -> Any:
        from mlflow.utils.credentials import get_default_host_creds
        from mlflow.utils.rest_utils import http_request

        response = http_request(get_default_host_creds(self.tracking_uri), API + endpoint,
                                method, max_retries=2, **kwargs)
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200:
            raise ServerApiError(f"{endpoint} failed", [Problem(
                endpoint, f"HTTP {response.status_code}", str(body.get("message", ""))[:2000])],
                status=response.status_code, error_code=body.get("error_code"))
        return body

    def submit_envelope(self, envelope: dict[str, Any]) -> None:
        """POST the attestation as a DSSE envelope of an in-toto statement.

        Raises:
            ServerApiError: refused (the message says why) or the server failed.
        """
        self._call("POST", "/attestations/submit", json={"envelope": envelope})

    def identity(self, name: str, version: str) -> VersionIdentity | None:
        """The version's immutable identity as the server computes it; None when the version
        does not exist.

        Raises:
            ServerApiError: the server failed or answered something that is not an identity.
        """
        try:
            body = self._call("GET", "/versions/identity",
                              params={"name": name, "version": version})
        except ServerApiError as exc:
            if exc.status == 404:
                return None
            raise
        try:
            return VersionIdentity.model_validate(body.get("identity"))
        except ValueError:
            raise ServerApiError("The server sent a malformed version identity", [Problem(
                f"models:/{name}/{version}", "identity does not validate",
                "upgrade the server and the sidecar together")]) from None

    def attestation(self, name: str, version: str) -> dict[str, Any] | None:
        """The latest stored attestation ({payload, verified...}) or None."""
        try:
            return dict(self._call("GET", "/attestations/get",
                                   params={"name": name, "version": version}))
        except ServerApiError as exc:
            if exc.status == 404:
                return None
            raise

    def evaluate(self, name: str, version: str, target: str) -> dict[str, Any]:
        """The gate's decision for moving ``target`` to the version (not applied)."""
        body = self._call("GET", "/evaluate",
                          params={"name": name, "version": version, "target": target})
        return dict(body["decision"])

    def policy_digest(self) -> str:
        return str(self._call("GET", "/status")["policy"]["digest"])


def _listed_size(repo: Any, path: str | None, budget: int) -> int:
    total = 0
    for info in repo.list_artifacts(path):
        if info.is_dir:
            total += _listed_size(repo, info.path, budget - total)
        else:
            total += int(info.file_size or 0)
        if total > budget:
            return total
    return total
