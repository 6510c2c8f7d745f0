"""``mlflow-supplychain gate check``: would this promotion be allowed?"""

from __future__ import annotations

import json
from pathlib import Path

import click
from pydantic import ValidationError

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
@click.option("--evidence", "evidence_file", required=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="JSON file describing the version (see README, 'Evidence file').")
@click.option("--target", required=True, help="Alias name, or stage:<Stage>.")
@click.option("--policy", "policy_file", required=True,
              type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              help="json prints the Decision on stdout.")
def check(evidence_file: Path, target: str, policy_file: Path, fmt: str) -> ExitCode:
    """Check a promotion offline. Exit 0 allowed, 1 denied, 2 error."""
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
                            "see README, 'Evidence file'")
                    for e in exc.errors(include_url=False)]
        raise EvidenceError(summary, problems) from None


def report(decision: Decision, fmt: str) -> ExitCode:
    """Print a Decision (human text on stderr; JSON on stdout) and return its exit code."""
    if fmt == "json":
        click.echo(json.dumps(decision.model_dump(mode="json"), indent=2))
    click.echo(decision.explain(), err=True)
    return ExitCode.OK if decision.allowed else ExitCode.DENIED
