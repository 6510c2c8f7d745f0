"""The ``storages`` and ``tensors`` members of legacy (pre-1.6) ``torch.save`` tar files.

Each is a sequence of pickles interleaved with raw data, read by ``torch.load`` as: a pickled
count, then per entry a pickled tuple followed by raw bytes (storage data, or tensor shape and
strides), then (storages only) a pickle of storage views. A plain walk would stop at the first
raw block and never see the later pickles, so this follows the same layout, sizing each raw
block from the tuple (storage type -> element size) and walking every pickle.
"""

from __future__ import annotations

from typing import BinaryIO

from mlflow_supplychain.scanning.cursor import Cursor, Truncated
from mlflow_supplychain.scanning.findings import Code
from mlflow_supplychain.scanning.inspection import Inspection
from mlflow_supplychain.scanning.pickle_stream import ELEMENT_SIZE
from mlflow_supplychain.scanning.pickle_walk import Global, WalkFacts, walk
from mlflow_supplychain.scanning.pickles import judge

LEGACY_MEMBERS = ("storages", "tensors")
MAX_ENTRIES = 1_000_000


class LayoutError(Exception):
    """The member does not follow the legacy layout."""


def inspect_legacy_member(ins: Inspection, f: BinaryIO, label: str, name: str) -> None:
    """Walk every pickle of a legacy ``storages``/``tensors`` member and judge them together."""
    cursor = Cursor(f)
    facts = WalkFacts()
    hook = ins._payload_hook(label, 1)

    def next_value() -> object:
        if not walk(cursor, facts, on_payload=hook):
            raise LayoutError(facts.problem or "damaged pickle")
        return facts.value

    complete = True
    try:
        count = next_value()
        if not isinstance(count, int) or not 0 <= count <= MAX_ENTRIES:
            raise LayoutError(f"entry count {count!r} is not a small non-negative integer")
        for _ in range(count):
            entry = next_value()
            if not isinstance(entry, tuple) or len(entry) != 3:
                raise LayoutError("entry header is not a 3-tuple")
            if name == "storages":
                storage_type = entry[2]
                size = ELEMENT_SIZE.get(storage_type.name) if isinstance(storage_type, Global) \
                    else None
                if size is None:
                    raise LayoutError(f"unknown storage type {storage_type!r}")
                numel = int.from_bytes(cursor.take(8), "little", signed=True)
                if numel < 0:
                    raise LayoutError("negative storage size")
                cursor.skip(numel * size)
            else:
                ndim = int.from_bytes(cursor.take(4), "little", signed=True)
                if not 0 <= ndim <= 64:
                    raise LayoutError(f"tensor with {ndim} dimensions")
                cursor.skip(4 + 16 * ndim + 8)
        if name == "storages":
            next_value()  # storage views
    except (LayoutError, Truncated) as exc:
        complete = False
        facts.problem = f"legacy torch '{name}' layout: {exc}"
    result = judge(facts, complete, ins.where(label), ins.allowlist)
    ins._record_pickle(result.findings, complete)
    if not complete and not result.findings:
        ins.add(Code.PICKLE_MALFORMED, facts.problem or "damaged", label)
