"""The manual (MkDocs, Material theme) builds in strict mode: a broken link or anchor fails CI.

The README's test command is what CI runs, so the site is checked here rather than in a separate
CI step. The second test shows the check can fail: the same configuration turns a broken link
and a broken anchor into a failed build.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _mkdocs() -> str:
    path = BIN / "mkdocs"
    if path.exists():
        return str(path)
    found = shutil.which("mkdocs")
    if found is None:
        pytest.fail("mkdocs is not installed; install the test extra: pip install -e '.[test]'")
    return found


def _build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # Material's banner is not our warning
    return subprocess.run([_mkdocs(), "build", "--strict", "--config-file", str(config),
                           "--site-dir", str(site)],
                          cwd=REPO, capture_output=True, text=True, check=False, env=env)


def test_site_builds_in_strict_mode(tmp_path: Path) -> None:
    done = _build(REPO / "mkdocs.yml", tmp_path / "site")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "WARNING" not in output, output
    # the generated policy reference and an included example really are in the site
    reference = (tmp_path / "site" / "admins" / "policy-reference" / "index.html").read_text()
    assert "identity.allow_unauthenticated" in reference
    policy_page = (tmp_path / "site" / "admins" / "policy" / "index.html").read_text()
    starter = (REPO / "examples" / "policy.yaml").read_text(encoding="utf-8")
    assert html.escape(starter.splitlines()[0], quote=False) in re.sub(r"<[^>]+>", "", policy_page)


def test_strict_build_fails_on_a_broken_link_or_anchor(tmp_path: Path) -> None:
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text(encoding="utf-8"))
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text("# Home\n\nSee [the other page](other.md#no-such-heading).\n")
    (docs / "other.md").write_text("# Other\n\nSee [a page that is not there](missing.md).\n")
    config.update(docs_dir=str(docs), nav=[{"Home": "index.md"}, {"Other": "other.md"}])
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(config))
    done = _build(tmp_path / "mkdocs.yml", tmp_path / "site")
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "no-such-heading" in output and "missing.md" in output, output
