"""TorchScript archives (``torch.jit.save``): their own format, not an unsafe pickle.

A TorchScript archive is a zip like a ``torch.save`` checkpoint, plus ``constants.pkl`` and
the model's TorchScript source under ``code/``; ``torch.load`` recognises it by the
``constants.pkl`` member (``torch.serialization._is_torchscript_zip``) and hands it to
``torch.jit.load``. Its pickles name the archive's own TorchScript classes (``__torch__.*``)
and TorchScript's container helpers (``torch.jit._pickle.*``), which TorchScript's C++
unpickler resolves against the compiled ``code/`` (never a Python import). Those globals make
the file ``torchscript``, a format with its own verdict in the policy; every other global is
judged by the ML allowlist as in any pickle (a plain ``pickle.load`` of the same member would
import it).

Loading a TorchScript archive runs its compiled TorchScript code (``__setstate__``, forward),
which is not arbitrary Python but can call any registered operator: hence ``sandboxed`` by
default, never ``permitted``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from mlflow_supplychain.scanning.allowlist import Allowlist, GlobalCheck

FORMAT = "torchscript"
MARKER = "constants.pkl"
JIT_PICKLE = frozenset({"build_intlist", "build_tensorlist", "build_doublelist",
                        "build_boollist", "build_tensor_from_id", "restore_type_tag"})
"""``torch.jit._pickle`` helpers the TorchScript unpickler implements itself."""
_PART = re.compile(r"(?!__\w*__$)[A-Za-z_][A-Za-z0-9_]*")


def roots(names: Iterable[str], member: str | None) -> set[str]:
    """Label prefixes (``<member>!<top>/``) of the TorchScript archive with these member
    names, if it is one: ``<top>/constants.pkl`` is present, as ``torch.load`` checks."""
    found = set()
    for name in names:
        top, _, rest = name.partition("/")
        if rest == MARKER and top:
            found.add(f"{member}!{top}/" if member else f"{top}/")
    return found


def is_torchscript_global(module: str, name: str) -> bool:
    """A TorchScript class of the archive or one of TorchScript's container helpers."""
    if module == "torch.jit._pickle":
        return name in JIT_PICKLE
    parts = module.split(".")
    return (parts[0] == "__torch__" and all(_PART.fullmatch(p) for p in parts[1:])
            and bool(_PART.fullmatch(name)))


class TorchScriptAllowlist(Allowlist):
    """The file's allowlist, plus the globals TorchScript resolves itself."""

    def __init__(self, base: Allowlist) -> None:
        super().__init__()
        self._base = base

    def check(self, module: str, name: str) -> GlobalCheck:
        """The base answer, or allowed (and callable) for TorchScript's own globals."""
        answer = self._base.check(module, name)
        if not answer.allowed and is_torchscript_global(module, name):
            return GlobalCheck(True, True)
        return answer


def uses_torchscript(accepted: Iterable[str]) -> bool:
    """Whether any accepted ``module.name`` is TorchScript's own."""
    return any(full.startswith(("__torch__.", "torch.jit._pickle.")) for full in accepted)
