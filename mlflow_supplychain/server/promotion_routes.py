"""What the registry signs about a promotion, under ``/api/2.0/mlflow-supplychain/`` (+ ajax).

- ``GET promotions/evidence?name=&version=&target=``: when the gate allows the version for the
  protected ``target`` now, the registry signs, with its own key (ECDSA P-256):

  - an OpenSSF Model Signing bundle over the version's files (the hashes of its verified scan
    attestation: the bytes the scanner read), which the stock ``model_signing verify key``
    command checks on the downloaded model with the registry's public key;
  - a SLSA Verification Summary (in-toto statement in a DSSE envelope) saying those files were
    verified against the policy in force (its digest) with result PASSED, naming the scan
    attestation it relied on.

  Each issue is audited (``promotion.sign``). A version the gate refuses gets 403 with the
  violations; an unprotected target 400; a server without a signing key 503-like
  ``TEMPORARILY_UNAVAILABLE``. Read permission on the model is required under basic-auth.
- ``GET registry-key``: the registry's public key (PEM) and its fingerprint, for deployments
  that did not pin it out of band (trust on first use: pin it).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, jsonify, request
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    INVALID_PARAMETER_VALUE,
    PERMISSION_DENIED,
    TEMPORARILY_UNAVAILABLE,
)
from mlflow.server.handlers import catch_mlflow_exception

from mlflow_supplychain.errors import IntegrityError
from mlflow_supplychain.governance import audit
from mlflow_supplychain.policy.evidence import Target
from mlflow_supplychain.registry.identity import current_user
from mlflow_supplychain.server.attestation_routes import verified_attestation
from mlflow_supplychain.server.numbers import version_text
from mlflow_supplychain.server.routes import NAMESPACE, paths
from mlflow_supplychain.signing import intoto, oms, registry_key

EVIDENCE = NAMESPACE + "/promotions/evidence"
REGISTRY_KEY = NAMESPACE + "/registry-key"


def _signing_key() -> tuple[Any, Any]:
    try:
        path = registry_key.configured_key_path()
        return path, registry_key.load_private_key(path)
    except IntegrityError as exc:
        raise MlflowException(exc.diagnostics(), TEMPORARILY_UNAVAILABLE) from None


def register(app: Flask, store_getter: Callable[[], Any]) -> None:
    """Add the promotion-evidence and registry-key endpoints to MLflow's Flask ``app``."""

    @catch_mlflow_exception
    def evidence_view() -> Response:
        name = request.args.get("name", "")
        version = request.args.get("version", "")
        target_text = request.args.get("target", "")
        version = version_text(version)
        if not name or not target_text:
            raise MlflowException("'name', 'version' and 'target' are required.",
                                  INVALID_PARAMETER_VALUE)
        store = store_getter()
        decision = store.gate.evaluate(store, name, version, Target.parse(target_text))
        if decision.profile is None:
            raise MlflowException(f"{target_text!r} is not a protected alias or stage: the "
                                  "registry vouches for nothing there.", INVALID_PARAMETER_VALUE)
        if not decision.allowed:
            raise MlflowException(
                f"models:/{name}/{version} is not allowed for {target_text} now: "
                + "; ".join(v.message for v in decision.violations), PERMISSION_DENIED)
        stored = verified_attestation(store, name, version)
        identity = store.gate.current_identity(store, name, version)
        key_path, key = _signing_key()
        files = dict(stored.payload.files)
        resource = f"models:/{name}/{version}"
        scan_input = intoto.InputAttestation(
            uri=f"mlflow-supplychain:scan-attestation/{stored.id}",
            sha256=hashlib.sha256(stored.payload_text.encode()).hexdigest())
        summary = intoto.sign_envelope(intoto.verification_summary(
            files, resource_uri=resource, policy_uri=f"mlflow-supplychain:policy/"
            f"{decision.policy_digest}", policy_digest=decision.policy_digest, passed=True,
            inputs=[scan_input]), key)
        bundle = oms.sign_file_hashes(files, private_key=key_path, model_name=name)
        recorder = store.gate.recorder
        if recorder is not None:
            with recorder.engine.begin() as conn:
                audit.append(conn, actor=current_user() or "anonymous", action="promotion.sign",
                             subject=resource, payload={
                                 "target": target_text, "identity": identity.digest()
                                 if identity else None,
                                 "summary_sha256": intoto.envelope_digest(summary),
                                 "artifact_digest": stored.payload.artifact_digest},
                             policy_digest=decision.policy_digest,
                             ts_ms=int(time.time() * 1000))
        return jsonify({"model": resource, "target": target_text,
                        "artifact_digest": stored.payload.artifact_digest,
                        "verification_summary": summary, "oms_bundle": json.loads(bundle),
                        "registry_key": registry_key.public_pem(key)})

    @catch_mlflow_exception
    def key_view() -> Response:
        _path, key = _signing_key()
        pem = registry_key.public_pem(key)
        return jsonify({"public_key": pem, "fingerprint": "sha256:" + hashlib.sha256(
            pem.encode()).hexdigest()})

    for path in paths(EVIDENCE):
        app.add_url_rule(path, endpoint=f"mlflow_supplychain_promotion_evidence:{path}",
                         view_func=evidence_view, methods=["GET"])
    for path in paths(REGISTRY_KEY):
        app.add_url_rule(path, endpoint=f"mlflow_supplychain_registry_key:{path}",
                         view_func=key_view, methods=["GET"])
