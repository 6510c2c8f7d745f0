"""Governance state kept in the MLflow database: transition requests, approvals, audit log."""
