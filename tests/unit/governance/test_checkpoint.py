"""Signed audit checkpoints: round trip, forgery, and what they say about a chain."""

from __future__ import annotations

import dataclasses
import json

import pytest

from mlflow_supplychain.errors import CheckpointError, ExitCode
from mlflow_supplychain.governance import checkpoint as cp
from mlflow_supplychain.governance.chain import GENESIS, AuditRecord, record_hash
from mlflow_supplychain.integrity.attest import Ed25519PrivateKey

KEY = Ed25519PrivateKey.generate()


def _chain(n: int, tag: str = "") -> list[AuditRecord]:
    records, prev = [], GENESIS
    for seq in range(1, n + 1):
        fields = {"seq": seq, "ts": seq, "actor": "a", "action": "x", "subject": f"s{tag}{seq}",
                  "payload": "{}", "policy_digest": GENESIS, "prev_hash": prev}
        prev = record_hash(**fields)  # type: ignore[arg-type]
        records.append(AuditRecord(**fields, hash=prev))  # type: ignore[arg-type]
    return records


def test_round_trip_and_agreement() -> None:
    chain = _chain(5)
    signed = cp.make(3, chain[2].hash, KEY)
    parsed = cp.parse(signed.to_json(), "f")
    assert parsed == signed
    assert cp.problem(parsed, chain, 5, KEY.public_key()) is None


def test_cut_rewritten_and_forged_chains_are_named() -> None:
    chain = _chain(5)
    signed = cp.make(5, chain[4].hash, KEY)
    assert "cut from the end" in str(cp.problem(signed, chain[:3], 3, KEY.public_key()))
    rewritten = chain[:3] + _chain(5, "forged")[3:]
    assert "rewritten" in str(cp.problem(signed, rewritten, 5, KEY.public_key()))
    other = Ed25519PrivateKey.generate()
    assert "signature" in str(cp.problem(signed, chain, 5, other.public_key()))
    moved = dataclasses.replace(signed, seq=4)  # an edited checkpoint no longer verifies
    assert "signature" in str(cp.problem(moved, chain, 5, KEY.public_key()))


@pytest.mark.parametrize("text", ["", "[]", "{}", json.dumps({"kind": cp.KIND}),
                                  json.dumps({"kind": cp.KIND, "seq": True, "hash": GENESIS,
                                              "created_at": "t", "key_id": "k",
                                              "signature": "s"}),
                                  "x" * (cp.MAX_FILE + 1)])
def test_malformed_checkpoints_could_not_decide(text: str) -> None:
    with pytest.raises(CheckpointError) as caught:
        cp.parse(text, "f")
    assert caught.value.exit_code is ExitCode.ERROR
