"""``mlflow-supplychain audit`` and ``db``: verify/export the audit log, migrate our tables.

These talk to the MLflow database directly (read-only for ``audit``), so an auditor can check
the chain without going through the server whose behaviour is being audited.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

import click
import sqlalchemy
from sqlalchemy.engine import Connection

from mlflow_supplychain.errors import ExitCode, Problem, RegistryError
from mlflow_supplychain.governance import audit as audit_log
from mlflow_supplychain.governance import db

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


@audit.command()
@_DB_URI
def verify(db_uri: str) -> ExitCode:
    """Check every record links to the previous one. Exit 0 intact, 1 tampered, 2 error."""
    with _connect(db_uri) as conn:
        report = audit_log.verify(conn)
    if report.ok:
        click.echo(f"audit log intact: {report.records} record(s)", err=True)
        return ExitCode.OK
    click.echo(f"audit log TAMPERED at record {report.first_bad_seq}: {report.reason}", err=True)
    return ExitCode.DENIED


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
