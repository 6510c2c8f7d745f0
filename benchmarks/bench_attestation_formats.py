"""Benchmark: reading a stored scan attestation back as evidence, original format vs in-toto
envelope, side by side in one run.

What the gate does on every promotion that needs a scan: parse the stored row
(``from_row``) and re-verify it with the public key (``verify``). Also times what the server
does once per submission (``parse_submission`` + ``verify``). Prints the best of N runs per
manifest size (files) and the envelope/original ratio.

    python benchmarks/bench_attestation_formats.py [--files 10 1000 50000] [--runs 5]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mlflow_supplychain.integrity import attest
from mlflow_supplychain.integrity.attestation_formats import (
    FORMATS,
    parse_submission,
    scan_envelope,
)

sys.path.insert(0, str(Path(__file__).parent))
from _timing import best  # noqa: E402


def _payload(key: Ed25519PrivateKey, files: int) -> attest.AttestationPayload:
    return attest.AttestationPayload.model_validate({
        "model_name": "bench", "version": "1",
        "identity": {"workspace": "default", "name": "bench", "version": "1",
                     "created_at": 1700000000000, "storage_location": "s3://b/m", "uid": ""},
        "artifact_digest": "sha256:" + "a" * 64,
        "files": {f"shard/{i:06d}.safetensors": hashlib.sha256(str(i).encode()).hexdigest()
                  for i in range(files)},
        "verdict": "permitted", "scanner_version": "bench",
        "format_policy_digest": "sha256:" + "b" * 64, "scanned_at": attest.now_iso(),
        "key_id": attest.key_id(key.public_key())})


def _measure(key: Ed25519PrivateKey, files: int, runs: int) -> None:
    public = key.public_key()
    payload = _payload(key, files)
    bodies = {"signed-payload": {"payload": payload.model_dump(mode="json"),
                                 "signature": attest.sign(payload, key)},
              "in-toto-dsse": {"envelope": scan_envelope.seal(payload, key)}}
    subs = {name: parse_submission(body) for name, body in bodies.items()}
    sizes = "/".join(f"{len(s.text) / 1024:.0f}" for s in subs.values())

    def read(name: str) -> None:
        sub = subs[name]
        reader = FORMATS[name]
        assert reader.from_row(sub.text, sub.signature) == payload
        assert reader.verify(sub.text, sub.signature, public) == payload

    def submit(name: str) -> None:
        sub = parse_submission(bodies[name])
        assert FORMATS[name].verify(sub.text, sub.signature, public) == payload

    for step, fn in (("gate read (row+verify)", read), ("submission", submit)):
        original = best(lambda: fn("signed-payload"), runs) * 1000  # noqa: B023 - called now
        envelope = best(lambda: fn("in-toto-dsse"), runs) * 1000  # noqa: B023
        print(f"{files:>7} {step:<22} {original:>12.2f} {envelope:>12.2f} "
              f"{envelope / original:>6.2f} {sizes:>22}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, nargs="+", default=[10, 1000, 50000])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    key = Ed25519PrivateKey.generate()
    print(f"{'files':>7} {'step':<22} {'original ms':>12} {'envelope ms':>12} {'ratio':>6} "
          f"{'stored KiB (orig/env)':>22}")
    for files in args.files:
        _measure(key, files, args.runs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
