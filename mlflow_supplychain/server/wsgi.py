"""A ready-made WSGI app for ``mlflow server --waitress-opts ... --app-name supplychain-wsgi``.

MLflow 3.17 cannot start *factory* apps under waitress on Linux/macOS: it appends ``()`` to
the app path *and* passes ``--call`` (mlflow/server/__init__.py, ``_run_server``,
``use_factory_syntax``), which waitress rejects. This module builds the gated app at import
and exposes it as a plain object, so waitress (or any WSGI server) loads it directly. Use the
``supplychain`` factory under uvicorn (the default) and gunicorn.
"""

from __future__ import annotations

from mlflow_supplychain.server.app import create_app

app = create_app()
