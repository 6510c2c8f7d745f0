"""A CycloneDX 1.6 ML-BOM for one registered model version. No MLflow, no network.

The model is a ``machine-learning-model`` component named by its registry coordinates
(``pkg:mlflow/<name>@<version>``), with every file as a ``file`` sub-component carrying its
SHA-256, the license from the intake review, the model card fields the intake record holds
(intended use, limitations, owner), its base models as pedigree ancestors, and the data sets
it was trained or evaluated on as ``data`` components the model card points at.

cyclonedx-python-lib builds and serialises everything it models; it has no model card type
yet, so the ``modelCard`` object is added to the serialised JSON and the whole document is then
validated against the official 1.6 JSON schema with the library's strict validator: a BOM that
does not validate is never returned.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cyclonedx.contrib.hash.factories import HashTypeFactory
from cyclonedx.contrib.license.factories import LicenseFactory
from cyclonedx.model import ExternalReference, ExternalReferenceType, Property, XsUri
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType, Pedigree
from cyclonedx.model.contact import OrganizationalContact
from cyclonedx.output.json import JsonV1Dot6
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packageurl import PackageURL

from mlflow_supplychain import __version__
from mlflow_supplychain.errors import IntegrityError, Problem
from mlflow_supplychain.intake.datasets import is_sha256_digest, source_problem

PROPERTY_PREFIX = "mlflow-supplychain:"


@dataclass(frozen=True)
class AncestorFact:
    """A base model the version was derived from (nearest first)."""

    uri: str
    digest: str | None = None
    license: str | None = None


@dataclass(frozen=True)
class DatasetFact:
    """A data set the version was trained, fine-tuned or evaluated on."""

    name: str
    context: str
    """``training``, ``evaluation``... (MLflow's dataset input context, or the record's)."""
    source: str | None = None
    digest: str | None = None
    license: str | None = None
    logged_digest: str | None = None
    """The digest MLflow logged for it, when the record's is of another kind."""
    run_id: str | None = None
    """The run that logged it (mlflow.log_input), when one did."""


@dataclass(frozen=True)
class ModelBomFacts:
    """Everything the BOM states about one version."""

    registry: str
    name: str
    version: str
    artifact_digest: str
    files: Mapping[str, str]
    intake: Mapping[str, str] = field(default_factory=dict)
    ancestors: tuple[AncestorFact, ...] = ()
    datasets: tuple[DatasetFact, ...] = ()
    scan_verdict: str | None = None


def build_ml_bom(facts: ModelBomFacts) -> str:
    """The CycloneDX 1.6 JSON document for ``facts``, validated against the official schema.

    Raises:
        IntegrityError: the document does not validate (a bug, never a partial BOM).
    """
    model = _model_component(facts)
    datasets = [_dataset_component(d, i) for i, d in enumerate(facts.datasets)]
    bom = Bom(components=[model, *datasets])
    bom.metadata.component = None
    bom.metadata.properties.add(Property(name=PROPERTY_PREFIX + "generator",
                                         value=f"mlflow-supplychain {__version__}"))
    document = json.loads(JsonV1Dot6(bom).output_as_string())
    for component in document.get("components", ()):
        if component.get("bom-ref") == model.bom_ref.value:
            component["modelCard"] = _model_card(facts, [str(d.bom_ref.value) for d in datasets])
    text = json.dumps(document, indent=2, sort_keys=True)
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    if error is not None:
        raise IntegrityError("The ML-BOM does not validate against CycloneDX 1.6", [Problem(
            f"models:/{facts.name}/{facts.version}", str(error)[:500],
            "report this as a bug with the version's intake record")])
    return text


