"""Promotion-time re-verification: on a real governed server, or in-process from S3 and disk.

    python benchmarks/bench_reverify.py [--workdir DIR] [--gib 1] [--runs 3]
    python benchmarks/bench_reverify.py --mode s3 --gib 2 --files 200 [--runs 3]
    python benchmarks/bench_reverify.py --mode local --gib 10 --files 2000 [--runs 3]

``--mode server`` (the default):
A version is registered from a run whose ``model/`` holds ``--gib`` GiB of random bytes,
either as 4 equal shards or as one file, with a valid signed attestation of exactly those bytes.
Measured from the client: ``set_registered_model_alias`` to the protected alias (the server
re-hashes every byte in-process before moving it) against the same call to an unprotected alias
(no gate work), best of ``--runs``. The difference is the re-verification cost; GB/s is the
artifact size over it. Page cache is warm (the upload just wrote the files), which is the common
case for a promotion shortly after registration; a cold read adds the disk's read time.

``--mode s3``: the model (``--files`` files, ten large shards and small files for the rest) is
uploaded to moto's S3 server (the stand-in for MinIO/S3 here; it keeps objects in memory and
spooled temp files, so 2-4 GB is what it takes comfortably) and re-verified in-process, side by
side, best of ``--runs`` each: **streamed** (what promotion does now: parallel ranged GETs
hashed in order, :func:`stream_within`), **download-then-hash** (what it did before: MLflow's
S3 repository downloads to a temporary directory, then the local engine hashes it) and
**local** (the same files on local disk, page cache warm, as the server hashes a local
artifact destination in place). ``--mode local`` runs only the local one, for sizes moto
cannot hold (the 10 GB / 2,000-file model). moto answers a ranged GET by reading the whole
object and slicing it, so each range costs the object's size there (not on S3 or MinIO);
``--part-mib 8 256`` shows that cost against one read per object. Both print the machine's
hashing limit: sha256 of bytes already in memory, one thread per core.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import requests

from mlflow_supplychain.integrity import attest
from mlflow_supplychain.integrity.budget import rehash_within, stream_within
from mlflow_supplychain.integrity.manifest import build_manifest
from mlflow_supplychain.integrity.object_store import S3Location, S3Reader, s3_client
from mlflow_supplychain.integrity.streaming import LANES, PART_SIZE, WINDOW
from mlflow_supplychain.testing.pytest_plugin import RunningServer, run_server
from mlflow_supplychain.testing.registration import version_identity

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import best

POLICY = """\
version: 1
mode: enforce
protected: {aliases: {production: prod}}
profiles: {prod: {require: [hash_match, scan_passed]}}
artifact_classes: {base_model: {required: [owner]}}
sources: {allow: ["mlflow-artifacts:", "runs:/", "models:/"]}
integrity: {reverify_on_promotion: true, reverify_budget_seconds: 300}
"""


def write_model(folder: Path, gib: float, shards: int) -> None:
    folder.mkdir(parents=True)
    block = os.urandom(64 << 20)
    per_shard = int(gib * 16) // shards
    for i in range(shards):
        with open(folder / f"model-{i + 1:05d}-of-{shards:05d}.safetensors", "wb") as f:
            f.writelines(block[: (64 << 20) - i - 1] + bytes([i]) for _ in range(per_shard))
    (folder / "config.json").write_text('{"architectures": ["Bench"]}')


def register(url: str, folder: Path, name: str) -> str:
    import mlflow

    mlflow.set_tracking_uri(url)
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(folder), artifact_path="model")
    client = mlflow.MlflowClient(url, url)
    client.create_registered_model(name)
    source = f"runs:/{run.info.run_id}/model"
    return str(client.create_model_version(name, source, run_id=run.info.run_id).version)


def submit_attestation(server: RunningServer, name: str, version: str, folder: Path) -> None:
    url, data_dir = server.url, server.data_dir
    manifest = build_manifest(folder)
    key = attest.load_private_key(data_dir / "attestation-signing.key")
    digest = requests.get(f"{url}/api/2.0/mlflow-supplychain/status", timeout=30).json()[
        "policy"]["format_digest"]
    payload = attest.AttestationPayload(
        model_name=name, version=version, identity=version_identity(server, name, version),
        artifact_digest=manifest.digest,
        files={e.path: e.sha256 for e in manifest.files}, verdict="permitted",
        formats={e.path: "safetensors" for e in manifest.files}, scanner_version="bench",
        format_policy_digest=digest, scanned_at=attest.now_iso(),
        key_id=attest.key_id(key.public_key()))
    response = requests.post(f"{url}/api/2.0/mlflow-supplychain/attestations/submit", json={
        "payload": payload.model_dump(mode="json"), "signature": attest.sign(payload, key)},
        timeout=60)
    response.raise_for_status()
    import mlflow

    first = manifest.files[0]
    mlflow.MlflowClient(url, url).set_model_version_tag(
        name, version, "supplychain.intake.source_sha256", f'{{"{first.path}": "{first.sha256}"}}')


def write_many(folder: Path, gib: float, files: int) -> int:
    """Ten shards holding 95% of ``gib`` and ``files - 10`` small files for the rest (as a
    sharded LLM checkpoint with tokenizer, configs and many small tensors); returns bytes."""
    folder.mkdir(parents=True)
    total = int(gib * (1 << 30))
    shards = min(10, files)
    small = files - shards
    small_size = (total * 5 // 100) // small if small else 0
    shard_size = (total - small_size * small) // shards
    block = os.urandom(64 << 20)
    for i in range(shards):
        with open(folder / f"model-{i + 1:05d}-of-{shards:05d}.safetensors", "wb") as f:
            left = shard_size
            f.write(i.to_bytes(8, "big"))
            left -= 8
            while left > 0:
                f.write(block[: min(left, len(block))])
                left -= min(left, len(block))
    for j in range(small):
        sub = folder / "tensors" / f"{j % 20:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"t{j:05d}.bin").write_bytes(j.to_bytes(8, "big") + block[: small_size - 8])
    return shards * shard_size + small * small_size


def hashing_limit() -> float:
    """GB/s of sha256 over bytes in memory, one thread per core (the ceiling for any engine)."""
    data = os.urandom(256 << 20)
    cores = os.cpu_count() or 1

    def one() -> None:
        hashlib.sha256(data).digest()

    started = time.perf_counter()
    threads = [threading.Thread(target=one) for _ in range(cores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return cores * len(data) / (time.perf_counter() - started) / 1e9


def _row(label: str, seconds: float, size: int, digest: str | None) -> None:
    print(f"{label:<22} {seconds:>9.2f} s {size / seconds / 1e9:>7.2f} GB/s   "
          f"{digest or 'FAILED'}", flush=True)


def _timed(fn: object, runs: int) -> tuple[float, str | None]:
    out: list[str | None] = []

    def call() -> None:
        out.append(fn().digest)  # type: ignore[operator]

    seconds = best(call, runs)
    return seconds, out[-1]


def bench_local(folder: Path, size: int, runs: int) -> str | None:
    seconds, digest = _timed(lambda: rehash_within(lambda: (folder, lambda: None), 3600,
                                                   workers=min(4, os.cpu_count() or 1)), runs)
    _row("local (in place)", seconds, size, digest)
    return digest


def bench_s3(root: Path, folder: Path, size: int, runs: int, parts: list[int]) -> None:
    from mlflow_supplychain.registry.reverify import materializer
    from mlflow_supplychain.testing.cluster import s3_server

    with s3_server(root) as s3:
        os.environ.update(s3.env)
        client = s3.client()
        started = time.perf_counter()
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            client.upload_file(str(path), s3.bucket,  # type: ignore[attr-defined]
                               "artifacts/model/" + path.relative_to(folder).as_posix())
        print(f"(uploaded to moto in {time.perf_counter() - started:.1f} s)", flush=True)
        uri = f"s3://{s3.bucket}/artifacts/model"
        location = S3Location.parse(uri)
        s_digest = None
        for part in parts:
            streamed, s_digest = _timed(lambda p=part: stream_within(
                lambda: S3Reader(location, s3_client(timeout=3600, connections=WINDOW * LANES)),
                3600, part_size=p << 20), runs)
            _row(f"S3 streamed {part} MiB parts", streamed, size, s_digest)
        scratch = root / "scratch"
        scratch.mkdir()
        os.environ["TMPDIR"] = str(scratch)
        tempfile.tempdir = None
        download, d_digest = _timed(lambda: rehash_within(materializer(uri), 3600,
                                                          workers=min(4, os.cpu_count() or 1)),
                                    runs)
        _row("S3 download-then-hash", download, size, d_digest)
    local = bench_local(folder, size, runs)
    print("digests agree" if s_digest == d_digest == local else "DIGESTS DIFFER", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--gib", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--mode", choices=("server", "s3", "local"), default="server")
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--part-mib", type=int, nargs="+", default=[PART_SIZE >> 20],
                        help="ranged-read sizes to time the streamed re-hash with (s3 mode)")
    args = parser.parse_args(argv)
    if args.mode != "server":
        with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
            root = Path(tmp)
            print(f"cpus {os.cpu_count()}, sha256 limit {hashing_limit():.2f} GB/s "
                  f"(in memory, one thread per core)", flush=True)
            started = time.perf_counter()
            size = write_many(root / "model", args.gib, args.files)
            print(f"model: {args.files} files, {size / 1e9:.2f} GB (written in "
                  f"{time.perf_counter() - started:.1f} s)", flush=True)
            if args.mode == "s3":
                bench_s3(root, root / "model", size, args.runs, args.part_mib)
            else:
                bench_local(root / "model", size, args.runs)
            shutil.rmtree(root / "model", ignore_errors=True)
        return 0
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        root = Path(tmp)
        policy = root / "policy.yaml"
        policy.write_text(POLICY)
        with run_server(policy, root / "server") as server:
            from mlflow import MlflowClient

            client = MlflowClient(server.url, server.url)
            size = int(args.gib * (1 << 30))
            print(f"{'layout':<10} {'protected s':>12} {'unprotected s':>14} "
                  f"{'re-verify s':>12} {'GB/s':>6}")
            for shards in (4, 1):
                folder = root / f"model-{shards}"
                write_model(folder, args.gib, shards)
                name = f"bench-{uuid.uuid4().hex[:8]}"
                version = register(server.url, folder, name)
                submit_attestation(server, name, version, folder)
                protected = best(lambda n=name, v=version: client.set_registered_model_alias(
                    n, "production", v), args.runs)
                plain = best(lambda n=name, v=version: client.set_registered_model_alias(
                    n, "dev", v), args.runs)
                cost = max(protected - plain, 1e-9)
                print(f"{f'{shards} file(s)':<10} {protected:>12.3f} {plain:>14.3f} "
                      f"{cost:>12.3f} {size / cost / 1e9:>6.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
