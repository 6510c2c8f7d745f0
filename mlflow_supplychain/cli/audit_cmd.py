"""``mlflow-supplychain audit`` and ``db``: verify/export the audit log, migrate our tables.

These talk to the MLflow database directly (read-only for ``audit``), so an auditor can check
the chain without going through the server whose behaviour is being audited.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
import sqlalchemy
from sqlalchemy.engine import Connection

from mlflow_supplychain.cli.output import write_output
from mlflow_supplychain.errors import (
    CheckpointError,
    ExitCode,
    IntegrityError,
    Problem,
    RegistryError,
)
from mlflow_supplychain.governance import audit as audit_log
from mlflow_supplychain.governance import checkpoint as checkpoints_mod
from mlflow_supplychain.governance import db
from mlflow_supplychain.integrity.attest import (
    PUBLIC_KEY_ENV_VAR,
    load_private_key,
    load_public_key,
)

_DB_URI = click.option(
    "--db-uri", envvar="MLFLOW_SUPPLYCHAIN_DB_URI", required=True,
    help="The MLflow backend database (sqlite:///..., postgresql://...); "
         "env MLFLOW_SUPPLYCHAIN_DB_URI.")


@contextmanager
def _connect(db_uri: str) -> Iterator[Connection]:
    """A connection to the MLflow database; database failures become RegistryError."""
    engine = db.create_engine(db_uri)
    try:
        with engine.connect() as conn:
            yield conn
    except sqlalchemy.exc.SQLAlchemyError as exc:
        raise RegistryError("Could not read the audit log", [Problem(
            engine.url.render_as_string(hide_password=True), type(exc).__name__,
            "check --db-uri, that the database is reachable, and run 'db upgrade' once")]) from None
    finally:
        engine.dispose()


@click.group()
def audit() -> None:
    """Verify and export the hash-chained audit log."""


_PUBLIC_KEY = click.option(
    "--public-key", type=click.Path(dir_okay=False, path_type=Path), envvar=PUBLIC_KEY_ENV_VAR,
    help=f"Ed25519 public key that checks checkpoint signatures (env {PUBLIC_KEY_ENV_VAR}).")


@audit.command()
@_DB_URI
@click.option("--checkpoint", "checkpoints", multiple=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="A signed checkpoint from 'audit checkpoint' (repeatable): the chain must "
                   "still hold its record unchanged, which catches records cut from the end.")
@_PUBLIC_KEY
def verify(db_uri: str, checkpoints: tuple[Path, ...], public_key: Path | None) -> ExitCode:
    """Check every record links to the previous one (and to each signed checkpoint).
    Exit 0 intact, 1 tampered, 2 error."""
    loaded = [_read_checkpoint(path) for path in checkpoints]
    key = _public_key(public_key) if loaded else None
    with _connect(db_uri) as conn:
        report = audit_log.verify(conn)
        if not report.ok:
            click.echo(f"audit log TAMPERED at record {report.first_bad_seq}: {report.reason}",
                       err=True)
            return ExitCode.DENIED
        assert key is not None or not loaded
        problems = [(path, audit_log.checkpoint_problem(conn, cp, key))  # type: ignore[arg-type]
                    for path, cp in zip(checkpoints, loaded, strict=True)]
    broken = [(path, why) for path, why in problems if why is not None]
    for path, why in broken:
        click.echo(f"audit log TAMPERED (checkpoint {path}): {why}", err=True)
    if broken:
        return ExitCode.DENIED
    extra = f", {len(loaded)} signed checkpoint(s) hold" if loaded else ""
    click.echo(f"audit log intact: {report.records} record(s){extra}", err=True)
    return ExitCode.OK


def _read_checkpoint(path: Path) -> checkpoints_mod.Checkpoint:
    try:
        with path.open("rb") as handle:
            raw = handle.read(checkpoints_mod.MAX_FILE + 1)
    except OSError as exc:
        raise CheckpointError("Cannot read the checkpoint", [Problem(
            str(path), exc.strerror or type(exc).__name__, "check the path")]) from None
    return checkpoints_mod.parse(raw.decode("utf-8", "replace"), str(path))


def _public_key(path: Path | None) -> Any:
    if path is None:
        raise CheckpointError("No public key to check the checkpoint with", [Problem(
            "--public-key", "is not given", "pass the server's verify key "
            f"(attestation-signing.pub in the data directory) or set {PUBLIC_KEY_ENV_VAR}")])
    try:
        return load_public_key(path)
    except IntegrityError as exc:
        raise CheckpointError(str(exc), exc.problems) from None


@audit.command()
@_DB_URI
@click.option("--key", "key_path", required=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="Ed25519 private key to sign with (the data directory's "
                   "attestation-signing.key).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write here instead of stdout (refuses to overwrite).")
def checkpoint(db_uri: str, key_path: Path, output: Path | None) -> ExitCode:
    """Sign the current chain head. Keep the output where database writers cannot reach (a CI
    artifact, a write-once bucket); 'audit verify --checkpoint FILE' then catches records cut
    from the end. Exit 0 written, 1 the chain is already broken (nothing signed), 2 error."""
    key = load_private_key(key_path)
    with _connect(db_uri) as conn:
        report = audit_log.verify(conn)
        stored = audit_log.head(conn)
    if not report.ok or stored is None:
        click.echo(f"audit log TAMPERED at record {report.first_bad_seq}: {report.reason}; "
                   "not signing a checkpoint of it", err=True)
        return ExitCode.DENIED
    signed = checkpoints_mod.make(stored[0], stored[1], key)
    click.echo(f"checkpoint of record {signed.seq} ({signed.hash})", err=True)
    return write_output(signed.to_json() + "\n", output, error=IntegrityError,
                        next_step="keep it out of the database writers' reach; verify with "
                                  "'mlflow-supplychain audit verify --checkpoint'")


def _parse_since(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("use an ISO date or time, e.g. 2026-01-31 or "
                                 "2026-01-31T12:00:00+00:00", param_hint="--since") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return int(moment.timestamp() * 1000)


@audit.command()
@_DB_URI
@click.option("--since", help="Only records at or after this ISO date/time (UTC if no zone).")
@click.option("--format", "fmt", type=click.Choice(["jsonl"]), default="jsonl")
def export(db_uri: str, since: str | None, fmt: str) -> ExitCode:
    """Write the audit records as JSON lines on stdout."""
    since_ms = _parse_since(since)
    with _connect(db_uri) as conn:
        for line in audit_log.export_jsonl(conn, since_ms=since_ms):
            click.echo(line)
    return ExitCode.OK


@click.group(name="db")
def database() -> None:
    """Manage mlflow-supplychain's own tables in the MLflow database."""


@database.command()
@_DB_URI
def upgrade(db_uri: str) -> ExitCode:
    """Create or migrate the governance tables (idempotent; MLflow's tables are untouched)."""
    engine = db.create_engine(db_uri)
    try:
        db.upgrade(engine)
    finally:
        engine.dispose()
    click.echo(f"governance tables at revision {db.head_revision()}", err=True)
    return ExitCode.OK
