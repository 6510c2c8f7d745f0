"""Every pickle in a byte stream, to the end of the data.

``pickle.load`` reads one pickle and stops; loaders that call it again (legacy ``torch.save``
files hold five pickles then raw storage bytes, and any application may load twice) see
whatever follows. So the walk goes on after each STOP until the data ends: each following
pickle is walked into the same facts (a protocol 0 pickle has no header, so the walk simply
tries), and bytes that are not a pickle are a problem, never ignored. Legacy ``torch.save``
files are followed through their storage blocks, sized from the persistent ids the main
pickle declared.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlflow_supplychain.scanning.cursor import Cursor, Truncated
from mlflow_supplychain.scanning.pickle_walk import (
    Global,
    PayloadHook,
    WalkFacts,
    WalkLimits,
    walk,
)

TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
"""First pickle of a legacy (pre-1.6 layout) ``torch.save`` file."""
LEGACY_PICKLES = 4
"""Pickles after the magic number: protocol version, sys_info, the object, storage keys."""
ELEMENT_SIZE = {
    "DoubleStorage": 8, "FloatStorage": 4, "HalfStorage": 2, "BFloat16Storage": 2,
    "LongStorage": 8, "IntStorage": 4, "ShortStorage": 2, "CharStorage": 1, "ByteStorage": 1,
    "BoolStorage": 1, "ComplexFloatStorage": 8, "ComplexDoubleStorage": 16, "QUInt8Storage": 1,
    "QInt8Storage": 1, "QInt32Storage": 4, "QUInt4x2Storage": 1, "QUInt2x4Storage": 1,
    "UntypedStorage": 1,
}
MAX_PICKLES = 1_000_000


@dataclass
class StreamWalk:
    """How far the walk got."""

    complete: bool
    """Every byte was accounted for (pickles, and storage blocks of legacy torch files)."""
    first_complete: bool
    """The first pickle reached its STOP."""
    pickles: int


def walk_stream(cursor: Cursor, facts: WalkFacts, *, on_payload: PayloadHook | None = None,
                limits: WalkLimits | None = None) -> StreamWalk:
    """Walk pickles from the cursor to the end of the data; ``facts.problem`` says why the walk
    stopped early. Never raises for bad input."""
    if not walk(cursor, facts, on_payload=on_payload, limits=limits):
        return StreamWalk(False, False, 0)
    count = 1
    if facts.value == TORCH_LEGACY_MAGIC:
        return StreamWalk(_legacy_raw(cursor, facts, on_payload, limits), True, 5)
    while True:
        end = cursor.offset
        try:
            done = cursor.at_end()
        except Truncated:  # pragma: no cover - at_end does not raise
            done = True
        if done:
            return StreamWalk(True, True, count)
        if count >= MAX_PICKLES:
            facts.too_complex = True
            facts.problem, facts.problem_offset = f"more than {MAX_PICKLES} pickles", end
            return StreamWalk(False, True, count)
        if not walk(cursor, facts, on_payload=on_payload, limits=limits):
            facts.problem = (f"the data after the pickle that ends at offset {end} is not a "
                             f"pickle ({facts.problem})")
            facts.problem_offset = end
            return StreamWalk(False, True, count)
        count += 1


def _legacy_raw(cursor: Cursor, facts: WalkFacts, on_payload: PayloadHook | None,
                limits: WalkLimits | None) -> bool:
    """The rest of a legacy ``torch.save`` file: four more pickles, then per storage key
    (sorted, as ``torch.load`` reads them) an int64 element count and the raw elements."""
    for _ in range(LEGACY_PICKLES):
        if not walk(cursor, facts, on_payload=on_payload, limits=limits):
            facts.problem = f"legacy torch file: {facts.problem}"
            return False
    storages: dict[str, tuple[int, int]] = {}
    for pid in facts.persistent:
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            continue
        storage_type, key, numel = pid[1], pid[2], pid[4]
        size = ELEMENT_SIZE.get(storage_type.name) if isinstance(storage_type, Global) else None
        if size is None or not isinstance(key, str) or not isinstance(numel, int) or numel < 0:
            facts.problem = f"legacy torch file: storage {key!r} of unknown type or size"
            facts.problem_offset = cursor.offset
            return False
        storages.setdefault(key, (size, numel))
    try:
        for key in sorted(storages):
            size, numel = storages[key]
            written = int.from_bytes(cursor.take(8), "little", signed=True)
            if written != numel:
                facts.problem = (f"legacy torch file: storage {key!r} holds {written} "
                                 f"elements, its header says {numel}")
                facts.problem_offset = cursor.offset
                return False
            cursor.skip(numel * size)
        if not cursor.at_end():
            end = cursor.offset
            while walk(cursor, facts, on_payload=on_payload, limits=limits) \
                    and not cursor.at_end():
                pass  # pickles hidden after the storages are judged too (then refused)
            facts.problem = "legacy torch file: data after the last storage"
            facts.problem_offset = end
            return False
    except Truncated as exc:
        facts.problem, facts.problem_offset = f"legacy torch file: {exc}", cursor.offset
        return False
    return True
