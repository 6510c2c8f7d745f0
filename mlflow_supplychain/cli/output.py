"""Where a command that writes a document sends it: stdout, or a new file (never overwritten)."""

from __future__ import annotations

from pathlib import Path

import click

from mlflow_supplychain.errors import ExitCode, Problem, SupplyChainError


def write_output(text: str, output: Path | None, *, error: type[SupplyChainError],
                 next_step: str) -> ExitCode:
    """Print ``text`` on stdout, or write it to ``output`` and tell the user on stderr what to
    do next: ``wrote <output>; <next_step> <output>``.

    Raises:
        SupplyChainError: (of class ``error``) ``output`` already exists; it is left alone.
    """
    if output is None:
        click.echo(text, nl=False)
        return ExitCode.OK
    if output.exists():
        raise error(f"Refusing to overwrite {output}",
                    [Problem(str(output), "already exists", "choose another path")])
    output.write_text(text, encoding="utf-8")
    click.echo(f"wrote {output}; {next_step} {output}", err=True)
    return ExitCode.OK
