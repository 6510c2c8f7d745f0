"""Scan attestation endpoints, under ``/api/2.0/mlflow-supplychain/attestations/`` (+ ajax twin).

- ``POST attestations/submit`` ``{"envelope": <DSSE envelope of an in-toto statement>}`` (the
  sidecar's format) or the original ``{"payload": {...}, "signature": "<base64>"}``
  (``integrity/attestation_formats`` decides which): verify the Ed25519 signature with the
  server's public key, check the version exists and the policy is
  current, store the row with an ``attestation.accept`` audit record, then write the
  ``supplychain.scan.*`` / ``supplychain.integrity.*`` visibility tags. When the version holds
  a protected alias or stage that the gate no longer allows with this attestation (a late
  ``prohibited``/``error`` verdict, other bytes), the alias is removed / the stage moved back
  in the same transaction (enforce mode; ``registry/late_verdicts.py``); the answer lists
  them under ``taken_back``. Refusals are audited
  as ``attestation.reject``. The signature is the authorization: under basic-auth any
  authenticated caller may submit, and only a verifying submission is stored.
- ``GET attestations/get?name=&version=``: the latest stored attestation for the version that
  answers to ``name``/``version`` now (by its identity), its signature, its ``format``, the
  stored DSSE ``envelope`` (null for the original format), and ``verified`` (re-checked now).
  Needs read permission on the model under basic-auth.
- ``GET versions/identity?name=&version=``: the version's immutable identity and its digest,
  which the sidecar signs into its attestation. Read permission, like ``get``.

A submission is stored only when the identity it signs is the version's identity *now*: a scan
of a version renamed, deleted and re-created, or in another workspace meanwhile is refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, jsonify, request
from mlflow.entities.model_registry import ModelVersionTag
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    INVALID_PARAMETER_VALUE,
    PERMISSION_DENIED,
    RESOURCE_DOES_NOT_EXIST,
)
from mlflow.server.handlers import catch_mlflow_exception

from mlflow_supplychain.errors import IntegrityError
from mlflow_supplychain.governance import attestations
from mlflow_supplychain.integrity import attestation_formats
from mlflow_supplychain.integrity.attest import AttestationPayload
from mlflow_supplychain.registry import late_verdicts
from mlflow_supplychain.registry.tags import plugin_writes
from mlflow_supplychain.server.model_access import require_read
from mlflow_supplychain.server.numbers import version_text
from mlflow_supplychain.server.routes import NAMESPACE, paths

SUBMIT = NAMESPACE + "/attestations/submit"
GET = NAMESPACE + "/attestations/get"
IDENTITY = NAMESPACE + "/versions/identity"
MAX_BODY = 12 * 1024 * 1024  # a manifest of ~50k files, base64 in an envelope


def visibility_tags(payload: AttestationPayload, prefix: str,
                    format_digest: str) -> dict[str, str]:
    """The reserved tags written after an accepted attestation (for people and the sidecar's
    reconcile sweep, not the gate); ``format_digest`` is the format policy it was accepted
    under."""
    return {
        prefix + "scan.verdict": payload.verdict,
        prefix + "scan.format_policy_digest": format_digest,
        prefix + "scan.attested_at": payload.scanned_at,
        prefix + "scan.findings": str(len(payload.findings)),
        prefix + "integrity.digest": payload.artifact_digest,
    }


def _body() -> dict[str, Any]:
    if (request.content_length or 0) > MAX_BODY:
        raise MlflowException("Attestation body too large.", INVALID_PARAMETER_VALUE)
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise MlflowException("Expected a JSON object {\"envelope\": ...} (or the original "
                              "{\"payload\": ..., \"signature\": ...}).",
                              INVALID_PARAMETER_VALUE)
    return body


def verified_attestation(store: Any, name: str, version: str) -> Any:
    """The newest attestation of the version answering to ``name``/``version`` now (by its
    identity), only if its signature verifies now: what routes that vouch for the version's
    bytes (promotion signatures, the ML-BOM) build on.

    Raises:
        MlflowException: RESOURCE_DOES_NOT_EXIST (404) when none verifies.
    """
    identity = store.gate.current_identity(store, name, version)
    stored = None
    if identity is not None:
        with store.engine.connect() as conn:
            stored = attestations.latest(conn, identity.digest())
    try:
        key = attestations.configured_public_key()
    except IntegrityError:
        key = None
    if stored is None or stored.payload is None or not stored.verified(key):
        raise MlflowException(f"models:/{name}/{version} has no scan attestation that verifies: "
                              "nothing vouches for its bytes.", RESOURCE_DOES_NOT_EXIST)
    return stored


def register(app: Flask, store_getter: Callable[[], Any]) -> None:
    """Add the attestation endpoints to MLflow's Flask ``app``."""

    @catch_mlflow_exception
    def submit_view() -> Response:
        body = _body()
        store = store_getter()
        policy = store.gate.holder.policy
        try:  # the registered formats decide which one the body is in
            submission = attestation_formats.parse_submission(body)
        except IntegrityError as exc:
            raise MlflowException(exc.diagnostics(), INVALID_PARAMETER_VALUE) from None
        payload = submission.payload
        subject = f"models:/{payload.model_name}/{payload.version}"
        actor = f"sidecar:{payload.key_id}"

        def refuse(reason: str, code: int) -> MlflowException:
            attestations.record_rejection(store.engine, subject=subject, reason=reason,
                                          policy_digest=policy.digest, actor=actor)
            return MlflowException(reason, code)

        current = store.gate.current_identity(store, payload.model_name, payload.version)
        if current is None:
            raise refuse(f"Attestation subject {subject} does not exist.",
                         RESOURCE_DOES_NOT_EXIST)
        try:
            key = attestations.configured_public_key()
            with store.engine.connect() as conn:  # refuse forgeries and replays before any
                previous = attestations.latest(conn, current.digest())
            attestations.check_submission(submission, key,  # re-hash is spent on them
                                          policy=policy, previous=previous)
            attestations.check_identity(payload, current)
            # a version holding a protected target is re-judged on this verdict first
            late = late_verdicts.plan(store, submission, key)
            with store.engine.begin() as conn:
                late_verdicts.lock_version(conn, payload.model_name, payload.version)
                previous = attestations.latest(conn, current.digest())
                attestations.check_submission(submission, key, policy=policy,
                                              previous=previous)
                # after the signature: only a genuine scan of a version gone since is refused
                # for its identity; forgeries are refused as forgeries
                attestations.check_identity(payload, current)
                row_id = attestations.store(conn, submission,
                                            policy_digest=policy.digest, actor=actor)
                taken_back = (late_verdicts.apply(conn, store, late, attestation_id=row_id)
                              if late is not None else [])
        except IntegrityError as exc:
            raise refuse(exc.diagnostics(), PERMISSION_DENIED) from None
        with plugin_writes():
            for key_name, value in visibility_tags(payload, policy.reserved_tag_prefix,
                                                       policy.format_digest).items():
                store.set_model_version_tag(payload.model_name, payload.version,
                                            ModelVersionTag(key_name, value))
        return jsonify({"id": row_id, "accepted": True, "format": submission.format,
                        "taken_back": taken_back})

    @catch_mlflow_exception
    def get_view() -> Response:
        name = request.args.get("name", "")
        if not name:
            raise MlflowException("'name' and a numeric 'version' are required.",
                                  INVALID_PARAMETER_VALUE)
        version = version_text(request.args.get("version"))
        require_read(name)
        store = store_getter()
        current = store.gate.current_identity(store, name, version)
        stored = None
        if current is not None:  # the version answering to the name now, never another's
            with store.engine.connect() as conn:
                stored = attestations.latest(conn, current.digest())
        if stored is None:
            raise MlflowException(f"No attestation is stored for models:/{name}/{version}.",
                                  RESOURCE_DOES_NOT_EXIST)
        try:
            key = attestations.configured_public_key()
        except IntegrityError:
            key = None
        envelope = stored.envelope
        payload_obj: Any
        if envelope is not None or stored.format is not None:
            # the payload the stored envelope carries, in the original field layout
            payload_obj = (stored.payload.model_dump(mode="json", exclude_none=True)
                           if stored.payload is not None else None)
        else:
            try:
                payload_obj = json.loads(stored.payload_text)
            except ValueError:
                payload_obj = stored.payload_text
        return jsonify({"payload": payload_obj, "signature": stored.signature,
                        "key_id": stored.key_id, "created_at": stored.created_at,
                        "format": stored.format or attestation_formats.ORIGINAL,
                        "envelope": envelope, "verified": stored.verified(key)})

    @catch_mlflow_exception
    def identity_view() -> Response:
        name = request.args.get("name", "")
        version = request.args.get("version", "")
        if not name or not version.isdigit() or len(version) > 18:
            raise MlflowException("'name' and a numeric 'version' are required.",
                                  INVALID_PARAMETER_VALUE)
        store = store_getter()
        current = store.gate.current_identity(store, name, version)
        if current is None:
            raise MlflowException(f"Model Version (name={name}, version={version}) not found",
                                  RESOURCE_DOES_NOT_EXIST)
        return jsonify({"identity": current.model_dump(mode="json"),
                        "digest": current.digest()})

    for path in paths(IDENTITY):
        app.add_url_rule(path, endpoint=f"mlflow_supplychain_version_identity:{path}",
                         view_func=identity_view, methods=["GET"])
    for path in paths(SUBMIT):
        app.add_url_rule(path, endpoint=f"mlflow_supplychain_attestation_submit:{path}",
                         view_func=submit_view, methods=["POST"])
    for path in paths(GET):
        app.add_url_rule(path, endpoint=f"mlflow_supplychain_attestation_get:{path}",
                         view_func=get_view, methods=["GET"])
