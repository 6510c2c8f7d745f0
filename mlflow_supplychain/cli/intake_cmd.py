"""``mlflow-supplychain intake``: templates, validation, apply/show on the registry, import."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import click
import yaml

from mlflow_supplychain.cli.output import write_output
from mlflow_supplychain.errors import EvidenceError, ExitCode, Problem
from mlflow_supplychain.intake.fields import ArtifactClass
from mlflow_supplychain.intake.licenses import MODEL_LICENSES, license_terms, validate_license_id
from mlflow_supplychain.intake.record_files import load_record
from mlflow_supplychain.intake.records import IntakeRecord, record_json, record_to_fields
from mlflow_supplychain.intake.templates import render_template
from mlflow_supplychain.policy.loader import load_policy, parse_policy
from mlflow_supplychain.policy.schema import Policy

if TYPE_CHECKING:
    from mlflow import MlflowClient

CLASSES = click.Choice([c.value for c in ArtifactClass])
tracking_uri_option = click.option(
    "--tracking-uri", envvar="MLFLOW_TRACKING_URI", default=None,
    help="MLflow tracking server (default: $MLFLOW_TRACKING_URI).")


def _mlflow_client(tracking_uri: str | None) -> MlflowClient:
    from mlflow import MlflowClient  # imported here: commands that need no server stay fast

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def _starter_policy() -> Policy:
    text = resources.files("mlflow_supplychain.policy").joinpath("starter.yaml").read_text("utf-8")
    return parse_policy(text, source="starter policy")


def _record_yaml(record: IntakeRecord) -> str:
    data = json.loads(record_json(record))
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


@click.group()
def intake() -> None:
    """Write, check and apply intake records; import models from a hub, pinned."""


@intake.command()
@click.option("--class", "artifact_class", type=CLASSES, required=True, help="Artifact class.")
@click.option("--policy", "policy_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Mark the fields this policy requires (default: the starter policy).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write here instead of stdout (refuses to overwrite).")
def template(artifact_class: str, policy_file: Path | None, output: Path | None) -> ExitCode:
    """Print a commented YAML intake record for an artifact class."""
    loaded = load_policy(policy_file) if policy_file else _starter_policy()
    text = render_template(ArtifactClass(artifact_class), loaded)
    return write_output(text, output, error=EvidenceError,
                        next_step="fill it in, then: mlflow-supplychain intake validate")


@intake.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--policy", "policy_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Also check the record gives the gate every intake field this policy needs "
                   "(class fields, source_sha256, license, eval.ref) with values it accepts.")
@click.option("--target", default=None,
              help="The protected alias (or stage:NAME) to check for (default: every profile).")
def validate(file: Path, policy_file: Path | None, target: str | None) -> ExitCode:
    """Validate a record file. Exit 0 valid, 1 the policy's gate would refuse it, 2 invalid."""
    from mlflow_supplychain.policy.readiness import (
        profile_for,
        protected_targets,
        record_refusals,
    )

    record = load_record(file)
    if policy_file is None:
        if target is not None:
            raise click.UsageError("--target needs --policy")
    else:
        loaded = load_policy(policy_file)
        if target is not None and profile_for(loaded, target) is None:
            raise EvidenceError(f"--target {target!r} is not protected by {policy_file}", [
                Problem("--target", "no profile guards it", "name a protected alias, or "
                        "stage:NAME; protected: " + ", ".join(
                            [*loaded.protected.aliases,
                             *(f"stage:{s}" for s in loaded.protected.stages)]))])
        fields = record_to_fields(record)
        refused = [(t, v) for t in ([target] if target else protected_targets(loaded))
                   for v in record_refusals(loaded, t, fields)]
        if refused:
            click.echo(f"{file}: valid {record.artifact_class} record, but the gate would refuse "
                       "it:", err=True)
            for t, v in refused:
                click.echo(f"  - {t}: {v.code} [{v.field}]: {v.message} Fix: {v.remediation}",
                           err=True)
            return ExitCode.DENIED
    click.echo(f"{file}: valid {record.artifact_class} record", err=True)
    return ExitCode.OK


@intake.command()
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--only", "only", multiple=True,
              help="Declare only this file (a path relative to PATH; repeatable), e.g. the "
                   "weights, when other files are written again at log time.")
@click.option("--format", "fmt", type=click.Choice(["yaml", "tag"]), default="yaml",
              show_default=True,
              help="yaml: a source_sha256 block for a record file; tag: the JSON value of the "
                   "supplychain.intake.source_sha256 tag.")
