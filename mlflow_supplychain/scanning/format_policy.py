"""The format section of the policy as the scanner uses it, without importing pydantic.

The scan CLI must start fast (it is compared with picklescan on wall time), so the scanner
works on this plain frozen value. :func:`from_formats` converts the policy's ``Formats``
model; :data:`DEFAULT` mirrors ``Formats()`` and a unit test keeps the two identical.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from mlflow_supplychain.scanning.findings import ERROR

PERMITTED, SANDBOXED, PROHIBITED = "permitted", "sandboxed", "prohibited"
_RANK = {PERMITTED: 0, SANDBOXED: 1, PROHIBITED: 2}


class FormatsLike(Protocol):
    """Structural view of ``mlflow_supplychain.policy.schema.Formats``."""

    @property
    def permitted(self) -> tuple[str, ...]: ...
    @property
    def sandboxed(self) -> tuple[str, ...]: ...
    @property
    def prohibited(self) -> tuple[str, ...]: ...
    @property
    def pickle_allowlist(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class FormatPolicy:
    """Format name -> verdict, plus the extra pickle globals the policy allows."""

    permitted: tuple[str, ...]
    sandboxed: tuple[str, ...]
    prohibited: tuple[str, ...]
    pickle_allowlist: tuple[str, ...] = ()

    def verdict_of(self, format_name: str) -> str:
        """``permitted``/``sandboxed``/``prohibited`` for a format name.

        A name the policy does not list gets the verdict of ``unknown`` (prohibited unless
        the policy says otherwise): fail closed.
        """
        for verdict in (PROHIBITED, SANDBOXED, PERMITTED):
            if format_name in getattr(self, verdict):
                return verdict
        if format_name != "unknown":
            return self.verdict_of("unknown")
        return PROHIBITED

    def worst(self, format_names: set[str] | frozenset[str]) -> str | None:
        """The worst verdict over ``format_names``; None when any is an error and none is
        prohibited (could not decide), or when the set is empty."""
        verdicts = {self.verdict_of(n) for n in format_names if n != ERROR}
        if PROHIBITED in verdicts:
            return PROHIBITED
        if ERROR in format_names or not verdicts:
            return None
        return max(verdicts, key=_RANK.__getitem__)


def from_formats(formats: FormatsLike) -> FormatPolicy:
    """Convert the policy's ``Formats`` model (or anything shaped like it)."""
    return FormatPolicy(tuple(formats.permitted), tuple(formats.sandboxed),
                        tuple(formats.prohibited), tuple(formats.pickle_allowlist))


DEFAULT = FormatPolicy(
    permitted=("safetensors", "onnx", "gguf", "numpy", "json", "text", "keras", "hdf5"),
    sandboxed=("pickle_allowlisted", "torchscript", "requirements_unpinned"),
    prohibited=("pickle_unsafe", "cloudpickle", "keras_lambda", "onnx_custom_op", "unknown",
                "keras_custom_object", "onnx_external_data_escape", "archive_unsafe",
                "mlflow_code", "requirements_untrusted_source", "chat_template_unsafe"),
)
