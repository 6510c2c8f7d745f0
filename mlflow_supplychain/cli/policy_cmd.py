"""``mlflow-supplychain policy``: validate, export the JSON Schema, write a starter policy."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import click

from mlflow_supplychain.cli.output import write_output
from mlflow_supplychain.errors import ExitCode, PolicyError
from mlflow_supplychain.policy.loader import load_policy
from mlflow_supplychain.policy.schema import Policy


@click.group()
def policy() -> None:
    """Validate and author policy files."""


@policy.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def validate(file: Path, fmt: str) -> ExitCode:
    """Validate FILE. Exit 0 when valid, 2 when invalid (every problem is listed)."""
    try:
        loaded = load_policy(file)
    except PolicyError as exc:
        if fmt == "json":
            click.echo(json.dumps({"valid": False, "file": str(file), "problems": [
                {"where": p.where, "what": p.what, "fix": p.fix} for p in exc.problems]}))
        click.echo(f"error: {exc.diagnostics()}", err=True)
        return ExitCode.ERROR
    if fmt == "json":
        click.echo(json.dumps({"valid": True, "file": str(file), "digest": loaded.digest,
                               "mode": loaded.mode.value}))
    click.echo(f"{file}: valid (mode {loaded.mode.value}, digest {loaded.digest})", err=True)
    return ExitCode.OK


@policy.command()
def schema() -> ExitCode:
    """Print the policy JSON Schema (for editor validation) on stdout."""
    click.echo(json.dumps(Policy.model_json_schema(), indent=2, sort_keys=True))
    return ExitCode.OK


@policy.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write here instead of stdout (refuses to overwrite).")
def init(output: Path | None) -> ExitCode:
    """Write a commented starter policy that validates."""
    text = resources.files("mlflow_supplychain.policy").joinpath("starter.yaml").read_text("utf-8")
    return write_output(text, output, error=PolicyError,
                        next_step="edit it, then run: mlflow-supplychain policy validate")


@policy.command()
@click.argument("old", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("new", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.option("--exit-code", is_flag=True,
              help="Exit 1 when the policies differ (like 'git diff --exit-code').")
def diff(old: Path, new: Path, fmt: str, exit_code: bool) -> ExitCode:
    """What changed from policy OLD to policy NEW, section by section, in words.

    Both files are validated first (exit 2 naming the file when either is invalid).
    """
    from mlflow_supplychain.policy.diff import diff_policies

    before, after = load_policy(old), load_policy(new)
    changes = diff_policies(before, after)
    if fmt == "json":
        click.echo(json.dumps({"old": {"file": str(old), "digest": before.digest},
                               "new": {"file": str(new), "digest": after.digest},
                               "changes": [{"section": c.section, "path": c.path, "text": c.text}
                                           for c in changes]}, indent=2))
    elif not changes:
        click.echo(f"no change: both policies have digest {after.digest}")
    else:
        click.echo(f"{old} ({before.digest}) -> {new} ({after.digest})")
        section = None
        for change in changes:
            if change.section != section:
                section = change.section
                click.echo(f"{section}:")
            click.echo(f"  - {change.text}")
    return ExitCode.DENIED if exit_code and changes else ExitCode.OK
