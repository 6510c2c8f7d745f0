"""Scan a file or a directory tree into a :class:`ScanReport`.

Each regular file is inspected by content (see :mod:`.inspection`); MLflow model directories
(those with an ``MLmodel`` file) get the MLflow-specific checks on top. Symbolic links and
special files in a tree are findings, never followed or opened; a file swapped for something
else between listing and opening is refused (see :mod:`.regular_files`). A tree deeper than
``limits.max_dir_depth`` and an empty directory are "could not decide", naming the directory.
The policy's format section decides each file's verdict; by default the built-in policy (same
as the policy schema's defaults).
"""

from __future__ import annotations

import os
import posixpath
import stat
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from mlflow_supplychain.errors import Problem, ScanError
from mlflow_supplychain.scanning.allowlist import Allowlist
from mlflow_supplychain.scanning.checkers.mlmodel import check_model_dir, find_model_dirs
from mlflow_supplychain.scanning.excerpt import excerpt
from mlflow_supplychain.scanning.findings import Code, Finding, Location
from mlflow_supplychain.scanning.format_policy import (
    DEFAULT,
    FormatPolicy,
    FormatsLike,
    from_formats,
)
from mlflow_supplychain.scanning.inspection import Inspection
from mlflow_supplychain.scanning.inspector import new_inspection
from mlflow_supplychain.scanning.limits import DEFAULT_LIMITS, ScanLimits
from mlflow_supplychain.scanning.results import FileResult, ScanReport
from mlflow_supplychain.scanning.tree import Listing, list_tree

Progress = Callable[[int, int, str], None]
"""``(bytes done, bytes total, current file)``."""


def scan_path(path: str | os.PathLike[str], *, formats: FormatsLike | FormatPolicy | None = None,
              limits: ScanLimits = DEFAULT_LIMITS, progress: Progress | None = None) -> ScanReport:
    """Scan the file or directory at ``path``.

    ``formats`` is the policy's ``Formats`` section (default: the built-in policy).

    Raises:
        ScanError: ``path`` does not exist or cannot be listed.
    """
    started = time.perf_counter()
    policy = _policy(formats)
    allowlist = Allowlist(policy.pickle_allowlist)
    root = Path(path)
    try:
        info = os.lstat(root)
    except OSError as exc:
        raise ScanError(f"Cannot scan {root}", [Problem(
            str(root), exc.strerror or str(exc), "check the path")]) from None
    is_dir = stat.S_ISDIR(info.st_mode)
    listing = _walk(root, limits) if is_dir else Listing([(root.name, info)])
    entries = listing.entries

    def display(rel: str) -> str:
        return rel if is_dir else str(root)

    total = sum(i.st_size for _, i in entries if stat.S_ISREG(i.st_mode))
    done = 0
    inspections: dict[str, tuple[Inspection, int]] = {}
    for rel, entry_info in entries:
        ins = new_inspection(display(rel), allowlist, limits)
        if stat.S_ISLNK(entry_info.st_mode):
            ins.kind = "symlink"
            ins.add(Code.ARCHIVE_SYMLINK, "symbolic link in the artifact (not followed)", None,
                    fix="replace the link with the file it points to")
        elif not stat.S_ISREG(entry_info.st_mode):
            ins.kind = "special"
            ins.add(Code.UNREADABLE, "not a regular file (FIFO, socket or device)", None,
                    fix="remove it from the artifact")
        else:
            if progress is not None:
                progress(done, total, rel)
            ins.path(str(root / rel) if is_dir else str(root), expected=entry_info)
            done += entry_info.st_size
        inspections[rel] = (ins, entry_info.st_size)
    if is_dir:
        _mlflow_checks(root, inspections, limits)
        _onnx_external_data(inspections)
        _undecided_directories(root, listing, inspections, allowlist, limits)
    if progress is not None:
        progress(total, total, "")
    files = tuple(_result(rel, ins, size, policy) for rel, (ins, size) in inspections.items())
    return ScanReport(str(root), files, time.perf_counter() - started)


