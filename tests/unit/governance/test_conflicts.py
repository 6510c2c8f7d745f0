"""Which database errors are transient conflicts, and that a conflicted transaction runs again."""

from __future__ import annotations

import pytest
import sqlalchemy

from mlflow_supplychain.governance import conflicts


class _PgError(Exception):
    def __init__(self, pgcode: str) -> None:
        super().__init__("conflict")
        self.pgcode = pgcode


def _wrapped(orig: BaseException) -> sqlalchemy.exc.DBAPIError:
    return sqlalchemy.exc.OperationalError("UPDATE supplychain_audit_head ...", {}, orig)


@pytest.mark.parametrize("orig", [_PgError("40001"), _PgError("40P01"),
                                  Exception(1213, "Deadlock found"),
                                  Exception(1205, "Lock wait timeout exceeded"),
                                  Exception("database is locked")])
def test_conflicts_are_transient(orig: BaseException) -> None:
    assert conflicts.transient(_wrapped(orig))


@pytest.mark.parametrize("exc", [_wrapped(_PgError("23505")),  # unique violation: real error
                                 _wrapped(Exception(1062, "Duplicate entry")),
                                 _wrapped(Exception("no such table: supplychain_audit_head")),
                                 ValueError("not a database error")])
def test_other_errors_are_not(exc: BaseException) -> None:
    assert not conflicts.transient(exc)


def test_a_conflicted_transaction_runs_again_until_it_commits() -> None:
    calls = []

    def transaction() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise _wrapped(_PgError("40P01"))
        return "committed"

    assert conflicts.run_again_on_conflict(transaction, what="test") == "committed"
    assert len(calls) == 3


def test_a_lasting_conflict_or_another_error_propagates() -> None:
    calls = []

    def deadlocked() -> None:
        calls.append(1)
        raise _wrapped(Exception(1213, "Deadlock found"))

    with pytest.raises(sqlalchemy.exc.OperationalError):
        conflicts.run_again_on_conflict(deadlocked, what="test", attempts=3)
    assert len(calls) == 3

    calls.clear()

    def broken() -> None:
        calls.append(1)
        raise _wrapped(Exception("no such table"))

    with pytest.raises(sqlalchemy.exc.OperationalError):
        conflicts.run_again_on_conflict(broken, what="test")
    assert len(calls) == 1
