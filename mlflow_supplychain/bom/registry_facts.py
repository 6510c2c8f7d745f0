"""Gather what an ML-BOM states about a version, from a running governed MLflow server.

Adapter: the file hashes come from the version's verified scan attestation (the bytes the
scanner saw and the store verifies), the model card and license from its intake tags, the
pedigree from walking ``base_model.uri`` through the registry, and the data sets from the intake
record's ``datasets`` merged with the inputs MLflow logged on the version's training run and
its evaluation run.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from mlflow_supplychain.bom.datasets import merge_datasets
from mlflow_supplychain.bom.ml_bom import AncestorFact, DatasetFact, ModelBomFacts
from mlflow_supplychain.deploy.registry_facts import (
    INTAKE_PREFIX,
    DeployClient,
    resolve_version,
    verified_attestation,
)
from mlflow_supplychain.deploy.resolve import ModelRef, strip_credentials
from mlflow_supplychain.intake.datasets import parse_datasets
from mlflow_supplychain.intake.run_inputs import client_inputs, read_logged_inputs

_logger = logging.getLogger(__name__)

MAX_ANCESTORS = 32
"""Longest base-model chain followed; a longer (or cyclic) chain is cut there, with a warning."""
_MODELS_URI = re.compile(r"^models:/([^/@]+)/([1-9][0-9]{0,18})$")


def gather_bom_facts(ref: ModelRef, *, tracking_uri: str, mlflow_client: Any,
                     client: DeployClient) -> ModelBomFacts:
    """The facts of the version ``ref`` names now (an alias is resolved once).

    Raises:
        RegistryError: the version does not exist or the server fails.
        IntegrityError: the version has no scan attestation that verifies.
    """
    mv = resolve_version(mlflow_client, ref)
    version = str(mv.version)
    payload = verified_attestation(client, ref.name, version)
    intake = intake_fields(dict(mv.tags or {}))
    return ModelBomFacts(
        registry=strip_credentials(tracking_uri), name=ref.name, version=version,
        artifact_digest=payload.artifact_digest, files=dict(payload.files), intake=intake,
        ancestors=lineage(mlflow_client, intake),
        datasets=version_datasets(mlflow_client, mv.run_id, intake),
        scan_verdict=payload.verdict)


def intake_fields(tags: dict[str, str]) -> dict[str, str]:
    """The intake record in ``tags``, without the tag prefix."""
    return {key[len(INTAKE_PREFIX):]: value for key, value in tags.items()
            if key.startswith(INTAKE_PREFIX) and value}


def lineage(mlflow_client: Any, intake: dict[str, str]) -> tuple[AncestorFact, ...]:
    """The bases along ``base_model.uri``, nearest first (``mlflow_client``: anything with
    ``get_model_version``, a client or the server's registry store)."""
    from mlflow.exceptions import MlflowException

    out: list[AncestorFact] = []
    seen: set[str] = set()
    uri, digest, license_id = (intake.get("base_model.uri"), intake.get("base_model.digest"),
                               intake.get("base_model.license"))
    while uri and uri not in seen:
        if len(out) == MAX_ANCESTORS:
            _logger.warning("lineage longer than %d bases; the BOM stops there", MAX_ANCESTORS)
            break
        seen.add(uri)
        match = _MODELS_URI.match(uri)
        parent: dict[str, str] = {}
        if match is not None:
            try:
                parent = intake_fields(dict(mlflow_client.get_model_version(*match.groups()).tags
                                      or {}))
            except MlflowException:
                _logger.warning("base %s is not in the registry; listed without its record", uri)
        out.append(AncestorFact(uri=uri, digest=digest,
                                license=parent.get("license.id") or license_id))
        uri, digest, license_id = (parent.get("base_model.uri"), parent.get("base_model.digest"),
                                   parent.get("base_model.license"))
    return tuple(out)


def version_datasets(mlflow_client: Any, run_id: str | None,
                     intake: dict[str, str]) -> tuple[DatasetFact, ...]:
    """The intake record's data sets merged with those logged on the training run and the
    ``eval.ref`` run (``mlflow_client``: anything with ``get_run``). An invalid ``datasets``
    value lists none of the record's (the gate refuses it; the BOM states only what holds)."""
    found = read_logged_inputs(client_inputs(mlflow_client), run_id, intake.get("eval.ref"))
    if not found.complete:
        _logger.warning("the data sets logged on the runs of this version are listed "
                        "incompletely (see the warnings above)")
    try:
        recorded = parse_datasets(intake["datasets"]) if "datasets" in intake else ()
    except ValueError:
        _logger.warning("the intake record's datasets are invalid; only logged ones are listed")
        recorded = ()
    return merge_datasets(recorded, found.datasets)
