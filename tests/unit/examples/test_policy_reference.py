"""The docs' policy reference page is generated from the schema and must be current."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "scripts" / "gen_policy_reference.py"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_policy_reference", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_policy_reference_page_is_current() -> None:
    gen = _generator()
    page = (REPO / "docs" / "admins" / "policy-reference.md").read_text(encoding="utf-8")
    assert gen.replace_block(page, gen.render()) == page, (
        "docs/admins/policy-reference.md is stale: run python scripts/gen_policy_reference.py")


def test_reference_names_every_policy_key() -> None:
    block = _generator().render()
    for key in ("mode", "profiles.<profile>.require", "identity.allow_unauthenticated",
                "licenses.require_conditions", "formats.pickle_allowlist"):
        assert f"| `{key}` |" in block


def test_check_mode_exits_zero() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "--check"], cwd=REPO,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
