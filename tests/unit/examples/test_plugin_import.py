"""Projects that install us but never use the fixtures must not pay for MLflow."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_pytest_plugin_imports_no_mlflow() -> None:
    code = ("import sys, mlflow_supplychain.testing.pytest_plugin; "
            "print(sorted(m for m in ('mlflow', 'sqlalchemy', 'psycopg2') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]", done.stdout
