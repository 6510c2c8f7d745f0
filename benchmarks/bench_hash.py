"""Hashing benchmark, side by side in one run: our sha256 engine against ``openssl dgst -sha256``,
a plain ``hashlib`` loop, and OpenSSF model-signing.

    python benchmarks/bench_hash.py [--workdir DIR] [--big-gib 2] [--files 2000] [--rounds 7]

One large file (default 2 GiB) and a directory of 2,000 files (~1 GB, sizes spread from a few
KiB to a few MiB), page cache warm. The machine this runs on is usually shared, so every round
runs every contender once, in a rotating order, and each row is the **median** of the rounds,
both in wall-clock seconds and in CPU seconds (user + system, of the process or, for whole
processes, of the child). Under load, wall-clock times stretch with the waiting while CPU
seconds stay close to the cost of the work: for one thread on a quiet machine the two agree, so
the CPU ratio is the honest comparison when the machine is busy.

Goals (issue #19), printed with each table:

* one file, whole process: ``mlflow-supplychain hash`` at least 0.97x ``openssl dgst`` (one
  stream's sha256 runs on one core; parity is the ceiling);
* the engine no slower than a plain ``hashlib`` loop over 1 MiB reads (the regression this
  benchmark exists to catch: a read-ahead thread made ``hash_file`` 18% slower than the loop);
* many files: ``build_manifest`` at least 1.5x model-signing (sha256, files) in wall-clock.

Some rows explain the ratios rather than compete: the CLI's start-up (``hash`` of an empty file,
a whole process: what it pays before reading a byte, and ``python -c pass``: how much of that is
the interpreter) and ``build_manifest`` with as many threads
as model-signing's pool (``ThreadPoolExecutor``'s default, CPUs + 4), which shows every run
whether our one-thread-per-core choice still holds.

coreutils ``sha256sum`` is not a baseline: it is ~5x slower than OpenSSL here.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import queue
import random
import resource
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from mlflow_supplychain.integrity.hashing import hash_file
from mlflow_supplychain.integrity.manifest import build_manifest

CLI = [sys.executable, "-c", "from mlflow_supplychain.cli.main import run; run()"]


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


def plain_loop(path: Path) -> str:
    """The simplest correct reader: ``readinto`` a 1 MiB buffer, hash, repeat."""
    digest = hashlib.sha256()
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            digest.update(view[:n])
    return digest.hexdigest()


def read_ahead(path: Path, ring: int = 4, size: int = 1 << 20) -> str:
    """The engine #19 removed: a second thread reads 1 MiB buffers ahead while this one hashes.

    Kept here so every run shows whether the overlap pays on the machine at hand.
    """
    free: queue.SimpleQueue[bytearray | None] = queue.SimpleQueue()
    full: queue.SimpleQueue[tuple[bytearray, int]] = queue.SimpleQueue()
    for _ in range(ring):
        free.put(bytearray(size))
    fd = os.open(path, os.O_RDONLY)

    def reader() -> None:
        while (buf := free.get()) is not None:
            n = os.readv(fd, [buf])
            full.put((buf, n))
            if not n:
                return

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    digest = hashlib.sha256()
    try:
        while True:
            buf, n = full.get()
            if not n:
                break
            digest.update(memoryview(buf)[:n])
            free.put(buf)
    finally:
        free.put(None)
        thread.join()
        os.close(fd)
    return digest.hexdigest()


def in_memory(total: int) -> None:
    """sha256 of ``total`` bytes already in memory, 256 KiB at a time (the per-core ceiling)."""
    chunk = bytes(256 << 10)
    digest = hashlib.sha256()
    for _ in range(total // len(chunk)):
        digest.update(chunk)


def in_memory_parallel(total: int, workers: int) -> None:
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(in_memory, [total // workers] * workers))


def model_signing_hash(path: Path) -> Callable[[], object] | None:
    try:
        from model_signing import hashing
    except ImportError:
        return None
    return lambda: hashing.Config().use_file_serialization(hashing_algorithm="sha256").hash(path)


def model_signing_version() -> str:
    try:
        from importlib.metadata import version

        return version("model-signing")
    except Exception:  # noqa: BLE001 - only a label
        return "?"


@dataclass
class Contender:
    label: str
    run: Callable[[], object] | list[str]
    """In-process callable, or a command line run as a whole process."""
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def once(self) -> None:
        if isinstance(self.run, list):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            subprocess.run(self.run, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           check=True)
            self.wall.append(time.perf_counter() - started)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            self.cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        else:
            cpu = time.process_time()
            started = time.perf_counter()
            self.run()
            self.wall.append(time.perf_counter() - started)
            self.cpu.append(time.process_time() - cpu)

    @property
    def wall_s(self) -> float:
        return statistics.median(self.wall)

    @property
    def cpu_s(self) -> float:
        return statistics.median(self.cpu)


def race(contenders: list[Contender], rounds: int) -> None:
    """Every contender once per round, the order rotating so none always runs after another."""
    for r in range(rounds):
        shift = r % len(contenders)
        for contender in contenders[shift:] + contenders[:shift]:
            contender.once()


def table(contenders: list[Contender], size: int, base: Contender, base_name: str) -> None:
    print(f"| tool | wall s (median) | CPU s (median) | GB/s wall | x {base_name} wall "
          f"| x {base_name} CPU |")
    print("|---|---|---|---|---|---|")
    for c in contenders:
        print(f"| {c.label} | {c.wall_s:.3f} | {c.cpu_s:.3f} | {size / c.wall_s / 1e9:.2f} | "
              f"{base.wall_s / c.wall_s:.2f} | {base.cpu_s / c.cpu_s:.2f} |")


def verdict(name: str, ratio_wall: float, ratio_cpu: float, goal: float) -> None:
    def mark(value: float) -> str:
        return "met" if value >= goal else "NOT met"

    print(f"- {name}: {ratio_wall:.2f}x wall ({mark(ratio_wall)}), {ratio_cpu:.2f}x CPU "
          f"({mark(ratio_cpu)}); goal >= {goal}x")


def one_file(big: Path, rounds: int) -> None:
    size = big.stat().st_size
    warm(big)
    empty = big.with_name("empty.bin")
    empty.touch()
    openssl = Contender("openssl dgst -sha256 (process)", ["openssl", "dgst", "-sha256", str(big)])
    cli = Contender("mlflow-supplychain hash (process)", [*CLI, "hash", str(big)])
    startup = Contender("start-up only: mlflow-supplychain hash of an empty file (process)",
                        [*CLI, "hash", str(empty)])
    bare = Contender("bare interpreter and site: python -c pass (process)",
                     [sys.executable, "-c", "pass"])
    engine = Contender("hash_file (in-process)", lambda: hash_file(big))
    loop = Contender("plain hashlib loop, 1 MiB readinto (in-process)", lambda: plain_loop(big))
    ahead = Contender("read-ahead thread, 4 x 1 MiB (removed engine, in-process)",
                      lambda: read_ahead(big))
    ceiling = Contender("ceiling: hashlib on bytes in memory, 1 core", lambda: in_memory(size))
    contenders = [openssl, cli, engine, loop, ahead, ceiling]
    race([*contenders, startup, bare], rounds)
    print(f"\n## sha256 of one {size / 2**30:.1f} GiB file ({rounds} rounds, medians, "
          f"warm cache, load average {load_average()} after)\n")
    table(contenders, size, openssl, "openssl")
    print()
    verdict("mlflow-supplychain hash vs openssl, whole processes",
            openssl.wall_s / cli.wall_s, openssl.cpu_s / cli.cpu_s, 0.97)
    verdict("hash_file vs the plain hashlib loop, in-process",
            loop.wall_s / engine.wall_s, loop.cpu_s / engine.cpu_s, 1.0)
    print(f"- start-up of mlflow-supplychain hash (an empty file, whole process): "
          f"{startup.wall_s:.3f} s wall, {startup.cpu_s:.3f} CPU s, "
          f"{startup.cpu_s / cli.cpu_s:.0%} of its CPU on this file, of which {bare.cpu_s:.3f} "
          "CPU s is the interpreter and site (the editable-install finder, in a development "
          "install) before any of our imports")


def many_files(tree: Path, count: int, rounds: int) -> None:
    tree_size = sum(p.stat().st_size for p in tree.rglob("*") if p.is_file())
    files = sorted(p for p in tree.rglob("*") if p.is_file())
    warm(tree)
    cpus = os.cpu_count() or 1
    contenders = []
    signing_run = model_signing_hash(tree)
    signing = (Contender(f"model-signing {model_signing_version()} (sha256, files)", signing_run)
               if signing_run else None)
    if signing:
        contenders.append(signing)
    ours = Contender(f"build_manifest ({cpus} threads)", lambda: build_manifest(tree))
    pool = min(32, cpus + 4)  # ThreadPoolExecutor's default, which model-signing keeps
    wide = Contender(f"build_manifest, {pool} threads (model-signing's pool size)",
                     lambda: build_manifest(tree, workers=pool))
    single = Contender("build_manifest, 1 thread", lambda: build_manifest(tree, workers=1))
    loop = Contender("plain hashlib loop over the files, 1 thread",
                     lambda: [plain_loop(p) for p in files])
    ceiling = Contender(f"ceiling: hashlib on bytes in memory, {cpus} threads",
                        lambda: in_memory_parallel(tree_size, cpus))
    contenders += [ours, wide, single, loop, ceiling]
    race(contenders, rounds)
    print(f"\n## manifest of {count} files, {tree_size / 1e9:.2f} GB ({cpus} CPUs, {rounds} "
          f"rounds, medians, warm cache, load average {load_average()} after)\n")
    if signing is None:
        print("model-signing is not installed (pip install model-signing): no ratio to it\n")
        table(contenders, tree_size, loop, "loop")
        return
    table(contenders, tree_size, signing, "model-signing")
    print()
    verdict("build_manifest vs model-signing", signing.wall_s / ours.wall_s,
            signing.cpu_s / ours.cpu_s, 1.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--big-gib", type=float, default=2.0)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--tree-bytes", type=int, default=10**9)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--only", choices=["one", "many"], help="Run one of the two tables.")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-hash-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"{machine()}, load average {load_average()} at the start")
    try:
        if args.only != "many":
            big = workdir / "big.bin"
            if not big.exists():
                write_big(big, args.big_gib)
            one_file(big, args.rounds)
        if args.only != "one":
            tree = workdir / "tree"
            if not tree.exists():
                write_tree(tree, args.files, args.tree_bytes)
            many_files(tree, args.files, args.rounds)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"\n{machine()}, load average {load_average()} at the end")


def machine() -> str:
    """CPU model, count, Python, OpenSSL (hashlib's and the command's) and model-signing."""
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            model = next((line.split(":", 1)[1].strip() for line in f
                          if line.startswith("model name")), model)
    except OSError:
        pass
    tool = subprocess.run(["openssl", "version"], capture_output=True, text=True,
                          check=False).stdout.strip()
    return (f"machine: {model}, {os.cpu_count()} CPUs; Python {sys.version.split()[0]} "
            f"({ssl.OPENSSL_VERSION}); command: {tool or 'no openssl'}; "
            f"model-signing {model_signing_version()}")


def load_average() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


if __name__ == "__main__":
    main()
