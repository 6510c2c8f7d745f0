"""Canonical JSON and the sha256 digests built on it.

Policy digests, evidence digests and manifest digests must be stable across processes,
Python versions and dict orderings, so they are all computed over one canonical encoding:
sorted keys, no insignificant whitespace, UTF-8, no NaN.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

DIGEST_PREFIX = "sha256:"
_DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
_HEX_RE = re.compile(r"^[0-9a-f]{64}$")


def canonical_json(value: Any) -> bytes:
    """Encode ``value`` as canonical JSON bytes (sorted keys, compact, UTF-8, no NaN)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def digest_of(value: Any) -> str:
    """``sha256:<hex>`` of the canonical JSON encoding of ``value``."""
    return DIGEST_PREFIX + hashlib.sha256(canonical_json(value)).hexdigest()


def is_digest(text: str) -> bool:
    """True for a well-formed ``sha256:<64 lowercase hex>`` digest."""
    return bool(_DIGEST_RE.match(text))


def is_sha256_hex(text: str) -> bool:
    """True for 64 lowercase hex characters."""
    return bool(_HEX_RE.match(text))