def scan_paths(paths: Iterable[str | os.PathLike[str]], **kwargs: object) -> ScanReport:
    """Scan several paths into one report.

    Raises:
        ScanError: a path does not exist or cannot be listed.
    """
    report: ScanReport | None = None
    for path in paths:
        one = scan_path(path, **kwargs)  # type: ignore[arg-type]
        report = one if report is None else report.merged(one)
    if report is None:
        raise ScanError("Nothing to scan", [Problem("", "no path given", "pass a path")])
    return report


def _policy(formats: FormatsLike | FormatPolicy | None) -> FormatPolicy:
    if formats is None:
        return DEFAULT
    if isinstance(formats, FormatPolicy):
        return formats
    return from_formats(formats)


def _walk(root: Path, limits: ScanLimits) -> Listing:
    """Every non-directory entry under ``root`` (links not followed), to the depth limit.

    Raises:
        ScanError: a directory in the tree cannot be listed.
    """
    try:
        return list_tree(root, limits.max_dir_depth)
    except OSError as exc:
        raise ScanError(f"Cannot scan {root}", [Problem(
            str(exc.filename or root), exc.strerror or str(exc), "check permissions")]) from None


def _undecided_directories(root: Path, listing: Listing,
                           inspections: dict[str, tuple[Inspection, int]],
                           allowlist: Allowlist, limits: ScanLimits) -> None:
    """Directories the walk did not enter, and an empty tree, are findings: nothing in them
    was shown to be safe."""
    for rel in listing.too_deep[:100]:
        ins = new_inspection(rel, allowlist, limits)
        ins.kind = "directory"
        ins.add(Code.LIMIT_REACHED, f"directory tree deeper than {limits.max_dir_depth} "
                "levels; its content was not scanned", None,
                fix="flatten the artifact's directory tree")
        inspections[rel] = (ins, 0)
    if not inspections:
        ins = new_inspection(str(root), allowlist, limits)
        ins.kind = "directory"
        ins.add(Code.UNREADABLE, f"the directory {excerpt(str(root), 300)} holds no files: "
                "nothing was shown to be safe", None,
                fix="pass the directory that holds the model files")
        inspections[str(root)] = (ins, 0)


def _mlflow_checks(root: Path, inspections: dict[str, tuple[Inspection, int]],
                   limits: ScanLimits) -> None:
    files = {rel for rel, (ins, _) in inspections.items() if ins.kind not in ("symlink",
                                                                                "special")}
    for model_dir in find_model_dirs(list(inspections)):
        for finding in check_model_dir(root, model_dir, files, limits.max_json):
            target = inspections.get(finding.path)
            if target is None:
                continue
            ins = target[0]
            ins.findings.append(Finding.of(finding.code, finding.message,
                                           Location(ins.file), finding.fix))
            ins.saw(finding.code.policy_format)


def _onnx_external_data(inspections: dict[str, tuple[Inspection, int]]) -> None:
    """Raw files an ONNX model in the tree names as external data are tensor data of that
    model (format ``onnx``), not unknown files."""
    for rel, (ins, _) in inspections.items():
        base = posixpath.dirname(rel)
        for location in ins.external_data:
            target = inspections.get(posixpath.normpath(posixpath.join(base, location)))
            if target is None or target[0].kind not in ("unknown", "empty"):
                continue
            data = target[0]
            data.findings = [f for f in data.findings if f.code is not Code.UNKNOWN_FORMAT]
            data.formats = {"onnx"}
            data.kind = "onnx_external_data"


def _result(rel: str, ins: Inspection, size: int, policy: FormatPolicy) -> FileResult:
    names = frozenset(ins.formats)
    return FileResult(ins.file, ins.kind or "unknown", tuple(sorted(names)),
                      policy.worst(set(names)), tuple(ins.findings), size,
                      tuple(sorted(ins.accepted_globals)))
