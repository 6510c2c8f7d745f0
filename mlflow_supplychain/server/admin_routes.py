"""Who may administer webhooks (and so unplug the scan sidecar).

- With basic-auth: admins only (MLflow 3.17 already requires it; this keeps the rule on
  older versions too).
- Without basic-auth (unauthenticated mode): nobody is an admin, so every webhook route, reads
  included, needs ``Authorization: Bearer <token>`` with the token in
  ``MLFLOW_SUPPLYCHAIN_ADMIN_TOKEN`` (``mlflow-supplychain server`` generates it in the data
  directory and hands it to the sidecar as ``MLFLOW_TRACKING_TOKEN``). No token configured:
  refused outright.
"""

from __future__ import annotations

import hmac
import os
from typing import Any

ADMIN_TOKEN_ENV_VAR = "MLFLOW_SUPPLYCHAIN_ADMIN_TOKEN"  # noqa: S105 - a variable name
_ADMIN_PATH_MARKER = "/mlflow/webhooks"
_WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})


def is_admin_route(path: str) -> bool:
    """Does ``path`` administer webhooks (REST, ajax, any API version)?"""
    return _ADMIN_PATH_MARKER in path


def bearer_matches(authorization: str | None, token: str | None) -> bool:
    """Is ``authorization`` exactly ``Bearer <token>`` (constant-time)? Never with no token."""
    if not token or not authorization or not authorization.startswith("Bearer "):
        return False
    return hmac.compare_digest(authorization[len("Bearer "):].encode("utf-8", "surrogateescape"),
                               token.encode("utf-8"))


def _forbidden(message: str) -> Any:
    from flask import jsonify

    response = jsonify({"error_code": "PERMISSION_DENIED", "message": message})
    response.status_code = 403
    return response


def unauthenticated_admin_guard() -> Any:
    """``before_request`` hook without basic-auth: webhook routes need the admin token."""
    from flask import request

    if not is_admin_route(request.path):
        return None
    if bearer_matches(request.headers.get("Authorization"), os.environ.get(ADMIN_TOKEN_ENV_VAR)):
        return None
    return _forbidden(
        "Webhook administration is refused: this server runs without authentication. Run it "
        f"with --auth (admins only), or send 'Authorization: Bearer <{ADMIN_TOKEN_ENV_VAR}>' "
        "(the token is in the data directory's admin-token file).")


def webhooks_admin_only() -> Any:
    """``before_request`` hook under basic-auth (runs after MLflow's, so the user is known):
    only admins may create, change or delete webhooks."""
    from flask import request

    if not is_admin_route(request.path) or request.method not in _WRITE_METHODS:
        return None
    from mlflow.server.auth import make_forbidden_response, sender_is_admin

    return None if sender_is_admin() else make_forbidden_response()
