"""``mlflow-supplychain demo``: the whole story on the embedded default, checked step by step."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import click

from mlflow_supplychain.errors import ExitCode


@click.command()
@click.option("--keep", type=click.Path(file_okay=False, path_type=Path),
              help="Work in this directory and leave it (server data, manifests) for a look.")
def demo(keep: Path | None) -> ExitCode:
    """Start a governed server with basic-auth and the scan sidecar (SQLite, local artifacts,
    a temporary directory) and walk the supply-chain story. Exit 0 only if every step behaved."""
    from mlflow_supplychain.demo.story import run, temporary_workdir
    from mlflow_supplychain.server.launcher import run_server

    policy = Path(str(resources.files("mlflow_supplychain.policy").joinpath("starter.yaml")))

    def say(text: str) -> None:
        click.echo(text)

    with temporary_workdir(keep) as workdir:
        work = Path(workdir)
        say(f"Starting a governed MLflow server (policy {policy.name}, data in {work})...")
        with run_server(policy, work / "server", auth=True, sidecar=True) as server:
            say(f"Server at {server.url}; scan sidecar at {server.sidecar_url}")
            admin_password = server.admin_auth()[1]
            scratch = work / "scratch"
            scratch.mkdir(exist_ok=True)
            return run(server.url, server.data_dir, admin_password, say, scratch)
