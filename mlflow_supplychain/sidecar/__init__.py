"""The webhook sidecar: turns MLflow registry webhooks into signed scan attestations."""
