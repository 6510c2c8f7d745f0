"""The canonical manifest of an artifact: every file's relative POSIX path, size and sha256.

The manifest digest is ``digest_of`` (canonical JSON, see :mod:`mlflow_supplychain.digests`)
over the list of entries sorted by path, each entry ``{"path", "size", "sha256"}``. It binds
an approval to exact bytes: adding, removing, renaming or changing any file changes it.

Symbolic links are refused by default (a link can be re-pointed after review); with
``follow_symlinks=True`` a link whose target resolves inside the tree is recorded under its own
path with its target's bytes, a link out of the tree is refused, and directory cycles are
refused. Anything that is neither a regular file nor a directory
(FIFO, socket, device) is always refused.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

from mlflow_supplychain.digests import digest_of
from mlflow_supplychain.errors import ArtifactReadError, IntegrityError, Problem
from mlflow_supplychain.integrity.hashing import hash_files
from mlflow_supplychain.integrity.tree import TreeFile, identity_of, walk_tree


@dataclass(frozen=True)
class ManifestEntry:
    """One file of the artifact."""

    path: str
    """Relative POSIX path (the file name when the manifest is of a single file)."""
    size: int
    sha256: str
    """Lowercase hex sha256 of the file's bytes."""

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "sha256": self.sha256}


@dataclass(frozen=True)
class Manifest:
    """Canonical, sorted list of entries and its ``sha256:`` digest."""

    files: tuple[ManifestEntry, ...]
    digest: str

    @classmethod
    def from_entries(cls, entries: list[ManifestEntry] | tuple[ManifestEntry, ...]) -> Manifest:
        """Sort ``entries`` by path and compute the digest.

        Raises:
            IntegrityError: two entries share a path.
        """
        ordered = tuple(sorted(entries, key=lambda e: e.path))
        for first, second in pairwise(ordered):
            if first.path == second.path:
                raise IntegrityError("Manifest has duplicate paths", [Problem(
                    first.path, "appears twice", "each file may appear once")])
        return cls(ordered, digest_of([e.as_dict() for e in ordered]))

    @property
    def total_size(self) -> int:
        return sum(e.size for e in self.files)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``{"digest", "files": [{"path", "size", "sha256"}, ...]}``."""
        return {"digest": self.digest, "files": [e.as_dict() for e in self.files]}


def build_manifest(path: str | os.PathLike[str], *, follow_symlinks: bool = False,
                   workers: int | None = None,
                   progress: Callable[[int, int, str], None] | None = None) -> Manifest:
    """Hash the file or directory tree at ``path`` into a :class:`Manifest`.

    ``progress(bytes done, bytes total, last file)`` is called as files finish. The tree is
    walked by :func:`~mlflow_supplychain.integrity.tree.walk_tree` (no recursion, never out of
    the tree through a link, at most 128 directories deep).

    Raises:
        IntegrityError: a symlink is found while ``follow_symlinks`` is false (or, following,
            one that points outside the tree), or a FIFO, socket or device (exit 1).
        ArtifactReadError: (an :class:`IntegrityError`, exit 2) ``path`` is missing, a file or
            directory is unreadable, nests too deep, forms a cycle, or changed while read.
    """
    root = Path(path)
    try:
        info = os.stat(root, follow_symlinks=follow_symlinks)
    except (OSError, ValueError) as exc:
        reason = (exc.strerror if isinstance(exc, OSError) else None) or "not a valid path"
        raise ArtifactReadError(f"Cannot build a manifest of {root}", [Problem(
            str(root), reason, "check the path")]) from None
    if stat.S_ISLNK(info.st_mode):
        raise _symlink(str(root))
    if stat.S_ISREG(info.st_mode):
        found = [TreeFile(root.name, str(root), identity_of(info), info.st_size)]
    elif stat.S_ISDIR(info.st_mode):
        tree = walk_tree(root, follow_symlinks=follow_symlinks)
        if tree.refused:
            first = tree.refused[0]
            raise (_symlink(first.path, first.what) if first.symlink else _special(first.path))
        found = tree.files
    else:
        raise _special(str(root))
    by_abs = {f.path: f.rel for f in found}
    total = sum(f.size for f in found)
    entries = []
    done = 0
    for abs_path, digest in hash_files(by_abs, workers=workers, follow_symlinks=follow_symlinks,
                                       identities={f.path: f.identity for f in found}):
        entries.append(ManifestEntry(by_abs[abs_path], digest.size, digest.sha256))
        if progress is not None:
            done += digest.size
            progress(done, total, by_abs[abs_path])
    return Manifest.from_entries(entries)


def _symlink(where: str, what: str = "is a symbolic link") -> IntegrityError:
    return IntegrityError("Symbolic links are refused in artifacts", [Problem(
        where, what, "replace the link with the file it points to, or pass "
        "follow_symlinks=True when links are expected")])


def _special(where: str) -> IntegrityError:
    return IntegrityError("Only regular files and directories can be hashed", [Problem(
        where, "is a FIFO, socket or device", "remove it from the artifact")])
