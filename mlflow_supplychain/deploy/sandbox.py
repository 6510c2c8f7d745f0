"""What ``sandboxed`` means at load time: pickles are unpickled by a restricted unpickler that
resolves only the globals the scan accepted, so a global the scanner missed (or that the
walk and CPython's unpickler read differently) cannot be imported while loading.

:func:`plan` decides, from the local scan of the verified files and the model's loader,
whether the model can be loaded that way; :func:`restricted_unpickling` is the context in
which it is loaded. The restriction covers every way MLflow's scikit-learn flavor unpickles
(``pickle.load``/``loads``, ``pickle.Unpickler``, ``cloudpickle.load``/``loads`` and the
pure-Python ``pickle._Unpickler`` that joblib subclasses); other flavors unpickle through
code paths this module cannot reach (``torch.load`` in C++ for TorchScript, custom
loaders), so a ``sandboxed`` model of another flavor is refused rather than loaded
unrestricted. Nothing here isolates the process: code the restricted globals run
(allowlisted constructors) runs in the caller's process, as for any ``permitted`` model.
"""

from __future__ import annotations

import io
import pickle
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from mlflow_supplychain.scanning.results import ScanReport

RESTRICTABLE = frozenset({"pickle_allowlisted"})
"""Sandboxed formats a restricted unpickler makes safe to load."""
INERT = frozenset({"safetensors", "onnx", "gguf", "numpy", "json", "text", "hdf5", "keras",
                   "requirements_unpinned"})
"""Formats whose loading runs no code of the file (data, or facts about the environment):
sandboxing them needs nothing at load time."""
SANDBOX_LOADERS = frozenset({"mlflow.sklearn"})
"""pyfunc loader modules whose unpickling :func:`restricted_unpickling` fully covers."""

_LOCK = threading.RLock()


@dataclass(frozen=True)
class SandboxPlan:
    """How a verified model may be loaded."""

    restricted: bool
    """Load inside :func:`restricted_unpickling` (some file is a sandboxed pickle)."""
    allowed: frozenset[str] = frozenset()
    """The only ``module.name`` globals the restricted unpickler resolves."""
    refusals: tuple[tuple[str, str], ...] = ()
    """``(file, why)`` for sandboxed files that cannot be loaded restricted."""


def plan(report: ScanReport, loader_module: str | None) -> SandboxPlan:
    """Decide how to load the scanned files with the pyfunc ``loader_module``.

    Every ``sandboxed`` file must be a pickle the restricted unpickler covers (with a loader
    in :data:`SANDBOX_LOADERS`) or a format whose loading runs nothing; anything else is a
    refusal (TorchScript, an unknown format moved to ``sandboxed``, a pickle of a flavor
    that unpickles through its own code).
    """
    allowed: set[str] = set()
    refusals: list[tuple[str, str]] = []
    restricted = False
    for result in report.files:
        if result.verdict_name != "sandboxed":
            continue
        names = set(result.formats) - INERT
        other = names - RESTRICTABLE
        if other:
            refusals.append((result.path, (f"sandboxed format(s) {', '.join(sorted(other))} "
                             "cannot be loaded through a restricted unpickler")))
            continue
        if names:
            restricted = True
            allowed.update(result.globals)
            if loader_module not in SANDBOX_LOADERS:
                refusals.append((result.path, (f"a sandboxed pickle, but the model's loader "
                                 f"{loader_module or '(none)'} does not unpickle through the "
                                 "restricted unpickler")))
    return SandboxPlan(restricted, frozenset(allowed), tuple(refusals))


class GlobalRefused(pickle.UnpicklingError):
    """The restricted unpickler met a global the scan did not accept."""


@dataclass
class Stats:
    """What the restricted unpickler resolved (and refused) while it was installed."""

    resolved: int = 0
    refused: list[str] = field(default_factory=list)


@contextmanager
def restricted_unpickling(allowed: Iterable[str]) -> Iterator[Stats]:
    """Within the block, every unpickling through ``pickle``, ``cloudpickle`` or
    ``pickle._Unpickler`` subclasses resolves only ``allowed`` globals; any other raises
    :class:`GlobalRefused`. Process-wide while active (a lock serialises loads)."""
    permitted = frozenset(allowed)
    stats = Stats()

    def check(module: str, name: str) -> None:
        full = f"{module}.{name}"
        if full not in permitted:
            stats.refused.append(full)
            raise GlobalRefused(f"{full!r} was not accepted by the scan; refusing to load it")
        stats.resolved += 1

    c_find_class = pickle.Unpickler.find_class
    py_find_class = pickle._Unpickler.find_class

    class RestrictedUnpickler(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            check(module, name)
            return c_find_class(self, module, name)

    def restricted_py_find_class(self: Any, module: str, name: str) -> Any:
        check(module, name)
        return py_find_class(self, module, name)

    def load(file: Any, **kwargs: Any) -> Any:
        return RestrictedUnpickler(file, **kwargs).load()

    def loads(data: Any, /, **kwargs: Any) -> Any:
        return RestrictedUnpickler(io.BytesIO(data), **kwargs).load()

    targets: list[tuple[Any, str, Any]] = [
        (pickle, "Unpickler", RestrictedUnpickler), (pickle, "load", load),
        (pickle, "loads", loads), (pickle._Unpickler, "find_class", restricted_py_find_class)]
    with _LOCK:
        import cloudpickle  # MLflow's default serializer for scikit-learn models

        # joblib's NumpyUnpickler subclasses pickle._Unpickler: covered by its find_class
        targets += [(cloudpickle, "load", load), (cloudpickle, "loads", loads)]
        saved = [(obj, attr, getattr(obj, attr)) for obj, attr, _ in targets]
        try:
            for obj, attr, value in targets:
                setattr(obj, attr, value)
            yield stats
        finally:
            for obj, attr, value in saved:
                setattr(obj, attr, value)
