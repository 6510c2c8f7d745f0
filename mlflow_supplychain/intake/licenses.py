"""License identifiers: SPDX expressions plus the named model licenses SPDX does not cover.

Parsing is delegated to ``license-expression`` (the maintained SPDX expression parser);
this module only adds the catalog of model licenses (Llama, Gemma, OpenRAIL...) that
reviewers meet on model hubs and that are not SPDX identifiers.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

from license_expression import ExpressionError, Licensing, get_spdx_licensing


@dataclass(frozen=True)
class ModelLicense:
    """Known restrictions of a named model license, so a reviewer starts from facts."""

    key: str
    title: str
    commercial_use: bool
    redistribution: bool
    derivatives: bool
    field_of_use_limits: bool
    notes: str


_CATALOG: tuple[ModelLicense, ...] = (
    ModelLicense("llama2", "Llama 2 Community License", True, True, True, True,
                 "Acceptable-use policy; >700M monthly users need a separate license."),
    ModelLicense("llama3", "Meta Llama 3 Community License", True, True, True, True,
                 "Acceptable-use policy; attribution; 700M MAU threshold."),
    ModelLicense("llama3.1", "Llama 3.1 Community License", True, True, True, True,
                 "Acceptable-use policy; 'Built with Llama'; 700M MAU threshold."),
    ModelLicense("llama3.2", "Llama 3.2 Community License", True, True, True, True,
                 "Acceptable-use policy; multimodal rights excluded for EU entities."),
    ModelLicense("llama3.3", "Llama 3.3 Community License", True, True, True, True,
                 "Acceptable-use policy; 700M MAU threshold."),
    ModelLicense("llama4", "Llama 4 Community License", True, True, True, True,
                 "Acceptable-use policy; 700M MAU threshold."),
    ModelLicense("gemma", "Gemma Terms of Use", True, True, True, True,
                 "Prohibited-use policy passes to derivatives."),
    ModelLicense("openrail", "Open RAIL", True, True, True, True,
                 "Use restrictions must be passed on to downstream users."),
    ModelLicense("openrail++", "Open RAIL++-M", True, True, True, True,
                 "Use restrictions must be passed on to downstream users."),
    ModelLicense("bigscience-openrail-m", "BigScience Open RAIL-M", True, True, True, True,
                 "Use-based restrictions (Attachment A) bind derivatives."),
    ModelLicense("bigscience-bloom-rail-1.0", "BigScience BLOOM RAIL 1.0", True, True, True, True,
                 "Use-based restrictions bind derivatives."),
    ModelLicense("creativeml-openrail-m", "CreativeML Open RAIL-M", True, True, True, True,
                 "Use-based restrictions bind derivatives and outputs' uses."),
    ModelLicense("deepseek", "DeepSeek License Agreement", True, True, True, True,
                 "Use-based restrictions bind derivatives."),
    ModelLicense("qwen", "Qwen License Agreement", True, True, True, True,
                 "Over 100M MAU needs a separate license."),
    ModelLicense("qwen-research", "Qwen Research License", False, True, True, True,
                 "Non-commercial research use only."),
    ModelLicense("apple-amlr", "Apple Machine Learning Research License", False, True, True, True,
                 "Research use only."),
)

MODEL_LICENSES: Mapping[str, ModelLicense] = {m.key: m for m in _CATALOG}
"""Named model licenses, by lowercase key."""


@functools.lru_cache(maxsize=1)
def _licensing() -> Licensing:
    return get_spdx_licensing()


def _is_named(key: str) -> bool:
    return key.lower() in MODEL_LICENSES or key.startswith("LicenseRef-")


def validate_license_id(expression: str) -> str | None:
    """Check an SPDX expression whose symbols may also be named model licenses.

    Returns a message naming the problem, or ``None`` when the expression is valid.
    """
    if not expression.strip():
        return "is empty"
    try:
        info = _licensing().validate(expression, strict=True)
    except ExpressionError as exc:
        return f"is not a valid license expression ({exc})"
    except AttributeError:
        # license-expression 30.4 crashes with AttributeError while reporting some syntax
        # errors ('MIT OR'); callers (the registry store) must get a message, not a 500.
        return "is not a valid license expression (check the AND/OR operands and parentheses)"
    if not info.errors:
        return None
    unknown = [s for s in info.invalid_symbols if s and not _is_named(s)]
    if info.invalid_symbols and not unknown and all(
        e.startswith("Unknown license key") for e in info.errors
    ):
        return None
    if unknown:
        return (
            f"names unknown license(s) {', '.join(map(repr, unknown))}; use an SPDX id "
            f"(e.g. Apache-2.0), a named model license ({', '.join(sorted(MODEL_LICENSES))}) "
            "or LicenseRef-<name> for a custom one"
        )
    return f"is not a valid license expression ({'; '.join(info.errors)})"


def license_keys(expression: str) -> tuple[str, ...]:
    """Every license symbol in ``expression``, normalised (SPDX case, model keys lowercase)."""
    try:
        parsed = _licensing().parse(expression, validate=False)
    except ExpressionError:
        return ()
    if parsed is None:
        return ()
    keys = []
    for key in _licensing().license_keys(parsed):
        keys.append(key.lower() if key.lower() in MODEL_LICENSES else key)
    return tuple(keys)
