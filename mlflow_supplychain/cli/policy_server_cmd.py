"""``mlflow-supplychain policy impact`` and ``policy show``: the policy as the server sees it.

``impact NEW`` sends the proposed policy to the server, which evaluates it against the live
registry (the evidence lives in its database) without applying it. Exit 0 when no promoted
version would become non-compliant, 1 when one would (each is listed), 2 when it could not be
decided (invalid policy, unreachable server, not an admin).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import yaml

from mlflow_supplychain.client import SupplyChainClient
from mlflow_supplychain.documents import read_document
from mlflow_supplychain.errors import ExitCode, PolicyError, Problem, RegistryError
from mlflow_supplychain.policy.loader import parse_policy

MAX_PROPOSED_BYTES = 256 * 1024

_TRACKING = click.option("--tracking-uri", envvar="MLFLOW_TRACKING_URI", required=True,
                         help="The governed MLflow server (default $MLFLOW_TRACKING_URI).")
_FORMAT = click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
                       help="json prints the whole report on stdout.")


def _row_line(row: dict[str, Any]) -> str:
    where = (f"request {row['request_id']}" if row["holding"] == "request"
             else f"holds {row['holding']} {row['target']}")
    head = (f"{row['change'].upper():13} models:/{row['model_name']}/{row['version']} -> "
            f"{row['target']} ({where})")
    reasons = row["proposed"]["violations"] or ["allowed"]
    return "\n".join([head, *(f"      {r}" for r in reasons[:8])])


def _print_report(report: dict[str, Any]) -> None:
    summary = report["summary"]
    click.echo(f"policy {report['current_digest']} -> {report['proposed_digest']}")
    click.echo(f"evaluated {summary['evaluated']} promotion(s) and open request(s) in "
               f"{report.get('seconds', 0)} s: {summary['breaks']} break, "
               f"{summary['blocks']} start being blocked, {summary['fixes']} fixed, "
               f"{summary['still_denied']} still denied, {summary['unchanged']} unchanged")
    if report["format_changed"]:
        click.echo("the format policy changes: every version is rescanned by the sidecar "
                   "(promoted first); scan.pending until each rescan lands")
    for row in report["rows"]:
        if row["change"] != "unchanged":
            click.echo(_row_line(row))
    for note in report.get("notes", []):
        click.echo(f"note: {note}")


@click.command()
@click.argument("new", type=click.Path(dir_okay=False, path_type=Path))
@_TRACKING
@_FORMAT
def impact(new: Path, tracking_uri: str, fmt: str) -> ExitCode:
    """What policy NEW would decide for every promoted version and open request on the server,
    without applying it. Exit 1 if a promoted version would become non-compliant."""
    text = read_document(new, kind="Policy file", error=PolicyError, limit=MAX_PROPOSED_BYTES,
                         create_hint="pass the proposed policy YAML")
    parse_policy(text, source=str(new))  # fail here, with line numbers, on an invalid policy
    report = SupplyChainClient(tracking_uri, timeout=300).policy_impact(text)
    if fmt == "json":
        click.echo(json.dumps(report, indent=2, sort_keys=True))
    else:
        _print_report(report)
    breaking = report.get("breaking")
    if not isinstance(breaking, list):
        raise RegistryError("The server's impact report is malformed", [Problem(
            "breaking", "missing", "use matching plugin versions on client and server")])
    if breaking:
        click.echo(f"{len(breaking)} promoted version(s) would become non-compliant", err=True)
        return ExitCode.DENIED
    return ExitCode.OK


@click.command()
@click.argument("digest")
@_TRACKING
def show(digest: str, tracking_uri: str) -> ExitCode:
    """Print the policy with DIGEST (sha256:...) as the server loaded it (policy history), so a
    past decision can be read with the policy that made it."""
    body = SupplyChainClient(tracking_uri).policy_show(digest)
    click.echo(f"# policy {body['digest']}")
    click.echo(yaml.safe_dump(body["policy"], sort_keys=False), nl=False)
    return ExitCode.OK
