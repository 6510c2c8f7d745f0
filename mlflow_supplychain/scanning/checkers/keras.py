"""Keras models: Lambda layers (serialized Python code) and custom objects.

``.keras`` v3 archives carry their architecture in ``config.json``; legacy ``.h5`` files carry
it as a JSON string in the root attribute ``model_config``. HDF5 is not parsed (that would
need h5py): the file is searched in bounded blocks for the serialized config, which HDF5
stores contiguously. An HDF5 file without a model config is weights only.
"""

from __future__ import annotations

import json
import re
from typing import Any, BinaryIO

from mlflow_supplychain.scanning.findings import Code
from mlflow_supplychain.scanning.inspection import Inspection, Target
from mlflow_supplychain.scanning.json_tree import walk_objects

_BLOCK = 8 << 20
_OVERLAP = 4096
_CONFIG_START = re.compile(rb'\{\s*"(?:class_name|module)"\s*:')
_LAMBDA = re.compile(rb'"class_name"\s*:\s*"(Lambda|TFOpLambda)"')
_FIX_LAMBDA = ("replace Lambda layers with built-in layers or a registered layer class "
               "shipped as reviewed code, and save weights separately")
_FIX_CUSTOM = ("ship custom layers as reviewed, pinned code (not inside the model file) and "
               "load with safe_mode=True")
_BUILTIN_MODULES = ("keras", "tf_keras", "tensorflow.keras", "tensorflow.python.keras")


def check_config(ins: Inspection, config: Any, member: str | None) -> None:
    """Report Lambda layers and custom objects anywhere in a Keras config tree."""
    seen: set[str] = set()
    for node in walk_objects(config):
        cls = node.get("class_name")
        if not isinstance(cls, str):
            continue
        if cls in ("Lambda", "TFOpLambda") and cls not in seen:
            seen.add(cls)
            ins.add(Code.KERAS_LAMBDA, f"{cls} layer carries serialized Python code", member,
                    fix=_FIX_LAMBDA)
        module = node.get("module")
        registered = node.get("registered_name")
        custom = (isinstance(module, str) and not module.startswith(_BUILTIN_MODULES)
                  and module != "builtins") or (isinstance(registered, str) and ">" in registered)
        if custom and f"custom:{cls}" not in seen:
            seen.add(f"custom:{cls}")
            ins.add(Code.KERAS_CUSTOM_OBJECT, f"custom object {cls!r} from module "
                    f"{module or registered!r} runs code from outside the model", member,
                    fix=_FIX_CUSTOM)
        if module == "builtins" and cls == "function" and "function:builtins" not in seen:
            seen.add("function:builtins")
            ins.add(Code.KERAS_CUSTOM_OBJECT, "config references a Python function",
                    member, fix=_FIX_CUSTOM)


def inspect_keras_config(ins: Inspection, raw: bytes, member: str | None) -> None:
    """Check the ``config.json`` member of a ``.keras`` archive."""
    try:
        config = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        ins.add(Code.KERAS_INVALID, f"config.json is not valid JSON: {exc}", member,
                fix="re-save the model with model.save('x.keras')")
        return
    check_config(ins, config, member)
    ins.saw("keras")


def inspect_hdf5(ins: Inspection, f: BinaryIO, t: Target) -> bool:
    """Search an HDF5 file for a Keras model config and check it."""
    member = t.member
    found_config = lambda_seen = False
    tail = b""
    decoder = json.JSONDecoder()
    while True:
        block = f.read(_BLOCK)
        if not block:
            break
        data = tail + block
        lambda_seen = lambda_seen or bool(_LAMBDA.search(data))
        if not found_config:
            for attempt, match in enumerate(_CONFIG_START.finditer(data)):
                if attempt >= 3:
                    break
                text = data[match.start():].decode("utf-8", "replace")
                try:
                    config, _ = decoder.raw_decode(text)
                except (ValueError, RecursionError):
                    continue
                found_config = True
                check_config(ins, config, member)
                break
        tail = data[-_OVERLAP:]
    if lambda_seen and not found_config:
        ins.add(Code.KERAS_LAMBDA, "Lambda layer carries serialized Python code", member,
                fix=_FIX_LAMBDA)
    ins.saw("keras" if found_config else "hdf5")
    return True
