"""What the scanner reports: findings, their codes, and where each was found.

Every finding code maps to exactly one policy format name (see ``Formats`` in the policy
schema), so the policy decides the verdict and the scanner only reports facts. Codes whose
format is :data:`ERROR` mean "could not decide": they never yield a clean verdict.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from mlflow_supplychain.scanning.excerpt import printable

ERROR = "error"
"""Pseudo format of findings that stop the scanner from deciding."""


class Severity(str, enum.Enum):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class Code(str, enum.Enum):
    """Finding codes. The value is stable and appears in JSON and SARIF output."""

    PICKLE_UNSAFE_GLOBAL = "SC101"
    PICKLE_UNRESOLVED_GLOBAL = "SC102"
    PICKLE_UNSAFE_CALL = "SC103"
    PICKLE_EXTENSION_REGISTRY = "SC104"
    CLOUDPICKLE_CODE = "SC105"
    PICKLE_MALFORMED = "SC110"
    PICKLE_TOO_COMPLEX = "SC111"
    NESTED_TOO_DEEP = "SC120"
    ARCHIVE_TRAVERSAL = "SC201"
    ARCHIVE_SYMLINK = "SC202"
    ARCHIVE_DUPLICATE = "SC203"
    ARCHIVE_BOMB = "SC204"
    ARCHIVE_ENCRYPTED = "SC205"
    ARCHIVE_INCONSISTENT = "SC206"
    ARCHIVE_UNSUPPORTED = "SC207"
    ARCHIVE_MALFORMED = "SC210"
    DECOMPRESSION_FAILED = "SC211"
    SAFETENSORS_INVALID = "SC301"
    NUMPY_INVALID = "SC302"
    GGUF_INVALID = "SC303"
    CHAT_TEMPLATE_UNSAFE = "SC304"
    CHAT_TEMPLATE_INVALID = "SC305"
    ONNX_EXTERNAL_DATA_ESCAPE = "SC311"
    ONNX_CUSTOM_OP = "SC312"
    ONNX_INVALID = "SC313"
    KERAS_LAMBDA = "SC321"
    KERAS_CUSTOM_OBJECT = "SC322"
    KERAS_INVALID = "SC323"
    SKOPS_UNTRUSTED_TYPE = "SC331"
    SKOPS_INVALID = "SC332"
    MLFLOW_PYTHON_MODEL = "SC401"
    MLFLOW_MODEL_FROM_CODE = "SC402"
    MLFLOW_CODE_PATHS = "SC403"
    REQUIREMENT_UNPINNED = "SC404"
    REQUIREMENT_UNTRUSTED_SOURCE = "SC405"
    MLMODEL_INVALID = "SC406"
    UNKNOWN_FORMAT = "SC501"
    UNREADABLE = "SC502"
    LIMIT_REACHED = "SC503"

    @property
    def policy_format(self) -> str:
        """The policy format name this finding classifies its file as."""
        return _FORMAT[self]

    @property
    def default_severity(self) -> Severity:
        return _SEVERITY.get(self.policy_format, Severity.HIGH)


_FORMAT: dict[Code, str] = {
    Code.PICKLE_UNSAFE_GLOBAL: "pickle_unsafe",
    Code.PICKLE_UNRESOLVED_GLOBAL: "pickle_unsafe",
    Code.PICKLE_UNSAFE_CALL: "pickle_unsafe",
    Code.PICKLE_EXTENSION_REGISTRY: "pickle_unsafe",
    Code.CLOUDPICKLE_CODE: "cloudpickle",
    Code.PICKLE_MALFORMED: ERROR,
    Code.PICKLE_TOO_COMPLEX: ERROR,
    Code.NESTED_TOO_DEEP: ERROR,
    Code.ARCHIVE_TRAVERSAL: "archive_unsafe",
    Code.ARCHIVE_SYMLINK: "archive_unsafe",
    Code.ARCHIVE_DUPLICATE: "archive_unsafe",
    Code.ARCHIVE_BOMB: "archive_unsafe",
    Code.ARCHIVE_ENCRYPTED: ERROR,
    Code.ARCHIVE_INCONSISTENT: "archive_unsafe",
    Code.ARCHIVE_UNSUPPORTED: ERROR,
    Code.ARCHIVE_MALFORMED: ERROR,
    Code.DECOMPRESSION_FAILED: ERROR,
    Code.SAFETENSORS_INVALID: ERROR,
    Code.NUMPY_INVALID: ERROR,
    Code.GGUF_INVALID: ERROR,
    Code.CHAT_TEMPLATE_UNSAFE: "chat_template_unsafe",
    Code.CHAT_TEMPLATE_INVALID: ERROR,
    Code.ONNX_EXTERNAL_DATA_ESCAPE: "onnx_external_data_escape",
    Code.ONNX_CUSTOM_OP: "onnx_custom_op",
    Code.ONNX_INVALID: ERROR,
    Code.KERAS_LAMBDA: "keras_lambda",
    Code.KERAS_CUSTOM_OBJECT: "keras_custom_object",
    Code.KERAS_INVALID: ERROR,
    Code.SKOPS_UNTRUSTED_TYPE: "pickle_unsafe",
    Code.SKOPS_INVALID: ERROR,
    Code.MLFLOW_PYTHON_MODEL: "cloudpickle",
    Code.MLFLOW_MODEL_FROM_CODE: "mlflow_code",
    Code.MLFLOW_CODE_PATHS: "mlflow_code",
    Code.REQUIREMENT_UNPINNED: "requirements_unpinned",
    Code.REQUIREMENT_UNTRUSTED_SOURCE: "requirements_untrusted_source",
    Code.MLMODEL_INVALID: ERROR,
    Code.UNKNOWN_FORMAT: "unknown",
    Code.UNREADABLE: ERROR,
    Code.LIMIT_REACHED: ERROR,
}

_SEVERITY: dict[str, Severity] = {
    "pickle_unsafe": Severity.CRITICAL,
    "cloudpickle": Severity.CRITICAL,
    "keras_lambda": Severity.CRITICAL,
    "chat_template_unsafe": Severity.CRITICAL,
    "archive_unsafe": Severity.HIGH,
    "requirements_unpinned": Severity.LOW,
    "unknown": Severity.MEDIUM,
    ERROR: Severity.HIGH,
}


@dataclass(frozen=True)
class Location:
    """Where a finding is: the file, the member inside a container, the byte offset."""

    file: str
    member: str | None = None
    """Path inside an archive or container, ``a.zip!b.pt!data.pkl`` style when nested."""
    offset: int | None = None
    """Byte offset (opcode offset for pickles) inside the member or file."""

    def render(self) -> str:
        text = self.file + (f"!{self.member}" if self.member else "")
        return text + (f"@{self.offset}" if self.offset is not None else "")


@dataclass(frozen=True)
class Finding:
    """One fact the scanner found, with the fix that would clear it."""

    code: Code
    message: str
    location: Location
    fix: str = ""
    severity: Severity = field(default=Severity.HIGH)

    @classmethod
    def of(cls, code: Code, message: str, location: Location, fix: str = "") -> Finding:
        """Build a finding with the code's default severity. The message is cut short and
        its control characters escaped, whatever a checker put in it."""
        return cls(code, printable(message), location, fix, code.default_severity)

    @property
    def format(self) -> str:
        return self.code.policy_format

    @property
    def is_error(self) -> bool:
        return self.code.policy_format == ERROR

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code.value, "name": self.code.name.lower(),
                "severity": self.severity.value, "format": self.format,
                "message": self.message, "fix": self.fix,
                "location": {"file": self.location.file, "member": self.location.member,
                             "offset": self.location.offset}}
