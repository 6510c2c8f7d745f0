"""Walk an artifact directory without recursion and without leaving it through a link.

:func:`walk_tree` lists every regular file under a root with the identity (device, inode) it
had when the walk found it. Readers open files by path and must check that identity
(:mod:`mlflow_supplychain.integrity.hashing` does): a directory swapped for a symlink after the
walk then leads to a different inode and is refused, so nothing outside the tree is ever read.

* Each directory is opened ``O_DIRECTORY | O_NOFOLLOW`` and its identity checked against what
  its parent listed, then listed through that descriptor (``fstatat``, no path lookup).
* The walk is a loop over an explicit stack, at most :data:`MAX_DEPTH` directories deep: a tree
  1,100 levels deep used to end in ``RecursionError`` (``os.walk`` recurses).
* Symbolic links and special files (FIFO, socket, device) are reported in
  :attr:`Tree.refused`, never opened. With ``follow_symlinks=True`` a link is followed only when
  its target resolves inside the root (and directory cycles are refused).
* A directory that cannot be listed is an error (exit 2), never silently skipped.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field

from mlflow_supplychain.errors import PATH_CHARS, ArtifactReadError, Problem, excerpt
from mlflow_supplychain.integrity.hashing import Identity
from mlflow_supplychain.regular_files import file_kind

MAX_DEPTH = 128
"""Deepest directory nesting walked (model repositories nest fewer than 10 levels)."""

MAX_ENTRIES = 1_000_000
"""Most directory entries walked: links to directories can multiply a small tree."""

_DIR_FLAGS = (os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
              | getattr(os, "O_NONBLOCK", 0))


@dataclass(frozen=True)
class TreeFile:
    """A regular file found by the walk."""

    rel: str
    """Relative POSIX path under the root."""
    path: str
    """Path to open it by (under the root; a link's own path when links are followed)."""
    identity: Identity
    size: int


@dataclass(frozen=True)
class Refusal:
    """An entry the walk would not take: a symlink or a special file."""

    rel: str
    path: str
    what: str
    """"is a symbolic link", "is a FIFO (named pipe)", "points outside the tree"..."""
    symlink: bool


@dataclass
class Tree:
    """What :func:`walk_tree` found."""

    files: list[TreeFile] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)


def identity_of(info: os.stat_result) -> Identity:
    return (info.st_dev, info.st_ino)


def walk_tree(root: str | os.PathLike[str], *, follow_symlinks: bool = False,
              skip_top: frozenset[str] = frozenset(), max_depth: int = MAX_DEPTH,
              max_entries: int = MAX_ENTRIES) -> Tree:
    """Every regular file under directory ``root``, sorted by relative path.

    ``skip_top`` names entries of the root itself that are not walked (``.git``).

    Raises:
        ArtifactReadError: ``root`` or a directory under it cannot be opened or listed, was
            replaced while being walked, nests deeper than ``max_depth``, holds more than
            ``max_entries`` entries, or (following links) forms a cycle.
    """
    top = os.fspath(root)
    real_root = os.path.realpath(top)
    tree = Tree()
    try:
        start = os.stat(top)
    except (OSError, ValueError) as exc:
        raise _unreadable(top, exc) from None
    if not stat.S_ISDIR(start.st_mode):
        raise ArtifactReadError(f"Cannot read the tree {top}", [Problem(
            top, f"is {file_kind(start.st_mode)}, not a directory", "pass a directory")])
    # (path, relative POSIX path ("" for the root), depth, identities from the root down to
    # it, whether its last component is a link to follow); the root is what the caller named,
    # so it may be a link. Relative paths are plain strings joined with "/" (a name from a
    # listing never holds one): a PurePosixPath per file cost 5 us, a tenth of hashing a small
    # file (#19).
    stack: list[tuple[str, str, int, tuple[Identity, ...], bool]] = [
        (top, "", 0, (identity_of(start),), True)]
    entries = 0
    while stack:
        directory, rel, depth, ancestors, is_link = stack.pop()
        if depth > max_depth:
            raise ArtifactReadError(f"Cannot read the tree {top}", [Problem(
                directory, f"is nested more than {max_depth} directories deep (the limit)",
                "flatten the directory tree; no model needs this depth")])
        listing = _list(directory, ancestors[-1], nofollow=not is_link)
        entries += len(listing)
        if entries > max_entries:
            raise ArtifactReadError(f"Cannot read the tree {top}", [Problem(
                directory, f"brings the tree past {max_entries} entries (the limit)",
                "hash fewer files at once" if not follow_symlinks
                else "links to directories multiply the tree; hash without following links")])
        prefix = f"{rel}/" if depth else ""
        for name, lstat in listing:
            info = lstat
            if not depth and name in skip_top:
                continue
            child = os.path.join(directory, name)
            child_rel = prefix + name
            if stat.S_ISLNK(info.st_mode):
                if not follow_symlinks:
                    tree.refused.append(Refusal(child_rel, child, "is a symbolic link",
                                                symlink=True))
                    continue
                target = _inside(child, real_root)
                if target is None:
                    tree.refused.append(Refusal(child_rel, child,
                                                "is a symbolic link pointing outside the tree "
                                                "(or nowhere)",
                                                symlink=True))
                    continue
                info = target
            if stat.S_ISDIR(info.st_mode):
                ident = identity_of(info)
                if ident in ancestors:
                    raise ArtifactReadError(f"Cannot read the tree {top}", [Problem(
                        child, "is a directory cycle (a link to an ancestor)",
                        "remove the link")])
                stack.append((child, child_rel, depth + 1, (*ancestors, ident),
                              stat.S_ISLNK(lstat.st_mode)))
            elif stat.S_ISREG(info.st_mode):
                tree.files.append(TreeFile(child_rel, child, identity_of(info), info.st_size))
            else:
                tree.refused.append(Refusal(child_rel, child, f"is {file_kind(info.st_mode)}",
                                            symlink=False))
    tree.files.sort(key=lambda f: f.rel)
    return tree


def _list(directory: str, expected: Identity, *,
          nofollow: bool) -> list[tuple[str, os.stat_result]]:
    """``(name, lstat)`` of each entry of ``directory``, which must still be ``expected``."""
    flags = _DIR_FLAGS | (getattr(os, "O_NOFOLLOW", 0) if nofollow else 0)
    try:
        fd = os.open(directory, flags)
    except OSError as exc:
        raise _unreadable(directory, exc) from None
    try:
        if identity_of(os.fstat(fd)) != expected:
            raise ArtifactReadError(f"Cannot read the tree at {directory}", [Problem(
                directory, "was replaced while the tree was read",
                "hash a tree nobody is changing")])
        with os.scandir(fd) as listing:
            names = [e.name for e in listing]
        return [(name, os.stat(name, dir_fd=fd, follow_symlinks=False)) for name in names]
    except OSError as exc:
        raise _unreadable(directory, exc) from None
    finally:
        os.close(fd)


def _inside(link: str, real_root: str) -> os.stat_result | None:
    """The stat of ``link``'s target when it resolves inside ``real_root``, else None."""
    target = os.path.realpath(link)
    if os.path.commonpath([target, real_root]) != real_root:
        return None
    try:
        return os.stat(target, follow_symlinks=False)
    except OSError:
        return None


def _unreadable(where: str, exc: OSError | ValueError) -> ArtifactReadError:
    reason = (exc.strerror if isinstance(exc, OSError) else None) or "not a valid path"
    return ArtifactReadError(f"Cannot read {excerpt(where, PATH_CHARS)}", [Problem(
        excerpt(where, PATH_CHARS), reason,
        "check permissions: every directory and file of the artifact must be readable")])
