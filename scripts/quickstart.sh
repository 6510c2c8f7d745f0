#!/usr/bin/env bash
# The main job on the embedded default: install into ./.venv, validate the example policy and
# run the gate on a compliant and a non-compliant version. Exits 0 only if both behave.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "Python 3.10+ is required")'
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e .
msc=.venv/bin/mlflow-supplychain

echo "== 1. Validate the example policy"
$msc policy validate examples/policy.yaml

echo "== 2. A fully evidenced version may be promoted to 'production' (exit 0)"
$msc gate check --evidence examples/evidence-compliant.json --target production \
  --policy examples/policy.yaml

echo "== 3. A version from a public hub, unscanned and unapproved, may not (exit 1)"
set +e
$msc gate check --evidence examples/evidence-missing.json --target production \
  --policy examples/policy.yaml
rc=$?
set -e
if [ "$rc" -ne 1 ]; then echo "expected exit 1 (denied), got $rc" >&2; exit 1; fi
echo "== quickstart finished: the gate allowed the compliant version and denied the other"
