"""What the registry signs about a promotion, under ``/api/2.0/mlflow-supplychain/`` (+ ajax).

- ``GET promotions/evidence?name=&version=&target=``: when the gate allows the version for the
  protected ``target`` now, the evidence the registry signed with its own key (ECDSA P-256)
  when it promoted the version, or, when none is stored for this version identity, target,
  policy and scan attestation (a promotion before the upgrade, a signing failure, a version
  not promoted yet), signed and stored now (``registry/promotion_signing.py``):

  - an OpenSSF Model Signing bundle over the version's files (the hashes of its verified scan
    attestation: the bytes the scanner read), which the stock ``model_signing verify key``
    command checks on the downloaded model with the registry's public key;
  - a SLSA Verification Summary (in-toto statement in a DSSE envelope) saying those files were
    verified against the policy in force (its digest) with result PASSED, naming the scan
    attestation it relied on, the version identity and the target.

  Each issue is audited (``promotion.sign``). A version the gate refuses gets 403 with the
  violations; an unprotected target 400; a server without a signing key 503-like
  ``TEMPORARILY_UNAVAILABLE``. Read permission on the model is required under basic-auth.
- ``GET registry-key``: the registry's public key (PEM) and its fingerprint, for deployments
  that did not pin it out of band (trust on first use: pin it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, jsonify, request
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    INVALID_PARAMETER_VALUE,
    PERMISSION_DENIED,
    RESOURCE_DOES_NOT_EXIST,
    TEMPORARILY_UNAVAILABLE,
)
from mlflow.server.handlers import catch_mlflow_exception

from mlflow_supplychain.errors import IntegrityError
from mlflow_supplychain.governance.attestations import observed as observed_attestations
from mlflow_supplychain.policy.evidence import Target
from mlflow_supplychain.registry import promotion_signing
from mlflow_supplychain.server.numbers import version_text
from mlflow_supplychain.server.routes import NAMESPACE, paths
from mlflow_supplychain.signing import registry_key

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
        with observed_attestations() as seen:
            decision = store.gate.evaluate(store, name, version, Target.parse(target_text))
        if decision.profile is None:
            raise MlflowException(f"{target_text!r} is not a protected alias or stage: the "
                                  "registry vouches for nothing there.", INVALID_PARAMETER_VALUE)
        if not decision.allowed:
            raise MlflowException(
                f"models:/{name}/{version} is not allowed for {target_text} now: "
                + "; ".join(v.message for v in decision.violations), PERMISSION_DENIED)
        identity = store.gate.current_identity(store, name, version)
        if identity is None:
            raise MlflowException(f"models:/{name}/{version} does not exist.",
                                  RESOURCE_DOES_NOT_EXIST)
        try:
            evidence = promotion_signing.obtain(store, decision, identity,
                                                attestation_id=seen.get(identity.digest(), 0))
        except promotion_signing.NotSignable as exc:
            raise MlflowException(f"models:/{name}/{version}: nothing to sign for "
                                  f"{target_text}: {exc}.", RESOURCE_DOES_NOT_EXIST) from None
        except IntegrityError as exc:
            raise MlflowException(exc.diagnostics(), TEMPORARILY_UNAVAILABLE) from None
        return jsonify(promotion_signing.response_body(evidence))

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
