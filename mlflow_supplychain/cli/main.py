"""Entry point of the ``mlflow-supplychain`` command. Only this module exits the process.

Every command returns an :class:`ExitCode`; :func:`main` maps our error tree to messages on
stderr and exit code 2 (or the error's own code), so users see diagnostics, not tracebacks.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import traceback
from collections.abc import Sequence

import click

from mlflow_supplychain import __version__
from mlflow_supplychain.errors import ExitCode, SupplyChainError

# Subcommands are imported only when invoked: `scan` must start fast and must not pay for
# SQLAlchemy, Alembic or MLflow imports that only the server-facing commands need.
COMMANDS: dict[str, str] = {
    "policy": "mlflow_supplychain.cli.policy_cmd:policy",
    "gate": "mlflow_supplychain.cli.gate_cmd:gate",
    "audit": "mlflow_supplychain.cli.audit_cmd:audit",
    "db": "mlflow_supplychain.cli.audit_cmd:database",
    "intake": "mlflow_supplychain.cli.intake_cmd:intake",
    "lineage": "mlflow_supplychain.cli.lineage_cmd:lineage",
    "scan": "mlflow_supplychain.cli.scan_cmd:scan",
    "hash": "mlflow_supplychain.cli.scan_cmd:hash_",
    "server": "mlflow_supplychain.cli.server_cmd:server",
    "request": "mlflow_supplychain.cli.request_cmd:request",
    "deploy": "mlflow_supplychain.cli.deploy_cmd:deploy",
    "demo": "mlflow_supplychain.cli.demo_cmd:demo",
    "sidecar": "mlflow_supplychain.cli.sidecar_cmd:sidecar",
    "webhooks": "mlflow_supplychain.cli.sidecar_cmd:webhooks",
    "reconcile": "mlflow_supplychain.cli.sidecar_cmd:reconcile",
}


class LazyGroup(click.Group):
    """A click group that imports each subcommand's module on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, _, attr = target.partition(":")
        command = getattr(importlib.import_module(module), attr)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mlflow-supplychain")
@click.option("-v", "--verbose", count=True, help="More log output (repeat for debug).")
def cli(verbose: int) -> None:
    """Enforce AI supply-chain policy on the MLflow Model Registry.

    Exit codes: 0 allowed/valid/clean, 1 denied/unsafe/mismatch, 2 error (could not decide).
    """
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)



def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI in-process and return its exit code (never raises, never exits)."""
    try:
        rv = cli.main(args=list(argv) if argv is not None else None,
                      prog_name="mlflow-supplychain", standalone_mode=False)
    except SupplyChainError as exc:
        click.echo(f"error: {exc.diagnostics()}", err=True)
        return int(exc.exit_code)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return int(ExitCode.ERROR)
    except click.Abort:
        click.echo("aborted", err=True)
        return int(ExitCode.ERROR)
    except Exception as exc:  # noqa: BLE001 - last line of defence: never a raw traceback
        click.echo(f"internal error: {type(exc).__name__}: {exc}", err=True)
        if os.environ.get("MLFLOW_SUPPLYCHAIN_DEBUG"):
            traceback.print_exc()
        else:
            click.echo("(set MLFLOW_SUPPLYCHAIN_DEBUG=1 for the traceback)", err=True)
        return int(ExitCode.ERROR)
    return int(rv) if isinstance(rv, int) else int(ExitCode.OK)


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
