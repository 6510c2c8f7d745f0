"""Policy endpoints, under ``/api/2.0/mlflow-supplychain/policy/`` (+ the ajax twin).

- ``POST policy/impact`` ``{"policy": "<YAML text>"}`` (at most 256 KiB): validate the proposed
  policy and evaluate it against the live registry, read-only, without applying it: every
  version holding a protected alias or stage (under the current or the proposed policy) and
  every open transition request, with both decisions. Admins only under basic-auth (it shows
  the evidence of every model). An invalid policy is a 400 naming every problem.
- ``GET policy/show?digest=sha256:...``: a policy the server has loaded, by digest (from the
  policy history), as JSON; 404 when unknown. Any authenticated user.
- ``GET policy/history``: the policies loaded, newest first, and the one enforced now.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import sqlalchemy
from flask import Flask, Response, jsonify, request
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    INTERNAL_ERROR,
    INVALID_PARAMETER_VALUE,
    RESOURCE_DOES_NOT_EXIST,
)
from mlflow.server.handlers import catch_mlflow_exception

from mlflow_supplychain.digests import is_digest
from mlflow_supplychain.errors import PolicyError
from mlflow_supplychain.governance import policy_history
from mlflow_supplychain.policy.impact import ImpactReport
from mlflow_supplychain.policy.loader import parse_policy
from mlflow_supplychain.server.routes import NAMESPACE, paths

IMPACT = NAMESPACE + "/policy/impact"
SHOW = NAMESPACE + "/policy/show"
HISTORY = NAMESPACE + "/policy/history"
MAX_POLICY_TEXT = 256 * 1024


def report_json(report: ImpactReport, seconds: float | None = None) -> dict[str, Any]:
    """The impact report as the endpoint (and the CLI's JSON output) shows it."""
    body = report.model_dump(mode="json")
    body["summary"] = report.summary()
    body["breaking"] = [{"model": r.model_name, "version": r.version, "target": r.target,
                         "holding": r.holding.value} for r in report.breaking]
    if seconds is not None:
        body["seconds"] = round(seconds, 3)
    return body


def _proposed_text() -> str:
    if (request.content_length or 0) > MAX_POLICY_TEXT + 1024:
        raise MlflowException(f"The proposed policy exceeds {MAX_POLICY_TEXT} bytes.",
                              INVALID_PARAMETER_VALUE)
    body = request.get_json(silent=True)
    text = body.get("policy") if isinstance(body, dict) else None
    if not isinstance(text, str) or not text.strip():
        raise MlflowException('Expected a JSON object {"policy": "<policy YAML text>"}.',
                              INVALID_PARAMETER_VALUE)
    if len(text.encode("utf-8")) > MAX_POLICY_TEXT:
        raise MlflowException(f"The proposed policy exceeds {MAX_POLICY_TEXT} bytes.",
                              INVALID_PARAMETER_VALUE)
    return text


def register(app: Flask, store_getter: Callable[[], Any]) -> None:
    """Add the policy endpoints to MLflow's Flask ``app``."""

    @catch_mlflow_exception
    def impact_view() -> Response:
        text = _proposed_text()
        try:
            proposed = parse_policy(text, source="proposed policy")
        except PolicyError as exc:
            raise MlflowException(exc.diagnostics(), INVALID_PARAMETER_VALUE) from None
        store = store_getter()
        started = time.monotonic()
        try:
            report = store.gate.impact(store, proposed)
        except sqlalchemy.exc.SQLAlchemyError as exc:
            raise MlflowException(f"Could not read the registry: {type(exc).__name__}",
                                  INTERNAL_ERROR) from None
        return jsonify(report_json(report, time.monotonic() - started))

    def _engine(store: Any) -> Any:
        recorder = store.gate.recorder
        if recorder is None:
            raise MlflowException("The policy history is not available.", INTERNAL_ERROR)
        return recorder.engine

    @catch_mlflow_exception
    def show_view() -> Response:
        digest = request.args.get("digest", "")
        if not is_digest(digest):
            raise MlflowException("'digest' must be sha256:<64 hex>.", INVALID_PARAMETER_VALUE)
        store = store_getter()
        with _engine(store).connect() as conn:
            content = policy_history.policy_content(conn, digest)
        if content is None:
            raise MlflowException(f"No policy with digest {digest} is in the history.",
                                  RESOURCE_DOES_NOT_EXIST)
        return jsonify({"digest": digest, "policy": content})

    @catch_mlflow_exception
    def history_view() -> Response:
        store = store_getter()
        with _engine(store).connect() as conn:
            entries = policy_history.history(conn)
        return jsonify({"current": store.gate.holder.policy.digest,
                        "history": [{"digest": e.digest, "format_digest": e.format_digest,
                                     "first_loaded_at": e.first_loaded_at, "source": e.source}
                                    for e in entries]})

    for path in paths(IMPACT):
        app.add_url_rule(path, endpoint=f"mlflow_supplychain_policy_impact:{path}",
                         view_func=impact_view, methods=["POST"])
    for path in paths(SHOW):
        app.add_url_rule(path, endpoint=f"mlflow_supplychain_policy_show:{path}",
                         view_func=show_view, methods=["GET"])
    for path in paths(HISTORY):
        app.add_url_rule(path, endpoint=f"mlflow_supplychain_policy_history:{path}",
                         view_func=history_view, methods=["GET"])


