"""``GET /api/2.0/mlflow-supplychain/bom?name=&version=`` (+ ajax twin): the version's ML-BOM.

The same CycloneDX 1.6 document as ``mlflow-supplychain bom``, built in the server from its own
stores: file hashes from the verified scan attestation of the version's identity, the model card
and license from its intake tags, pedigree along ``base_model.uri``, data sets logged on its
training and evaluation runs. Read permission on the model is required under basic-auth; 404
when no attestation verifies (nothing vouches for the hashes).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, Response, request
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.server.handlers import catch_mlflow_exception

from mlflow_supplychain.errors import IntegrityError
from mlflow_supplychain.server.attestation_routes import verified_attestation
from mlflow_supplychain.server.numbers import version_text
from mlflow_supplychain.server.routes import NAMESPACE, paths

BOM = NAMESPACE + "/bom"


class _ServerStores:
    """What the BOM's registry walk needs, answered by the server's own stores."""

    def __init__(self, registry: Any) -> None:
        from mlflow.server.handlers import _get_tracking_store

        self.get_model_version = registry.get_model_version
        self.get_run = _get_tracking_store().get_run


def register(app: Flask, store_getter: Callable[[], Any]) -> None:
    """Add the ML-BOM endpoint to MLflow's Flask ``app``."""

    @catch_mlflow_exception
    def bom_view() -> Response:
        from mlflow_supplychain.bom.ml_bom import ModelBomFacts, build_ml_bom
        from mlflow_supplychain.bom.registry_facts import intake_fields, lineage, version_datasets

        name = request.args.get("name", "")
        version = request.args.get("version", "")
        version = version_text(version)
        if not name:
            raise MlflowException("'name' is required.", INVALID_PARAMETER_VALUE)
        store = store_getter()
        stored = verified_attestation(store, name, version)
        mv = store.get_model_version(name, version)
        stores = _ServerStores(store)
        intake = intake_fields(dict(mv.tags or {}))
        facts = ModelBomFacts(
            registry=request.host_url.rstrip("/"), name=name, version=str(mv.version),
            artifact_digest=stored.payload.artifact_digest, files=dict(stored.payload.files),
            intake=intake, ancestors=lineage(stores, intake),
            datasets=version_datasets(stores, mv.run_id, intake),
            scan_verdict=stored.payload.verdict)
        try:
            text = build_ml_bom(facts)
        except IntegrityError as exc:
            raise MlflowException(exc.diagnostics(), INVALID_PARAMETER_VALUE) from None
        return Response(text, mimetype="application/vnd.cyclonedx+json; version=1.6")

    for path in paths(BOM):
        app.add_url_rule(path, endpoint=f"mlflow_supplychain_bom:{path}", view_func=bom_view,
                         methods=["GET"])
