"""Read the manual's pages (docs/, as listed in mkdocs.yml's nav) for the tests beside this."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[3]
DOCS = REPO / "docs"


def page(relative: str) -> str:
    """The Markdown text of one page, e.g. ``page("ci/rest-api.md")``."""
    return (DOCS / relative).read_text(encoding="utf-8")


def nav() -> dict[str, str]:
    """Every page in the site's navigation: title -> path under docs/."""
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text(encoding="utf-8"))
    found: dict[str, str] = {}

    def walk(items: list[Any]) -> None:
        for item in items:
            for title, target in item.items():
                if isinstance(target, list):
                    walk(target)
                else:
                    found[title] = target

    walk(config["nav"])
    return found


def published() -> Iterator[tuple[str, str]]:
    """(path, text) of every page the site publishes, and of the README."""
    yield "README.md", (REPO / "README.md").read_text(encoding="utf-8")
    for relative in nav().values():
        yield relative, page(relative)


def section(text: str, heading: str) -> str:
    """The body of the Markdown section whose heading starts with ``heading``."""
    level = len(heading) - len(heading.lstrip("#"))
    match = re.search(rf"^{re.escape(heading)}.*?\n(.*?)(?=^#{{1,{level}}} |\Z)", text,
                      re.DOTALL | re.MULTILINE)
    assert match, f"no section {heading!r}"
    return match.group(1)
