"""CSRF tokens and the same-origin check of the governance page's forms."""

from __future__ import annotations

from mlflow_supplychain.server import csrf

SECRET = "server-secret"
NOW = 1_800_000_000


def test_token_is_bound_to_user_secret_and_time() -> None:
    token = csrf.issue_token(SECRET, "bob", NOW)
    assert csrf.token_valid(SECRET, "bob", token, NOW + 60)
    assert not csrf.token_valid(SECRET, "carol", token, NOW + 60)
    assert not csrf.token_valid("other-secret", "bob", token, NOW + 60)
    assert not csrf.token_valid(SECRET, "bob", token, NOW + csrf.TOKEN_TTL_SECONDS + 1)
    assert not csrf.token_valid(SECRET, "bob", token, NOW - 1)  # issued in the future


def test_malformed_or_missing_tokens_and_secret_fail_closed() -> None:
    token = csrf.issue_token(SECRET, "bob", NOW)
    mac = token.split(".")[1]
    for bad in (None, "", "nodot", f"x.{mac}", f"{NOW + 1}.{mac}", f"{NOW}.{mac}x"):
        assert not csrf.token_valid(SECRET, "bob", bad, NOW)
    assert not csrf.token_valid(None, "bob", token, NOW)
    assert not csrf.token_valid("", "bob", token, NOW)


def test_same_origin() -> None:
    host = "http://127.0.0.1:5000/"
    assert csrf.same_origin(host, "http://127.0.0.1:5000", None)
    assert csrf.same_origin(host, None, "http://127.0.0.1:5000/supplychain/version?x=1")
    assert not csrf.same_origin(host, "http://evil.example", "http://127.0.0.1:5000/")
    assert not csrf.same_origin(host, "null", None)
    assert not csrf.same_origin(host, None, None)
    assert not csrf.same_origin(host, "https://127.0.0.1:5000", None)
    assert not csrf.same_origin(host, None, "http://127.0.0.1:5001/")
