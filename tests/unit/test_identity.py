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
