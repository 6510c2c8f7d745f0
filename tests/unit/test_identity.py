"""Who is calling: basic-auth user, trusted proxy headers, or the loud development override."""

from __future__ import annotations

import logging

import flask
import pytest

from mlflow_supplychain.policy.loader import parse_policy
from mlflow_supplychain.server.identity import DEV_USER_HEADER, resolve_caller
from tests.unit.policy.bad_policies import GOOD

APP = flask.Flask("identity-test")


def _policy(identity: str = "") -> object:
    return parse_policy(GOOD + identity)


def test_basic_auth_user_gets_policy_groups() -> None:
    policy = _policy("identity: {groups: {ml-security: [bob]}}\n")
    with APP.test_request_context():
        flask.g.mlflow_authenticated_user = "bob"
        caller = resolve_caller(policy)  # type: ignore[arg-type]
    assert caller is not None and (caller.user, caller.groups, caller.via) == (
        "bob", ("ml-security",), "basic-auth")


def test_headers_are_ignored_unless_the_policy_trusts_them() -> None:
    with APP.test_request_context(headers={"X-Forwarded-User": "mallory",
                                           DEV_USER_HEADER: "mallory"}):
        assert resolve_caller(_policy()) is None  # type: ignore[arg-type]


def test_trusted_proxy_headers() -> None:
    policy = _policy("identity: {trusted_proxy_user_header: X-Forwarded-User, "
                     "trusted_proxy_groups_header: X-Forwarded-Groups}\n")
    with APP.test_request_context(headers={"X-Forwarded-User": "erin",
                                           "X-Forwarded-Groups": "ml-security, ops"}):
        caller = resolve_caller(policy)  # type: ignore[arg-type]
    assert caller is not None and caller.groups == ("ml-security", "ops")
    assert caller.via == "proxy"


def test_development_override_warns_every_time(caplog: pytest.LogCaptureFixture) -> None:
    policy = _policy("identity: {allow_unauthenticated: true}\n")
    with caplog.at_level(logging.WARNING), APP.test_request_context(
            headers={DEV_USER_HEADER: "dev"}):
        first = resolve_caller(policy)  # type: ignore[arg-type]
        second = resolve_caller(policy)  # type: ignore[arg-type]
    assert first is not None and second is not None and first.via == "unauthenticated-header"
    assert sum("UNAUTHENTICATED" in r.message for r in caplog.records) == 2


def test_identity_section_is_validated() -> None:
    from mlflow_supplychain.errors import PolicyError

    with pytest.raises(PolicyError, match="trusted_proxy_user_header"):
        _policy("identity: {trusted_proxy_groups_header: X-Groups}\n")
    with pytest.raises(PolicyError, match="no members"):
        _policy("identity: {groups: {empty: []}}\n")


PINNED = ("identity: {trusted_proxy_user_header: X-Remote-User, "
          "trusted_proxy_groups_header: X-Remote-Groups, "
          "trusted_proxy_secret_header: X-Proxy-Secret, "
          "trusted_proxy_addresses: [10.1.0.0/16, '::1']}\n")


def _from(policy: object, headers: dict[str, list[str]], addr: str | None = "10.1.2.3"
          ) -> object:
    from mlflow_supplychain.registry.caller import caller_from

    return caller_from(policy, None, headers, addr)  # type: ignore[arg-type]


