"""``mlflow-supplychain lineage``: base models -> fine-tunes -> adapters, with compliance state."""

from __future__ import annotations

from pathlib import Path

import click

from mlflow_supplychain.errors import ExitCode
from mlflow_supplychain.intake.lineage import ancestors, model_uri
from mlflow_supplychain.intake.lineage_render import RENDERERS
from mlflow_supplychain.policy.evidence import AncestorState
from mlflow_supplychain.policy.loader import load_policy


@click.command()
@click.argument("name")
@click.option("--version", help="Show only this version's ancestors and descendants.")
@click.option("--format", "fmt", type=click.Choice(sorted(RENDERERS)), default="text")
@click.option("--policy", "policy_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Treat versions missing fields this policy requires as unknown; honour "
                   "lineage.accept_external_pinned for the exit code.")
@click.option("--tracking-uri", envvar="MLFLOW_TRACKING_URI", default=None,
              help="MLflow tracking server (default: $MLFLOW_TRACKING_URI).")
def lineage(name: str, version: str | None, fmt: str, policy_file: Path | None,
            tracking_uri: str | None) -> ExitCode:
    """Show the lineage graph of model NAME across the registry.

    With --version, exit 1 when an ancestor of that version is flagged, rejected or unknown
    (or external, unless the policy accepts external pinned bases): the gate would deny it.
    """
    from mlflow import MlflowClient

    from mlflow_supplychain.intake.registry_io import read_lineage

    policy = load_policy(policy_file) if policy_file else None
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    graph = read_lineage(name, version, client=client, policy=policy)
    click.echo(RENDERERS[fmt](graph), nl=False)
    if version is None:
        return ExitCode.OK
    accept_external = policy is not None and policy.lineage.accept_external_pinned
    bad = [a for a in ancestors(graph, model_uri(name, version))
           if a.state is not AncestorState.COMPLIANT
           and not (a.state is AncestorState.EXTERNAL_PINNED and accept_external)]
    for ancestor in bad:
        click.echo(f"ancestor {ancestor.uri} is {ancestor.state.value.replace('_', ' ')}", err=True)
    return ExitCode.DENIED if bad else ExitCode.OK
