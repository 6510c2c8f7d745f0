"""Deployment: pinned manifests, byte verification before load, rollback.

Pure modules (``manifest_schema``, ``resolve``, ``verify``) import no MLflow; ``registry_facts``,
``fetch``, ``loader`` and ``reverify`` are the adapters that talk to MLflow.
"""
