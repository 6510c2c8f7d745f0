"""``mlflow-supplychain bom``: a CycloneDX 1.6 ML-BOM for one registered model version."""

from __future__ import annotations

import os
from pathlib import Path

import click

from mlflow_supplychain.cli.output import write_output
from mlflow_supplychain.errors import ExitCode, IntegrityError


@click.command()
@click.argument("model_uri")
@click.option("--format", "fmt", type=click.Choice(["cyclonedx-json"]), default="cyclonedx-json",
              help="Output format (CycloneDX 1.6 JSON).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the BOM here (refuses to overwrite; default: stdout).")
@click.option("--tracking-uri", envvar="MLFLOW_TRACKING_URI", default=None,
              help="MLflow server URL (default: $MLFLOW_TRACKING_URI).")
def bom(model_uri: str, fmt: str, output: Path | None, tracking_uri: str | None) -> ExitCode:
    """Write the ML-BOM of MODEL_URI (models:/name/N or models:/name@alias).

    Files with their SHA-256 (from the verified scan attestation), license, model card fields
    from the intake record, base models as pedigree, data sets logged on the training and
    evaluation runs. Exit 0 written; 1 refused (a mutable reference, or no scan attestation
    that verifies: nothing vouches for the hashes); 2 error (server unreachable, bad input).
    """
    del fmt  # one format today; the option keeps the command stable when more come
    import mlflow
    from mlflow import MlflowClient

    from mlflow_supplychain.bom.ml_bom import build_ml_bom
    from mlflow_supplychain.bom.registry_facts import gather_bom_facts
    from mlflow_supplychain.deploy.registry_facts import DeployClient
    from mlflow_supplychain.deploy.resolve import parse_model_uri

    ref = parse_model_uri(model_uri)
    if not tracking_uri:
        raise click.UsageError("pass --tracking-uri or set MLFLOW_TRACKING_URI")
    mlflow.set_registry_uri(tracking_uri)
    facts = gather_bom_facts(ref, tracking_uri=tracking_uri,
                             mlflow_client=MlflowClient(tracking_uri=tracking_uri,
                                                        registry_uri=tracking_uri),
                             client=DeployClient(tracking_uri, environ=os.environ))
    text = build_ml_bom(facts) + "\n"
    return write_output(text, output, error=IntegrityError,
                        next_step="validate or attach it, e.g.")
