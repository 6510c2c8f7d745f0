"""Who is calling: the user MLflow's basic-auth authenticated for the current request.

MLflow's auth app (``mlflow.server.auth._before_request``) stores the authenticated username in
``flask.g.mlflow_authenticated_user`` after checking the password. We read only that: an
``Authorization`` header on a server without auth proves nothing, so it is never trusted.
Outside a request, or without auth, the caller is unknown (``None``).
"""

from __future__ import annotations

AUTH_USER_ATTRIBUTE = "mlflow_authenticated_user"


def current_user() -> str | None:
    """The authenticated username of the current Flask request, or None."""
    try:
        from flask import g, has_request_context
    except ImportError:  # pragma: no cover - Flask ships with mlflow[server]
        return None
    if not has_request_context():
        return None
    user = g.get(AUTH_USER_ATTRIBUTE)
    return user if isinstance(user, str) and user else None
