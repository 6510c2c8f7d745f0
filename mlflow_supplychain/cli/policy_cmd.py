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


def _server_commands() -> None:
    # Commands that ask a running server live in their own module (they need the REST client).
    from mlflow_supplychain.cli.policy_server_cmd import impact, show

    policy.add_command(impact)
    policy.add_command(show)


_server_commands()
