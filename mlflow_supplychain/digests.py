"""Canonical JSON and the sha256 digests built on it.

Policy digests, evidence digests and manifest digests must be stable across processes,
Python versions and dict orderings, so they are all computed over one canonical encoding:
sorted keys, no insignificant whitespace, UTF-8, no NaN.

Pure and light: the scan and hash commands import this module and must not pull in pydantic
(the pydantic field types built on :func:`require_digest` live in ``digest_fields``).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

DIGEST_PREFIX = "sha256:"
_DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
_HEX_RE = re.compile(r"^[0-9a-f]{64}$")
DIGEST_SHAPE = "must look like sha256:<64 lowercase hex characters>"
"""What is wrong with a malformed digest, for messages."""


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


def require_digest(text: str) -> str:
    """``text``, when it is a well-formed digest (:func:`is_digest`).

    Raises:
        ValueError: it is not; pydantic reports it as a field error.
    """
    if not is_digest(text):
        raise ValueError(DIGEST_SHAPE)
    return text


def require_file_hashes(files: dict[str, str]) -> dict[str, str]:
    """``files`` (relative path -> sha256 hex), when every hash is 64 lowercase hex.

    Raises:
        ValueError: naming the first path whose hash is malformed.
    """
    for path, hexdigest in files.items():
        if not is_sha256_hex(hexdigest):
            raise ValueError(f"{path!r}: sha256 must be 64 lowercase hex characters")
    return files
