"""Commands imported on first use, so ``scan`` and ``hash`` start without pydantic or MLflow.

Importing the policy/gate commands costs ~100 ms (pydantic models); the scan command is
benchmarked against picklescan on wall time, start-up included. Register a command with
``cli.add_command(lazy_command(name, "module:attribute", help=...))``; it is imported when it
is invoked or when ``--help`` lists it.
"""

from __future__ import annotations

import importlib
from typing import Any

import click


class LazyCommand(click.Command):
    """Placeholder for a command defined in a module not imported yet."""

    def __init__(self, name: str, target: str, help: str | None = None) -> None:
        super().__init__(name, help=help, short_help=help)
        self.target = target

    def load(self) -> click.Command:
        module, _, attribute = self.target.partition(":")
        command = getattr(importlib.import_module(module), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{self.target} is not a click command")
        return command


class LazyGroup(click.Group):
    """A group that resolves :class:`LazyCommand` placeholders when they are looked up."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if isinstance(command, LazyCommand):
            command = command.load()
            self.commands[cmd_name] = command
        return command


def lazy_command(name: str, target: str, *, help: str | None = None) -> Any:
    """A placeholder for ``target`` (``"package.module:command"``) registered as ``name``."""
    return LazyCommand(name, target, help)
