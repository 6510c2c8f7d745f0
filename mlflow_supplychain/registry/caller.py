"""Who is calling, and which groups they are in: one answer for the gate, the routes and pages.

Sources, in order of trust:
1. MLflow basic-auth (``supplychain-auth`` app): the authenticated username; groups come from
   the policy's ``identity.groups`` table.
2. A trusted reverse proxy, only when the policy names its header: the user (and groups)
   from those headers, and only on a request that comes from the pinned proxy (the shared
   secret in ``identity.trusted_proxy_secret_header`` and/or a peer address in
   ``identity.trusted_proxy_addresses``). A header sent twice, or a user value with a comma
   (what servers make of a repeated header), is ambiguous and ignored.
3. Development override (``identity.allow_unauthenticated``): the ``X-Supplychain-User`` header,
   which anyone can set; a warning is logged on every use.
Otherwise the caller is unknown.

The exact header spelling is enforced before the request reaches Flask (WSGI folds
``X_Remote_User`` and ``X-Remote-User`` into one key): ``server.header_guard`` drops
underscore-named headers under uvicorn, as gunicorn and waitress do by default.

Lives in ``registry`` (not ``server``) because the gate records who created a version.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
from dataclasses import dataclass

from mlflow_supplychain.policy.schema import Identity, Policy
from mlflow_supplychain.registry.identity import current_user

DEV_USER_HEADER = "X-Supplychain-User"
PROXY_SECRET_ENV_VAR = "MLFLOW_SUPPLYCHAIN_PROXY_SECRET"  # noqa: S105 - a variable name
_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Caller:
    """An identified caller: name, groups, and how we know."""

    user: str
    groups: tuple[str, ...]
    via: str


def _policy_groups(policy: Policy, user: str) -> set[str]:
    return {g for g, members in policy.identity.groups.items() if user in members}


def proxy_secret() -> str | None:
    """The shared secret the pinned proxy must send (from the environment), or None."""
    return os.environ.get(PROXY_SECRET_ENV_VAR) or None


def _from_pinned_proxy(ident: Identity, headers: dict[str, list[str]],
                       remote_addr: str | None) -> bool:
    """Does the request come from the proxy the policy pins (every configured pin holds)?"""
    if ident.trusted_proxy_secret_header:
        secret = proxy_secret()
        sent = headers.get(ident.trusted_proxy_secret_header.lower(), [])
        if secret is None or len(sent) != 1 or not hmac.compare_digest(
                sent[0].encode("utf-8", "surrogateescape"), secret.encode("utf-8")):
            return False
    if ident.trusted_proxy_addresses:
        try:
            peer = ipaddress.ip_address(remote_addr or "")
        except ValueError:
            return False
        return any(peer in ipaddress.ip_network(net, strict=False)
                   for net in ident.trusted_proxy_addresses)
    return True


def _single(headers: dict[str, list[str]], name: str) -> str | None:
    values = headers.get(name.lower(), [])
    if len(values) != 1:
        return None
    value = values[0].strip()
    return value if value and "," not in value else None


def caller_from(policy: Policy, user: str | None, headers: dict[str, list[str]],
                remote_addr: str | None) -> Caller | None:
    """The caller given the basic-auth ``user``, the request ``headers`` (lower-cased name ->
    every value) and the peer address; None when nobody is identified. Pure."""
    if user is not None:
        return Caller(user, tuple(sorted(_policy_groups(policy, user))), "basic-auth")
    ident = policy.identity
    if ident.trusted_proxy_user_header and _from_pinned_proxy(ident, headers, remote_addr):
        proxied = _single(headers, ident.trusted_proxy_user_header)
        if proxied:
            groups = _policy_groups(policy, proxied)
            if ident.trusted_proxy_groups_header:
                raw = headers.get(ident.trusted_proxy_groups_header.lower(), [])
                if len(raw) == 1:
                    groups |= {g.strip() for g in raw[0].split(",") if g.strip()}
            return Caller(proxied, tuple(sorted(groups)), "proxy")
    if ident.allow_unauthenticated:
        claimed = _single(headers, DEV_USER_HEADER)
        if claimed:
            _logger.warning("UNAUTHENTICATED identity %r taken from %s: policy "
                            "identity.allow_unauthenticated is on (development only)",
                            claimed, DEV_USER_HEADER)
            return Caller(claimed, tuple(sorted(_policy_groups(policy, claimed))),
                          "unauthenticated-header")
    return None


def resolve_caller(policy: Policy) -> Caller | None:
    """The caller of the current Flask request, or None when nobody is identified (or there
    is no request)."""
    from flask import has_request_context, request

    if not has_request_context():
        return None
    headers: dict[str, list[str]] = {}
    for name, value in request.headers.items():
        headers.setdefault(name.lower(), []).append(value)
    return caller_from(policy, current_user(), headers, request.remote_addr)
