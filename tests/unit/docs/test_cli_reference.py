"""The manual's command-line reference names every command and every option it has."""

from __future__ import annotations

import re

import click

from mlflow_supplychain.cli.main import cli
from tests.unit.docs.manual import page

# said once for all commands, under the block
SHARED = {"--tracking-uri", "--help", "-h"}


def _reference_block() -> str:
    block = re.search(r"```\n(.*?)```", page("ci/command-line.md"), re.DOTALL)
    assert block
    return block.group(1)


def _commands() -> list[tuple[str, click.Command]]:
    ctx = click.Context(cli)
    found: list[tuple[str, click.Command]] = []

    def walk(command: click.Command, path: str) -> None:
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                assert sub is not None
                walk(sub, f"{path} {name}".strip())
        else:
            found.append((path, command))

    walk(cli, "")
    return found


def _entries(block: str, path: str) -> list[str]:
    """The reference lines (with their indented continuations) documenting ``path``."""
    *group, leaf = path.split()
    head = re.compile(r"^mlflow-supplychain " + "".join(f"{re.escape(g)} " for g in group)
                      + r"(\S+)")
    entries, current = [], None
    for line in block.splitlines():
        match = head.match(line)
        if match:
            current = line if leaf in match.group(1).split("|") else None
            if current is not None:
                entries.append(current)
        elif line.startswith(" ") and current is not None:
            entries[-1] += " " + line.strip()
        else:
            current = None
    return entries


def test_every_command_and_option_is_in_the_reference() -> None:
    block = _reference_block()
    problems = []
    for path, command in _commands():
        entries = _entries(block, path)
        if not entries:
            problems.append(f"{path}: not in the reference")
            continue
        text = " ".join(entries)
        for param in command.params:
            if isinstance(param, click.Option) and not set(param.opts) & SHARED:
                if not any(re.search(rf"(^|[\s\[|]){re.escape(o)}\b", text) for o in param.opts):
                    problems.append(f"{path}: {'/'.join(param.opts)} missing")
    assert not problems, problems
