"""The audit hash chain, pure: how a record's hash is computed and how a sequence is verified.

Each record's hash covers its own fields and the previous record's hash, so editing, removing
or reordering any record breaks every hash after it; the stored chain head catches truncation.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from mlflow_supplychain.digests import digest_of

GENESIS = "sha256:" + "0" * 64


@dataclass(frozen=True)
class AuditRecord:
    """One audit event as stored."""

    seq: int
    ts: int
    actor: str
    action: str
    subject: str
    payload: str
    policy_digest: str
    prev_hash: str
    hash: str

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "ts": self.ts, "actor": self.actor, "action": self.action,
                "subject": self.subject, "payload": self.payload,
                "policy_digest": self.policy_digest, "prev_hash": self.prev_hash,
                "hash": self.hash}


def record_hash(*, seq: int, ts: int, actor: str, action: str, subject: str, payload: str,
                policy_digest: str, prev_hash: str) -> str:
    """The hash a record with these fields must carry."""
    return digest_of({"seq": seq, "ts": ts, "actor": actor, "action": action,
                      "subject": subject, "payload": payload, "policy_digest": policy_digest,
                      "prev_hash": prev_hash})


@dataclass(frozen=True)
class ChainReport:
    """Outcome of verifying a chain: ok, how many records, and the first broken one."""

    ok: bool
    records: int
    first_bad_seq: int | None = None
    reason: str = ""


def verify_chain(records: Iterable[AuditRecord], head_seq: int, head_hash: str) -> ChainReport:
    """Check ``records`` (in ``seq`` order) link up from the genesis to the stored head."""
    prev_hash, expected_seq, count = GENESIS, 1, 0
    for rec in records:
        count += 1
        if rec.seq != expected_seq:
            return ChainReport(False, count, expected_seq,
                               f"record {expected_seq} is missing (next stored is {rec.seq})")
        if rec.prev_hash != prev_hash:
            return ChainReport(False, count, rec.seq,
                               "prev_hash does not match the previous record: a record before "
                               "it was altered, removed or reordered")
        fields = rec.as_dict()
        del fields["hash"]
        if record_hash(**fields) != rec.hash:
            return ChainReport(False, count, rec.seq, "contents do not match its hash: altered")
        prev_hash, expected_seq = rec.hash, expected_seq + 1
    if expected_seq - 1 != head_seq or prev_hash != head_hash:
        return ChainReport(False, count, expected_seq if expected_seq - 1 < head_seq else head_seq,
                           f"the chain ends at record {expected_seq - 1} but the head says "
                           f"{head_seq}: records were removed from the end or the head was edited")
    return ChainReport(True, count)
