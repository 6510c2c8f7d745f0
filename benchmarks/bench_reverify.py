"""Promotion-time re-verification of a 1 GiB model on a real governed server.

    python benchmarks/bench_reverify.py [--workdir DIR] [--gib 1] [--runs 3]

A version is registered from a run whose ``model/`` holds ``--gib`` GiB of random bytes,
either as 4 equal shards or as one file, with a valid signed attestation of exactly those bytes.
Measured from the client: ``set_registered_model_alias`` to the protected alias (the server
re-hashes every byte in-process before moving it) against the same call to an unprotected alias
(no gate work), best of ``--runs``. The difference is the re-verification cost; GB/s is the
artifact size over it. Page cache is warm (the upload just wrote the files), which is the common
case for a promotion shortly after registration; a cold read adds the disk's read time.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import uuid
from pathlib import Path

import requests

from mlflow_supplychain.integrity import attest
from mlflow_supplychain.integrity.manifest import build_manifest
from mlflow_supplychain.testing.pytest_plugin import run_server

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


def submit_attestation(url: str, data_dir: Path, name: str, version: str, folder: Path) -> None:
    manifest = build_manifest(folder)
    key = attest.load_private_key(data_dir / "attestation-signing.key")
    digest = requests.get(f"{url}/api/2.0/mlflow-supplychain/status", timeout=30).json()[
        "policy"]["format_digest"]
    payload = attest.AttestationPayload(
        model_name=name, version=version, artifact_digest=manifest.digest,
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--gib", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
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
                submit_attestation(server.url, server.data_dir, name, version, folder)
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
