"""Pickle analysis: walk the opcodes, then judge every import and call against the allowlist.

Judging is allowlist-based: each imported global (GLOBAL, STACK_GLOBAL resolved through the
memo, INST) must be on the ML allowlist; each call (REDUCE, INST, OBJ) must target an
allowlisted callable; NEWOBJ/NEWOBJ_EX only need the class itself to be allowlisted. Names
that cannot be resolved statically, the copyreg extension registry and calls of computed
objects make a pickle unsafe. A walk that ends early (truncated, malformed, over limits)
is an error finding unless something unsafe was already seen.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mlflow_supplychain.scanning.allowlist import Allowlist, is_cloudpickle
from mlflow_supplychain.scanning.cursor import Cursor
from mlflow_supplychain.scanning.findings import Code, Finding, Location
from mlflow_supplychain.scanning.opcodes import PICKLE_HEADS
from mlflow_supplychain.scanning.pickle_walk import (
    Global,
    PayloadHook,
    WalkFacts,
    WalkLimits,
    walk,
)

CALLS_FIRST_ARGUMENT = frozenset({"torch._tensor._rebuild_from_type_v2"})
"""Allowlisted callables that call their first argument: it must be callable too."""

DEFAULT_WALK_LIMITS = WalkLimits()
_FIX_GLOBAL = ("re-save the model in a weights-only format (safetensors, ONNX, skops), or, if "
               "this global is trusted, add it to the policy's formats.pickle_allowlist")


@dataclass
class PickleResult:
    """Findings for one pickle stream and whether it was fully understood."""

    findings: list[Finding] = field(default_factory=list)
    complete: bool = True
    imports: int = 0
    opcodes: int = 0


def analyse(cursor: Cursor, where: Location, allowlist: Allowlist, *,
            on_payload: PayloadHook | None = None, limits: WalkLimits = DEFAULT_WALK_LIMITS,
            consecutive: bool = True) -> PickleResult:
    """Walk the pickle at the cursor and judge it. With ``consecutive`` (files written by
    several ``pickle.dump`` calls, e.g. legacy ``torch.save``), following pickles that start
    with a protocol 2+ header are walked too."""
    facts = WalkFacts()
    complete = walk(cursor, facts, on_payload=on_payload, limits=limits)
    while complete and consecutive and cursor.peek(2) in PICKLE_HEADS:
        complete = walk(cursor, facts, on_payload=on_payload, limits=limits)
    return judge(facts, complete, where, allowlist)


def judge(facts: WalkFacts, complete: bool, where: Location, allowlist: Allowlist) -> PickleResult:
    """Turn walk facts into findings."""
    result = PickleResult(complete=complete, imports=len(facts.imports), opcodes=facts.opcodes)
    seen: set[tuple[Code, str]] = set()

    def add(code: Code, key: str, message: str, offset: int | None, fix: str) -> None:
        if (code, key) in seen:
            return
        seen.add((code, key))
        result.findings.append(Finding.of(
            code, message, Location(where.file, where.member, offset), fix))

    for glob in facts.imports:
        full = f"{glob.module}.{glob.name}"
        if is_cloudpickle(glob.module):
            add(Code.CLOUDPICKLE_CODE, full, f"cloudpickle rebuilds code ({full}); loading "
                "it runs arbitrary Python", glob.offset,
                "log the model as weights plus a pinned, reviewed loader (e.g. an MLflow "
                "built-in flavor) instead of a pickled function or class")
            continue
        check = allowlist.check(glob.module, glob.name)
        if not check.allowed:
            add(Code.PICKLE_UNSAFE_GLOBAL, full, f"imports {full}: {check.reason}",
                glob.offset, _FIX_GLOBAL)
    for call in facts.calls:
        callee = call.callee
        if not isinstance(callee, Global):
            add(Code.PICKLE_UNSAFE_CALL, f"computed@{call.offset}",
                "calls an object computed while unpickling (not a plain global): a gadget "
                "chain", call.offset, _FIX_GLOBAL)
            continue
        full = f"{callee.module}.{callee.name}"
        check = allowlist.check(callee.module, callee.name)
        if check.allowed and call.kind == "call" and not check.callable:
            add(Code.PICKLE_UNSAFE_CALL, full, f"calls {full}: functions of allowlisted "
                "modules may be referenced, not called", call.offset, _FIX_GLOBAL)
        if full in CALLS_FIRST_ARGUMENT:
            inner = call.first_arg
            ok = isinstance(inner, Global) and allowlist.check(inner.module, inner.name).callable
            if not ok:
                add(Code.PICKLE_UNSAFE_CALL, f"indirect@{call.offset}",
                    f"{full} calls its first argument, which is not an allowlisted callable",
                    call.offset, _FIX_GLOBAL)
    for offset in facts.unresolved:
        add(Code.PICKLE_UNRESOLVED_GLOBAL, str(offset), "STACK_GLOBAL with a module or name "
            "that is not a plain string (hides which code it imports)", offset, _FIX_GLOBAL)
    for offset in facts.extensions:
        add(Code.PICKLE_EXTENSION_REGISTRY, str(offset), "uses the copyreg extension "
            "registry, which imports a global chosen by the loading process", offset,
            _FIX_GLOBAL)
    if not complete:
        code = Code.PICKLE_TOO_COMPLEX if facts.too_complex else Code.PICKLE_MALFORMED
        add(code, "walk", f"pickle could not be fully analysed: {facts.problem}",
            facts.problem_offset, "re-export the file; a truncated or malformed pickle cannot "
            "be verified and may hide code after the damaged part")
    return result
