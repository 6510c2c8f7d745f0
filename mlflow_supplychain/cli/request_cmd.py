"""``mlflow-supplychain request``: transition requests through the server's REST API.

Credentials come from MLflow's usual variables (MLFLOW_TRACKING_USERNAME/PASSWORD or
MLFLOW_TRACKING_TOKEN); the server decides who may approve from the authenticated user.
"""

from __future__ import annotations

import json
import os
from typing import Any

import click

from mlflow_supplychain.errors import ExitCode

_TRACKING = click.option("--tracking-uri", envvar="MLFLOW_TRACKING_URI", required=True,
                         help="MLflow server URL (default: $MLFLOW_TRACKING_URI).")
_FORMAT = click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
_COMMENT = click.option("--comment", "-m", help="A note for the audit trail.")


def _client(tracking_uri: str) -> Any:
    from mlflow_supplychain.client import SupplyChainClient

    return SupplyChainClient(tracking_uri, environ=os.environ)


def _show(answer: dict[str, Any], fmt: str) -> ExitCode:
    """Print a request answer; exit 0 when the promotion is now allowed, 1 when not yet."""
    if fmt == "json":
        click.echo(json.dumps(answer, indent=2, sort_keys=True))
    req = answer.get("request", {})
    click.echo(f"request {req.get('id')}: {req.get('model_name')} version {req.get('version')} "
               f"-> {req.get('target')} is {req.get('status')} "
               f"({len(req.get('approvals', []))} approval(s))", err=True)
    if "applied" in answer:
        click.echo("promotion applied" if answer["applied"] else "promotion not applied yet",
                   err=True)
    explanation = answer.get("explanation", "")
    if not answer.get("decision", {}).get("allowed") and explanation:
        explanation = "promotion not allowed yet: " + explanation
    click.echo(explanation, err=True)
    return ExitCode.OK if answer.get("decision", {}).get("allowed") else ExitCode.DENIED


@click.group()
def request() -> None:
    """Create, approve, reject, cancel and list promotion requests.

    Exit codes: create: 0 the request was created (its output says whether the promotion is
    allowed yet; --fail-unless-allowed makes that the exit code). approve, reject, cancel,
    show: 0 the promotion is allowed now, 1 not yet (or refused). 2 error.
    """


@request.command()
@click.argument("name")
@click.argument("version")
@click.option("--target", required=True, help="Protected alias, or stage:<Stage>.")
@_COMMENT
@click.option("--fail-unless-allowed", is_flag=True,
              help="Exit 1 when the request was created but the promotion is not allowed yet.")
@_TRACKING
@_FORMAT
def create(name: str, version: str, target: str, comment: str | None,
           fail_unless_allowed: bool, tracking_uri: str, fmt: str) -> ExitCode:
    """Ask for NAME VERSION to be promoted to --target (exit 0 once the request exists)."""
    allowed = _show(_client(tracking_uri).create_request(name, version, target, comment), fmt)
    return allowed if fail_unless_allowed else ExitCode.OK


@request.command()
@click.argument("request_id", type=int)
@_COMMENT
@click.option("--apply", is_flag=True, help="Make the promotion once the request is approved.")
@_TRACKING
@_FORMAT
def approve(request_id: int, comment: str | None, apply: bool, tracking_uri: str,
            fmt: str) -> ExitCode:
    """Approve REQUEST_ID (you must be an approver, not its requester or the creator)."""
    return _show(_client(tracking_uri).approve_request(request_id, comment, apply), fmt)


@request.command()
@click.argument("request_id", type=int)
@_COMMENT
@_TRACKING
@_FORMAT
def reject(request_id: int, comment: str | None, tracking_uri: str, fmt: str) -> ExitCode:
    """Reject REQUEST_ID (approvers only)."""
    _show(_client(tracking_uri).reject_request(request_id, comment), fmt)
    return ExitCode.OK


@request.command()
@click.argument("request_id", type=int)
@_COMMENT
@_TRACKING
@_FORMAT
def cancel(request_id: int, comment: str | None, tracking_uri: str, fmt: str) -> ExitCode:
    """Cancel REQUEST_ID (its requester only)."""
    _show(_client(tracking_uri).cancel_request(request_id, comment), fmt)
    return ExitCode.OK


@request.command(name="list")
@click.option("--name")
@click.option("--version")
@click.option("--status", type=click.Choice(
    ["pending", "approved", "rejected", "cancelled", "applied", "stale"]))
@click.option("--max-results", type=click.IntRange(1, 1000), default=100)
@click.option("--page-token")
@_TRACKING
@_FORMAT
def list_(name: str | None, version: str | None, status: str | None, max_results: int,
          page_token: str | None, tracking_uri: str, fmt: str) -> ExitCode:
    """List requests, newest first."""
    page = _client(tracking_uri).list_requests(name=name, version=version, status=status,
                                               max_results=max_results, page_token=page_token)
    if fmt == "json":
        click.echo(json.dumps(page, indent=2, sort_keys=True))
        return ExitCode.OK
    for req in page["requests"]:
        click.echo(f"{req['id']:>6}  {req['status']:<9}  {req['model_name']} v{req['version']} "
                   f"-> {req['target']}  by {req['requester']}  "
                   f"({len(req['approvals'])} approval(s))")
    if page.get("next_page_token"):
        click.echo(f"(more: --page-token {page['next_page_token']})", err=True)
    return ExitCode.OK
