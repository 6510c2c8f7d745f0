"""``mlflow-supplychain gate check``: would this promotion be allowed?"""

from __future__ import annotations

import json
from pathlib import Path

import click
from pydantic import ValidationError

from mlflow_supplychain.client import SupplyChainClient
from mlflow_supplychain.errors import EvidenceError, ExitCode, Problem
from mlflow_supplychain.policy.decision import Decision
from mlflow_supplychain.policy.engine import evaluate
from mlflow_supplychain.policy.evidence import Evidence, Target
from mlflow_supplychain.policy.loader import load_policy

MAX_EVIDENCE_BYTES = 16 << 20


@click.group()
def gate() -> None:
    """Evaluate promotions against a policy."""


@gate.command()
@click.argument("name", required=False)
@click.argument("version", required=False)
@click.option("--evidence", "evidence_file", type=click.Path(dir_okay=False, path_type=Path),
              help=("Offline: JSON file describing the version (see 'Evidence file' in "
                    "docs/ci/gate-check.md)."))
@click.option("--target", required=True, help="Alias name, or stage:<Stage>.")
@click.option("--policy", "policy_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Offline: the policy to evaluate against.")
@click.option("--tracking-uri", envvar="MLFLOW_TRACKING_URI",
              help="Live: the MLflow server running the gate (default $MLFLOW_TRACKING_URI).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              help="json prints the Decision on stdout.")
def check(name: str | None, version: str | None, evidence_file: Path | None, target: str,
          policy_file: Path | None, tracking_uri: str | None, fmt: str) -> ExitCode:
    """Would this promotion be allowed? Exit 0 allowed, 1 denied, 2 error.

    \b
    Live:    gate check NAME VERSION --target production --tracking-uri URL
    Offline: gate check --evidence FILE --policy FILE --target production
    """
    if name is not None or version is not None:
        if name is None or version is None or evidence_file or policy_file:
            raise click.UsageError("live form: gate check NAME VERSION --target T "
                                   "[--tracking-uri URL] (without --evidence/--policy)")
        if not tracking_uri:
            raise click.UsageError("pass --tracking-uri URL or set MLFLOW_TRACKING_URI")
        decision = SupplyChainClient(tracking_uri).evaluate(name, version, target)
        return report(decision, fmt)
    if evidence_file is None or policy_file is None:
        raise click.UsageError("offline form needs --evidence and --policy; live form needs "
                               "NAME VERSION")
    loaded = load_policy(policy_file)
    decision = evaluate(loaded, read_evidence(evidence_file), Target.parse(target))
    return report(decision, fmt)


def read_evidence(path: Path) -> Evidence:
    """Parse an evidence JSON file.

    Raises:
        EvidenceError: the file is missing, too large, not JSON, or not valid evidence.
    """
    summary = f"Evidence file {path} is invalid"
    try:
        if path.stat().st_size > MAX_EVIDENCE_BYTES:
            raise EvidenceError(summary, [Problem(str(path), "is larger than 16 MiB",
                                                  "pass the evidence of one version")])
        raw = path.read_bytes()
    except OSError as exc:
        raise EvidenceError(f"Evidence file {path} cannot be read",
                            [Problem(str(path), exc.strerror or str(exc), "check the path")]) from None
    try:
        return Evidence.model_validate_json(raw)
    except ValidationError as exc:
        problems = [Problem(f"{path} " + ".".join(str(p) for p in e["loc"]),
                            str(e["msg"]).removeprefix("Value error, "),
                            "see 'Evidence file' in docs/ci/gate-check.md")
                    for e in exc.errors(include_url=False)]
        raise EvidenceError(summary, problems) from None


def report(decision: Decision, fmt: str) -> ExitCode:
    """Print a Decision (human text on stderr; JSON on stdout) and return its exit code."""
    if fmt == "json":
        click.echo(json.dumps(decision.model_dump(mode="json"), indent=2))
    click.echo(decision.explain(), err=True)
    return ExitCode.OK if decision.allowed else ExitCode.DENIED
