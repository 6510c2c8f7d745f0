"""``mlflow-supplychain scan`` and ``hash``: the sidecar scanner and the integrity primitive
from the command line. Neither imports MLflow (nor pydantic without ``--policy``): start-up
time is part of the scan budget."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import click

from mlflow_supplychain.errors import ExitCode

PROGRESS_MIN_BYTES = 64 << 20


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json", "sarif"]), default="text",
              help="json and sarif (2.1.0) print on stdout; text goes to stderr.")
@click.option("--policy", "policy_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Use this policy's formats section (default: the built-in policy).")
@click.option("--strict", is_flag=True, help="Treat 'sandboxed' (allowlisted pickles) as flagged.")
def scan(paths: tuple[Path, ...], fmt: str, policy_file: Path | None, strict: bool) -> ExitCode:
    """Scan model files or directories for unsafe serialization.

    Exit 0 clean (permitted/sandboxed), 1 flagged (prohibited), 2 could not decide.
    """
    from mlflow_supplychain.scanning.report import to_json, to_sarif, to_text
    from mlflow_supplychain.scanning.scanner import scan_paths

    formats = None
    if policy_file is not None:
        from mlflow_supplychain.policy.loader import load_policy

        formats = load_policy(policy_file).formats
    report = scan_paths(paths, formats=formats, progress=_progress_bar())
    if fmt == "json":
        click.echo(to_json(report))
    elif fmt == "sarif":
        click.echo(json.dumps(to_sarif(report), indent=2))
    click.echo(to_text(report), err=True)
    verdict = report.verdict_name
    if verdict is None:
        return ExitCode.ERROR
    if verdict == "prohibited":
        return ExitCode.DENIED
    if strict and verdict == "sandboxed":
        click.echo("exit 1: --strict treats 'sandboxed' (pickles whose every import is on the "
                   "allowlist) as flagged; without --strict this result exits 0", err=True)
        return ExitCode.DENIED
    return ExitCode.OK


@click.command("hash")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              help="text prints the digest on stdout and the files on stderr; json prints "
              "the manifest on stdout.")
@click.option("--follow-symlinks", is_flag=True, help="Hash link targets instead of refusing.")
def hash_(path: Path, fmt: str, follow_symlinks: bool) -> ExitCode:
    """Print the canonical manifest digest of a file or directory (exit 1 on symlinks)."""
    from mlflow_supplychain.integrity.manifest import build_manifest

    started = time.perf_counter()
    manifest = build_manifest(path, follow_symlinks=follow_symlinks, progress=_progress_bar())
    seconds = time.perf_counter() - started
    if fmt == "json":
        click.echo(json.dumps(manifest.as_dict(), indent=2))
    else:
        for entry in manifest.files:
            click.echo(f"{entry.sha256}  {entry.size:>12}  {entry.path}", err=True)
        click.echo(manifest.digest)
    rate = manifest.total_size / seconds / 1e9 if seconds else 0.0
    click.echo(f"{len(manifest.files)} file(s), {manifest.total_size} bytes in {seconds:.2f}s "
               f"({rate:.2f} GB/s)", err=True)
    return ExitCode.OK


def _progress_bar() -> Callable[[int, int, str], None] | None:
    """A progress callback drawing on stderr, or None when stderr is not a terminal."""
    if not sys.stderr.isatty():
        return None
    state = {"shown": False}

    def draw(done: int, total: int, current: str) -> None:
        if total < PROGRESS_MIN_BYTES:
            return
        width = 30
        filled = int(width * done / total) if total else width
        bar = "#" * filled + "-" * (width - filled)
        sys.stderr.write(f"\r[{bar}] {done * 100 // max(total, 1):3d}% {current[-40:]:<40}")
        state["shown"] = True
        if done >= total and state["shown"]:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return draw
