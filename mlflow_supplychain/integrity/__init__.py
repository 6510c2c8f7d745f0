"""Integrity primitives: streaming sha256 engines and the canonical artifact manifest."""
