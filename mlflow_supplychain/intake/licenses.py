"""License identifiers: SPDX expressions plus the named model licenses SPDX does not cover.

Parsing is delegated to ``license-expression`` (the maintained SPDX expression parser);
this module only adds the catalog of model licenses (Llama, Gemma, OpenRAIL...) that
reviewers meet on model hubs and that are not SPDX identifiers, and the known terms of a
few common licenses, so a reviewer starts from facts (:func:`license_terms`).

The terms are a summary for triage, not legal advice: a reviewer still reads the license.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

from license_expression import AND, OR, ExpressionError, LicenseSymbol, Licensing, get_spdx_licensing


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
    output_limits: bool = False
    """The license restricts what model outputs may be used for."""
    binds_derivatives: bool = True
    """Derivatives (fine-tunes, adapters) must stay under this license or carry its terms."""

    @property
    def terms(self) -> LicenseTerms:
        """The license's known terms in the shape :func:`license_terms` returns."""
        return LicenseTerms(
            commercial_use=self.commercial_use, redistribution=self.redistribution,
            derivatives=self.derivatives, field_of_use_limits=self.field_of_use_limits,
            output_limits=self.output_limits,
            carried_by_derivatives=frozenset({self.key}) if self.binds_derivatives else frozenset(),
            notes=(f"{self.key}: {self.notes}",))


@dataclass(frozen=True)
class LicenseTerms:
    """What a license (or a license expression) is known to allow.

    ``None`` means unknown: the catalog does not know the license, or the expression mixes
    known and unknown licenses so the answer depends on the unknown one.
    """

    commercial_use: bool | None
    redistribution: bool | None
    derivatives: bool | None
    field_of_use_limits: bool | None
    output_limits: bool | None
    carried_by_derivatives: frozenset[str]
    """License keys a derivative must keep in its own license expression."""
    notes: tuple[str, ...] = ()


_CATALOG: tuple[ModelLicense, ...] = (
    ModelLicense("llama2", "Llama 2 Community License", True, True, True, True,
                 "Acceptable-use policy; >700M monthly users need a separate license; outputs may "
                 "not be used to improve other LLMs.", output_limits=True),
    ModelLicense("llama3", "Meta Llama 3 Community License", True, True, True, True,
                 "Acceptable-use policy; attribution; 700M MAU threshold; outputs may not be used to "
                 "improve other LLMs.", output_limits=True),
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
                 "Use-based restrictions bind derivatives and outputs' uses.", output_limits=True),
    ModelLicense("deepseek", "DeepSeek License Agreement", True, True, True, True,
                 "Use-based restrictions bind derivatives."),
    ModelLicense("qwen", "Qwen License Agreement", True, True, True, True,
                 "Over 100M MAU needs a separate license."),
    ModelLicense("qwen-research", "Qwen Research License", False, True, True, True,
                 "Non-commercial research use only."),
    ModelLicense("apple-amlr", "Apple Machine Learning Research License", False, True, True, True,
                 "Research use only."),
    ModelLicense("mnpl", "Mistral AI Non-Production License", False, True, True, True,
                 "Non-production (research, testing) use only; commercial use needs a license."),
    ModelLicense("mrl", "Mistral AI Research License", False, True, True, True,
                 "Research use only; commercial use needs a separate license."),
    ModelLicense("nvidia-open-model", "NVIDIA Open Model License", True, True, True, True,
                 "Guardrail and attribution terms pass to derivatives."),
    ModelLicense("stabilityai-community", "Stability AI Community License", True, True, True, True,
                 "Commercial use only under US$1M annual revenue; acceptable-use policy."),
)

MODEL_LICENSES: Mapping[str, ModelLicense] = {m.key: m for m in _CATALOG}
"""Named model licenses, by lowercase key."""


def _spdx(commercial: bool, derivatives: bool, carried: bool, note: str) -> tuple[bool, bool, bool, str]:
    return commercial, derivatives, carried, note


# Known terms of common SPDX licenses met on model hubs: (commercial use, derivatives allowed,
# derivatives must keep the license, note). All of them allow redistribution.
_SPDX_TERMS: Mapping[str, tuple[bool, bool, bool, str]] = {
    "Apache-2.0": _spdx(True, True, False, "keep the NOTICE and license text"),
    "MIT": _spdx(True, True, False, "keep the copyright notice"),
    "BSD-2-Clause": _spdx(True, True, False, "keep the copyright notice"),
    "BSD-3-Clause": _spdx(True, True, False, "keep the copyright notice; no endorsement"),
    "CC0-1.0": _spdx(True, True, False, "public-domain dedication"),
    "Unlicense": _spdx(True, True, False, "public-domain dedication"),
    "CC-BY-4.0": _spdx(True, True, False, "attribution"),
    "CC-BY-SA-4.0": _spdx(True, True, True, "share-alike: derivatives keep the license"),
    "CC-BY-NC-4.0": _spdx(False, True, True, "non-commercial use only"),
    "CC-BY-NC-SA-4.0": _spdx(False, True, True, "non-commercial, share-alike"),
    "CC-BY-ND-4.0": _spdx(True, False, False, "no derivatives"),
    "CC-BY-NC-ND-4.0": _spdx(False, False, False, "non-commercial, no derivatives"),
    "GPL-3.0-only": _spdx(True, True, True, "copyleft: derivatives keep the license"),
    "GPL-3.0-or-later": _spdx(True, True, True, "copyleft: derivatives keep the license"),
    "AGPL-3.0-only": _spdx(True, True, True, "network copyleft"),
    "AGPL-3.0-or-later": _spdx(True, True, True, "network copyleft"),
}


