"""Scanner benchmark: our scanner vs picklescan, modelscan, fickling and modelaudit.

    pip install -e '.[bench]'   # peers and torch, never needed by the test suite
    python benchmarks/bench_scan.py [--workdir DIR] [--skip-big] [--skip-modelaudit]

1. Detection on the generated, labelled corpus (tests/unit/scanning/peer_corpus.py, mirroring
   the peers' own test suites and advisories, plus this project's corpus): one CLI call per
   sample and tool; malicious flagged and benign flagged-or-undecided per tool.
2. Wall time (CLI, start-up included) and peak RSS on a ~1 GiB torch checkpoint and a
   ~221 MiB protocol-5 scikit-learn pickle, plus our in-process time on the pickle.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _corpus

BIN = Path(sys.executable).parent
FLAGGED, CLEAN, ERROR = "flagged", "clean", "error"


# -- per-file verdicts of each tool (one CLI call per sample) ----------------------------------

CLI: dict[str, Callable[[Path], list[str]]] = {
    "mlflow-supplychain": lambda p: [str(BIN / "mlflow-supplychain"), "scan", str(p)],
    "picklescan": lambda p: [str(BIN / "picklescan"), "-p", str(p)],
    "modelscan": lambda p: [str(BIN / "modelscan"), "-p", str(p)],
    "fickling": lambda p: [str(BIN / "fickling"), "--check-safety", str(p)],
}
CLEAN_EXITS = {"modelscan": (0, 3)}
"""Exit codes that mean "nothing found" (modelscan exits 3 when no file is of a format it
scans: not a finding). Any other non-zero exit counts as flagged: errors are undecided."""


def cli_verdict(tool: str, path: Path) -> str:
    try:
        proc = subprocess.run(CLI[tool](path), capture_output=True, check=False, timeout=300,
                              cwd=path.parent)
    except subprocess.TimeoutExpired:
        return ERROR
    return CLEAN if proc.returncode in CLEAN_EXITS.get(tool, (0,)) else FLAGGED


def modelaudit_all(corpus: Path, files: list[Path]) -> tuple[dict[Path, str], float]:
    """modelaudit once over the whole directory (a call per file takes ~10 s here)."""
    out = corpus.parent / "modelaudit.json"
    started = time.perf_counter()
    subprocess.run([str(BIN / "modelaudit"), "scan", str(corpus), "--format", "json", "-o",
                    str(out)], capture_output=True, check=False, timeout=3600)
    seconds = time.perf_counter() - started
    verdicts = {f: CLEAN for f in files}
    try:
        report = json.loads(out.read_text())
    except (OSError, ValueError):
        return {f: ERROR for f in files}, seconds
    for issue in report.get("issues", []):
        if issue.get("severity") not in ("critical", "warning"):
            continue
        location = str(issue.get("location") or "")
        for f in files:
            if location == str(f) or location.startswith((f"{f}:", f"{f} ")):
                verdicts[f] = FLAGGED
    return verdicts, seconds


def detection(corpus: Path, labelled: list[tuple[Path, bool]], skip_modelaudit: bool,
              tools: list[str]) -> None:
    results: dict[str, tuple[dict[Path, str], float]] = {}
    for name in tools:
        started = time.perf_counter()
        verdicts = {path: cli_verdict(name, path) for path, _ in labelled}
        results[name] = (verdicts, time.perf_counter() - started)
    if not skip_modelaudit:
        results["modelaudit (one call, whole corpus)"] = modelaudit_all(
            corpus, [p for p, _ in labelled])
    bad = [p for p, evil in labelled if evil]
    good = [p for p, evil in labelled if not evil]
    print(f"\n## Detection: {len(bad)} malicious, {len(good)} benign samples "
          "(one CLI call per sample; errors count as flagged)\n")
    print("| tool | malicious flagged | benign flagged or undecided | seconds |")
    print("|---|---|---|---|")
    for name, (verdicts, seconds) in results.items():
        hit = sum(verdicts[p] != CLEAN for p in bad)
        fp = sum(verdicts[p] != CLEAN for p in good)
        print(f"| {name} | {hit}/{len(bad)} | {fp}/{len(good)} | {seconds:.1f} |")
    for name, (verdicts, _) in results.items():
        missed = [p.name for p in bad if verdicts[p] == CLEAN]
        false = [p.name for p in good if verdicts[p] != CLEAN]
        print(f"\n{name}: missed {missed or '-'}; benign flagged {false or '-'}")


# -- big files ----------------------------------------------------------------------------------

def make_big(workdir: Path) -> dict[str, Path]:
    files = {}
    pkl = workdir / "sklearn_221MiB_p5.pkl"
    if not pkl.exists():
        import numpy as np
        from sklearn.neighbors import KNeighborsClassifier

        rows = (221 << 20) // (8 * 100)
        x = np.random.default_rng(0).random((rows, 100))
        model = KNeighborsClassifier(algorithm="brute").fit(x, np.arange(rows) % 2)
        with open(pkl, "wb") as f:
            pickle.dump(model, f, protocol=5)
    files["221 MiB sklearn pickle (p5)"] = pkl
    forest = workdir / "forest_100_trees_p5.pkl"
    if not forest.exists():
        import numpy as np
        from sklearn.ensemble import RandomForestRegressor

        rng = np.random.default_rng(0)
        x, y = rng.random((20000, 20)), rng.random(20000)
        model = RandomForestRegressor(n_estimators=100, n_jobs=2, random_state=0).fit(x, y)
        with open(forest, "wb") as f:
            pickle.dump(model, f, protocol=5)
    files["174 MiB random forest, 100 trees (p5)"] = forest
    try:
        import torch
    except ImportError:
        print("torch not installed: skipping the 1 GiB checkpoint")
        return files
    ckpt = workdir / "torch_1GiB.pt"
    if not ckpt.exists():
        state = {f"layer{i}.weight": torch.full((1024, 1024), float(i)) for i in range(256)}
        torch.save(state, ckpt)
    files["1 GiB torch checkpoint"] = ckpt
    return files


def _run_once(cmd: list[str], cwd: Path) -> tuple[float, int, int]:
    """Wall seconds, peak RSS (MiB, from /usr/bin/time) and exit code of one run in ``cwd``
    (the fickling CLI writes ``safety_results.json`` into its working directory)."""
    started = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], capture_output=True, text=True,
                          check=False, timeout=1800, cwd=cwd)
    wall = time.perf_counter() - started
    try:
        rss = int(proc.stderr.strip().splitlines()[-1]) // 1024
    except (ValueError, IndexError):
        rss = 0
    return wall, rss, proc.returncode


def timed_alternating(commands: dict[str, list[str]], rounds: int,
                      cwd: Path) -> dict[str, tuple[float, int, int]]:
    """Median wall, peak RSS and exit code per tool, the tools taking turns in every round so
    that a burst of load from elsewhere hits all of them alike."""
    walls: dict[str, list[float]] = {tool: [] for tool in commands}
    rss: dict[str, int] = dict.fromkeys(commands, 0)
    codes: dict[str, int] = dict.fromkeys(commands, 0)
    for _ in range(rounds):
        for tool, cmd in commands.items():
            wall, peak, code = _run_once(cmd, cwd)
            walls[tool].append(wall)
            rss[tool], codes[tool] = max(rss[tool], peak), code
    return {tool: (statistics.median(walls[tool]), rss[tool], codes[tool]) for tool in commands}


ROUNDS = 9


def big_files(files: dict[str, Path], skip_modelaudit: bool) -> None:
    print(f"\n## Large files (CLI wall time, median of {ROUNDS} alternating runs (modelaudit: 1); "
          "warm page cache)\n")
    print("| file | tool | seconds | ratio to picklescan | peak RSS MiB | exit |")
    print("|---|---|---|---|---|---|")
    for label, path in files.items():
        subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=False)  # warm cache
        commands = {
            "mlflow-supplychain": [str(BIN / "mlflow-supplychain"), "scan", str(path)],
            "picklescan": [str(BIN / "picklescan"), "-p", str(path)],
            "modelscan": [str(BIN / "modelscan"), "-p", str(path)],
            "fickling": [str(BIN / "fickling"), "--check-safety", str(path)],
        }
        results = timed_alternating(commands, ROUNDS, path.parent)
        if not skip_modelaudit:
            results["modelaudit"] = _run_once([str(BIN / "modelaudit"), "scan", str(path)],
                                              path.parent)
        base = results["picklescan"][0]
        for tool, (wall, rss, code) in results.items():
            print(f"| {label} | {tool} | {wall:.3f} | {wall / base:.2f} | {rss} | {code} |")
        if path.suffix == ".pkl":
            import fickling as fk

            from mlflow_supplychain.scanning.scanner import scan_path

            best = min(_once(scan_path, path) for _ in range(5))
            print(f"| {label} | mlflow-supplychain in-process | {best * 1000:.1f} ms | | | |")
            peer = min(_once(lambda p: fk.scan_file(str(p), graceful=True), path)
                       for _ in range(3))
            print(f"| {label} | fickling in-process | {peer * 1000:.1f} ms | | | |")


def _once(fn: Callable[[Path], object], path: Path) -> float:
    started = time.perf_counter()
    fn(path)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, help="keep generated files here")
    parser.add_argument("--skip-big", action="store_true")
    parser.add_argument("--skip-modelaudit", action="store_true",
                        help="modelaudit takes ~10 s per invocation here")
    parser.add_argument("--tools", default=",".join(CLI),
                        help="comma-separated CLIs to run per sample (default: all)")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-scan-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        corpus = workdir / "corpus"
        shutil.rmtree(corpus, ignore_errors=True)
        labelled = _corpus.build(corpus)
        detection(corpus, labelled, args.skip_modelaudit, args.tools.split(","))
        if not args.skip_big:
            big_files(make_big(workdir), args.skip_modelaudit)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"\nmachine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
