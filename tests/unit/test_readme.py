"""The README is the front door: the two quick-start commands (CI runs the second), short, and
every link in it leads somewhere. What mirrors code lives in the manual (tests/unit/docs/)."""

from __future__ import annotations

import re

from tests.unit.docs.manual import REPO, nav

README = (REPO / "README.md").read_text(encoding="utf-8")


def test_ci_runs_exactly_the_readme_test_command() -> None:
    block = re.search(r"```bash\n(.*?)```", README, re.DOTALL)
    assert block, "README has no bash quick-start block"
    commands = [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]
    assert len(commands) == 2, commands
    test_command = commands[1]
    ci = (REPO / ".ci" / "run").read_text()
    assert re.search(rf"^{re.escape(test_command)}$", ci, re.MULTILINE), test_command


def test_readme_is_a_front_door_not_the_manual() -> None:
    lines = README.splitlines()
    assert len(lines) <= 250, f"README has {len(lines)} lines; the manual belongs in docs/"


def test_every_relative_link_in_the_readme_resolves() -> None:
    links = re.findall(r"\]\(([^)\s]+)\)", README)
    relative = [link for link in links if not re.match(r"[a-z]+:", link)]
    assert relative, "README links nowhere"
    broken = [link for link in relative if not (REPO / link.split("#")[0]).exists()]
    assert not broken, broken


def test_readme_links_into_every_section_of_the_manual() -> None:
    linked = set(re.findall(r"\]\(docs/([^)#\s]+)", README))
    sections = {path.split("/")[0] for path in nav().values() if "/" in path}
    assert sections <= {path.split("/")[0] for path in linked}, sections
    assert {"security-model.md", "troubleshooting.md", "performance.md"} <= linked
