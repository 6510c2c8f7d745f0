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

from mlflow_supplychain.errors import Problem, RegistryError, RequestRefused
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
        return self._call("GET", endpoint, params=params)

    def _post(self, endpoint: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return self._call("POST", endpoint, body=body)

    def _call(self, method: str, endpoint: str, *, params: Mapping[str, str] | None = None,
              body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        url = f"{self._base}{API_ROOT}/{endpoint}"
        try:
            response = self._session.request(method, url, params=params,
                                             json=dict(body) if body is not None else None,
                                             timeout=self._timeout)
        except requests.RequestException as exc:
            raise RegistryError(f"Cannot reach the MLflow server at {self._base}", [Problem(
                url, type(exc).__name__, "check --tracking-uri and that the server runs")]) from None
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        body = answer
        if response.status_code != 200:
            message = body.get("message") if isinstance(body, dict) else None
            fix = ("start the server with the mlflow-supplychain app (--app-name supplychain)"
                   if response.status_code == 404 and not message else "see the message")
            error = RequestRefused if response.status_code in (401, 403) else RegistryError
            raise error(f"The server answered HTTP {response.status_code}",
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

    def policy_impact(self, policy_text: str) -> dict[str, Any]:
        """What the server's registry would look like under the proposed policy (not applied).

        Raises:
            RequestRefused: the caller is not an admin (under basic-auth).
            RegistryError: the policy is invalid (the message lists why), or the server fails.
        """
        return self._post("policy/impact", {"policy": policy_text})

    def policy_show(self, digest: str) -> dict[str, Any]:
        """A policy the server loaded once, by digest, from its policy history.

        Raises:
            RegistryError: unknown digest, or the server fails.
        """
        return self._get("policy/show", {"digest": digest})

    def status(self) -> dict[str, Any]:
        """The server's gate status (policy digest and mode, versions, store type).

        Raises:
            RegistryError: the server is unreachable or does not run the plugin.
        """
        return self._get("status")

    # -- transition requests ----------------------------------------------------------------

    def create_request(self, name: str, version: str, target: str,
                       comment: str | None = None) -> dict[str, Any]:
        """Open a transition request; returns ``{"request": ..., "decision": ...}``.

        Raises:
            RequestRefused: not authenticated, or not allowed.
            RegistryError: the server is unreachable or refuses for another reason.
        """
        return self._post("transition-requests/create", {"name": name, "version": version,
                                                         "target": target, "comment": comment})

    def approve_request(self, request_id: int, comment: str | None = None,
                        apply: bool = False) -> dict[str, Any]:
        """Approve a request (and make the promotion when ``apply`` and it is approved).

        Raises:
            RequestRefused: separation of duties, not an approver, stale evidence.
            RegistryError: the server is unreachable or refuses for another reason.
        """
        return self._post("transition-requests/approve",
                          {"request_id": str(request_id), "comment": comment, "apply": apply})

    def reject_request(self, request_id: int, comment: str | None = None) -> dict[str, Any]:
        """Reject a request (approvers only).

        Raises:
            RequestRefused, RegistryError.
        """
        return self._post("transition-requests/reject",
                          {"request_id": str(request_id), "comment": comment})

    def cancel_request(self, request_id: int, comment: str | None = None) -> dict[str, Any]:
        """Cancel a request (its requester only).

        Raises:
            RequestRefused, RegistryError.
        """
        return self._post("transition-requests/cancel",
                          {"request_id": str(request_id), "comment": comment})

    def list_requests(self, *, name: str | None = None, version: str | None = None,
                      status: str | None = None, max_results: int = 100,
                      page_token: str | None = None) -> dict[str, Any]:
        """One page of requests, newest first: ``{"requests": [...], "next_page_token": ...}``.

        Raises:
            RegistryError: the server is unreachable or refuses.
        """
        params = {k: v for k, v in {"name": name, "version": version, "status": status,
                                    "max_results": str(max_results),
                                    "page_token": page_token}.items() if v is not None}
        return self._get("transition-requests/list", params)
