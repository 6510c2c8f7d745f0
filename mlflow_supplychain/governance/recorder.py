"""Appends the gate's own events to the audit log: decisions and policy loads/reloads.

Two ways to record a decision:

- :meth:`AuditRecorder.decision_in` writes it inside the registry write's own transaction (a
  protected alias): the alias and its record commit together or not at all, in one commit. A
  promotion can then never exist without its record, and the gate pays one transaction, not two.
- :meth:`AuditRecorder.decision` writes it in a transaction of its own, after the registry
  call (denials, whose registry transaction rolled back, and stage transitions, which MLflow
  writes in its own session). A failed write there is logged as an error and never turns a
  registry call into a 5xx; the decision itself was already enforced.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import sqlalchemy
from sqlalchemy.engine import Connection, Engine

from mlflow_supplychain.errors import GovernanceError
from mlflow_supplychain.governance import audit, conflicts, db, policy_history, requests
from mlflow_supplychain.policy.decision import Decision
from mlflow_supplychain.policy.schema import Policy

_logger = logging.getLogger(__name__)


def _now_ms() -> int:
    return int(time.time() * 1000)


class AuditRecorder:
    """Writes gate events into the hash-chained audit log of one database."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @classmethod
    def for_store_engine(cls, engine: Engine) -> AuditRecorder:
        """Migrate our tables in the store's database and return a recorder bound to it.

        Raises:
            RegistryError: the governance tables cannot be created or migrated.
        """
        db.upgrade(engine)
        return cls(engine)

    @property
    def engine(self) -> Engine:
        return self._engine

    def decision(self, decision: Decision, user: str | None, *, applied: bool = False) -> None:
        """Record one gate decision on a protected target (allowed or denied), in a
        transaction of its own.

        With ``applied`` (the promotion was written), approved requests for exactly this
        promotion become ``applied`` in the same transaction.
        """
        def transaction() -> None:
            with self._engine.begin() as conn:
                self.decision_in(conn, decision, user, applied=applied)

        self._write("gate.decision", transaction)

    def decision_in(self, conn: Connection, decision: Decision, user: str | None, *,
                    applied: bool = False) -> None:
        """:meth:`decision` inside the caller's transaction (``conn``): it commits or rolls
        back with the caller's write, and a failure propagates (the caller fails closed).

        Raises:
            RegistryError: the audit head is missing.
            sqlalchemy.exc.SQLAlchemyError: the database failed.
        """
        actor = user or "anonymous"
        now = _now_ms()
        # Lock order: request rows before the audit head, as the approval workflow does;
        # the opposite order deadlocks against a concurrent approval.
        if applied and decision.allowed and decision.identity_digest is not None:
            self._apply_requests(conn, decision, actor, now)
        audit.append(conn, actor=actor, action="gate.decision",
                     subject=f"models:/{decision.model_name}/{decision.version} -> "
                             f"{decision.target}",
                     payload={"verdict": decision.verdict, "allowed": decision.allowed,
                              "enforced": decision.enforced, "profile": decision.profile,
                              "violations": [v.code for v in decision.violations],
                              "evidence_digest": decision.evidence_digest,
                              "identity": decision.identity_digest},
                     policy_digest=decision.policy_digest, ts_ms=now)

    @staticmethod
    def _apply_requests(conn: Connection, decision: Decision, actor: str, now: int) -> None:
        """Mark the approved requests for this exact promotion applied. Most promotions have
        none: one indexed, locking read, and no savepoint unless there is a request to mark."""
        ids = requests.approved_matching(conn, identity_digest=str(decision.identity_digest),
                                         target=str(decision.target))
        if not ids:
            return
        try:
            with conn.begin_nested():
                requests.apply_ids(conn, ids, actor=actor,
                                   policy_digest=decision.policy_digest, now_ms=now)
        except GovernanceError as exc:  # the decision is still recorded
            _logger.warning("could not mark requests applied: %s", exc.summary)

    def removal(self, *, action: str, workspace: str, name: str, version: str | None,
                new_name: str | None, user: str | None, policy_digest: str,
                reissued: int = 0) -> None:
        """Record a rename or delete of a registered model (or a version delete) and mark its
        open transition requests stale, in one transaction. Evidence stays keyed by the old
        identities, which no version has any more."""
        subject = f"models:/{name}" + (f"/{version}" if version is not None else "")
        reason = (f"registered model renamed to {new_name!r}" if new_name is not None
                  else f"{subject} deleted")
        actor = user or "anonymous"

        def transaction() -> None:
            with self._engine.begin() as conn:
                now = _now_ms()
                stale = requests.invalidate_open(conn, workspace=workspace, model_name=name,
                                                 version=version, actor=actor, reason=reason,
                                                 now_ms=now)
                payload: dict[str, object] = {"workspace": workspace,
                                              "invalidated_requests": stale}
                if new_name is not None:
                    payload.update(new_name=new_name, reissued_identities=reissued)
                audit.append(conn, actor=actor, action=action, subject=subject,
                             payload=payload, policy_digest=policy_digest, ts_ms=now)

        self._write(action, transaction)

    def policy_event(self, action: str, path: str, policy: Policy, *, loaded_at: float,
                     previous: str | None = None, detail: str | None = None) -> None:
        """Record a policy load, reload or failed reload: the audit record (who: this process,
        ``host:pid``; when: now), the policy's content in the history (by digest) and the
        digest this process serves now, in one transaction."""
        payload: dict[str, object] = {"process": policy_history.process_key(),
                                      "format_digest": policy.format_digest}
        if previous is not None and previous != policy.digest:
            payload["previous"] = previous
        if detail:
            payload["detail"] = detail

        def transaction() -> None:
            with self._engine.begin() as conn:
                now = _now_ms()
                new = policy_history.remember(conn, policy, source=path, now_ms=now)
                payload["new_in_history"] = new
                policy_history.serve(conn, policy.digest, loaded_at=int(loaded_at * 1000),
                                     now_ms=now)
                audit.append(conn, actor=f"system:{policy_history.process_key()}",
                             action=action, subject=path, payload=payload,
                             policy_digest=policy.digest, ts_ms=now)

        self._write(action, transaction)

    def serving(self, digest: str, loaded_at: float,
                window_ms: int = 600_000) -> list[dict[str, object]]:
        """Refresh this process's row (it serves ``digest``), then list every process seen
        within ``window_ms`` with the digest it serves. Best effort: [] on a database error."""
        try:
            with self._engine.begin() as conn:
                now = _now_ms()
                policy_history.serve(conn, digest, loaded_at=int(loaded_at * 1000), now_ms=now)
                rows = policy_history.serving(conn, since_ms=now - window_ms)
        except (sqlalchemy.exc.SQLAlchemyError, Exception) as exc:  # noqa: BLE001
            _logger.error("listing serving processes failed: %s", type(exc).__name__)
            return []
        return [{"process": r.process, "policy_digest": r.digest, "loaded_at": r.loaded_at,
                 "seen_at": r.seen_at} for r in rows]

    @staticmethod
    def _write(action: str, transaction: Callable[[], None]) -> None:
        """Run one audit transaction. Every writer updates the chain's head row, so concurrent
        promotions conflict (deadlock, serialization failure): such a transaction is run again,
        never dropped (a dropped one left a promotion without its record). Anything else is
        logged and never turns the registry call into a 5xx: the decision was enforced."""
        try:
            conflicts.run_again_on_conflict(transaction, what=f"audit {action}")
        except (sqlalchemy.exc.SQLAlchemyError, Exception) as exc:  # noqa: BLE001
            _logger.error("audit append failed (%s): %s", action, type(exc).__name__)
