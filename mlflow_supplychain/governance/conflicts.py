"""Transient database conflicts, and running a transaction again when one happens.

Concurrent writers of the audit chain all update its one head row. PostgreSQL may answer a
conflict with a serialization failure (SQLSTATE 40001) or a deadlock (40P01), MySQL/MariaDB
with a deadlock (1213) or a lock-wait timeout (1205), SQLite with "database is locked". Each
means "nothing was written, run the transaction again"; giving up instead loses the record
(a promotion with no audit entry, found by the load test of #19).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

import sqlalchemy

_logger = logging.getLogger(__name__)

T = TypeVar("T")

_POSTGRES_STATES = frozenset({"40001", "40P01"})
_MYSQL_CODES = frozenset({1205, 1213})
ATTEMPTS = 6


def transient(exc: BaseException) -> bool:
    """Whether ``exc`` is a conflict that a new attempt of the same transaction can clear."""
    if not isinstance(exc, sqlalchemy.exc.DBAPIError):
        return False
    original = exc.orig
    state = getattr(original, "pgcode", None) or getattr(original, "sqlstate", None)
    if state in _POSTGRES_STATES:
        return True
    args = getattr(original, "args", ())
    if args and isinstance(args[0], int) and args[0] in _MYSQL_CODES:
        return True
    return "database is locked" in str(original)


def run_again_on_conflict(transaction: Callable[[], T], *, what: str,
                          attempts: int = ATTEMPTS) -> T:
    """``transaction()``, run again (with a short random back-off) while it fails with a
    transient conflict; any other error, or the last conflict, propagates.

    Raises:
        sqlalchemy.exc.DBAPIError: still conflicting after ``attempts`` tries.
    """
    for attempt in range(1, attempts + 1):
        try:
            return transaction()
        except sqlalchemy.exc.DBAPIError as exc:
            if attempt == attempts or not transient(exc):
                raise
            _logger.info("%s: transient database conflict (%s), attempt %d of %d",
                         what, type(exc.orig).__name__, attempt + 1, attempts)
            time.sleep(random.uniform(0.01, 0.05) * attempt)  # noqa: S311 - jitter, not a secret
    raise AssertionError("unreachable")