def hashes(path: Path, only: tuple[str, ...], fmt: str) -> ExitCode:
    """Print source_sha256 for a model trained in-house: the sha256 of every file under PATH
    (the directory the training job saved, before it logs it). Exit 1 on symlinks."""
    from mlflow_supplychain.integrity.manifest import build_manifest

    manifest = build_manifest(path)  # refuses symlinks and special files (IntegrityError)
    files = {e.path: e.sha256 for e in manifest.files}
    unknown = [name for name in only if name not in files]
    if unknown:
        raise EvidenceError(f"--only names files that are not under {path}", [
            Problem("--only", ", ".join(unknown), "give paths relative to PATH: "
                    + ", ".join(sorted(files)[:10]))])
    declared = {name: files[name] for name in (only or sorted(files))}
    if fmt == "tag":
        click.echo(json.dumps(declared, sort_keys=True, separators=(",", ":")))
    else:
        click.echo("source_sha256:")
        click.echo("\n".join(f"  {json.dumps(name)}: \"{digest}\""
                              for name, digest in declared.items()))
    return ExitCode.OK


@intake.command()
@click.argument("run_id")
@click.option("--eval-run", "eval_run", default=None,
              help="Also list the data sets logged on this evaluation run (its eval.ref).")
@tracking_uri_option
def datasets(run_id: str, eval_run: str | None, tracking_uri: str | None) -> ExitCode:
    """Print a datasets block for a record from the data sets logged on RUN_ID (the training
    run, mlflow.log_input) and --eval-run. Licenses are left empty for you to fill in: a
    record with an empty license does not validate. Exit 2 if a run cannot be read."""
    from mlflow_supplychain.intake.dataset_links import LoggedDataset
    from mlflow_supplychain.intake.run_inputs import client_inputs, read_logged_inputs

    found = read_logged_inputs(client_inputs(_mlflow_client(tracking_uri)), run_id, eval_run)
    if not found.complete:
        raise EvidenceError("The logged data sets could not all be read", [Problem(
            f"run {run_id}" + (f" / {eval_run}" if eval_run else ""), "is not readable (or "
            "logged too many data sets)", "check the run ids and the tracking URI")])
    if not found.datasets:
        click.echo(f"run {run_id} logged no data sets (mlflow.log_input)", err=True)
        return ExitCode.OK

    def context(item: LoggedDataset) -> str:
        return "training" if item.trains else "evaluation"

    seen: set[tuple[str, str | None]] = set()
    lines = ["datasets:"]
    for item in found.datasets:
        if (item.name, item.digest) in seen:
            continue
        seen.add((item.name, item.digest))
        lines += [f"  - name: {json.dumps(item.name)}", f"    context: {context(item)}",
                  f"    digest: {json.dumps(item.digest or '')}",
                  "    license: ''   # fill in: SPDX expression or LicenseRef-<name>",
                  f"    # logged on {item.run_role} run {item.run_id}; add source: <URI>"]
    click.echo("\n".join(lines))
    return ExitCode.OK


@intake.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--name", required=True, help="Registered model name.")
@click.option("--version", required=True, help="Model version.")
@tracking_uri_option
def apply(file: Path, name: str, version: str, tracking_uri: str | None) -> ExitCode:
    """Validate FILE and write it as the version's supplychain.intake.* tags."""
    from mlflow_supplychain.intake.registry_io import apply_intake

    record = apply_intake(name, version, file, client=_mlflow_client(tracking_uri))
    click.echo(f"applied {file} to models:/{name}/{version} ({record.artifact_class})", err=True)
    return ExitCode.OK


@intake.command()
@click.option("--name", required=True, help="Registered model name.")
@click.option("--version", required=True, help="Model version.")
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml")
@tracking_uri_option
def show(name: str, version: str, fmt: str, tracking_uri: str | None) -> ExitCode:
    """Print the intake record stored on a version (exit 2 if it is missing or invalid)."""
    from mlflow_supplychain.intake.registry_io import show_intake

    record = show_intake(name, version, client=_mlflow_client(tracking_uri))
    click.echo(record_json(record) if fmt == "json" else _record_yaml(record), nl=fmt == "json")
    return ExitCode.OK


