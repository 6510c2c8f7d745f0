"""The types every format checker shares: one file's :class:`Inspection`, the
:class:`Target` a checker is handed and the :class:`Registry` that maps formats to checkers.

The :class:`Inspection` collects findings and the policy format names seen in one top-level
file, and dispatches each byte stream to the checker its :class:`Registry` names for the
stream's kind. Containers (archives, compressed streams, payloads inside pickles) call back into
:meth:`Inspection.stream` with ``depth + 1``; beyond ``limits.max_depth`` the nesting itself is
an error finding. No check raises for bad input: damage becomes an error finding.

This module imports no checker: the registry is handed in (see :mod:`.inspector`, which takes
it from :mod:`.registry`), so checkers can import this module without an import circle.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import BinaryIO

from mlflow_supplychain.scanning import formats
from mlflow_supplychain.scanning.allowlist import Allowlist
from mlflow_supplychain.scanning.cursor import Cursor
from mlflow_supplychain.scanning.excerpt import excerpt
from mlflow_supplychain.scanning.findings import ERROR, Code, Finding, Location
from mlflow_supplychain.scanning.formats import Kind
from mlflow_supplychain.scanning.limits import ScanLimits
from mlflow_supplychain.scanning.opcodes import ARG
from mlflow_supplychain.scanning.pickle_walk import WalkLimits
from mlflow_supplychain.scanning.regular_files import UnsafeFile, open_regular
from mlflow_supplychain.scanning.window import Meter, Window

logger = logging.getLogger(__name__)

_UNDECODABLE = frozenset({Code.DECOMPRESSION_FAILED, Code.ARCHIVE_MALFORMED, Code.NUMPY_INVALID,
                          Code.UNKNOWN_FORMAT})
"""Findings that only say "this is not the container its first bytes suggest"."""

_TRIAL_FIRST = frozenset(b"(]})cNISVKJUXTldFGLMCBPi\x8c\x95")
"""Plausible first opcodes of protocol 0/1 pickles (which have no header)."""


@dataclass(frozen=True)
class Target:
    """One byte stream handed to a checker: its kind, first bytes and place in the file."""

    kind: Kind
    head: bytes
    """Up to :data:`formats.HEAD_SIZE` first bytes (the stream itself is rewound)."""
    member: str | None
    """Where the stream is inside the top-level file (``None`` for the file itself)."""
    depth: int
    """Container nesting level; pass ``depth + 1`` to :meth:`Inspection.stream`."""
    size: int | None
    """Size in bytes when known."""


Checker = Callable[["Inspection", BinaryIO, Target], bool]
"""Inspect ``f`` (positioned at the stream's start); False means "not this format after
all" and the inspection falls back to text/unknown handling."""

DocumentCheck = Callable[["Inspection", bytes, str], None]
"""Check a small archive member (a JSON document) given its bytes and its label."""


@dataclass(frozen=True)
class ArchiveDocument:
    """A zip layout recognised by one member name: when the archive holds ``name`` and every
    name in ``requires``, that member is read (up to ``limits.max_json``) and handed to
    ``check`` instead of being inspected by content alone."""

    name: str
    check: DocumentCheck
    requires: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Registry:
    """Which checker handles which stream kind, and which archive documents are special."""

    streams: Mapping[Kind, Checker]
    documents: tuple[ArchiveDocument, ...] = ()
    files: Mapping[str, DocumentCheck] = field(default_factory=dict)
    """Checks for files of a scanned directory by base name (``tokenizer_config.json``...),
    run on the file's bytes in addition to the inspection by content."""

    def documents_for(self, names: set[str]) -> dict[str, DocumentCheck]:
        """Every layout whose member and requirements are all in ``names`` (all of them: a
        decoy ``schema.json`` must not switch off the Keras check of ``config.json``)."""
        return {doc.name: doc.check for doc in self.documents
                if doc.name in names and doc.requires <= names}


@dataclass
class Inspection:
    """Findings and format names gathered while inspecting one top-level file."""

    file: str
    allowlist: Allowlist
    limits: ScanLimits
    registry: Registry
    findings: list[Finding] = field(default_factory=list)
    formats: set[str] = field(default_factory=set)
    kind: str = ""
    """The outermost detected kind (``pickle``, ``zip``, ``safetensors``...)."""
    external_data: set[str] = field(default_factory=set)
    """Files this (ONNX) model loads as raw tensor data, relative to its directory."""
    accepted_globals: set[str] = field(default_factory=set)
    """Pickle globals the scan accepted in this file (a restricted loader resolves only
    these)."""
    torchscript: set[str] = field(default_factory=set)
    """Member label prefixes of TorchScript archives in this file (see :mod:`.torchscript`)."""
    meter: Meter | None = None
    """Decompressed bytes all compressed streams of this file may still produce together
    (``max_ratio`` times the file's size): nested streams cannot multiply their ratios."""

    # -- helpers used by the checks --------------------------------------------------------
    def where(self, member: str | None, offset: int | None = None) -> Location:
        return Location(self.file, member, offset)

    def add(self, code: Code, message: str, member: str | None, offset: int | None = None,
            fix: str = "") -> None:
        self.findings.append(Finding.of(code, message, self.where(member, offset), fix))
        self.formats.add(code.policy_format)

    def saw(self, format_name: str) -> None:
        self.formats.add(format_name)

    # -- dispatch --------------------------------------------------------------------------
    def path(self, path: str, expected: os.stat_result | None = None) -> None:
        """Inspect a file on disk: a regular file, not through a link, and (when the walk's
        ``lstat`` is given) still the file the walk saw."""
        try:
            with open_regular(path, expected=expected) as f:
                size = os.fstat(f.fileno()).st_size
                self.meter = Meter(min(self.limits.max_unpacked,
                                       int(self.limits.max_ratio * size) + self.limits.ratio_floor))
                check = self.registry.files.get(os.path.basename(path))
                if check is not None:
                    self._named_file(check, f, size)
                self.stream(f, None, 0, size=size)
        except UnsafeFile as exc:
            self.add(Code.UNREADABLE, f"refused: {exc}", None,
                     fix="ship regular files only; do not modify the artifact while scanning")
        except OSError as exc:
            self.add(Code.UNREADABLE, f"cannot read: {excerpt(exc.strerror or exc)}", None,
                     fix="check permissions")
        except (RecursionError, MemoryError, Exception) as exc:  # noqa: BLE001
            # Fail closed: a scanner bug on hostile input must yield "could not decide" for
            # this file, never a crash of the whole scan and never a clean verdict.
            logger.warning("scanner failed on %s: %s: %s", excerpt(path, 300), type(exc).__name__,
                           excerpt(exc))
            self.add(Code.UNREADABLE, f"scanner could not analyse the file "
                     f"({type(exc).__name__}: {excerpt(exc)})", None,
                     fix="report this file to the mlflow-supplychain maintainers")

    def _named_file(self, check: DocumentCheck, f: BinaryIO, size: int) -> None:
        if size > self.limits.max_json:
            self.add(Code.LIMIT_REACHED, f"{size}-byte document not examined (limit "
                     f"{self.limits.max_json})", None, fix="keep model configs small")
        else:
            check(self, f.read(self.limits.max_json), self.file)
        f.seek(0)

    def stream(self, f: BinaryIO, member: str | None, depth: int, *,
               size: int | None = None, storage: bool = False) -> None:
        """Inspect ``f`` from its current position. ``storage`` marks raw tensor storage
        (PyTorch ``data/`` members), inspected only when it looks like a container."""
        if depth > self.limits.max_depth:
            self.add(Code.NESTED_TOO_DEEP, f"containers nested deeper than "
                     f"{self.limits.max_depth} levels", member,
                     fix="flatten the artifact; deep nesting is a common evasion")
            return
        start = f.tell() if _seekable(f) else 0
        head = f.read(formats.HEAD_SIZE)
        kind = formats.sniff(head)
        if storage and kind not in formats.CONTAINERS:
            return
        if not self.kind:
            self.kind = kind.value
        if _seekable(f):
            f.seek(start)
            source: BinaryIO = f
        else:
            from mlflow_supplychain.scanning.window import Forward

            source = Forward(f, prefix=head)  # type: ignore[assignment]
        if not storage:
            self._dispatch(kind, source, head, member, depth, size, storage)
            return
        findings, names = len(self.findings), set(self.formats)
        self._dispatch(kind, source, head, member, depth, size, storage)
        self._forget_undecodable(findings, names, member)

    def _forget_undecodable(self, findings: int, names: set[str], member: str | None) -> None:
        """Raw data (a tensor storage, a ``bytes`` value inside a pickle) that merely starts
        like a container is data, not a container, when it does not decode: drop the
        could-not-decode findings about the value itself (found since ``findings``). What
        did decode (a nested pickle, a member of a readable zip) keeps every finding."""
        new = self.findings[findings:]
        kept = [f for f in new if not (f.code in _UNDECODABLE and f.location.member == member)]
        if len(kept) == len(new):
            return
        del self.findings[findings:]
        self.findings.extend(kept)
        self.formats = names | {f.format for f in self.findings} | (
            self.formats - names - {"unknown", ERROR})

    def _dispatch(self, kind: Kind, f: BinaryIO, head: bytes, member: str | None, depth: int,
                  size: int | None, storage: bool) -> None:
        if kind is Kind.PICKLE:
            self.pickle(f, member, depth, trial=storage)
            return
        if kind is Kind.EMPTY:
            self.saw("text")
            return
        checker = self.registry.streams.get(kind)
        if checker is not None:
            seekable = _seekable(f)
            start = f.tell() if seekable else 0
            if checker(self, f, Target(kind, head, member, depth, size)):
                return
            if seekable:
                f.seek(start)
            else:  # consumed: judge what is left to judge, the first bytes
                f = io.BytesIO(head)  # type: ignore[assignment]
        self._fallback(f, head, member, depth)

    def _fallback(self, f: BinaryIO, head: bytes, member: str | None, depth: int) -> None:
        """Text, JSON, protocol 0/1 pickle, or unknown."""
        if (head[:1] and head[0] in _TRIAL_FIRST and ARG[head[0]] is not None
                and self._trial_pickle(f, member, depth)):
            return
        if kind_is_text(head):
            self.saw("json" if head.lstrip()[:1] in (b"{", b"[") else "text")
            return
        self.saw("unknown")
        self.add(Code.UNKNOWN_FORMAT, "format not recognised; it cannot be verified as safe",
                 member, fix="convert to a recognised format (safetensors, ONNX, GGUF) or "
                 "move 'unknown' to sandboxed in the policy if such files are expected")

    # -- pickles ---------------------------------------------------------------------------
    def pickle(self, f: BinaryIO, member: str | None, depth: int, *, trial: bool = False) -> bool:
        """Analyse every pickle from ``f``'s position to its end. With ``trial``, data that
        does not parse to its end, where nothing but the damage was found, is ignored (raw
        tensor storage that happens to start like a pickle) and False returned, unless the
        walk stopped at a crossed frame boundary, which only a crafted pickle has."""
        from mlflow_supplychain.scanning.pickles import analyse

        start = f.tell() if _seekable(f) else 0
        cursor = Cursor(f, start=start)
        result = analyse(cursor, self.where(member), self._allowlist_for(member),
                         on_payload=self._payload_hook(member, depth), limits=WalkLimits())
        if (trial and not result.complete and not result.frame_violation
                and not result.findings[:-1]):
            return False
        self._record_pickle(result.findings, result.complete, result.accepted)
        return True

    def _allowlist_for(self, member: str | None) -> Allowlist:
        """Pickles inside a TorchScript archive may also name TorchScript's own globals."""
        if member and any(member.startswith(root) for root in self.torchscript):
            from mlflow_supplychain.scanning.torchscript import TorchScriptAllowlist

            return TorchScriptAllowlist(self.allowlist)
        return self.allowlist

    def _trial_pickle(self, f: BinaryIO, member: str | None, depth: int) -> bool:
        """Protocol 0/1 pickles have no header: accept when the first pickle reaches STOP and
        the walk either imports or calls something, or accounts for every byte (several
        pickles back to back, such as ``I12345`` then a second one); and accept a damaged
        one that imports a known code-execution primitive (``cbuiltins\nexec\n...``), which
        is never an innocent text file."""
        from mlflow_supplychain.scanning.pickles import analyse

        start = f.tell() if _seekable(f) else 0
        cursor = Cursor(f, start=start)
        result = analyse(cursor, self.where(member), self.allowlist,
                         on_payload=self._payload_hook(member, depth), limits=WalkLimits())
        if not result.first_complete and not result.known_dangerous:
            return False  # text that happens to start like an opcode
        if not result.imports and not result.calls and not result.complete:
            return False
        self._record_pickle(result.findings, result.complete, result.accepted)
        return True

    def _record_pickle(self, findings: list[Finding], complete: bool,
                       accepted: tuple[str, ...] = ()) -> None:
        from mlflow_supplychain.scanning.torchscript import FORMAT, uses_torchscript

        self.findings.extend(findings)
        self.accepted_globals.update(accepted)
        if uses_torchscript(accepted):
            self.saw(FORMAT)
        elif not findings and complete:
            self.saw("pickle_allowlisted")
        for finding in findings:
            self.saw(finding.format)

    def _payload_hook(self, member: str | None, depth: int):  # type: ignore[no-untyped-def]
        def hook(cursor: Cursor, offset: int, length: int, head: bytes) -> None:
            kind = formats.sniff(head)
            if kind not in formats.CONTAINERS:
                return
            label = f"{member}@{offset}" if member else f"@{offset}"
            if cursor.seekable:
                window: BinaryIO = Window(cursor.f, offset, length)  # type: ignore[assignment]
                self.stream(window, label, depth + 1, size=length, storage=True)
                return
            if offset != cursor.offset:
                return  # a short string already consumed from a forward-only stream
            if length > self.limits.max_payload_in_memory:
                self.add(Code.PICKLE_TOO_COMPLEX, f"nested {kind.value} payload of {length} "
                         "bytes in a stream that cannot seek", member, offset,
                         "store the nested object uncompressed")
                return
            cursor.fill(length, strict=False)
            data = cursor.buf[cursor.pos:cursor.pos + length]
            self.stream(io.BytesIO(data), label, depth + 1, size=length, storage=True)

        return hook


def kind_is_text(head: bytes) -> bool:
    return formats.looks_like_text(head)


def _seekable(f: BinaryIO) -> bool:
    try:
        return bool(f.seekable())
    except (AttributeError, OSError, ValueError):
        return False
