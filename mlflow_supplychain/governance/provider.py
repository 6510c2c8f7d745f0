"""Approvals as gate evidence: the registry store's evidence reader asks this provider."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import sqlalchemy
from sqlalchemy.engine import Engine

from mlflow_supplychain.governance.requests import approvals_for_version
from mlflow_supplychain.policy.schema import Policy, Requirement

_logger = logging.getLogger(__name__)


class ApprovalsProvider:
    """Reads the approvals of a version from our tables (one query), when a profile needs them.

    Until the store binds a database, or when the query fails, it provides no approvals: the
    approval requirement then denies (fail closed).
    """

    requirements = frozenset({Requirement.APPROVAL})

    def __init__(self) -> None:
        self._engine: Engine | None = None

    def bind(self, engine: Engine) -> None:
        self._engine = engine

    def provide(self, record: Any, policy: Policy, intake: Mapping[str, str]) -> Mapping[str, Any]:
        if self._engine is None:
            return {}
        try:
            with self._engine.connect() as conn:
                return {"approvals": approvals_for_version(conn, record.name, record.version)}
        except sqlalchemy.exc.SQLAlchemyError as exc:
            _logger.error("approvals lookup failed for %s/%s: %s", record.name, record.version,
                          type(exc).__name__)
            return {}
