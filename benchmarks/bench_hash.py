"""Hashing benchmark: our sha256 engine vs ``openssl dgst -sha256`` and OpenSSF model-signing.

    python benchmarks/bench_hash.py [--workdir DIR] [--big-gib 2] [--files 2000]

One large file (default 2 GiB) and a directory of 2,000 files (~1 GB, sizes spread from a
few KiB to a few MiB). Page cache is warmed first, each measurement is the best of 5.
coreutils ``sha256sum`` is not a baseline: it is ~5x slower than OpenSSL here.

Each table ends with the ceiling: ``hashlib`` over bytes already in memory (one core for one
file; every core for the directory). No reader of files can beat it; the distance to it is what
reading and scheduling cost.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from mlflow_supplychain.integrity.hashing import hash_file
from mlflow_supplychain.integrity.manifest import build_manifest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import best


def write_big(path: Path, gib: float) -> None:
    block = os.urandom(64 << 20)
    with open(path, "wb") as f:
        f.writelines(block for _ in range(int(gib * 16)))


def write_tree(root: Path, count: int, total: int) -> None:
    rng = random.Random(0)  # noqa: S311 - file sizes for a benchmark, not secrets
    weights = [rng.lognormvariate(0, 1.2) for _ in range(count)]
    scale = total / sum(weights)
    block = os.urandom(8 << 20)
    for i, weight in enumerate(weights):
        size = max(1, int(weight * scale))
        sub = root / f"shard{i % 20:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        data = (block * (size // len(block) + 1))[:size]
        (sub / f"file{i:05d}.bin").write_bytes(data)


def warm(path: Path) -> None:
    subprocess.run(["sh", "-c", f"find '{path}' -type f -exec cat {{}} + > /dev/null"],
                   check=False)


def in_memory(total: int) -> None:
    """sha256 of ``total`` bytes already in memory, 1 MiB at a time (the per-core ceiling)."""
    import hashlib

    chunk = bytes(1 << 20)
    digest = hashlib.sha256()
    for _ in range(total >> 20):
        digest.update(chunk)


def in_memory_parallel(total: int, workers: int) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(in_memory, [total // workers] * workers))


def openssl(path: Path) -> None:
    subprocess.run(["openssl", "dgst", "-sha256", str(path)], stdout=subprocess.DEVNULL,
                   check=True)


def model_signing_hash(path: Path) -> Callable[[], object] | None:
    try:
        from model_signing import hashing
    except ImportError:
        return None
    return lambda: hashing.Config().hash(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--big-gib", type=float, default=2.0)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--tree-bytes", type=int, default=10**9)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-hash-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        big = workdir / "big.bin"
        if not big.exists():
            write_big(big, args.big_gib)
        tree = workdir / "tree"
        if not tree.exists():
            write_tree(tree, args.files, args.tree_bytes)
        size = big.stat().st_size
        tree_size = sum(p.stat().st_size for p in tree.rglob("*") if p.is_file())
        warm(big)
        print(f"\n## sha256 of one {size / 2**30:.1f} GiB file (best of 5, warm cache)\n")
        print("| tool | seconds | GB/s | ratio to openssl |")
        print("|---|---|---|---|")
        base = best(lambda: openssl(big))
        print(f"| openssl dgst -sha256 | {base:.3f} | {size / base / 1e9:.2f} | 1.00 |")
        ours = best(lambda: hash_file(big))
        print(f"| mlflow-supplychain hash_file | {ours:.3f} | {size / ours / 1e9:.2f} | "
              f"{base / ours:.2f} |")
        ceiling = best(lambda: in_memory(size))
        print(f"| ceiling: hashlib on bytes in memory, 1 core | {ceiling:.3f} | "
              f"{size / ceiling / 1e9:.2f} | {base / ceiling:.2f} |")
        warm(tree)
        print(f"\n## manifest of {args.files} files, {tree_size / 1e9:.2f} GB "
              f"({os.cpu_count()} CPUs, best of 5)\n")
        print("| tool | seconds | GB/s | ratio to model-signing |")
        print("|---|---|---|---|")
        signing = model_signing_hash(tree)
        ref = best(signing) if signing else None
        if ref:
            print(f"| model-signing 1.1.1 default (sha256, files) | {ref:.3f} | "
                  f"{tree_size / ref / 1e9:.2f} | 1.00 |")
        else:
            print("| model-signing | not installed | | |")
        mine = best(lambda: build_manifest(tree))
        ratio = f"{ref / mine:.2f}" if ref else "-"
        print(f"| mlflow-supplychain build_manifest | {mine:.3f} | {tree_size / mine / 1e9:.2f} "
              f"| {ratio} |")
        per_file = best(lambda: build_manifest(tree, workers=1))
        cpus = os.cpu_count() or 1
        ceiling = best(lambda: in_memory_parallel(tree_size, cpus))
        for label, took in (("mlflow-supplychain build_manifest, 1 thread", per_file),
                            (f"ceiling: hashlib on bytes in memory, {cpus} threads", ceiling)):
            ratio = f"{ref / took:.2f}" if ref else "-"
            print(f"| {label} | {took:.3f} | {tree_size / took / 1e9:.2f} | {ratio} |")
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"\nmachine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
