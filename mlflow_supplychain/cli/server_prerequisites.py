"""What ``mlflow-supplychain server`` checks before it starts anything.

Each check fails with a one-line :class:`ServerSetupError` (exit 2) naming the fix: a missing
package names the extra that provides it, a busy port names the option to change. Without
these, the same mistakes surfaced as an ``ImportError`` inside MLflow's basic-auth app, a
50-line SQLAlchemy traceback, or a server that lingered and exited 0 on a port it never got.
"""

from __future__ import annotations

import errno
import importlib
import socket

from mlflow_supplychain.errors import SupplyChainError

_POSTGRES = "pip install 'mlflow-supplychain[postgres]'"
# The database drivers our registry-store entry points cover, by SQLAlchemy driver name: the
# module to import and how to install it.
_DRIVERS: dict[str, dict[str, tuple[str, str]]] = {
    "postgresql": {"psycopg": ("psycopg", _POSTGRES), "psycopg2": ("psycopg2", _POSTGRES)},
    "mysql": {"pymysql": ("pymysql", "pip install 'mlflow-supplychain[mysql]'"),
              "mysqldb": ("MySQLdb", "pip install mysqlclient")},
}


class ServerSetupError(SupplyChainError):
    """The server cannot be prepared (bad URI, missing package, busy port, data directory...)."""


def _importable(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def _default_driver(database: str) -> str:
    """The driver SQLAlchemy uses for ``<database>://`` (psycopg from SQLAlchemy 2.1 on)."""
    from sqlalchemy.dialects import registry

    return str(registry.load(database).driver)


def resolve_database_driver(uri: str, option: str = "--backend-store-uri") -> str:
    """``uri`` with a driver that is installed.

    A URI without a driver (``postgresql://``) keeps SQLAlchemy's default when it is
    installed, otherwise names the other supported driver that is (``postgresql+psycopg2://``).

    Raises:
        ServerSetupError: the named driver, or every supported one, is missing.
    """
    scheme, sep, rest = uri.partition("://")
    database, _, driver = scheme.partition("+")
    drivers = _DRIVERS.get(database)
    if not sep or drivers is None:
        return uri  # sqlite: in the standard library
    if driver:
        module, install = drivers.get(driver, (driver, f"pip install {driver}"))
        if not _importable(module):
            raise ServerSetupError(
                f"{option} {scheme}:// needs the {module} package: {install}")
        return uri
    default = _default_driver(database)
    order = [default, *(name for name in drivers if name != default)]
    for name in order:
        if name in drivers and _importable(drivers[name][0]):
            return uri if name == default else f"{database}+{name}://{rest}"
    module, install = drivers[default] if default in drivers else next(iter(drivers.values()))
    raise ServerSetupError(
        f"{option} {database}:// needs a database driver ({module}): {install}")


def require_basic_auth() -> None:
    """MLflow's basic-auth app needs Flask-WTF (``mlflow[auth]``), part of our default install.

    Raises:
        ServerSetupError: it is missing (an install that skipped dependencies, or a trimmed one).
    """
    if not _importable("flask_wtf"):
        raise ServerSetupError(
            "--auth needs MLflow's basic-auth packages (Flask-WTF is missing): "
            "pip install 'mlflow-supplychain[auth]'")


def require_free_port(host: str, port: int, option: str) -> None:
    """Fail at once when ``host:port`` cannot be bound (in use, or not an address of ours).

    Binds the way uvicorn and gunicorn do (``SO_REUSEADDR``), so a port in TIME_WAIT passes.

    Raises:
        ServerSetupError: the port is taken or the address cannot be bound.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ServerSetupError(f"{option}: cannot resolve {host!r} ({exc.strerror})") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            what = ("is already in use" if exc.errno == errno.EADDRINUSE
                    else f"cannot be bound ({exc.strerror})")
            raise ServerSetupError(
                f"{option} {port}: port {port} on {host} {what}; choose another {option}"
            ) from None


def require_queue_driver(queue_url: str | None) -> None:
    """The sidecar's Redis queue needs the ``redis`` package (the ``redis`` extra).

    Checked here because the sidecar is a child of the server: its own refusal would leave a
    server running without scans.

    Raises:
        ServerSetupError: a Redis queue is asked for and the package is missing.
    """
    if queue_url and queue_url.startswith(("redis://", "rediss://", "unix://")) \
            and not _importable("redis"):
        raise ServerSetupError("--queue redis:// needs the redis package: "
                               "pip install 'mlflow-supplychain[redis]'")
