"""Connect to the governance tables and migrate them (Alembic, own version table).

Several server workers may start at once against one PostgreSQL database; the upgrade takes a
transaction-scoped advisory lock there so exactly one of them migrates.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from mlflow_supplychain.errors import Problem, RegistryError
from mlflow_supplychain.governance.tables import VERSION_TABLE

_MIGRATIONS = Path(__file__).with_name("migrations")
_ADVISORY_KEY = 0x5C_6F_7665  # arbitrary constant shared by every worker of this plugin


def _config(connection: Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def normalise_uri(db_uri: str) -> str:
    """Accept ``supplychain+<dialect>`` store URIs and psycopg 3 forms; return a SQLAlchemy URI."""
    uri = db_uri.removeprefix("supplychain+")
    if uri.startswith("postgres://"):
        uri = "postgresql://" + uri[len("postgres://"):]
    return uri


def create_engine(db_uri: str) -> Engine:
    """A SQLAlchemy engine for ``db_uri`` (pool pre-ping on, so dropped connections recover)."""
    return sqlalchemy.create_engine(normalise_uri(db_uri), pool_pre_ping=True, future=True)


def upgrade(engine: Engine) -> None:
    """Create or migrate the governance tables to the newest revision (idempotent).

    Raises:
        RegistryError: the database is unreachable or the migration failed.
    """
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sqlalchemy.text("SELECT pg_advisory_xact_lock(:k)"),
                             {"k": _ADVISORY_KEY})
            if current_revision(conn) != head_revision():
                command.upgrade(_config(conn), "head")
    except sqlalchemy.exc.SQLAlchemyError as exc:
        raise RegistryError("Could not migrate the governance tables", [Problem(
            engine.url.render_as_string(hide_password=True), str(exc.__class__.__name__),
            "check the database URI and that the database is reachable")]) from None


def current_revision(conn: Connection) -> str | None:
    """The governance schema revision recorded in the database, or None before the first run."""
    ctx = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
    return ctx.get_current_revision()


def head_revision() -> str | None:
    """The newest governance schema revision this code knows."""
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    return ScriptDirectory.from_config(cfg).get_current_head()
