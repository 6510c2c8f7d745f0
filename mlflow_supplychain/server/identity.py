"""Who is calling our governance endpoints, and which groups they are in.

Sources, in order of trust:
1. MLflow basic-auth (``supplychain-auth`` app): the authenticated username; groups come from
   the policy's ``identity.groups`` table.
2. A trusted reverse proxy, only when the policy names its header: the user (and groups)
   from those headers.
3. Development override (``identity.allow_unauthenticated``): the ``X-Supplychain-User`` header,
   which anyone can set; a warning is logged on every use.
Otherwise the caller is unknown and approvals are refused with an explanation.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from mlflow_supplychain.policy.schema import Policy
from mlflow_supplychain.registry.identity import current_user

DEV_USER_HEADER = "X-Supplychain-User"
_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Caller:
    """An identified caller: name, groups, and how we know."""

    user: str
    groups: tuple[str, ...]
    via: str


def _policy_groups(policy: Policy, user: str) -> set[str]:
    return {g for g, members in policy.identity.groups.items() if user in members}


def resolve_caller(policy: Policy) -> Caller | None:
    """The caller of the current Flask request, or None when nobody is authenticated."""
    from flask import request

    user = current_user()
    if user is not None:
        return Caller(user, tuple(sorted(_policy_groups(policy, user))), "basic-auth")
    ident = policy.identity
    if ident.trusted_proxy_user_header:
        proxied = (request.headers.get(ident.trusted_proxy_user_header) or "").strip()
        if proxied:
            groups = _policy_groups(policy, proxied)
            if ident.trusted_proxy_groups_header:
                raw = request.headers.get(ident.trusted_proxy_groups_header) or ""
                groups |= {g.strip() for g in raw.split(",") if g.strip()}
            return Caller(proxied, tuple(sorted(groups)), "proxy")
    if ident.allow_unauthenticated:
        claimed = (request.headers.get(DEV_USER_HEADER) or "").strip()
        if claimed:
            _logger.warning("UNAUTHENTICATED identity %r taken from %s: policy "
                            "identity.allow_unauthenticated is on (development only)",
                            claimed, DEV_USER_HEADER)
            return Caller(claimed, tuple(sorted(_policy_groups(policy, claimed))),
                          "unauthenticated-header")
    return None


UNKNOWN_CALLER_FIX = (
    "run the server with authentication ('mlflow-supplychain server --auth', app "
    "'supplychain-auth') and send credentials (MLFLOW_TRACKING_USERNAME/PASSWORD), or name "
    "the header of your authenticating proxy in the policy (identity.trusted_proxy_user_header)"
)