def test_proxy_identity_needs_every_pin(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow_supplychain.registry.caller import PROXY_SECRET_ENV_VAR, Caller

    policy = _policy(PINNED)
    good = {"x-remote-user": ["erin"], "x-proxy-secret": ["s3cret"]}
    monkeypatch.delenv(PROXY_SECRET_ENV_VAR, raising=False)
    assert _from(policy, good) is None  # no secret configured: nobody passes
    monkeypatch.setenv(PROXY_SECRET_ENV_VAR, "s3cret")
    assert _from(policy, good) == Caller("erin", (), "proxy")
    assert _from(policy, good, "::1") == Caller("erin", (), "proxy")
    for addr in ("10.2.0.1", "127.0.0.1", None, "not-an-ip"):
        assert _from(policy, good, addr) is None, addr
    for secret in ([], ["wrong"], ["s3cret", "s3cret"], ["s3cret "], ["S3CRET"]):
        assert _from(policy, {**good, "x-proxy-secret": secret}) is None, secret


def test_ambiguous_proxy_user_is_nobody(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow_supplychain.registry.caller import PROXY_SECRET_ENV_VAR

    monkeypatch.setenv(PROXY_SECRET_ENV_VAR, "s3cret")
    policy = _policy(PINNED)
    for users in ([], [""], ["alice", "bob"], ["alice,bob"], ["  "]):
        assert _from(policy, {"x-remote-user": users, "x-proxy-secret": ["s3cret"]}) is None


def test_underscore_headers_are_dropped_before_wsgi_folds_them() -> None:
    import asyncio

    from mlflow_supplychain.server.header_guard import UnderscoreHeaderGuard

    seen: list[list[tuple[bytes, bytes]]] = []

    async def app(scope: dict[str, object], receive: object, send: object) -> None:
        seen.append(scope["headers"])  # type: ignore[arg-type]

    scope = {"type": "http", "headers": [(b"x_remote_user", b"admin"),
                                         (b"x-remote-user", b"erin"), (b"host", b"h")]}
    asyncio.run(UnderscoreHeaderGuard(app)(scope, None, None))  # type: ignore[arg-type]
    assert seen == [[(b"x-remote-user", b"erin"), (b"host", b"h")]]


def test_pinning_is_validated() -> None:
    from mlflow_supplychain.errors import PolicyError

    with pytest.raises(PolicyError, match="not an IP address"):
        _policy("identity: {trusted_proxy_user_header: X-U, trusted_proxy_addresses: [proxy]}\n")
    with pytest.raises(PolicyError, match="which is not set"):
        _policy("identity: {trusted_proxy_secret_header: X-S}\n")
    with pytest.raises(PolicyError, match="must differ"):
        _policy("identity: {trusted_proxy_user_header: X-U, trusted_proxy_secret_header: x-u}\n")
    with pytest.raises(PolicyError, match="not an HTTP header name"):
        _policy("identity: {trusted_proxy_user_header: X_Remote_User}\n")


def test_open_settings_are_warned_about() -> None:
    from mlflow_supplychain.policy.exposure import UNAUTHENTICATED, policy_warnings, server_warnings

    assert policy_warnings(_policy()) == ()  # type: ignore[arg-type]
    dev = _policy("identity: {allow_unauthenticated: true}\n")
    assert "mode: enforce" in policy_warnings(dev)[0]  # type: ignore[arg-type]
    unpinned = _policy("identity: {trusted_proxy_user_header: X-U}\n")
    assert "not pinned" in policy_warnings(unpinned)[0]  # type: ignore[arg-type]
    assert policy_warnings(_policy(PINNED)) == ()  # type: ignore[arg-type]
    assert server_warnings(_policy(), auth=False) == (UNAUTHENTICATED,)  # type: ignore[arg-type]
    assert server_warnings(_policy(), auth=True) == ()  # type: ignore[arg-type]
    assert server_warnings(_policy(PINNED), auth=False) == ()  # type: ignore[arg-type]


def test_policy_validate_warns_on_enforce_with_unauthenticated(
        tmp_path: object, capsys: pytest.CaptureFixture[str]) -> None:
    from pathlib import Path

    from mlflow_supplychain.cli.main import main

    path = Path(str(tmp_path)) / "p.yaml"
    path.write_text(GOOD + "identity: {allow_unauthenticated: true}\n", encoding="utf-8")
    assert main(["policy", "validate", str(path)]) == 0
    err = capsys.readouterr().err
    assert "valid" in err and "WARNING: identity.allow_unauthenticated is on" in err
