"""May the caller read a registered model? The same answer MLflow's basic-auth gives.

Our routes and pages show gate decisions, requests, attestations and audit records of a model
version. Whoever MLflow would refuse ``GET model-versions/get`` for that model (no READ, or a
DENY on the model or on its versions) must not learn them from us either, and a listing drops
the models the caller cannot read (like MLflow's own ``search`` filters).

MLflow's ``before_request`` validators only see request parameters; a request id or a listing
does not name the model, so the handlers ask here once they know it. MLflow offers no public
API for a per-name check, so we call the predicate its search filters use
(``mlflow.server.auth._role_based_read_predicate``, MLflow 3.17), with the requirement its
``GetModelVersion`` validator adds (no DENY on the model's versions). If a future MLflow drops
those internals, every non-admin is refused (fail closed), never let through.

Without basic-auth (no authenticated user on the request) MLflow keeps no permissions, so every
model is readable; the unauthenticated-mode warning (``server.exposure``) says so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import PERMISSION_DENIED

from mlflow_supplychain.registry.identity import current_user

ReadCheck = Callable[[str], bool]
_logger = logging.getLogger(__name__)


def _everything(_name: str) -> bool:
    return True


def _nothing(_name: str) -> bool:
    return False


def read_check() -> ReadCheck:
    """A predicate ``model name -> may the current caller read it``, built once per request
    (one grants query; names are then decided in memory)."""
    user = current_user()
    if user is None:
        return _everything
    try:
        import importlib

        # Private names (see the module docstring); typed Any on purpose.
        auth: Any = importlib.import_module("mlflow.server.auth")
        if auth.store.get_user(user).is_admin:
            return _everything
        predicate: ReadCheck = auth._role_based_read_predicate(
            user, auth.RESOURCE_TYPE_REGISTERED_MODEL,
            also_require=[auth.Requirement(auth.RESOURCE_TYPE_REGISTERED_MODEL_VERSION, "*",
                                           auth.ACTION_NOT_DENIED)])
    except (AttributeError, ImportError, TypeError):
        _logger.error("cannot ask MLflow's basic-auth for model permissions (MLflow internals "
                      "changed): refusing every non-admin read of governance data")
        return _nothing
    return predicate


def forbidden(name: str) -> MlflowException:
    """The error for a model the caller may not read (HTTP 403, like MLflow's own)."""
    del name  # never confirm or deny that a model exists to someone who may not read it
    return MlflowException("Permission denied: you cannot read this registered model.",
                           PERMISSION_DENIED)


def require_read(name: str, check: ReadCheck | None = None) -> None:
    """Raise unless the caller may read model ``name``.

    Raises:
        MlflowException: PERMISSION_DENIED (HTTP 403).
    """
    if not (check or read_check())(name):
        raise forbidden(name)
