"""CI proves the README's main command from the README's install alone (a fresh venv without
the test extra, which once hid a missing basic-auth dependency)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_ci_runs_the_quickstart_in_a_fresh_copy_and_fails_with_it() -> None:
    ci = (REPO / ".ci" / "run").read_text()
    assert re.search(r"^bash \.ci/quickstart .*&$", ci, re.MULTILINE)
    assert 'wait "$quickstart_pid"' in ci and "quickstart_rc" in ci
    proof = (REPO / ".ci" / "quickstart").read_text()
    assert proof.rstrip().endswith("bash scripts/quickstart.sh")
    assert "mktemp -d" in proof


def test_the_quickstart_installs_without_the_test_extra() -> None:
    script = (REPO / "scripts" / "quickstart.sh").read_text()
    installs = re.findall(r"pip install[^\n]*", script)
    assert installs and all("test" not in line for line in installs), installs
    assert "demo" in script
