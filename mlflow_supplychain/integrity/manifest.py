"""The canonical manifest of an artifact: every file's relative POSIX path, size and sha256.

The manifest digest is ``digest_of`` (canonical JSON, see :mod:`mlflow_supplychain.digests`)
over the list of entries sorted by path, each entry ``{"path", "size", "sha256"}``. It binds
an approval to exact bytes: adding, removing, renaming or changing any file changes it.

Symbolic links are refused by default (a link can be re-pointed after review); with
``follow_symlinks=True`` a link is recorded under its own path with its target's bytes, and
directory cycles are refused. Anything that is neither a regular file nor a directory
(FIFO, socket, device) is always refused.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path, PurePosixPath
from typing import Any

from mlflow_supplychain.digests import digest_of
from mlflow_supplychain.errors import IntegrityError, Problem
from mlflow_supplychain.integrity.hashing import hash_files


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

    ``progress(bytes done, bytes total, last file)`` is called as files finish.

    Raises:
        IntegrityError: ``path`` is missing or unreadable, a symlink is found while
            ``follow_symlinks`` is false, a special file or a directory cycle is found.
    """
    root = Path(path)
    try:
        info = os.stat(root, follow_symlinks=follow_symlinks)
    except OSError as exc:
        raise IntegrityError(f"Cannot build a manifest of {root}", [Problem(
            str(root), exc.strerror or str(exc), "check the path")]) from None
    if stat.S_ISLNK(info.st_mode):
        raise _symlink(str(root))
    if stat.S_ISREG(info.st_mode):
        files = {root.name: str(root)}
    elif stat.S_ISDIR(info.st_mode):
        files = _walk(root, follow_symlinks=follow_symlinks)
    else:
        raise _special(str(root))
    by_abs = {abs_path: rel for rel, abs_path in files.items()}
    total = _total_size(by_abs, follow_symlinks) if progress is not None else 0
    entries = []
    done = 0
    for abs_path, digest in hash_files(by_abs, workers=workers, follow_symlinks=follow_symlinks):
        entries.append(ManifestEntry(by_abs[abs_path], digest.size, digest.sha256))
        if progress is not None:
            done += digest.size
            progress(done, total, by_abs[abs_path])
    return Manifest.from_entries(entries)


def _total_size(paths: dict[str, str], follow_symlinks: bool) -> int:
    total = 0
    for path in paths:
        try:
            total += os.stat(path, follow_symlinks=follow_symlinks).st_size
        except OSError:
            pass  # hash_files reports it
    return total


def _walk(root: Path, *, follow_symlinks: bool) -> dict[str, str]:
    """Relative POSIX path -> absolute path of every regular file under ``root``."""
    found: dict[str, str] = {}
    seen_dirs: set[tuple[int, int]] = set()
    stack: list[tuple[str, PurePosixPath]] = [(str(root), PurePosixPath())]
    while stack:
        directory, rel = stack.pop()
        info = os.stat(directory)
        key = (info.st_dev, info.st_ino)
        if key in seen_dirs:
            raise IntegrityError(f"Cannot build a manifest of {root}", [Problem(
                directory, "is a directory cycle (a link to an ancestor)", "remove the link")])
        seen_dirs.add(key)
        try:
            entries = list(os.scandir(directory))
        except OSError as exc:
            raise IntegrityError(f"Cannot build a manifest of {root}", [Problem(
                directory, exc.strerror or str(exc), "check permissions")]) from None
        for entry in entries:
            child_rel = rel / entry.name
            if entry.is_symlink() and not follow_symlinks:
                raise _symlink(entry.path)
            try:
                if entry.is_dir(follow_symlinks=follow_symlinks):
                    stack.append((entry.path, child_rel))
                elif entry.is_file(follow_symlinks=follow_symlinks):
                    found[child_rel.as_posix()] = entry.path
                else:
                    raise _special(entry.path)
            except OSError as exc:
                raise IntegrityError(f"Cannot build a manifest of {root}", [Problem(
                    entry.path, exc.strerror or str(exc), "fix or remove the entry")]) from None
    return found


def _symlink(where: str) -> IntegrityError:
    return IntegrityError("Symbolic links are refused in artifacts", [Problem(
        where, "is a symbolic link", "replace the link with the file it points to, or pass "
        "follow_symlinks=True when links are expected")])


def _special(where: str) -> IntegrityError:
    return IntegrityError("Only regular files and directories can be hashed", [Problem(
        where, "is a FIFO, socket or device", "remove it from the artifact")])
