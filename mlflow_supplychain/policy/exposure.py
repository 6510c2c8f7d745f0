"""What a deployment leaves open, said out loud: pure warnings from the policy and the server
mode, shown by ``policy validate``, the server's start-up log, ``status`` and the page."""

from __future__ import annotations

from mlflow_supplychain.policy.schema import Mode, Policy

UNAUTHENTICATED = (
    "UNAUTHENTICATED MODE: the server runs without --auth and the policy names no trusted "
    "proxy, so nobody is identified. Anyone who can reach it can register models and set "
    "unprotected aliases; approvals are refused; webhook administration needs the local admin "
    "token. Run 'mlflow-supplychain server --auth' or put an authenticating proxy in front "
    "(identity.trusted_proxy_user_header, pinned).")


def policy_warnings(policy: Policy) -> tuple[str, ...]:
    """Warnings about the policy's identity settings alone (``policy validate``)."""
    ident = policy.identity
    found: list[str] = []
    if ident.allow_unauthenticated:
        found.append(
            "identity.allow_unauthenticated is on: anyone can claim any user with the "
            "X-Supplychain-User header, approve promotions and pass separation of duties"
            + (" -- with mode: enforce, the gate's approvals prove nothing"
               if policy.mode is Mode.ENFORCE else "")
            + ". Development only: remove it and run with --auth or a pinned proxy.")
    if ident.trusted_proxy_user_header and not (ident.trusted_proxy_secret_header
                                                or ident.trusted_proxy_addresses):
        found.append(
            f"identity.trusted_proxy_user_header ({ident.trusted_proxy_user_header}) is not "
            "pinned: any client that reaches the server directly can send that header and be "
            "anyone. Set identity.trusted_proxy_secret_header and/or "
            "identity.trusted_proxy_addresses.")
    return tuple(found)


def server_warnings(policy: Policy, *, auth: bool) -> tuple[str, ...]:
    """Warnings for a running server: the policy's, plus unauthenticated mode."""
    found = list(policy_warnings(policy))
    if not auth and not policy.identity.trusted_proxy_user_header:
        found.insert(0, UNAUTHENTICATED)
    return tuple(found)
