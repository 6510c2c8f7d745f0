"""App factories for ``mlflow server --app-name supplychain`` / ``supplychain-auth``.

Both are plain functions (MLflow starts them with ``uvicorn --factory``, ``gunicorn
'module:create_app()'`` or ``waitress --call``). They add our routes to MLflow's Flask app and,
under uvicorn, return MLflow's FastAPI wrapper around it, exactly like
``mlflow.server.auth.create_app`` does.

``supplychain-auth`` runs MLflow's basic-auth factory first, so its ``before_request`` hook
(authentication, authorization) runs before ours and the authenticated user is known to the
gate (``registry.identity``).

Both refuse to start -- raising, so the server exits non-zero -- when the registry store is not
ours (an operator who forgets ``--registry-store-uri`` must not get a silently open registry)
or when the policy is missing or invalid.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from mlflow_supplychain.errors import Problem, SupplyChainError
from mlflow_supplychain.policy.exposure import server_warnings
from mlflow_supplychain.policy.schema import Policy
from mlflow_supplychain.registry.caller import PROXY_SECRET_ENV_VAR, proxy_secret
from mlflow_supplychain.server import admin_routes
from mlflow_supplychain.server.header_guard import UnderscoreHeaderGuard

LOG_LEVEL_ENV_VAR = "MLFLOW_SUPPLYCHAIN_LOG_LEVEL"
_logger = logging.getLogger(__name__)


class ServerConfigError(SupplyChainError):
    """The MLflow server is not configured so that the gate can be enforced."""


def _gated_store() -> Any:
    """The server's registry store, which must be ours.

    Raises:
        ServerConfigError: the registry store is another implementation.
        PolicyError: building our store failed because the policy is missing or invalid.
    """
    from mlflow.server.handlers import _get_model_registry_store

    from mlflow_supplychain.registry.store import GATED_STORE_TYPES

    store = _get_model_registry_store()
    _require_gated(store, GATED_STORE_TYPES)
    return store


def _require_gated(store: Any, gated: tuple[type, ...]) -> None:
    if not isinstance(store, gated):
        raise ServerConfigError(
            "mlflow-supplychain refuses to start: the model registry is not governed",
            [Problem("registry store", f"is {type(store).__module__}.{type(store).__name__}",
                     "start with 'mlflow-supplychain server', or pass --registry-store-uri "
                     "supplychain+<backend URI> (e.g. supplychain+sqlite:///mlflow.db) to "
                     "'mlflow server'")])


def _configure_logging() -> None:
    # The server workers are an entry point of ours, so we give our logger a handler: gate
    # decisions must reach the log even though MLflow's uvicorn log config ignores them.
    logger = logging.getLogger("mlflow_supplychain")
    if logger.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(os.environ.get(LOG_LEVEL_ENV_VAR, "INFO").upper())
    logger.propagate = False


def _install(flask_app: Any, *, auth: bool) -> None:
    from mlflow.environment_variables import MLFLOW_ENABLE_WORKSPACES

    from mlflow_supplychain.server import (
        attestation_routes,
        bom_routes,
        deployment_routes,
        pages,
        policy_routes,
        promotion_routes,
        request_routes,
        routes,
    )

    _configure_logging()
    store = _gated_store()
    policy = store.gate.holder.policy  # fail now, not on the first request
    _require_proxy_secret(policy)
    for warning in server_warnings(policy, auth=auth):
        _logger.warning("%s", warning)

    def exposure() -> tuple[str, ...]:
        return server_warnings(_gated_store().gate.holder.policy, auth=auth)

    def status_extra() -> dict[str, Any]:
        return {"auth": auth, "workspaces": bool(MLFLOW_ENABLE_WORKSPACES.get()),
                "warnings": list(exposure())}

    routes.register(flask_app, _gated_store, status_extra)
    request_routes.register(flask_app, _gated_store, routes.paths)
    attestation_routes.register(flask_app, _gated_store)
    deployment_routes.register(flask_app, _gated_store)
    policy_routes.register(flask_app, _gated_store)
    promotion_routes.register(flask_app, _gated_store)
    bom_routes.register(flask_app, _gated_store)
    pages.register(flask_app, _gated_store, exposure)
    if auth:
        _allow_our_routes_under_auth()
        flask_app.before_request(admin_routes.webhooks_admin_only)
    else:
        flask_app.before_request(admin_routes.unauthenticated_admin_guard)


def _require_proxy_secret(policy: Policy) -> None:
    """A policy that pins the proxy by a shared secret needs the secret (fail closed)."""
    header = policy.identity.trusted_proxy_secret_header
    if header and proxy_secret() is None:
        raise ServerConfigError(
            "mlflow-supplychain refuses to start: the trusted proxy's secret is not set",
            [Problem("identity.trusted_proxy_secret_header", f"names {header}, but "
                     f"{PROXY_SECRET_ENV_VAR} is unset or empty",
                     f"export {PROXY_SECRET_ENV_VAR} with the secret your proxy sends")])


def _allow_our_routes_under_auth() -> None:
    """Give our routes basic-auth validators.

    With ``MLFLOW_BASIC_AUTH_FAIL_CLOSED`` (the default in MLflow 3.17) a route that has no
    validator in ``mlflow.server.auth.BEFORE_REQUEST_VALIDATORS`` is forbidden to non-admins;
    MLflow offers no public registration API, so we add ours to that table
    (mlflow/server/auth/__init__.py, ``_find_validator``).
    """
    from mlflow.server import auth

    from mlflow_supplychain.server import request_routes, routes

    table = getattr(auth, "BEFORE_REQUEST_VALIDATORS", None)
    if table is None:
        return
    for path in routes.paths(routes.EVALUATE):
        table[(path, "GET")] = auth.validate_can_read_registered_model
        table[(path, "POST")] = auth.validate_can_read_registered_model
    for path in routes.paths(routes.STATUS):
        table[(path, "GET")] = lambda: True
    # Transition requests: basic-auth has authenticated the caller; who may approve, reject
    # or cancel is decided by the policy in the handlers. Creating one needs read access.
    for action, methods in request_routes.ENDPOINTS.items():
        check = (auth.validate_can_read_registered_model if action == "create"
                 else (lambda: True))
        for path in routes.paths(f"{request_routes.PREFIX}/{action}"):
            for method in methods:
                table[(path, method)] = check
    _allow_attestation_routes(table, auth)
    _allow_policy_routes(table, auth)
    _allow_pages(table, auth)


def _allow_attestation_routes(table: Any, auth: Any) -> None:
    from mlflow_supplychain.server import attestation_routes as att
    from mlflow_supplychain.server.routes import paths

    for path in paths(att.SUBMIT):
        # Any authenticated caller: the Ed25519 signature is the authorization (checked in
        # the handler), so only the sidecar's key can get an attestation stored.
        table[(path, "POST")] = lambda: True
    for path in paths(att.GET) + paths(att.IDENTITY):
        table[(path, "GET")] = auth.validate_can_read_registered_model
    _allow_deployment_routes(table, auth)


def _allow_deployment_routes(table: Any, auth: Any) -> None:
    from mlflow_supplychain.server import deployment_routes
    from mlflow_supplychain.server.routes import paths

    for path in paths(deployment_routes.RECORD):
        # Whoever may read (and so load) the model may record that they loaded it.
        table[(path, "POST")] = auth.validate_can_read_registered_model
    _allow_promotion_routes(table, auth)


def _allow_promotion_routes(table: Any, auth: Any) -> None:
    from mlflow_supplychain.server import promotion_routes
    from mlflow_supplychain.server.routes import paths

    for path in paths(promotion_routes.EVIDENCE):
        # Whoever may read (and so deploy) the model may get the registry's word on it.
        table[(path, "GET")] = auth.validate_can_read_registered_model
    from mlflow_supplychain.server import bom_routes

    for path in paths(bom_routes.BOM):
        table[(path, "GET")] = auth.validate_can_read_registered_model
    for path in paths(promotion_routes.REGISTRY_KEY):
        table[(path, "GET")] = lambda: True  # a public key, for any authenticated caller


def _allow_policy_routes(table: Any, auth: Any) -> None:
    from mlflow_supplychain.server import policy_routes
    from mlflow_supplychain.server.routes import paths

    for path in paths(policy_routes.IMPACT):
        # evaluates every model's evidence: admins only (fail closed for everyone else)
        table[(path, "POST")] = auth.sender_is_admin
    for path in paths(policy_routes.SHOW) + paths(policy_routes.HISTORY):
        table[(path, "GET")] = lambda: True  # the policy governs every user; no model data


def _allow_pages(table: Any, auth: Any) -> None:
    from mlflow_supplychain.server import pages

    # A version's page and a model's audit trail show that model: read permission on it
    # (``name`` is a query parameter). The overview lists requests like the REST ``list``
    # endpoint (any authenticated user); the form post's rules are the workflow's, checked in
    # the handler after the CSRF check, like the REST ``approve``/``reject``.
    per_model = {pages.VERSION, pages.AUDIT}
    for route, path, method in pages.page_routes():
        table[(path, method)] = (auth.validate_can_read_registered_model if route in per_model
                                 else auth.sender_is_admin if route == pages.POLICY
                                 else (lambda: True))


def _under_uvicorn() -> bool:
    from mlflow.environment_variables import _MLFLOW_SGI_NAME

    return bool(_MLFLOW_SGI_NAME.get() == "uvicorn")


def _asgi_or_wsgi(flask_app: Any) -> Any:
    if _under_uvicorn():
        from mlflow.server.fastapi_app import create_fastapi_app

        return UnderscoreHeaderGuard(create_fastapi_app(flask_app))
    return flask_app


def create_app(app: Any = None) -> Any:
    """``mlflow.app`` entry point ``supplychain``: MLflow's server with the gate's endpoints.

    Raises:
        ServerConfigError: the registry store is not ours.
        PolicyError: the policy is missing or invalid.
    """
    from mlflow.server import app as mlflow_flask_app

    flask_app = app if app is not None else mlflow_flask_app
    _install(flask_app, auth=False)
    return _asgi_or_wsgi(flask_app)


def create_auth_app(app: Any = None) -> Any:
    """``mlflow.app`` entry point ``supplychain-auth``: MLflow basic-auth first, then ours.

    Raises:
        ServerConfigError: the registry store is not ours.
        PolicyError: the policy is missing or invalid.
        MlflowException: basic-auth is misconfigured (no secret key, no admin password).
    """
    from mlflow.server import app as mlflow_flask_app
    from mlflow.server import auth

    flask_app = app if app is not None else mlflow_flask_app
    wrapped = auth.create_app(flask_app)  # FastAPI wrapper under uvicorn, else the Flask app
    _install(flask_app, auth=True)
    return UnderscoreHeaderGuard(wrapped) if _under_uvicorn() else wrapped


def _refuse_in_server_launcher() -> None:
    """Fail ``mlflow server`` itself, before it spawns workers, when the store is not ours.

    ``mlflow server --app-name X`` imports this module in the launcher process (to see whether
    the app is a factory) after building the stores. Raising there exits the command with one
    clear error; failing only inside the factory would make the uvicorn supervisor restart
    crashing workers forever (the same reason MLflow bootstraps basic-auth in the launcher,
    mlflow/server/__init__.py ``_bootstrap_basic_auth``). Outside that launcher the handlers
    have built no store yet and this does nothing; the factory checks again in each worker.
    """
    handlers = sys.modules.get("mlflow.server.handlers")
    store = getattr(handlers, "_model_registry_store", None) if handlers else None
    if store is None:
        return
    from mlflow_supplychain.registry.store import GATED_STORE_TYPES

    try:
        _require_gated(store, GATED_STORE_TYPES)
        _require_proxy_secret(store.gate.holder.policy)
    except ServerConfigError as exc:
        raise SystemExit(f"error: {exc.diagnostics()}") from None


_refuse_in_server_launcher()
