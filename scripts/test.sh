#!/usr/bin/env bash
# Install everything the tests need into ./.venv, then run the whole suite.
# PostgreSQL tests run when MLFLOW_SUPPLYCHAIN_TEST_POSTGRES_URI is set
# (e.g. postgresql://postgres@127.0.0.1:5432/test) and are skipped, with the reason, otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "Python 3.10+ is required")'
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
# Two workers, each test file on one worker: most of the time is server start-ups and waits,
# not CPU, so this roughly halves the wall time on a 2-core machine.
exec .venv/bin/python -m pytest -n 2 --dist loadfile "$@"
