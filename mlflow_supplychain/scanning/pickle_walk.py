"""Symbolic opcode walk of one pickle: which globals it imports and what it calls.

Nothing is unpickled, imported or executed. The walker keeps a light model of the pickle
machine's stack and memo (strings, small ints, tuples, small dicts, globals, call results)
so that STACK_GLOBAL names are resolved through the memo, call targets are known, and joblib's
inline array data can be sized and skipped. Containers keep at most a few elements; stack and
memo sizes are bounded, so memory stays constant. Payloads (BINBYTES8 and friends) are
skipped with a seek; only their first bytes are handed to ``on_payload`` so the caller can
look for nested pickles or archives.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from mlflow_supplychain.scanning import opcodes as op
from mlflow_supplychain.scanning.cursor import Cursor, Truncated
from mlflow_supplychain.scanning.joblib_arrays import (
    ArrayLayoutError,
    is_joblib_wrapper,
    skip_array,
)

KEEP = 64
"""Elements kept per symbolic container (enough for joblib's array metadata)."""
MAX_STRING = 512
MAX_LINE = 1 << 16
MAX_NAME = 512
"""Longest module or global name kept verbatim; longer ones are cut and marked, so they can
never equal an allowlisted name, and memory stays bounded (names are interned)."""
MAX_LONG1 = 16
"""LONG1 integers up to this many bytes are decoded (torch's legacy magic number)."""


class Global:
    """An imported ``module.name`` (one object per distinct name: imports are interned).

    ``pushes`` counts how often the walk put it on the stack (import, memo fetch, DUP), so
    the judge can tell a global used only as the callee of calls it checked from one that
    also travels elsewhere."""

    __slots__ = ("module", "name", "offset", "pushes")

    def __init__(self, module: str, name: str, offset: int) -> None:
        self.module, self.name, self.offset = module, name, offset
        self.pushes = 0


class Obj:
    """The result of REDUCE / NEWOBJ / OBJ / INST: ``callee(*args)`` with a BUILD state."""

    __slots__ = ("args", "callee", "state")

    def __init__(self, callee: object, args: object) -> None:
        self.callee, self.args = callee, args
        self.state: object = None


class _Opaque:
    __slots__ = ("what",)

    def __init__(self, what: str) -> None:
        self.what = what


BYTES, LONG_STR, PERSISTENT, BUFFER, EXTENSION, NUMBER = (
    _Opaque(w) for w in ("bytes", "str", "persistent", "buffer", "extension", "number"))


@dataclass
class Call:
    """A call the unpickler would make: ``kind`` is 'call' (REDUCE/INST/OBJ) or 'new'."""

    kind: str
    callee: object
    first_arg: object
    offset: int
    args: object = None
    """The symbolic argument tuple when known."""


@dataclass
class WalkFacts:
    """Everything the walk learned about one pickle stream (and inline nested pickles)."""

    protocol: int = 0
    imports: list[Global] = field(default_factory=list)
    """Distinct globals, in order of first import."""
    interned: dict[tuple[str, str], Global] = field(default_factory=dict)
    persistent: list[object] = field(default_factory=list)
    """Persistent ids (BINPERSID/PERSID arguments), at most ``MAX_PERSISTENT``."""
    calls: list[Call] = field(default_factory=list)
    unresolved: list[int] = field(default_factory=list)
    extensions: list[int] = field(default_factory=list)
    problem: str | None = None
    problem_offset: int | None = None
    too_complex: bool = False
    frame_violation: bool = False
    """The walk stopped at a frame boundary crossed by an argument, STOP or another FRAME:
    a sign of a crafted pickle, never of random data."""
    opcodes: int = 0
    value: object = None
    """Symbolic value left by the last STOP (ints, strings, small tuples, globals)."""


@dataclass(frozen=True)
class WalkLimits:
    max_stack: int = 1_000_000
    max_memo: int = 2_000_000
    max_depth: int = 8
    max_imports: int = 10_000
    """Distinct globals in one file: real models import a few hundred."""
    max_seconds: float = 600.0
    """Wall time of one walk: the walker reads 1-5 MB/s of dense opcodes (big arrays are
    skipped, not read), so only a hostile or enormous object graph gets here."""
    max_persistent: int = 1_000_000


PayloadHook = Callable[[Cursor, int, int, bytes], None]
"""``(cursor, offset, length, head)``: called before a binary payload is skipped."""


class _Malformed(Exception):
    pass


class _FrameViolation(_Malformed):
    """Something crosses a FRAME boundary: C and Python unpicklers read it differently."""


def walk(cursor: Cursor, facts: WalkFacts, *, on_payload: PayloadHook | None = None,
         limits: WalkLimits | None = None, depth: int = 0) -> bool:
    """Walk one pickle from the cursor's position through its STOP opcode.

    Returns True when STOP was reached; otherwise ``facts.problem`` says why the walk ended
    (truncated, invalid opcode, stack underflow, limits exceeded). Never raises for bad input.
    """
    try:
        _run(cursor, facts, on_payload, limits or WalkLimits(), depth)
        return True
    except Truncated as exc:
        facts.problem, facts.problem_offset = f"truncated: {exc}", cursor.offset
    except _FrameViolation as exc:
        facts.problem, facts.problem_offset = str(exc), cursor.offset
        facts.frame_violation = True
    except _Malformed as exc:
        facts.problem, facts.problem_offset = str(exc), cursor.offset
    except (IndexError, KeyError):
        facts.problem = "stack or memo underflow (invalid pickle)"
        facts.problem_offset = cursor.offset
    except ArrayLayoutError as exc:
        facts.problem, facts.problem_offset = str(exc), cursor.offset
    except (ValueError, OverflowError) as exc:
        facts.problem, facts.problem_offset = f"invalid argument: {exc}", cursor.offset
    return False


def _import(facts: WalkFacts, module: str, name: str, at: int, limits: WalkLimits) -> Global:
    """The interned global for ``module.name`` (names cut at ``MAX_NAME``, marked)."""
    if len(module) > MAX_NAME:
        module = module[:MAX_NAME] + "\u2026(cut)"
    if len(name) > MAX_NAME:
        name = name[:MAX_NAME] + "\u2026(cut)"
    glob = facts.interned.get((module, name))
    if glob is None:
        if len(facts.interned) >= limits.max_imports:
            facts.too_complex = True
            raise _Malformed(f"more than {limits.max_imports} distinct globals at offset {at}")
        glob = facts.interned[(module, name)] = Global(module, name, at)
        facts.imports.append(glob)
    glob.pushes += 1
    return glob


def _run(cur: Cursor, facts: WalkFacts, on_payload: PayloadHook | None,
         limits: WalkLimits, depth: int) -> None:
    arg_kind = op.ARG
    stack: list[object] = []
    meta: list[list[object]] = []
    memo: dict[int, object] = {}
    calls = facts.calls
    ops = 0
    deadline = time.monotonic() + limits.max_seconds
    frame_end = -1
    """Absolute end of the current FRAME, -1 outside frames. CPython's C unpickler before
    3.13.15/3.14.7 reads an argument across a frame's end while the Python unpickler refuses
    (gh-154848): anything straddling the end is malformed, so the two can never disagree."""
    while True:
        if cur.pos >= len(cur.buf):
            cur.fill(1)
        code = cur.buf[cur.pos]
        at = cur.base + cur.pos
        if frame_end >= 0:
            if at > frame_end:
                raise _FrameViolation(f"opcode or argument runs past the end of its frame "
                                 f"(frame ends at offset {frame_end}, next opcode at {at})")
            if at == frame_end:
                frame_end = -1
        kind = arg_kind[code]
        if kind is None:
            raise _Malformed(f"invalid opcode 0x{code:02x} at offset {at}")
        cur.pos += 1
        ops += 1
        if not ops & 0xFFFF:
            if len(stack) + len(meta) > limits.max_stack or len(memo) > limits.max_memo:
                facts.too_complex = True
                raise _Malformed(f"pickle exceeds the stack/memo limits at offset {at}")
            if time.monotonic() > deadline:
                facts.too_complex = True
                raise _Malformed(f"pickle walk took longer than {limits.max_seconds:.0f} s "
                                 f"(at offset {at})")
        if kind == op.NONE:
            if code == 0x2E:  # STOP
                if frame_end >= 0 and cur.offset != frame_end:
                    raise _FrameViolation(f"STOP at offset {at} inside a frame that ends at "
                                     f"{frame_end}")
                facts.opcodes += ops
                facts.value = stack[-1] if stack else None
                return
            stack = _simple(code, at, stack, meta, memo, facts, limits)
            if code == 0x62:  # BUILD: joblib writes raw array data right after it
                target = stack[-1]
                if isinstance(target, Obj) and is_joblib_wrapper(target.callee):
                    if frame_end >= 0 and cur.offset != frame_end:
                        raise _FrameViolation(f"joblib array data at offset {cur.offset} inside "
                                         f"a frame that ends at {frame_end}")
                    frame_end = -1
                    _joblib_array(cur, target, facts, on_payload, limits, depth)
            continue
        if kind in (op.LEN1, op.LEN4, op.LEN8):
            if kind == op.LEN1 and cur.pos < len(cur.buf):
                size = cur.buf[cur.pos]
                cur.pos += 1
            else:
                width = 1 if kind == op.LEN1 else 4 if kind == op.LEN4 else 8
                size = int.from_bytes(cur.take(width), "little", signed=(code == 0x54))
                if size < 0:
                    raise _Malformed(f"negative length at offset {at}")
            if code in op.STRING_PAYLOAD and size <= MAX_STRING:
                text = cur.take(size)
                try:
                    value: object = text.decode("utf-8" if code >= 0x58 else "latin-1")
                except UnicodeDecodeError:
                    value = LONG_STR
                if code in op.BYTES_PAYLOAD and on_payload is not None and size >= 4:
                    on_payload(cur, cur.offset - size, size, text[:16])
                stack.append(value)
                continue
            if code in op.LONG_PAYLOAD:
                if size <= MAX_LONG1:
                    stack.append(int.from_bytes(cur.take(size), "little", signed=True))
                else:
                    cur.skip(size)
                    stack.append(NUMBER)
                continue
            if on_payload is not None and code in op.BYTES_PAYLOAD and size >= 4:
                on_payload(cur, cur.offset, size, cur.peek(min(size, 16)))
            cur.skip(size)
            stack.append(LONG_STR if code in op.STRING_PAYLOAD else BYTES)
            continue
        if kind == op.U1:  # the commonest argument (BINPUT, BINGET, BININT1): inline read
            p = cur.pos
            if p < len(cur.buf):
                arg = cur.buf[p]
                cur.pos = p + 1
            else:
                arg = cur.take(1)[0]
        elif kind == op.U2:
            arg = int.from_bytes(cur.take(2), "little")
        elif kind == op.I4:
            arg = int.from_bytes(cur.take(4), "little", signed=(code == 0x4A))
        elif kind == op.U8 or kind == op.F8:
            raw = cur.take(8)
            if code == 0x95:  # FRAME
                if frame_end >= 0:
                    raise _FrameViolation(f"FRAME at offset {at} inside a frame that ends at "
                                     f"{frame_end}")
                frame_end = cur.offset + int.from_bytes(raw, "little")
                continue
            stack.append(NUMBER)
            continue
        elif kind == op.LINE:
            _line_op(code, cur.line(MAX_LINE), at, stack, memo, facts, limits)
            continue
        else:  # TWO_LINES: GLOBAL, INST
            module = cur.line(MAX_LINE).decode("utf-8", "replace")
            name = cur.line(MAX_LINE).decode("utf-8", "replace")
            glob = _import(facts, module, name, at, limits)
            if code == 0x63:  # GLOBAL
                stack.append(glob)
            else:  # INST: class instantiated with the marked items
                items, stack = stack, meta.pop()
                calls.append(Call("call", glob, items[0] if items else None, at,
                                  tuple(items[:KEEP])))
                stack.append(Obj(glob, tuple(items[:KEEP])))
            continue
        # one-argument integer opcodes
        if code == 0x80:  # PROTO
            if arg > 5:
                raise _Malformed(f"unsupported pickle protocol {arg} at offset {at}")
            facts.protocol = max(facts.protocol, arg)
        elif code in (0x4A, 0x4B, 0x4D):  # BININT, BININT1, BININT2
            stack.append(arg)
        elif code in (0x68, 0x6A):  # BINGET, LONG_BINGET
            value = memo[arg]
            if value.__class__ is Global:
                value.pushes += 1  # type: ignore[attr-defined]
            stack.append(value)
        elif code in (0x71, 0x72):  # BINPUT, LONG_BINPUT
            memo[arg] = stack[-1]
        else:  # EXT1, EXT2, EXT4
            facts.extensions.append(at)
            stack.append(EXTENSION)


def _simple(code: int, at: int, stack: list[object], meta: list[list[object]],
            memo: dict[int, object], facts: WalkFacts, limits: WalkLimits) -> list[object]:
    """Opcodes without arguments (STOP is handled by the caller); returns the current stack
    (MARK pushes the stack onto ``meta`` and starts a new one, like CPython's unpickler)."""
    if code == 0x28:  # MARK
        meta.append(stack)
        return []
    if code in (0x74, 0x6C, 0x64, 0x91, 0x65, 0x75, 0x90, 0x31, 0x6F):
        items, stack = stack, meta.pop()
        if code == 0x74:  # TUPLE
            stack.append(tuple(items[:KEEP]))
        elif code == 0x6C:  # LIST
            stack.append(items[:KEEP])
        elif code == 0x64:  # DICT
            stack.append(_pairs({}, items))
        elif code == 0x91:  # FROZENSET
            stack.append(NUMBER)
        elif code == 0x65:  # APPENDS
            target = stack[-1]
            if isinstance(target, list) and len(target) < KEEP:
                target.extend(items[:KEEP - len(target)])
        elif code == 0x75:  # SETITEMS
            target = stack[-1]
            if isinstance(target, dict):
                _pairs(target, items)
        elif code == 0x6F:  # OBJ
            facts.calls.append(Call("call", items[0], items[1] if len(items) > 1 else None, at,
                                    tuple(items[1:KEEP])))
            stack.append(Obj(items[0], tuple(items[1:KEEP])))
        # ADDITEMS (0x90) and POP_MARK (0x31) only drop the marked items
    elif code == 0x30:  # POP
        if stack:
            stack.pop()
        else:
            stack = meta.pop()
    elif code == 0x32:  # DUP
        value = stack[-1]
        if isinstance(value, Global):
            value.pushes += 1
        stack.append(value)
    elif code == 0x4E:  # NONE
        stack.append(None)
    elif code == 0x51:  # BINPERSID
        pid = stack.pop()
        if len(facts.persistent) < limits.max_persistent:
            facts.persistent.append(pid)
        if (isinstance(pid, tuple) and len(pid) >= 2 and pid[0] == "module"
                and isinstance(pid[1], Global)):
            # legacy torch.save of a whole nn.Module: torch.load's persistent_load returns
            # the class named in the id (already imported, so already judged)
            pid[1].pushes += 1
            stack.append(pid[1])
        else:
            stack.append(PERSISTENT)
    elif code == 0x52:  # REDUCE
        args = stack.pop()
        func = stack.pop()
        first = args[0] if isinstance(args, tuple) and args else None
        facts.calls.append(Call("call", func, first, at, args))
        stack.append(Obj(func, args))
    elif code == 0x81:  # NEWOBJ
        args = stack.pop()
        cls = stack.pop()
        facts.calls.append(Call("new", cls, None, at))
        stack.append(Obj(cls, args))
    elif code == 0x92:  # NEWOBJ_EX
        stack.pop()
        args = stack.pop()
        cls = stack.pop()
        facts.calls.append(Call("new", cls, None, at))
        stack.append(Obj(cls, args))
    elif code == 0x62:  # BUILD
        state = stack.pop()
        target = stack[-1]
        if isinstance(target, Obj):
            target.state = state
    elif code == 0x61:  # APPEND
        value = stack.pop()
        target = stack[-1]
        if isinstance(target, list) and len(target) < KEEP:
            target.append(value)
    elif code == 0x73:  # SETITEM
        value = stack.pop()
        key = stack.pop()
        target = stack[-1]
        if isinstance(target, dict) and len(target) < KEEP and _hashable(key):
            target[key] = value
    elif code == 0x93:  # STACK_GLOBAL
        name = stack.pop()
        module = stack.pop()
        if isinstance(module, str) and isinstance(name, str):
            stack.append(_import(facts, module, name, at, limits))
        else:
            facts.unresolved.append(at)
            stack.append(EXTENSION)
    elif code == 0x94:  # MEMOIZE
        memo[len(memo)] = stack[-1]
    elif code == 0x7D:  # EMPTY_DICT
        stack.append({})
    elif code == 0x5D:  # EMPTY_LIST
        stack.append([])
    elif code == 0x29:  # EMPTY_TUPLE
        stack.append(())
    elif code == 0x8F:  # EMPTY_SET
        stack.append(NUMBER)
    elif code == 0x85:  # TUPLE1
        stack[-1:] = [(stack[-1],)]
    elif code == 0x86:  # TUPLE2
        stack[-2:] = [tuple(stack[-2:])] if len(stack) >= 2 else _underflow()
    elif code == 0x87:  # TUPLE3
        stack[-3:] = [tuple(stack[-3:])] if len(stack) >= 3 else _underflow()
    elif code == 0x88:
        stack.append(True)
    elif code == 0x89:
        stack.append(False)
    elif code == 0x97:  # NEXT_BUFFER
        stack.append(BUFFER)
    # READONLY_BUFFER (0x98) changes nothing we track
    return stack


def _underflow() -> list[object]:
    raise IndexError("stack underflow")


def _hashable(key: object) -> bool:
    return isinstance(key, (str, int, bool, type(None)))


def _pairs(target: dict[object, object], items: list[object]) -> dict[object, object]:
    for i in range(0, len(items) - 1, 2):
        if len(target) >= KEEP:
            break
        if _hashable(items[i]):
            target[items[i]] = items[i + 1]
    return target


def _line_op(code: int, line: bytes, at: int, stack: list[object], memo: dict[int, object],
             facts: WalkFacts, limits: WalkLimits) -> None:
    if code == 0x49:  # INT (also protocol 0 bools)
        stack.append(True if line == b"01" else False if line == b"00" else int(line))
    elif code in (0x4C, 0x46):  # LONG, FLOAT
        stack.append(NUMBER)
    elif code in (0x53, 0x56):  # STRING, UNICODE: escapes stay escaped, so an escaped name
        # can never look like an allowlisted one
        text = line.decode("latin-1")
        if code == 0x53 and len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
            text = text[1:-1]
        stack.append(text if len(text) <= MAX_STRING else LONG_STR)
    elif code == 0x50:  # PERSID
        if len(facts.persistent) < limits.max_persistent:
            facts.persistent.append(line[:MAX_STRING].decode("latin-1"))
        stack.append(PERSISTENT)
    elif code == 0x67:  # GET
        value = memo[int(line)]
        if isinstance(value, Global):
            value.pushes += 1
        stack.append(value)
    elif code == 0x70:  # PUT
        memo[int(line)] = stack[-1]


def _joblib_array(cur: Cursor, wrapper: Obj, facts: WalkFacts, on_payload: PayloadHook | None,
                  limits: WalkLimits, depth: int) -> None:
    """Skip the array joblib wrote after this wrapper's BUILD (walking it when it is an
    object array, which joblib writes as a whole nested pickle)."""

    def nested() -> None:
        if depth >= limits.max_depth:
            raise _Malformed("nested pickles too deep")
        if not walk(cur, facts, on_payload=on_payload, limits=limits, depth=depth + 1):
            raise _Malformed(f"nested object-array pickle: {facts.problem}")

    state = wrapper.state
    dtype = state.get("dtype") if isinstance(state, dict) else None
    descr, dstate = None, None
    if (isinstance(dtype, Obj) and isinstance(dtype.callee, Global)
            and dtype.callee.name == "dtype" and isinstance(dtype.args, tuple)
            and dtype.args and isinstance(dtype.args[0], str)):
        descr, dstate = dtype.args[0], dtype.state
    skip_array(cur, state, descr, dstate, nested)
