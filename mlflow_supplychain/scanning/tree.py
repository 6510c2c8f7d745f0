"""List a directory tree for scanning: iteratively, without following links, to a depth limit.

``os.walk`` recurses on older Pythons (a tree 1,100 levels deep ends in RecursionError) and
needs an ``onerror`` hook to notice unreadable directories. This walk keeps its own stack,
reports symbolic links (to files or directories) as entries without following them, and
stops descending at ``max_depth``, naming the directories it did not enter so the caller can
turn the limit into a verdict.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Listing:
    """What the walk found under the root, relative POSIX paths, sorted."""

    entries: list[tuple[str, os.stat_result]]
    """Every non-directory entry (and every link to a directory) with its ``lstat``."""
    too_deep: list[str] = field(default_factory=list)
    """Directories at the depth limit whose content was not listed."""


def list_tree(root: Path, max_depth: int) -> Listing:
    """List ``root`` (a directory) down to ``max_depth`` levels.

    Raises:
        OSError: a directory cannot be read (``filename`` names it).
    """
    entries: list[tuple[str, os.stat_result]] = []
    too_deep: list[str] = []
    stack: list[tuple[str, int]] = [("", 0)]
    while stack:
        rel_dir, depth = stack.pop()
        directory = os.path.join(root, rel_dir) if rel_dir else os.fspath(root)
        try:
            with os.scandir(directory) as it:
                children = list(it)
        except OSError as exc:
            exc.filename = directory
            raise
        for child in children:
            rel = f"{rel_dir}/{child.name}" if rel_dir else child.name
            info = child.stat(follow_symlinks=False)
            if stat.S_ISDIR(info.st_mode):
                if depth + 1 >= max_depth:
                    too_deep.append(rel)
                else:
                    stack.append((rel, depth + 1))
            else:
                entries.append((rel, info))
    entries.sort(key=lambda e: e[0])
    return Listing(entries, sorted(too_deep))
