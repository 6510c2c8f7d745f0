"""Connect to the governance tables and migrate them (Alembic, own version table).

Several server workers may start at once against one database; the upgrade takes a lock so
exactly one of them migrates: a transaction-scoped advisory lock on PostgreSQL, a named lock
(``GET_LOCK``) on MySQL/MariaDB, where DDL commits implicitly, so no transaction could hold it.
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
_MYSQL_LOCK = "mlflow_supplychain_migrate"
_MYSQL_LOCK_SECONDS = 120


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
            if conn.dialect.name == "mysql":
                _upgrade_under_mysql_lock(engine, conn)
            elif current_revision(conn) != head_revision():
                command.upgrade(_config(conn), "head")
    except sqlalchemy.exc.SQLAlchemyError as exc:
        raise RegistryError("Could not migrate the governance tables", [Problem(
            engine.url.render_as_string(hide_password=True), str(exc.__class__.__name__),
            "check the database URI and that the database is reachable")]) from None


def _upgrade_under_mysql_lock(engine: Engine, conn: Connection) -> None:
    """Migrate while holding a MySQL named lock (session-scoped: released explicitly).

    Raises:
        RegistryError: another process held the lock for longer than the wait.
    """
    got = conn.execute(sqlalchemy.text("SELECT GET_LOCK(:n, :s)"),
                       {"n": _MYSQL_LOCK, "s": _MYSQL_LOCK_SECONDS}).scalar()
    if got != 1:
        raise RegistryError("Could not migrate the governance tables", [Problem(
            engine.url.render_as_string(hide_password=True),
            f"another process held the migration lock for over {_MYSQL_LOCK_SECONDS} s",
            "wait for the other server to finish starting, then start this one again")])
    try:
        if current_revision(conn) != head_revision():
            command.upgrade(_config(conn), "head")
    finally:
        conn.execute(sqlalchemy.text("SELECT RELEASE_LOCK(:n)"), {"n": _MYSQL_LOCK})


def current_revision(conn: Connection) -> str | None:
    """The governance schema revision recorded in the database, or None before the first run."""
    ctx = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
    return ctx.get_current_revision()


def head_revision() -> str | None:
    """The newest governance schema revision this code knows."""
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    return ScriptDirectory.from_config(cfg).get_current_head()
