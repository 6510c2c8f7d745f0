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
# SQLAlchemy, Alembic or MLflow imports that only the server-facing commands need. The one-line
# summaries let `--help` list every command without importing any (a test keeps them in step
# with each command's own help).
COMMANDS: dict[str, tuple[str, str]] = {
    "policy": ("mlflow_supplychain.cli.policy_cmd:policy", "Validate and author policy files."),
    "gate": ("mlflow_supplychain.cli.gate_cmd:gate", "Evaluate promotions against a policy."),
    "audit": ("mlflow_supplychain.cli.audit_cmd:audit",
              "Verify and export the hash-chained audit log."),
    "db": ("mlflow_supplychain.cli.audit_cmd:database",
           "Manage mlflow-supplychain's own tables in the MLflow database."),
    "intake": ("mlflow_supplychain.cli.intake_cmd:intake",
               "Write, check and apply intake records; import models from a hub, pinned."),
    "lineage": ("mlflow_supplychain.cli.lineage_cmd:lineage",
                "Show the lineage graph of model NAME across the registry."),
    "scan": ("mlflow_supplychain.cli.scan_cmd:scan",
             "Scan model files or directories for unsafe serialization."),
    "hash": ("mlflow_supplychain.cli.scan_cmd:hash_",
             "Print the canonical manifest digest of a file or directory (exit 1 on symlinks)."),
    "server": ("mlflow_supplychain.cli.server_cmd:server",
               ("Start MLflow with the supply-chain gate (replaces this process with 'mlflow "
               "server').")),
    "request": ("mlflow_supplychain.cli.request_cmd:request",
                "Create, approve, reject, cancel and list promotion requests."),
    "bom": ("mlflow_supplychain.cli.bom_cmd:bom",
            "Write the ML-BOM of MODEL_URI (models:/name/N or models:/name@alias)."),
    "deploy": ("mlflow_supplychain.cli.deploy_cmd:deploy",
               "Deployment manifests, verification before load, rollback."),
    "demo": ("mlflow_supplychain.cli.demo_cmd:demo",
             ("Start a governed server with basic-auth and the scan sidecar (SQLite, local "
             "artifacts, a temporary directory) and walk the supply-chain story.")),
    "sidecar": ("mlflow_supplychain.cli.sidecar_cmd:sidecar",
                ("Receive MLflow webhooks, scan every registered version, submit signed "
                "attestations.")),
    "webhooks": ("mlflow_supplychain.cli.sidecar_cmd:webhooks",
                 "Manage the sidecar's MLflow webhook."),
    "reconcile": ("mlflow_supplychain.cli.sidecar_cmd:reconcile",
                  ("Queue scans for versions without a valid attestation; re-check protected "
                  "aliases.")),
}


class LazyGroup(click.Group):
    """A click group that imports each subcommand's module on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module, _, attr = entry[0].partition(":")
        command = getattr(importlib.import_module(module), attr)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List the commands from the static summaries (importing them all took seconds)."""
        limit = formatter.width - 6 - max(len(name) for name in COMMANDS)
        rows = [(name, _shorten(COMMANDS[name][1], limit)) for name in sorted(COMMANDS)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:max(limit - 3, 1)].rsplit(" ", 1)[0] + "..."


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
