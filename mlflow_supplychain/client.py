"""A small REST client for our server endpoints (``/api/2.0/mlflow-supplychain/...``).

Credentials come from the same environment variables MLflow's own client reads
(``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD`` or ``MLFLOW_TRACKING_TOKEN``;
``MLFLOW_TRACKING_INSECURE_TLS``), so CI that talks to MLflow can ask the gate too.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import requests
from pydantic import ValidationError

from mlflow_supplychain.errors import Problem, RegistryError
from mlflow_supplychain.policy.decision import Decision

API_ROOT = "/api/2.0/mlflow-supplychain"
DEFAULT_TIMEOUT = 30.0


class SupplyChainClient:
    """Calls the gate endpoints of one MLflow server."""

    def __init__(self, tracking_uri: str, *, timeout: float = DEFAULT_TIMEOUT,
                 environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self._base = tracking_uri.rstrip("/")
        self._timeout = timeout
        self._session = requests.Session()
        user, password = env.get("MLFLOW_TRACKING_USERNAME"), env.get("MLFLOW_TRACKING_PASSWORD")
        if user and password:
            self._session.auth = (user, password)
        elif token := env.get("MLFLOW_TRACKING_TOKEN"):
            self._session.headers["Authorization"] = f"Bearer {token}"
        if env.get("MLFLOW_TRACKING_INSECURE_TLS", "").lower() == "true":
            self._session.verify = False

    def _get(self, endpoint: str, params: Mapping[str, str] | None = None) -> dict[str, Any]:
        url = f"{self._base}{API_ROOT}/{endpoint}"
        try:
            response = self._session.get(url, params=params, timeout=self._timeout)
        except requests.RequestException as exc:
            raise RegistryError(f"Cannot reach the MLflow server at {self._base}", [Problem(
                url, type(exc).__name__, "check --tracking-uri and that the server runs")]) from None
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200:
            message = body.get("message") if isinstance(body, dict) else None
            fix = ("start the server with the mlflow-supplychain app (--app-name supplychain)"
                   if response.status_code == 404 else "see the message")
            raise RegistryError(f"The gate endpoint answered HTTP {response.status_code}",
                                [Problem(url, str(message or response.reason), fix)])
        if not isinstance(body, dict):
            raise RegistryError("The gate endpoint answered with unexpected JSON",
                                [Problem(url, "not a JSON object", "check the server version")])
        return body

    def evaluate(self, name: str, version: str, target: str) -> Decision:
        """The server's Decision for promoting ``name``/``version`` to ``target``.

        Raises:
            RegistryError: the server is unreachable, refuses, or answers unexpectedly.
        """
        body = self._get("evaluate", {"name": name, "version": version, "target": target})
        try:
            return Decision.model_validate(body.get("decision"))
        except ValidationError as exc:
            raise RegistryError("The gate endpoint returned a malformed decision", [Problem(
                "decision", str(exc.errors(include_url=False)[:1]),
                "use matching plugin versions on client and server")]) from None

    def status(self) -> dict[str, Any]:
        """The server's gate status (policy digest and mode, versions, store type).

        Raises:
            RegistryError: the server is unreachable or does not run the plugin.
        """
        return self._get("status")