def _model_component(facts: ModelBomFacts) -> Component:
    intake = facts.intake
    purl = PackageURL(type="mlflow", name=facts.name, version=facts.version,
                      qualifiers={"repository_url": facts.registry} if facts.registry else None)
    files = [Component(type=ComponentType.FILE, name=path, bom_ref=f"file:{path}",
                       hashes=[HashTypeFactory().from_hashlib_alg("sha256", sha)])
             for path, sha in sorted(facts.files.items())]
    properties = [Property(name=PROPERTY_PREFIX + "artifact_digest", value=facts.artifact_digest)]
    if facts.scan_verdict:
        properties.append(Property(name=PROPERTY_PREFIX + "scan_verdict",
                                   value=facts.scan_verdict))
    for key in ("source_revision", "eval.ref", "license.outcome", "license.reviewer",
                "security_review.status", "finetune.summary", "finetune.data_lineage"):
        if intake.get(key):
            properties.append(Property(name=PROPERTY_PREFIX + key, value=intake[key]))
    references = []
    if intake.get("source_url"):
        references.append(ExternalReference(type=ExternalReferenceType.DISTRIBUTION,
                                             url=XsUri(intake["source_url"])))
    return Component(
        type=ComponentType.MACHINE_LEARNING_MODEL, name=facts.name, version=facts.version,
        bom_ref=f"models:/{facts.name}/{facts.version}", purl=purl,
        description=intake.get("intended_use") or None,
        authors=[OrganizationalContact(name=intake["owner"])] if intake.get("owner") else None,
        licenses=_licenses(intake.get("license.id")),
        components=files, properties=properties, external_references=references,
        pedigree=Pedigree(ancestors=[_ancestor(a) for a in facts.ancestors])
        if facts.ancestors else None,
    )


def _ancestor(ancestor: AncestorFact) -> Component:
    name, _, version = ancestor.uri.removeprefix("models:/").rpartition("/")
    properties = ([Property(name=PROPERTY_PREFIX + "digest", value=ancestor.digest)]
                  if ancestor.digest else [])
    return Component(type=ComponentType.MACHINE_LEARNING_MODEL, name=name or ancestor.uri,
                     version=version or None, bom_ref=f"ancestor:{ancestor.uri}",
                     licenses=_licenses(ancestor.license), properties=properties)


def _dataset_component(dataset: DatasetFact, index: int) -> Component:
    properties = [Property(name=PROPERTY_PREFIX + "context", value=dataset.context)]
    hashes = []
    if dataset.digest and is_sha256_digest(dataset.digest):
        hashes.append(HashTypeFactory().from_hashlib_alg(
            "sha256", dataset.digest.removeprefix("sha256:")))
    elif dataset.digest:  # MLflow's dataset digest is its own fingerprint, not a named hash
        properties.append(Property(name=PROPERTY_PREFIX + "digest", value=dataset.digest))
    if dataset.logged_digest:
        properties.append(Property(name=PROPERTY_PREFIX + "mlflow_digest",
                                   value=dataset.logged_digest))
    if dataset.run_id:
        properties.append(Property(name=PROPERTY_PREFIX + "run_id", value=dataset.run_id))
    references = []
    if dataset.source and source_problem(dataset.source) is None:
        references.append(ExternalReference(type=ExternalReferenceType.DISTRIBUTION,
                                             url=XsUri(dataset.source)))
    elif dataset.source:  # as MLflow stored it (source type + JSON), not a URI
        properties.append(Property(name=PROPERTY_PREFIX + "source", value=dataset.source))
    return Component(type=ComponentType.DATA, name=dataset.name,
                     bom_ref=f"dataset:{index}:{dataset.name}", hashes=hashes,
                     licenses=_licenses(dataset.license), properties=properties,
                     external_references=references)


def _licenses(license_id: str | None) -> Any:
    if not license_id:
        return None
    return [LicenseFactory().make_from_string(license_id)]


def _model_card(facts: ModelBomFacts, dataset_refs: list[str]) -> dict[str, Any]:
    intake = facts.intake
    card: dict[str, Any] = {}
    if dataset_refs:
        card["modelParameters"] = {"datasets": [{"ref": ref} for ref in dataset_refs]}
    considerations: dict[str, Any] = {}
    if intake.get("intended_use"):
        considerations["useCases"] = [intake["intended_use"]]
    if intake.get("limitations"):
        considerations["technicalLimitations"] = [intake["limitations"]]
    if considerations:
        card["considerations"] = considerations
    return card
