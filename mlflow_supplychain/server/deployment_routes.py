"""``POST /api/2.0/mlflow-supplychain/deployments/record`` (+ ajax twin): what a service loaded.

Body: ``{"name", "version", "manifest_digest", "artifact_digest", "host"}``. Appends one
``deploy.load`` record (with the version's identity digest, and with ``noncompliant``: the
violation codes of a version loaded under ``deployed.when_noncompliant: warn``) to the
hash-chained audit log (actor: the authenticated user, or ``anonymous``), so "which bytes
does production run?" has an answer in the same log as the decisions that approved them. The
version must exist. Under basic-auth, read permission on the model is required (a reader is
allowed to load it, so a reader may say that it did).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, jsonify, request
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST
from mlflow.server.handlers import catch_mlflow_exception

from mlflow_supplychain.digests import is_digest
from mlflow_supplychain.governance import audit
from mlflow_supplychain.registry.identity import current_user
from mlflow_supplychain.server.model_access import require_read
from mlflow_supplychain.server.numbers import version_text
from mlflow_supplychain.server.routes import NAMESPACE, paths

RECORD = NAMESPACE + "/deployments/record"
_HOST = re.compile(r"^[A-Za-z0-9._:\-]{1,253}$")
_CODE = re.compile(r"^[a-z_]{1,20}\.[a-z_]{1,40}$")


def _text(body: dict[str, Any], key: str, *, check: Callable[[str], bool]) -> str:
    value = body.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not check(value):
        raise MlflowException(f"Invalid or missing '{key}'.", INVALID_PARAMETER_VALUE)
    return value


def register(app: Flask, store_getter: Callable[[], Any]) -> None:
    """Add the deployment-record endpoint to MLflow's Flask ``app``."""

    @catch_mlflow_exception
    def record_view() -> Response:
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or (request.content_length or 0) > 64 * 1024:
            raise MlflowException("Expected a small JSON object.", INVALID_PARAMETER_VALUE)
        name = _text(body, "name", check=lambda v: 0 < len(v) <= 256)
        _text(body, "version", check=bool)  # "missing" before "malformed"
        version = version_text(body.get("version"))
        manifest_digest = _text(body, "manifest_digest", check=is_digest)
        artifact_digest = _text(body, "artifact_digest", check=is_digest)
        host = _text(body, "host", check=lambda v: bool(_HOST.match(v)))
        require_read(name)
        noncompliant = body.get("noncompliant", [])
        if (not isinstance(noncompliant, list) or len(noncompliant) > 50
                or not all(isinstance(c, str) and _CODE.match(c) for c in noncompliant)):
            raise MlflowException("'noncompliant' must be a list of violation codes.",
                                  INVALID_PARAMETER_VALUE)
        store = store_getter()
        identity = store.gate.current_identity(store, name, version)
        if identity is None:
            raise MlflowException(f"Model Version (name={name}, version={version}) not found",
                                  RESOURCE_DOES_NOT_EXIST)
        recorder = store.gate.recorder
        if recorder is None:
            raise MlflowException("The audit log is not available.", INVALID_PARAMETER_VALUE)
        policy = store.gate.holder.policy
        with recorder.engine.begin() as conn:
            event = audit.append(conn, actor=current_user() or "anonymous", action="deploy.load",
                                 subject=f"models:/{name}/{version}",
                                 payload={"manifest_digest": manifest_digest,
                                          "artifact_digest": artifact_digest, "host": host,
                                          # which version was loaded, not just its name
                                          "identity": identity.digest(),
                                          "workspace": identity.workspace,
                                          **({"noncompliant": noncompliant}
                                             if noncompliant else {})},
                                 policy_digest=policy.digest, ts_ms=int(time.time() * 1000))
        return jsonify({"recorded": True, "seq": event.seq})

    for path in paths(RECORD):
        app.add_url_rule(path, endpoint=f"mlflow_supplychain_deployment_record:{path}",
                         view_func=record_view, methods=["POST"])
