"""Short, escaped excerpts of text taken from scanned files, for finding messages.

Reports end up in CI logs, SARIF uploads and the sidecar's store: a finding may name the
offending token (a global, a requirement, a member name), never echo file content at length,
and never pass control characters (terminal escapes, newlines that fake report lines) through.
"""

from __future__ import annotations

DEFAULT_LIMIT = 80


def excerpt(value: object, limit: int = DEFAULT_LIMIT) -> str:
    """``value`` as printable ASCII-safe text (non-printable characters escaped), cut to
    ``limit`` characters with ``...`` when longer."""
    text = value if isinstance(value, str) else str(value) if isinstance(
        value, BaseException) else repr(value)
    if len(text) > 4 * limit:
        text = text[:4 * limit]
    escaped = "".join(ch if ch.isprintable() and ch != "\\" else _escape(ch) for ch in text)
    return escaped if len(escaped) <= limit else escaped[:max(limit - 3, 0)] + "..."


def quoted(value: object, limit: int = DEFAULT_LIMIT) -> str:
    """:func:`excerpt` in single quotes, for naming a token inside a sentence."""
    return "'" + excerpt(value, limit).replace("'", "\\'") + "'"


def printable(text: str, limit: int = 500) -> str:
    """``text`` with non-printable characters escaped (backslashes kept as they are) and cut
    to ``limit`` characters: the last line of defence for any finding message."""
    if len(text) > limit:
        text = text[:limit - 3] + "..."
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _escape(ch) for ch in text)


def _escape(ch: str) -> str:
    if ch == "\\":
        return "\\\\"
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 \
        else f"\\U{code:08x}"
