"""joblib's inline arrays: joblib writes each numpy array's raw bytes (or, for object arrays,
a whole nested pickle) straight after the ``NumpyArrayWrapper``'s BUILD opcode. The walker
sizes the array from the wrapper's state and skips it, so joblib files stay walkable.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from mlflow_supplychain.scanning.cursor import Cursor

_DESCR = re.compile(r"[<>|=]?([bBiufcmMOSUV])(\d*)")


class ArrayLayoutError(ValueError):
    """The wrapper's state does not say how large the array is."""


def is_joblib_wrapper(callee: object) -> bool:
    """True for ``joblib.numpy_pickle.NumpyArrayWrapper`` (also the vendored sklearn copy)."""
    module, name = getattr(callee, "module", None), getattr(callee, "name", None)
    return (name == "NumpyArrayWrapper" and isinstance(module, str)
            and module.endswith("numpy_pickle"))


def skip_array(cur: Cursor, state: object, descr: str | None, dtype_state: object,
               walk_nested: Callable[[], None]) -> None:
    """Skip the array bytes at the cursor, or call ``walk_nested`` for object arrays.

    Raises:
        ArrayLayoutError: the shape or dtype cannot be read from the wrapper state.
    """
    if not isinstance(state, dict):
        raise ArrayLayoutError("joblib array wrapper without a readable state")
    shape = state.get("shape")
    if descr is None or not isinstance(shape, tuple) or not all(
            isinstance(d, int) and d >= 0 for d in shape):
        raise ArrayLayoutError("cannot size a joblib array (unreadable dtype or shape)")
    match = _DESCR.fullmatch(descr)
    if match is None:
        raise ArrayLayoutError(f"cannot size a joblib array of dtype {descr!r}")
    letter, digits = match.group(1), match.group(2)
    parts = dtype_state if isinstance(dtype_state, tuple) else ()
    flags = parts[7] if len(parts) >= 8 else 0
    if letter == "O" or (isinstance(flags, int) and flags & 1):
        walk_nested()
        return
    elsize = parts[5] if len(parts) >= 6 else -1
    if isinstance(elsize, int) and elsize > 0 and letter in "SUV":
        itemsize = elsize
    elif digits:
        itemsize = int(digits) * (4 if letter == "U" else 1)
    else:
        raise ArrayLayoutError(f"cannot size a joblib array of dtype {descr!r}")
    count = 1
    for dim in shape:
        count *= dim
    if isinstance(state.get("numpy_array_alignment_bytes"), int):
        cur.skip(cur.take(1)[0])
    cur.skip(count * itemsize)
