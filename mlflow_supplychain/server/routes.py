"""Our REST endpoints, under ``/api/2.0/mlflow-supplychain/`` and the ``/ajax-api/`` twin.

- ``GET|POST evaluate`` (``name``, ``version``, ``target``): the gate's Decision for a
  promotion, without making it. Needs read permission on the model when auth is on.
- ``GET status``: policy digest, format digest and mode, reload error, the process answering
  (``host:pid``) and every server process seen in the last ten minutes with the policy digest
  it serves, plugin and MLflow versions, store type. With ``?promoted=1``: also every version
  holding a protected alias or stage that the policy in force does not allow
  (``noncompliant_promoted``; evaluates each promoted version, so it costs seconds on a large
  registry).

Handlers are thin: parse and validate parameters, call the gate, serialise. Errors are
MlflowExceptions, rendered by MLflow's own ``catch_mlflow_exception`` as the usual JSON body.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import mlflow
from flask import Flask, Response, jsonify, request
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.server.handlers import _add_static_prefix, catch_mlflow_exception

from mlflow_supplychain import __version__
from mlflow_supplychain.governance.policy_history import process_key
from mlflow_supplychain.policy.evidence import Target
from mlflow_supplychain.server.model_access import require_read
from mlflow_supplychain.server.numbers import version_text

API_ROOTS = ("/api/2.0", "/ajax-api/2.0")
NAMESPACE = "/mlflow-supplychain"
EVALUATE = NAMESPACE + "/evaluate"
STATUS = NAMESPACE + "/status"


def paths(endpoint: str) -> list[str]:
    """Every URL an endpoint is served on (REST and UI roots, with the static prefix)."""
    return [_add_static_prefix(root + endpoint) for root in API_ROOTS]


def _params() -> dict[str, Any]:
    if request.method == "GET":
        return dict(request.args)
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


def _required_text(params: dict[str, Any], name: str) -> str:
    value = params.get(name)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise MlflowException(f"Missing value for required parameter '{name}'.",
                              INVALID_PARAMETER_VALUE)
    return value


def register(app: Flask, store_getter: Callable[[], Any], status_extra: Callable[[], dict[str, Any]]
             ) -> None:
    """Add our endpoints to MLflow's Flask ``app``.

    ``store_getter`` returns the gated registry store (resolved per request, so the app and
    MLflow's handlers share one instance); ``status_extra`` adds deployment facts to status.
    """

    @catch_mlflow_exception
    def evaluate_view() -> Response:
        params = _params()
        name = _required_text(params, "name")
        version = version_text(_required_text(params, "version"))
        target_text = _required_text(params, "target")
        require_read(name)
        store = store_getter()
        decision = store.gate.evaluate(store, name, version, Target.parse(target_text))
        return jsonify({"decision": decision.model_dump(mode="json"),
                        "explanation": decision.explain()})

    @catch_mlflow_exception
    def status_view() -> Response:
        store = store_getter()
        state = store.gate.holder.state()
        extra: dict[str, Any] = {}
        if request.args.get("promoted") in ("1", "true"):
            report = store.gate.impact(store, state.policy)
            extra["noncompliant_promoted"] = [
                {"model": r.model_name, "version": r.version, "target": r.target,
                 "violations": list(r.current.violations)}
                for r in report.rows if r.promoted and r.current.protected
                and not r.current.allowed]
        return jsonify({
            **extra,
            "process": process_key(),
            "processes": store.gate.serving_processes(),
            "plugin_version": __version__,
            "mlflow_version": mlflow.__version__,
            "policy": {
                "path": state.path,
                "digest": state.policy.digest,
                "format_digest": state.policy.format_digest,
                "mode": state.policy.mode.value,
                "loaded_at": state.loaded_at,
                "reload_error": state.reload_error,
            },
            "store": {"type": type(store).__name__, "database": getattr(store, "db_type", None)},
            **status_extra(),
        })

    for path in paths(EVALUATE):
        app.add_url_rule(path, endpoint=f"mlflow_supplychain_evaluate:{path}",
                         view_func=evaluate_view, methods=["GET", "POST"])
    for path in paths(STATUS):
        app.add_url_rule(path, endpoint=f"mlflow_supplychain_status:{path}",
                         view_func=status_view, methods=["GET"])
