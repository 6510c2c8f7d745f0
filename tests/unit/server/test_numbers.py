"""Ids and numbers in our routes: ``[0-9]{1,18}`` or a 400, never a 500."""

from __future__ import annotations

from typing import Any

import pytest
from mlflow.exceptions import MlflowException

from mlflow_supplychain.server.numbers import parse_number, parse_optional, version_text

MALFORMED: list[Any] = ["", "-1", "+1", " 1", "1 ", "1\n", "\u0661\u0662", "\u00b2", "1_0",
                        "1e3", "0x10", "1.0", "9" * 19, "99999999999999999999999", True, False,
                        1.0, 10 ** 18, -1, None, [1], {"a": 1}]


@pytest.mark.parametrize("value", MALFORMED, ids=repr)
def test_malformed_numbers_are_refused_with_the_parameter_named(value: Any) -> None:
    with pytest.raises(MlflowException) as caught:
        parse_number(value, "request_id")
    assert caught.value.get_http_status_code() == 400
    assert "'request_id'" in caught.value.message


def test_plain_numbers_parse() -> None:
    assert parse_number("0", "v") == 0
    assert parse_number("9" * 18, "v") == 10 ** 18 - 1
    assert parse_number(42, "v") == 42
    assert parse_optional("", "v") is None and parse_optional(None, "v") is None
    assert version_text("007") == "7"  # one spelling per version: evidence is keyed by it
