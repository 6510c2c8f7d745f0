"""Intake evidence: field catalog, license identifiers."""
