"""``mlflow-supplychain deploy``: pinned deployment manifests, byte verification, rollback.

Human output goes to stderr, JSON to stdout. Exit codes: 0 verified/written, 1 refused or
mismatched (mutable reference, gate denies, files differ), 2 error.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from mlflow_supplychain.errors import EvidenceError, ExitCode, IntegrityError, Problem, excerpt
from mlflow_supplychain.progress import Steps

_TRACKING = click.option("--tracking-uri", envvar="MLFLOW_TRACKING_URI", default=None,
                         help="MLflow server URL (default: $MLFLOW_TRACKING_URI).")


def _clients(tracking_uri: str) -> tuple[Any, Any]:
    import mlflow
    from mlflow import MlflowClient

    from mlflow_supplychain.deploy.registry_facts import DeployClient

    # MLflow's artifact repositories resolve models:/ through the global registry URI.
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    return (MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri),
            DeployClient(tracking_uri, environ=os.environ))


def _need(tracking_uri: str | None) -> str:
    if not tracking_uri:
        raise click.UsageError("pass --tracking-uri or set MLFLOW_TRACKING_URI")
    return tracking_uri


def _emit(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=True))


@click.group()
def deploy() -> None:
    """Deployment manifests, verification before load, rollback.

    Exit codes: 0 ok, 1 refused or mismatched, 2 error.
    """


@deploy.command()
@click.argument("model_uri")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the manifest here (default: stdout).")
@click.option("--target", help="Protected alias (or stage:<Stage>) the version must be allowed "
              "for; default: the URI's alias, else 'production'.")
@click.option("--signature-out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the registry's OpenSSF Model Signing bundle here (for "
              "'model_signing verify key --signature FILE --public_key registry-signing.pub').")
@_TRACKING
def manifest(model_uri: str, output: Path | None, target: str | None,
             signature_out: Path | None, tracking_uri: str | None) -> ExitCode:
    """Pin MODEL_URI (models:/name@alias or models:/name/N) and write its deployment manifest."""
    from mlflow_supplychain.deploy.registry_facts import build_deployment_manifest
    from mlflow_supplychain.deploy.resolve import parse_model_uri

    ref = parse_model_uri(model_uri)  # refuses mutable references before any network call
    server = _need(tracking_uri)
    mlflow_client, client = _clients(server)
    result = build_deployment_manifest(model_uri, ref, tracking_uri=server,
                                       mlflow_client=mlflow_client, client=client, target=target)
    if signature_out is not None:
        if result.oms_signature is None:
            raise IntegrityError("The registry did not sign this promotion", [Problem(
                model_uri, "no OMS signature came back", "start the server with "
                "'mlflow-supplychain server' (it makes a signing key) and retry")])
        signature_out.write_text(json.dumps(result.oms_signature), encoding="utf-8")
        click.echo(f"wrote {signature_out}", err=True)
    if output is not None:
        output.write_text(result.to_json(), encoding="utf-8")
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(result.to_json(), nl=False)
    click.echo(f"{model_uri} -> {result.pinned_uri} ({result.artifact_digest}, "
               f"{len(result.files)} files, scan {result.scan.verdict}, allowed for "
               f"{result.target})", err=True)
    return ExitCode.OK


@deploy.command()
@click.argument("manifest_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--path", "local", type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="Verify this directory instead of downloading the version.")
@click.option("--registry-key", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="The registry's public key (registry-signing.pub), pinned: the manifest's "
              "signed verification summary must verify with it and name exactly these files.")
@_TRACKING
def verify(manifest_file: Path, local: Path | None, registry_key: Path | None,
           tracking_uri: str | None) -> ExitCode:
    """Check every byte against MANIFEST and the registry's current approval."""
    from mlflow_supplychain.deploy.fetch import downloaded_version, streamed_manifest
    from mlflow_supplychain.deploy.manifest_schema import read_manifest
    from mlflow_supplychain.deploy.registry_facts import current_standing
    from mlflow_supplychain.deploy.verify import compare
    from mlflow_supplychain.integrity.manifest import build_manifest

    steps = Steps()
    pinned = read_manifest(manifest_file)
    mlflow_client, client = _clients(registry_for(pinned.registry, tracking_uri))
    if local is not None:
        steps.step(f"hashing {local}")
        actual = build_manifest(local)
    else:
        steps.step(f"reading {pinned.pinned_uri}")
        streamed = streamed_manifest(mlflow_client, pinned.model_name, pinned.version)
        if streamed is not None:  # hashed as it streamed from S3, nothing written to disk
            actual = streamed
        else:
            with downloaded_version(mlflow_client, pinned.model_name,
                                    pinned.version) as directory:
                steps.step(f"hashing {len(pinned.files)} files")
                actual = build_manifest(directory)
    mismatches = compare(pinned.files, actual)
    steps.step("checking the version's standing in the registry")
    standing = current_standing(pinned, client)
    if registry_key is not None:
        # a signature that does not vouch for these bytes always refuses (never a warning)
        standing.problems.extend(_summary_problems(
            pinned, {e.path: e.sha256 for e in actual.files}, registry_key,
            standing.identity_digest))
    alias_now = _alias_now(mlflow_client, pinned.model_name, pinned.alias)
    if alias_now is not None and alias_now != pinned.version:
        # Not a mismatch: these bytes are still approved. Worth knowing (e.g. after a rollback).
        click.echo(f"note: @{pinned.alias} now points to version {alias_now}, the manifest "
                   f"pins {pinned.version}", err=True)
    ok = not mismatches and not standing.problems and actual.digest == pinned.artifact_digest
    _emit({"verified": ok, "model": pinned.pinned_uri, "artifact_digest": actual.digest,
           "expected_digest": pinned.artifact_digest,
           "mismatches": [m.as_dict() for m in mismatches],
           "registry_problems": [{"where": p.where, "what": p.what} for p in standing.problems],
           "compliant": not standing.problems and not standing.warnings,
           "noncompliant_warnings": [{"where": p.where, "what": p.what}
                                     for p in standing.warnings],
           "policy_digest": standing.policy_digest,
           "alias": pinned.alias, "alias_version_now": alias_now})
    problems: list[Problem] = [m.problem() for m in mismatches] + standing.problems
    if standing.warnings:
        # The bytes are the approved ones, but the policy in force no longer allows them; the
        # policy (deployed.when_noncompliant: warn) lets the deployed version keep serving.
        click.echo(f"WARNING: {pinned.pinned_uri} is NOT compliant with the policy in force "
                   f"({standing.policy_digest}); deployed.when_noncompliant=warn keeps it:",
                   err=True)
        for problem in standing.warnings:
            click.echo(f"  - {problem.render()}", err=True)
    if ok:
        click.echo(f"verified: {pinned.pinned_uri}, {len(actual.files)} files, "
                   f"{actual.digest}", err=True)
        return ExitCode.OK
    click.echo(f"NOT verified: {pinned.pinned_uri}", err=True)
    for problem in problems:
        click.echo(f"  - {problem.render()}", err=True)
    return ExitCode.DENIED


