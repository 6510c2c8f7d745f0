"""Known license terms: facts the reviewer starts from, combined by SPDX operators."""

from __future__ import annotations

import pytest

from mlflow_supplychain.intake.licenses import MODEL_LICENSES, license_terms, validate_license_id


def test_every_catalog_key_is_a_valid_license_id() -> None:
    assert all(validate_license_id(key) is None for key in MODEL_LICENSES)


@pytest.mark.parametrize(("expression", "commercial", "carried"), [
    ("Apache-2.0", True, set()),
    ("qwen-research", False, {"qwen-research"}),
    ("CC-BY-NC-4.0", False, {"CC-BY-NC-4.0"}),
    ("Apache-2.0 AND CC-BY-NC-4.0", False, {"CC-BY-NC-4.0"}),  # both apply: most restrictive
    ("MIT OR CC-BY-NC-4.0", True, set()),  # licensee picks MIT
    ("llama3.1", True, {"llama3.1"}),
    ("Apache-2.0 WITH LLVM-exception", True, set()),
    ("LicenseRef-internal", None, set()),  # unknown: no guess
    ("LicenseRef-internal AND mnpl", False, {"mnpl"}),  # a known 'no' is enough
])
def test_license_terms(expression: str, commercial: bool | None, carried: set[str]) -> None:
    terms = license_terms(expression)
    assert terms.commercial_use is commercial
    assert set(terms.carried_by_derivatives) == carried


def test_no_derivatives_and_output_limits() -> None:
    assert license_terms("CC-BY-ND-4.0").derivatives is False
    assert license_terms("llama3").output_limits is True
    assert license_terms("not a ( license").commercial_use is None
