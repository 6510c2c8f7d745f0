#!/usr/bin/env bash
# The main job on the embedded default: install into ./.venv, then run the whole supply-chain
# story against a real governed MLflow server (SQLite, local artifacts, basic-auth, scan
# sidecar) in a temporary directory. Exits 0 only if every step behaved.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "Python 3.10+ is required")'
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[demo]'
exec .venv/bin/mlflow-supplychain demo "$@"
