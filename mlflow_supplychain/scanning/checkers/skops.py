"""skops archives: every type, function and method named in ``schema.json`` must be on the
same ML allowlist pickles are judged by (skops' own "untrusted types" idea, enforced)."""

from __future__ import annotations

import json
from typing import Any

from mlflow_supplychain.scanning.findings import Code
from mlflow_supplychain.scanning.inspection import Inspection
from mlflow_supplychain.scanning.json_tree import walk_objects

_PLAIN_BUILTINS = frozenset({"dict", "list", "tuple", "str", "int", "float", "bool", "NoneType",
                            "bytes", "bytearray", "set", "frozenset", "complex", "slice"})
_FIX = ("load only after adding the type to the policy's formats.pickle_allowlist, or "
        "re-save the model without custom types")


def inspect_skops_schema(ins: Inspection, raw: bytes, member: str | None) -> None:
    """Check a skops ``schema.json``."""
    try:
        schema = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        ins.add(Code.SKOPS_INVALID, f"schema.json is not valid JSON: {exc}", member,
                fix="re-save with skops.io.dump")
        return
    untrusted = sorted(_untrusted(ins, schema))
    for name in untrusted:
        ins.add(Code.SKOPS_UNTRUSTED_TYPE, f"untrusted type {name}", member, fix=_FIX)
    if not untrusted:
        ins.saw("pickle_allowlisted")


def _untrusted(ins: Inspection, schema: Any) -> set[str]:
    found: set[str] = set()
    for node in walk_objects(schema):
        loader = node.get("__loader__")
        module, cls = node.get("__module__"), node.get("__class__")
        content = node.get("content")
        if loader == "FunctionNode" and isinstance(content, dict):
            module, cls = content.get("module_path"), content.get("function")
        elif loader == "TypeNode" and isinstance(content, dict):
            module, cls = content.get("__module__"), content.get("__class__")
        elif loader in ("MethodNode", "OperatorFuncNode"):
            found.add(f"{module}.{cls} ({loader})")
            continue
        if not isinstance(module, str) or not isinstance(cls, str):
            continue
        if module == "builtins" and cls in _PLAIN_BUILTINS:
            continue
        if not ins.allowlist.check(module, cls).allowed:
            found.add(f"{module}.{cls}")
    return found