@intake.command(name="import")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--source-url", required=True, help="Hub repository URL (provenance only).")
@click.option("--revision", required=True, help="Full commit hash the files were downloaded at.")
@click.option("--name", required=True, help="Registered model name to create the version in.")
@click.option("--class", "artifact_class", type=CLASSES, required=True, help="Artifact class.")
@click.option("--expected-hashes", type=click.Path(dir_okay=False, path_type=Path),
              help="Declared hashes: JSON {path: sha256} or sha256sum output.")
@click.option("--record", "record_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Intake record with the rest of the facts (owner, license review...).")
@click.option("--owner", help="Owner, when no --record gives one.")
@click.option("--trusted-key", "trusted_keys", multiple=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="Publisher public key (PEM); the model's OMS signature must verify with one. "
              "Repeatable.")
@click.option("--trusted-certificate", "trusted_certificates", multiple=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="Publisher CA certificate chain (PEM: root, then any intermediates); the "
              "model's OMS signature may instead be made with a leaf certificate that chains "
              "to one and is valid now. Repeatable.")
@click.option("--signature", "signature_file",
              help="Path of the OMS signature inside DIRECTORY (default: model.sig).")
@click.option("--experiment", default="supplychain-imports", show_default=True,
              help="Experiment for the import run.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@tracking_uri_option
def import_(directory: Path, source_url: str, revision: str, name: str, artifact_class: str,
            expected_hashes: Path | None, record_file: Path | None, owner: str | None,
            trusted_keys: tuple[Path, ...], trusted_certificates: tuple[Path, ...],
            signature_file: str | None, experiment: str, fmt: str, tracking_uri: str | None) -> ExitCode:
    """Verify DIRECTORY against declared hashes and register it from MLflow's artifact store.

    Exit 0 imported, 1 a hash does not match or the publisher's signature does not verify
    (names the files), 2 bad input (e.g. a branch name as --revision).
    """
    from mlflow_supplychain.intake.mirror import (
        check_pinned_source,
        import_directory,
        parse_expected_hashes,
    )

    check_pinned_source(source_url, revision)  # before reading anything else
    expected = parse_expected_hashes(expected_hashes) if expected_hashes else None
    record = load_record(record_file) if record_file else None
    result = import_directory(directory, source_url=source_url, revision=revision, name=name,
                              artifact_class=ArtifactClass(artifact_class),
                              expected_hashes=expected, record=record, owner=owner,
                              experiment=experiment, client=_mlflow_client(tracking_uri),
                              trusted_keys=trusted_keys, signature_file=signature_file,
                              trusted_certificates=trusted_certificates)
    if fmt == "json":
        click.echo(json.dumps({"name": result.name, "version": result.version,
                               "run_id": result.run_id, "source": result.source,
                               "files": dict(result.files), "verified": list(result.verified),
                               "signature": None if result.signature is None else {
                                   "status": result.signature.status.value,
                                   "key": result.signature.key_fingerprint}},
                              indent=2))
    click.echo(f"imported {len(result.files)} file(s) ({len(result.verified)} verified against "
               f"declared hashes) as models:/{result.name}/{result.version}, source "
               f"{result.source}", err=True)
    return ExitCode.OK


@intake.command()
@click.argument("license_id", required=False)
def licenses(license_id: str | None) -> ExitCode:
    """List the named model licenses, or show what is known about LICENSE_ID."""
    if license_id is None:
        for key, model in sorted(MODEL_LICENSES.items()):
            click.echo(f"{key:24} {model.title}")
        return ExitCode.OK
    problem = validate_license_id(license_id)
    if problem is not None:
        raise EvidenceError(f"License {license_id!r} is invalid",
                            [Problem(license_id, problem, "")])
    terms = license_terms(license_id)

    def word(value: bool | None) -> str:
        return {True: "yes", False: "no", None: "unknown"}[value]

    click.echo(f"license:              {license_id}")
    click.echo(f"commercial use:       {word(terms.commercial_use)}")
    click.echo(f"redistribution:       {word(terms.redistribution)}")
    click.echo(f"derivatives:          {word(terms.derivatives)}")
    click.echo(f"field-of-use limits:  {word(terms.field_of_use_limits)}")
    click.echo(f"output limits:        {word(terms.output_limits)}")
    carried = ", ".join(sorted(terms.carried_by_derivatives)) or "none"
    click.echo(f"derivatives must keep: {carried}")
    for note in terms.notes:
        click.echo(f"  - {note}")
    return ExitCode.OK
