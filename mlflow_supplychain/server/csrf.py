"""CSRF protection for the governance page's form posts (pure: no Flask).

A token is ``<issued_at>.<mac>`` where ``mac`` is HMAC-SHA256, under the server's Flask
secret (``MLFLOW_FLASK_SERVER_SECRET_KEY``, persisted by ``mlflow-supplychain server`` so
every worker agrees), over the authenticated user and the issue time. It is embedded in every
form and checked on POST, together with a same-origin check of ``Origin`` (or ``Referer``).
A page from another site can make the browser send basic-auth credentials, but it can read
neither the token (same-origin policy) nor forge one without the secret; a token is bound to
its user, so one user's token does not work for another, and expires after ``TOKEN_TTL``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import urlsplit

TOKEN_TTL_SECONDS = 8 * 3600
_CONTEXT = b"mlflow-supplychain/page-csrf/v1\x00"


def _mac(secret: str, user: str, issued_at: int) -> str:
    message = _CONTEXT + user.encode("utf-8") + b"\x00" + str(issued_at).encode("ascii")
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def issue_token(secret: str, user: str, now: int) -> str:
    """A token for ``user``'s forms, issued at ``now`` (epoch seconds)."""
    return f"{now}.{_mac(secret, user, now)}"


def token_valid(secret: str | None, user: str, token: str | None, now: int) -> bool:
    """Whether ``token`` was issued to ``user`` under ``secret`` and has not expired.

    No secret means no token can be checked: always False (fail closed).
    """
    if not secret or not token or "." not in token:
        return False
    issued_text, _, mac = token.partition(".")
    if not issued_text.isdigit():
        return False
    issued_at = int(issued_text)
    if not 0 <= now - issued_at <= TOKEN_TTL_SECONDS:
        return False
    return hmac.compare_digest(mac, _mac(secret, user, issued_at))


def _origin(url: str) -> tuple[str, str] | None:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return parts.scheme.lower(), parts.netloc.lower()


def same_origin(host_url: str, origin: str | None, referer: str | None) -> bool:
    """Whether a POST comes from a page of this server (``host_url``, e.g.
    ``http://127.0.0.1:5000/``): ``Origin`` must match; without it, ``Referer`` must.
    Neither header (or ``Origin: null``) is refused."""
    own = _origin(host_url)
    if own is None:
        return False
    if origin:
        return _origin(origin) == own
    return bool(referer) and _origin(referer or "") == own
