"""Signing a promotion (OMS bundle + SLSA VSA) from hashes we already have, against
``model_signing`` alone, and against the promotion's re-verification of the same model.

    python benchmarks/bench_signing.py [--gib 10] [--files 2000] [--workdir /tmp] [--runs 1]

Writes a model of ``--files`` files totalling ``--gib`` GiB of random bytes under ``--workdir``
(deleted afterwards), then times, in one process, side by side:

- ``model_signing`` alone (the library the stock ``model_signing sign key`` / ``verify key``
  commands call, EC key mode): sign = hash every byte + sign; verify = hash every byte + check;
- the promotion's re-verification: the in-process re-hash the gate runs before it moves a
  protected alias (``integrity.budget.rehash_within``, the server's worker count);
- our signing at promotion, from the file hashes the scan attestation and the re-hash already
  hold: the VSA statement + DSSE envelope, and the OMS bundle (``registry.promotion_signing``
  minus its one database insert); and our verification of both from the hashes a deployment
  computes anyway (``oms.check_signature`` + ``check_promotion_summary``).

The heavy timings (every byte read) are best of ``--runs``; ours best of 5. Page cache: the
model was just written, so reads are warm when it fits in memory (10 GiB on a 23 GiB host).
The figure that matters: our signing time as a share of the re-verification time (target
under 10%).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import best

CHUNK = 8 << 20


def write_model(folder: Path, gib: float, files: int) -> int:
    """``files`` files of random bytes totalling ``gib`` GiB in nested folders; returns bytes."""
    folder.mkdir(parents=True)
    block = os.urandom(CHUNK + 4096)
    per_file = int(gib * (1 << 30)) // files
    for i in range(files):
        sub = folder / f"shard-{i // 100:03d}"
        sub.mkdir(exist_ok=True)
        with open(sub / f"part-{i:05d}.safetensors", "wb") as handle:
            handle.write(i.to_bytes(8, "big"))  # every file differs
            left = per_file - 8
            offset = i % 4096
            while left > 0:
                piece = block[offset: offset + min(left, CHUNK)]
                handle.write(piece)
                left -= len(piece)
    return per_file * files


def _keys(folder: Path) -> tuple[Path, Path]:
    from mlflow_supplychain.signing.registry_key import generate_registry_key

    private, public = folder / "registry-signing.key", folder / "registry-signing.pub"
    generate_registry_key(private, public)
    return private, public


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=10.0)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--workdir", default=tempfile.gettempdir())
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args(argv)

    from model_signing import signing as ms_signing
    from model_signing import verifying as ms_verifying

    from mlflow_supplychain.integrity.budget import rehash_within
    from mlflow_supplychain.integrity.manifest import build_manifest
    from mlflow_supplychain.signing import intoto, oms, promotion_summary, registry_key

    root = Path(tempfile.mkdtemp(prefix="bench-signing-", dir=args.workdir))
    try:
        model = root / "model"
        started = time.perf_counter()
        size = write_model(model, args.gib, args.files)
        print(f"model: {args.files} files, {size / (1 << 30):.2f} GiB, written in "
              f"{time.perf_counter() - started:.1f} s ({root})", flush=True)
        private, public = _keys(root)
        key = registry_key.load_private_key(private)
        sig = root / "model.sig"  # beside the model directory, never inside it

        def ms_sign() -> None:
            ms_signing.Config().use_elliptic_key_signer(private_key=private).sign(model, sig)

        def ms_verify() -> None:
            ms_verifying.Config().use_elliptic_key_verifier(public_key=public).verify(model, sig)

        t_ms_sign = best(ms_sign, args.runs)
        print(f"model_signing sign   (hash + sign):   {t_ms_sign:8.2f} s", flush=True)
        t_ms_verify = best(ms_verify, args.runs)
        print(f"model_signing verify (hash + check):  {t_ms_verify:8.2f} s", flush=True)

        workers = min(4, os.cpu_count() or 1)
        outcome: dict[str, object] = {}

        def reverify() -> None:
            outcome["r"] = rehash_within(lambda: (model, lambda: None), 10_000.0,
                                         workers=workers)

        t_reverify = best(reverify, args.runs)
        print(f"promotion re-verification (re-hash, {workers} workers): {t_reverify:8.2f} s",
              flush=True)
        files = {e.path: e.sha256 for e in build_manifest(model).files}
        identity = "sha256:" + "1" * 64
        bundle: dict[str, str] = {}

        def ours_sign() -> None:
            summary = intoto.sign_envelope(promotion_summary.promotion_summary(
                files, name="bench", version="1", target="production",
                identity_digest=identity, policy_digest="sha256:" + "c" * 64,
                inputs=[intoto.InputAttestation("scan", "d" * 64)]), key)
            bundle["oms"] = oms.sign_file_hashes(files, private_key=private, model_name=(
                promotion_summary.oms_model_name("bench", "1", identity)))
            bundle["vsa"] = summary  # type: ignore[assignment]

        def ours_verify() -> None:
            check = oms.check_signature(bundle["oms"], files, trusted_keys=[public])
            assert check.ok, check
            summary_check = promotion_summary.check_promotion_summary(
                bundle["vsa"], files, [key.public_key()], name="bench", version="1",
                target="production", identity_digest=identity)
            assert summary_check.ok, summary_check.problems

        t_ours_sign = best(ours_sign, 5)
        t_ours_verify = best(ours_verify, 5)
        # the stock verifier accepts the bundle we made from hashes
        sig.write_text(bundle["oms"])
        t_stock_ours = best(ms_verify, 1)
        print(f"ours: sign from hashes (VSA + OMS):   {t_ours_sign * 1000:8.1f} ms")
        print(f"ours: verify from hashes (OMS + VSA): {t_ours_verify * 1000:8.1f} ms")
        print(f"stock model_signing verify of our bundle: {t_stock_ours:8.2f} s (passes)")
        print(f"bundle {len(bundle['oms']) / 1024:.0f} KiB, summary "
              f"{len(str(bundle['vsa'])) / 1024:.0f} KiB")
        share = t_ours_sign / t_reverify * 100
        print(f"signing at promotion = {share:.2f}% of the re-verification time "
              f"(target < 10%): {'OK' if share < 10 else 'OVER'}")
        print(f"model_signing sign+verify = {t_ms_sign + t_ms_verify:.2f} s; "
              f"ours sign+verify from hashes = {(t_ours_sign + t_ours_verify) * 1000:.1f} ms")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
