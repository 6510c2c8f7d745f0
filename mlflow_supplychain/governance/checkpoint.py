"""Signed audit checkpoints: the chain head (``seq``, ``hash``) at a moment, signed with Ed25519
and kept where whoever can write the database cannot reach (a CI artifact, a WORM bucket).

The hash chain alone cannot tell a database writer's tail cut from a shorter history: delete
the newest records, point the head row back, and the rest still links up. A checkpoint can:
the chain must still hold record ``seq`` with exactly ``hash``. Records appended after the
newest checkpoint stay undefended until the next one (see the security model).

Pure apart from the signature: no database, no files.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from mlflow_supplychain.digests import canonical_json
from mlflow_supplychain.errors import CheckpointError, Problem
from mlflow_supplychain.governance.chain import AuditRecord
from mlflow_supplychain.integrity import attest

KIND = "mlflow-supplychain/audit-checkpoint/v1"
_DOMAIN = b"mlflow-supplychain audit checkpoint v1\n"  # never confusable with an attestation
_HASH = re.compile(r"sha256:[0-9a-f]{64}")
MAX_FILE = 64 * 1024


@dataclass(frozen=True)
class Checkpoint:
    """The audit chain's head at ``created_at``, signed by ``key_id``."""

    seq: int
    hash: str
    created_at: str
    key_id: str
    signature: str = ""

    def signed_bytes(self) -> bytes:
        return _DOMAIN + canonical_json({"kind": KIND, "seq": self.seq, "hash": self.hash,
                                         "created_at": self.created_at,
                                         "key_id": self.key_id})

    def to_json(self) -> str:
        return json.dumps({"kind": KIND, "seq": self.seq, "hash": self.hash,
                           "created_at": self.created_at, "key_id": self.key_id,
                           "signature": self.signature}, sort_keys=True)


def make(seq: int, head_hash: str, private_key: Ed25519PrivateKey,
         now: dt.datetime | None = None) -> Checkpoint:
    """A checkpoint of head (``seq``, ``head_hash``), signed with ``private_key``."""
    moment = (now or dt.datetime.now(dt.timezone.utc)).isoformat(timespec="seconds")
    unsigned = Checkpoint(seq, head_hash, moment, attest.key_id(private_key.public_key()))
    signature = base64.b64encode(private_key.sign(unsigned.signed_bytes())).decode("ascii")
    return Checkpoint(seq, head_hash, moment, unsigned.key_id, signature)


def parse(text: str, where: str) -> Checkpoint:
    """A checkpoint file's content.

    Raises:
        CheckpointError: not a checkpoint (the content is never echoed).
    """
    def bad(what: str) -> CheckpointError:
        return CheckpointError("Not an audit checkpoint", [Problem(
            where, what, "use a file written by 'mlflow-supplychain audit checkpoint'")])

    if len(text) > MAX_FILE:
        raise bad("is too large")
    try:
        data: Any = json.loads(text)
    except ValueError:
        raise bad("is not JSON") from None
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise bad(f"is not of kind {KIND}")
    seq, head, created, key, sig = (data.get(k) for k in ("seq", "hash", "created_at",
                                                             "key_id", "signature"))
    if not (isinstance(seq, int) and not isinstance(seq, bool) and 0 <= seq < 10 ** 18):
        raise bad("has no valid 'seq'")
    if not (isinstance(head, str) and _HASH.fullmatch(head)):
        raise bad("has no valid 'hash'")
    if not all(isinstance(v, str) and 0 < len(v) <= 200 for v in (created, key, sig)):
        raise bad("lacks created_at, key_id or signature")
    return Checkpoint(seq, head, created, key, sig)  # type: ignore[arg-type]


def signature_valid(checkpoint: Checkpoint, public_key: Ed25519PublicKey) -> bool:
    """Was ``checkpoint`` signed by ``public_key``?"""
    return (checkpoint.key_id == attest.key_id(public_key)
            and attest.verify(checkpoint.signed_bytes(), checkpoint.signature, public_key))


def problem(checkpoint: Checkpoint, records: Iterable[AuditRecord], head_seq: int,
            public_key: Ed25519PublicKey) -> str | None:
    """Why the chain (``records`` in ``seq`` order, head at ``head_seq``) contradicts
    ``checkpoint``, or None when it still holds the checkpointed record unchanged."""
    if not signature_valid(checkpoint, public_key):
        return "the checkpoint's signature does not verify with this public key"
    if head_seq < checkpoint.seq:
        return (f"the chain ends at record {head_seq} but a signed checkpoint saw record "
                f"{checkpoint.seq} ({checkpoint.created_at}): records were cut from the end")
    for rec in records:
        if rec.seq == checkpoint.seq:
            if rec.hash != checkpoint.hash:
                return (f"record {rec.seq} differs from the signed checkpoint of "
                        f"{checkpoint.created_at}: the chain was rewritten after it")
            return None
    return (f"record {checkpoint.seq} of the signed checkpoint ({checkpoint.created_at}) is "
            "missing: records were cut")
