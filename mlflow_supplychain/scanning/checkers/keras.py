"""Keras models: Lambda layers (serialized Python code) and any object outside the Keras
allowlist (custom classes, Keras classes that load code, functions from ``keras.utils``...).

``.keras`` v3 archives carry their architecture in ``config.json`` (Keras 3 reads it with or
without ``metadata.json``); legacy ``.h5`` files carry it as a JSON string in the root
attributes ``model_config`` and ``training_config``. Those attributes are read as HDF5
attribute messages (see :mod:`.hdf5_attributes`) and parsed whole, as Keras parses them. An
HDF5 file without a model config is weights only.
"""

from __future__ import annotations

import json
import struct
from typing import Any, BinaryIO

from mlflow_supplychain.scanning.checkers import keras_allowlist as allow
from mlflow_supplychain.scanning.checkers.hdf5_attributes import (
    AttributeProblem,
    RandomAccess,
    ValueTooLarge,
    filtered_heap,
    find_all,
    read_string_attribute,
)
from mlflow_supplychain.scanning.findings import Code
from mlflow_supplychain.scanning.inspection import Inspection, Target
from mlflow_supplychain.scanning.json_tree import TooManyNodes, walk_objects

_ATTRIBUTES = (b"model_config", b"training_config")
_SUFFIX = b"_config\x00"
"""Common end of the attribute names: one search finds both."""
_FIX_LAMBDA = ("replace Lambda layers with built-in layers or a registered layer class "
               "shipped as reviewed code, and save weights separately")
_FIX_CUSTOM = ("ship custom layers as reviewed, pinned code (not inside the model file) and "
               "load with safe_mode=True")
_FIX_RESAVE = "re-save the model with model.save('x.keras')"


def check_config(ins: Inspection, config: Any, member: str | None) -> None:
    """Report Lambda layers and every object outside the Keras allowlist in a config tree."""
    seen: set[str] = set()

    def once(key: str, code: Code, message: str, fix: str) -> None:
        if key not in seen:
            seen.add(key)
            ins.add(code, message, member, fix=fix)

    try:
        for node in walk_objects(config):
            cls = node.get("class_name")
            if not isinstance(cls, str):
                continue
            module, registered = node.get("module"), node.get("registered_name")
            if cls in allow.LAMBDA_CLASSES:
                once(cls, Code.KERAS_LAMBDA, f"{_short(cls)} carries serialized Python code",
                     _FIX_LAMBDA)
            elif cls == "function":
                name = node.get("config")
                if not _safe_function(module, name, registered):
                    once(f"fn:{module}:{name}", Code.KERAS_CUSTOM_OBJECT,
                         f"config calls the function {_short(module)}.{_short(name)}, which is "
                         "not a Keras activation, loss or metric", _FIX_CUSTOM)
            elif not _safe_class(cls, module, registered):
                once(f"cls:{module}:{cls}", Code.KERAS_CUSTOM_OBJECT,
                     f"object {_short(cls)} from module {_short(module or registered)} is not "
                     "a built-in Keras layer or setting; loading it runs code from outside "
                     "the model or loads code embedded in it", _FIX_CUSTOM)
    except TooManyNodes as exc:
        ins.add(Code.LIMIT_REACHED, f"Keras config not fully examined: {exc}", member,
                fix="split the model or raise the limit after reviewing it")


def _safe_class(cls: str, module: object, registered: object) -> bool:
    if cls.startswith("Custom>") and module is None and cls[7:] in allow.OPTIMIZERS:
        return registered is None  # tf.keras 2.11+ legacy name of its own optimizers
    if cls not in allow.SAFE_CLASSES:
        return False
    if module is not None and not (isinstance(module, str) and allow.is_keras_module(module)):
        return False
    return registered is None or registered == cls


def _safe_function(module: object, name: object, registered: object) -> bool:
    return (isinstance(module, str) and allow.is_safe_function_module(module)
            and isinstance(name, str) and name in allow.SAFE_FUNCTIONS
            and (registered is None or registered == name))


def _short(value: object) -> str:
    """A name from the file, escaped and cut short (never echo file content at length)."""
    text = repr(value) if not isinstance(value, str) else value
    text = text.encode("unicode_escape").decode("ascii")
    return text if len(text) <= 80 else text[:77] + "..."


def inspect_keras_config(ins: Inspection, raw: bytes, member: str | None) -> None:
    """Check the ``config.json`` member of a ``.keras`` archive (Keras 3 reads it whether
    or not ``metadata.json`` is there)."""
    try:
        config = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        ins.add(Code.KERAS_INVALID, f"config.json is not valid JSON: {_short(str(exc))}",
                member, fix=_FIX_RESAVE)
        return
    check_config(ins, config, member)
    looks_keras = isinstance(config, dict) and "class_name" in config
    ins.saw("keras" if looks_keras else "json")


def inspect_hdf5(ins: Inspection, f: BinaryIO, t: Target) -> bool:
    """Read the Keras config attributes of an HDF5 file and check them."""
    member = t.member
    if not f.seekable():
        ins.add(Code.KERAS_INVALID, "HDF5 file in a stream that cannot seek", member,
                fix="store the .h5 file uncompressed")
        return True
    start = f.tell()
    found = False
    view = _Offset(f, start)
    try:
        hits = find_all(view, (_SUFFIX, b"FRHP"))
        if filtered_heap(view, hits[b"FRHP"]):
            ins.add(Code.KERAS_INVALID, "HDF5 file keeps attributes in a compressed heap that "
                    "cannot be inspected", member, fix=_FIX_RESAVE)
            return True
        for end in hits[_SUFFIX]:
            for name in _ATTRIBUTES:
                at = end + len(_SUFFIX) - len(name) - 1
                if at < 0 or not _is_name(view, at, name):
                    continue
                value = read_string_attribute(view, at, name, ins.limits.max_json)
                if value is None:
                    continue
                found = True
                _check_attribute(ins, name, value, member)
    except ValueTooLarge as exc:
        ins.add(Code.LIMIT_REACHED, f"Keras config not examined: {exc}", member,
                fix="re-save the model in the .keras format")
        return True
    except (AttributeProblem, OSError, ValueError, OverflowError, struct.error) as exc:
        ins.add(Code.KERAS_INVALID, f"HDF5 attribute cannot be read: {_short(str(exc))}",
                member, fix=_FIX_RESAVE)
        return True
    ins.saw("keras" if found else "hdf5")
    return True


def _check_attribute(ins: Inspection, name: bytes, value: bytes, member: str | None) -> None:
    try:
        config = json.loads(value.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        ins.add(Code.KERAS_INVALID, f"{name.decode()} is not valid JSON: {_short(str(exc))}",
                member, fix=_FIX_RESAVE)
        return
    check_config(ins, config, member)


def _is_name(f: RandomAccess, at: int, name: bytes) -> bool:
    f.seek(at)
    return bool(f.read(len(name)) == name)


class _Offset:
    """``f`` seen from ``start`` (an HDF5 file inside a container starts mid-stream)."""

    def __init__(self, f: BinaryIO, start: int) -> None:
        self._f, self._start = f, start

    def seek(self, pos: int, whence: int = 0, /) -> int:
        return self._f.seek(pos + self._start if whence == 0 else pos, whence) - self._start

    def read(self, size: int = -1, /) -> bytes:
        return self._f.read(size)

    def tell(self) -> int:
        return self._f.tell() - self._start