def registry_for(manifest_registry: str, tracking_uri: str | None) -> str:
    """The registry ``deploy verify`` talks to: the caller's, else the manifest's if remote.

    A manifest may come from anywhere; the registry field it carries must never choose a local
    path (a ``sqlite:`` URI made MLflow create a database wherever the manifest said) nor a
    local store. Only an ``http(s)://`` server named by the manifest is used, and said so.

    Raises:
        EvidenceError: no ``--tracking-uri``/``$MLFLOW_TRACKING_URI`` and the manifest names
            a registry that is not an http(s) server.
    """
    if tracking_uri:
        return tracking_uri
    try:
        parts = urlsplit(manifest_registry)
        remote = parts.scheme.lower() in {"http", "https"} and bool(parts.hostname)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        remote = False
    if remote:
        click.echo(f"note: using the registry the manifest names, {manifest_registry} "
                   "(pass --tracking-uri to choose it yourself)", err=True)
        return manifest_registry
    raise EvidenceError("Refusing the manifest's registry", [Problem(
        "manifest: registry", f"{excerpt(manifest_registry)!r} is not an http(s) server; a "
        "manifest is never trusted to choose a local database or path",
        "pass --tracking-uri URL (or set MLFLOW_TRACKING_URI) for the registry to verify "
        "against")])
def _summary_problems(pinned: Any, files: dict[str, str], key_file: Path,
                      live_identity: str | None) -> list[Problem]:
    from mlflow_supplychain.deploy.summary_check import summary_problems
    from mlflow_supplychain.signing.registry_key import load_public_key

    return summary_problems(pinned, files, load_public_key(key_file.read_bytes()),
                            live_identity=live_identity)


def _alias_now(mlflow_client: Any, name: str, alias: str | None) -> str | None:
    from mlflow.exceptions import MlflowException

    if alias is None:
        return None
    try:
        return str(mlflow_client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None  # alias deleted: reported as None


@deploy.command()
@click.argument("name")
@click.option("--alias", required=True, help="The protected alias to move back.")
@_TRACKING
def rollback(name: str, alias: str, tracking_uri: str | None) -> ExitCode:
    """Move ALIAS to the rollback version recorded on the version it points to (gated)."""
    from mlflow_supplychain.deploy.rollback import rollback as do_rollback

    mlflow_client, _ = _clients(_need(tracking_uri))
    done = do_rollback(mlflow_client, name, alias)
    _emit(done.as_dict())
    click.echo(f"{name}@{alias}: version {done.from_version} -> {done.to_version}", err=True)
    return ExitCode.OK


@deploy.command()
def schema() -> ExitCode:
    """Print the deployment manifest's JSON Schema."""
    from mlflow_supplychain.deploy.manifest_schema import json_schema

    _emit(json_schema())
    return ExitCode.OK
