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

from mlflow_supplychain.scanning.allowlist import (
    NOT_LISTED,
    Allowlist,
    is_cloudpickle,
    safe_method,
)
from mlflow_supplychain.scanning.cursor import Cursor
from mlflow_supplychain.scanning.findings import Code, Finding, Location
from mlflow_supplychain.scanning.pickle_stream import walk_stream
from mlflow_supplychain.scanning.pickle_walk import (
    Call,
    Global,
    PayloadHook,
    WalkFacts,
    WalkLimits,
)

CALLS_FIRST_ARGUMENT = frozenset({"torch._tensor._rebuild_from_type_v2"})
"""Allowlisted callables that call their first argument: it must be callable too (so must
the class handed to sklearn's Cython ``newObj``, which calls its ``__new__``)."""

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
    calls: int = 0
    first_complete: bool = True
    """The first pickle reached STOP (what follows may still be damaged or not a pickle)."""
    frame_violation: bool = False
    """The walk stopped at a crossed frame boundary (only crafted pickles have one)."""
    known_dangerous: bool = False
    """It imports a known code-execution primitive (``os``, ``builtins.exec``...)."""
    accepted: tuple[str, ...] = ()
    """Every ``module.name`` the walk saw and the judge accepted: all a loader may resolve."""


def analyse(cursor: Cursor, where: Location, allowlist: Allowlist, *,
            on_payload: PayloadHook | None = None,
            limits: WalkLimits = DEFAULT_WALK_LIMITS) -> PickleResult:
    """Walk every pickle from the cursor to the end of the data and judge them together
    (see :mod:`.pickle_stream`: bytes after a pickle that are not a pickle are a problem)."""
    facts = WalkFacts()
    walked = walk_stream(cursor, facts, on_payload=on_payload, limits=limits)
    result = judge(facts, walked.complete, where, allowlist)
    result.first_complete = walked.first_complete
    result.frame_violation = facts.frame_violation
    return result


def _excerpt(name: str, limit: int = 120) -> str:
    """A global's name as reports show it: short, and escaped unless plainly printable (names
    come from the file: never echo control characters or long content)."""
    if len(name) <= limit and name.isprintable():
        return name
    return repr(name[:limit]) + ("..." if len(name) > limit else "")


def _safe_getattr(call: Call) -> bool:
    """``getattr(<builtin type>, '<harmless method>')`` with both arguments constants, as
    ``TfidfVectorizer(preprocessor=str.lower)`` pickles."""
    args = call.args
    if call.kind != "call" or not isinstance(args, tuple) or len(args) != 2:
        return False
    owner, attribute = args
    return (isinstance(owner, Global) and owner.module in ("builtins", "__builtin__")
            and isinstance(attribute, str) and safe_method(owner.name, attribute))


def _is_getattr(glob: object) -> bool:
    return (isinstance(glob, Global) and glob.module in ("builtins", "__builtin__")
            and glob.name == "getattr")


def _checked_getattrs(facts: WalkFacts) -> set[int]:
    """ids of ``getattr`` globals used only as the callee of safe constant lookups: every
    time the walk put one on the stack, a safe call consumed it."""
    safe: dict[int, int] = {}
    unsafe: set[int] = set()
    for call in facts.calls:
        if _is_getattr(call.callee):
            if _safe_getattr(call):
                safe[id(call.callee)] = safe.get(id(call.callee), 0) + 1
            else:
                unsafe.add(id(call.callee))
    return {glob_id for glob in facts.imports if (glob_id := id(glob)) in safe
            and glob_id not in unsafe and safe[glob_id] == glob.pushes}


def judge(facts: WalkFacts, complete: bool, where: Location, allowlist: Allowlist) -> PickleResult:
    """Turn walk facts into findings."""
    result = PickleResult(complete=complete, imports=len(facts.imports), opcodes=facts.opcodes,
                          calls=len(facts.calls))
    seen: set[tuple[Code, str]] = set()
    checked = _checked_getattrs(facts)
    accepted: list[str] = []

    def add(code: Code, key: str, message: str, offset: int | None, fix: str) -> None:
        if (code, key) in seen:
            return
        seen.add((code, key))
        result.findings.append(Finding.of(
            code, message, Location(where.file, where.member, offset), fix))

    for glob in facts.imports:
        full = f"{glob.module}.{glob.name}"
        shown = _excerpt(full)
        if is_cloudpickle(glob.module):
            add(Code.CLOUDPICKLE_CODE, full, f"cloudpickle rebuilds code ({shown}); loading "
                "it runs arbitrary Python", glob.offset,
                "log the model as weights plus a pinned, reviewed loader (e.g. an MLflow "
                "built-in flavor) instead of a pickled function or class")
            continue
        if id(glob) in checked:
            accepted.append(full)
            continue
        check = allowlist.check(glob.module, glob.name)
        if not check.allowed:
            add(Code.PICKLE_UNSAFE_GLOBAL, full, f"imports {shown}: {check.reason}",
                glob.offset, _FIX_GLOBAL)
            result.known_dangerous |= check.reason != NOT_LISTED
        else:
            accepted.append(full)
    result.accepted = tuple(accepted)
    for call in facts.calls:
        callee = call.callee
        if id(callee) in checked:
            continue
        if not isinstance(callee, Global):
            add(Code.PICKLE_UNSAFE_CALL, f"computed@{call.offset}",
                "calls an object computed while unpickling (not a plain global): a gadget "
                "chain", call.offset, _FIX_GLOBAL)
            continue
        full = f"{callee.module}.{callee.name}"
        check = allowlist.check(callee.module, callee.name)
        if check.allowed and call.kind == "call" and not check.callable:
            add(Code.PICKLE_UNSAFE_CALL, full, f"calls {_excerpt(full)}: functions of allowlisted "
                "modules may be referenced, not called", call.offset, _FIX_GLOBAL)
        if full in CALLS_FIRST_ARGUMENT or (callee.name == "newObj" and check.callable):
            inner = call.first_arg
            ok = isinstance(inner, Global) and allowlist.check(inner.module, inner.name).callable
            if not ok:
                add(Code.PICKLE_UNSAFE_CALL, f"indirect@{call.offset}",
                    f"{_excerpt(full)} calls its first argument, which is not an allowlisted "
                    "callable",
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
