"""Which objects under an object-store prefix make up an artifact, and under which paths. Pure.

The streamed re-hash (:mod:`mlflow_supplychain.integrity.streaming`) must give the digest
:func:`~mlflow_supplychain.integrity.manifest.build_manifest` gives for the same artifact
downloaded to disk by MLflow's S3 repository, so the rules follow what that download makes of
the keys:

* a key ``<prefix>/<rel>`` is the file ``<rel>``; a key equal to the prefix itself (nothing
  under it) is a single-file artifact named after the key's last segment;
* a zero-byte key ending in ``/`` is a directory marker (MLflow skips it, so do we: directories
  are not manifest entries);
* refused, never guessed at (the local tree could not hold them, or they would land elsewhere):
  an empty, ``.`` or ``..`` path segment (``a//b``, ``a/./b``, ``a/../b``), a non-empty key
  ending in ``/``, a path that is both a file and a directory (``a`` and ``a/b``), a NUL byte,
  and more than :data:`MAX_OBJECTS` objects or deeper than :data:`MAX_DEPTH`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from mlflow_supplychain.errors import PATH_CHARS, ArtifactReadError, Problem, excerpt
from mlflow_supplychain.integrity.tree import MAX_DEPTH, MAX_ENTRIES

MAX_OBJECTS = MAX_ENTRIES
"""Most objects in one artifact (the directory walk's entry limit)."""


@dataclass(frozen=True)
class RemoteObject:
    """One object of the artifact, as the listing described it."""

    key: str
    """The full key in the bucket."""
    rel: str
    """Its manifest path (relative POSIX path under the prefix)."""
    size: int
    etag: str
    """The listing's ETag: every read of the object must still match it (``If-Match``)."""


def objects_under(prefix: str, listing: Iterable[tuple[str, int, str]], *,
                  where: str) -> list[RemoteObject]:
    """The artifact's objects from a listing of ``(key, size, etag)`` under ``prefix``.

    ``prefix`` is the artifact's key without a trailing ``/`` (empty for a whole bucket);
    ``where`` names the location in messages (``s3://bucket/prefix``).

    Raises:
        ArtifactReadError: a key breaks a rule above, or nothing is there.
    """
    base = prefix.rstrip("/")
    found: list[RemoteObject] = []
    for key, size, etag in listing:
        if len(found) >= MAX_OBJECTS:
            raise _refused(where, where, f"holds more than {MAX_OBJECTS} objects (the limit)",
                           "re-verify a smaller artifact")
        if base and key == base:
            rel = base.rsplit("/", 1)[-1]
        elif not base or key.startswith(base + "/"):
            rel = key[len(base) + 1:] if base else key
        else:
            continue  # a sibling sharing the prefix's characters (``model2`` next to ``model``)
        if size == 0 and key.endswith("/"):
            continue
        _check_path(rel, key, where)
        found.append(RemoteObject(key, rel, size, etag))
    if not found:
        raise ArtifactReadError(f"Nothing to re-hash at {excerpt(where, PATH_CHARS)}", [Problem(
            excerpt(where, PATH_CHARS), "holds no object",
            "check the version's storage location; its artifacts may have been deleted")])
    _check_no_file_is_a_directory(found, where)
    if any(o.key == base for o in found) and len(found) > 1:
        raise _refused(where, base, "is both a file and a directory",
                       "an object store cannot hold this as a model; remove one of them")
    found.sort(key=lambda o: o.rel)
    return found


def _check_path(rel: str, key: str, where: str) -> None:
    parts = rel.split("/")
    if "\x00" in rel or any(p in {"", ".", ".."} for p in parts):
        raise _refused(where, key, "has an empty, '.' or '..' path segment, or a NUL byte",
                       "rename the object; a download would not put it at this path")
    if len(parts) > MAX_DEPTH + 1:
        raise _refused(where, key, f"is nested more than {MAX_DEPTH} directories deep "
                       "(the limit)", "flatten the artifact")


def _check_no_file_is_a_directory(found: list[RemoteObject], where: str) -> None:
    files = {o.rel for o in found}
    for obj in found:
        parts = obj.rel.split("/")
        for depth in range(1, len(parts)):
            parent = "/".join(parts[:depth])
            if parent in files:
                raise _refused(where, parent, "is both a file and a directory",
                               "an artifact on disk cannot hold both; remove one of them")


def _refused(where: str, key: str, what: str, fix: str) -> ArtifactReadError:
    return ArtifactReadError(f"Cannot re-hash {excerpt(where, PATH_CHARS)}", [Problem(
        excerpt(key, PATH_CHARS), what, fix)])