def known_terms(key: str) -> LicenseTerms | None:
    """Known terms of one license symbol (SPDX id or named model license), or ``None``."""
    model = MODEL_LICENSES.get(key.lower())
    if model is not None:
        return model.terms
    spdx = _SPDX_TERMS.get(key)
    if spdx is None:
        return None
    commercial, derivatives, carried, note = spdx
    return LicenseTerms(commercial_use=commercial, redistribution=True, derivatives=derivatives,
                        field_of_use_limits=False, output_limits=False,
                        carried_by_derivatives=frozenset({key}) if carried else frozenset(),
                        notes=(f"{key}: {note}",))


_UNKNOWN = LicenseTerms(None, None, None, None, None, frozenset())


def _all(values: list[bool | None]) -> bool | None:
    if any(v is False for v in values):
        return False
    return True if all(v is True for v in values) else None


def _any(values: list[bool | None]) -> bool | None:
    if any(v is True for v in values):
        return True
    return False if all(v is False for v in values) else None


def _combine(parts: list[LicenseTerms], conjunction: bool) -> LicenseTerms:
    """AND: every license applies (the most restrictive answer wins); OR: the licensee may pick
    any one (the most permissive known alternative wins)."""
    allow, limit = (_all, _any) if conjunction else (_any, _all)
    if conjunction:
        carried: frozenset[str] = frozenset().union(*(p.carried_by_derivatives for p in parts))
    else:
        # the licensee may choose the alternative that binds derivatives least
        carried = min((p.carried_by_derivatives for p in parts), key=len)
    return LicenseTerms(
        commercial_use=allow([p.commercial_use for p in parts]),
        redistribution=allow([p.redistribution for p in parts]),
        derivatives=allow([p.derivatives for p in parts]),
        field_of_use_limits=limit([p.field_of_use_limits for p in parts]),
        output_limits=limit([p.output_limits for p in parts]),
        carried_by_derivatives=carried,
        notes=tuple(n for p in parts for n in p.notes))


def license_terms(expression: str) -> LicenseTerms:
    """The known terms of an SPDX expression whose symbols may be named model licenses.

    Unknown licenses (and unparseable expressions) give ``None`` answers, never a guess.
    """
    try:
        parsed = _licensing().parse(expression, validate=False)
    except ExpressionError:
        return _UNKNOWN
    if parsed is None:
        return _UNKNOWN
    return _terms_of(parsed)


def _terms_of(node: object) -> LicenseTerms:
    if isinstance(node, (AND, OR)):
        return _combine([_terms_of(arg) for arg in node.args], isinstance(node, AND))
    if isinstance(node, LicenseSymbol):
        key = str(node.key)
        return known_terms(key) or known_terms(key.lower()) or _UNKNOWN
    # "X WITH exception": the exception only grants more, so X's terms are a safe floor
    inner = getattr(node, "license_symbol", None)
    return _terms_of(inner) if inner is not None else _UNKNOWN


@functools.lru_cache(maxsize=1)
def _licensing() -> Licensing:
    return get_spdx_licensing()


def _is_named(key: str) -> bool:
    return key.lower() in MODEL_LICENSES or key.startswith("LicenseRef-")


# Both are pure functions of a short string and parsing dominates the gate's evaluation
# (policy impact evaluates thousands of versions): memoised, bounded.
@functools.lru_cache(maxsize=4096)
def validate_license_id(expression: str) -> str | None:
    """Check an SPDX expression whose symbols may also be named model licenses.

    Returns a message naming the problem, or ``None`` when the expression is valid.
    """
    if not expression.strip():
        return "is empty"
    try:
        info = _licensing().validate(expression, strict=True)
    except (ExpressionError, AttributeError) as exc:
        # license-expression 30.4 crashes with AttributeError on some syntax errors
        # ("MIT AND"): its ExpressionError has no token_string. Report, never raise.
        detail = str(exc) if isinstance(exc, ExpressionError) else "incomplete expression"
        return f"is not a valid license expression ({detail})"
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


@functools.lru_cache(maxsize=4096)
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
