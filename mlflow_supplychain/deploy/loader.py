"""``load_verified_model``: load a registered model only after proving its bytes are approved.

Order of operations, each step failing closed:

1. pin the URI (``models:/name@alias`` is resolved once; ``latest``, stages, ``runs:/`` refused);
2. the expected bytes: the given deployment manifest, or the version's verified scan
   attestation checked against the gate's current decision for the target;
3. a prohibited or undecided scan verdict is refused;
4. download into a private directory and hash every file (:func:`build_manifest`): any
   changed, missing or extra file is refused, naming the files;
5. the downloaded files are scanned again locally: a prohibited format is refused even when the
   manifest says otherwise (defence in depth: manifests can be written by hand);
6. the registry's signed verification summary (SLSA VSA), when the manifest carries one or a
   registry key is pinned: it must verify with the pinned key (``registry_key=`` or
   ``$MLFLOW_SUPPLYCHAIN_REGISTRY_PUBLIC_KEY``; without one, the key the registry reports,
   with a warning), say PASSED for exactly the downloaded files, and name the version identity
   and target; a pinned key with no summary refuses;
7. ``sandboxed`` files decide how the model is loaded (:mod:`.sandbox`): allowlisted pickles
   through a restricted unpickler that resolves only the globals this scan accepted, so a
   scanner miss cannot run code at load; a sandboxed file that cannot be loaded that way
   (TorchScript, a flavor that unpickles through its own code, a format moved to sandboxed)
   is refused. No isolated-process loading is offered;
8. only then ``mlflow.pyfunc.load_model`` on the verified directory (restricted as above);
9. a ``deploy.load`` audit record is sent to the server (best effort: warning if unreachable).
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import socket
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlflow_supplychain.deploy.manifest_schema import DeploymentManifest, read_manifest
from mlflow_supplychain.deploy.resolve import ReferenceRefused, parse_model_uri
from mlflow_supplychain.errors import IntegrityError, Problem, RegistryError, SupplyChainError
from mlflow_supplychain.progress import Steps

if TYPE_CHECKING:
    from mlflow_supplychain.deploy.sandbox import SandboxPlan
    from mlflow_supplychain.scanning.results import ScanReport

_logger = logging.getLogger(__name__)

PUBLIC_KEY_ENV_VAR = "MLFLOW_SUPPLYCHAIN_REGISTRY_PUBLIC_KEY"
"""Names the registry's public key file (PEM) a deployment pins."""


def _expected(uri: str, manifest: DeploymentManifest | str | Path | None, *,
              tracking_uri: str, mlflow_client: Any, client: Any,
              target: str | None, warnings: list[Problem]) -> DeploymentManifest:
    from mlflow_supplychain.deploy.registry_facts import build_deployment_manifest

    ref = parse_model_uri(uri)
    if manifest is None:
        return build_deployment_manifest(uri, ref, tracking_uri=tracking_uri,
                                         mlflow_client=mlflow_client, client=client,
                                         target=target, warnings=warnings)
    pinned = manifest if isinstance(manifest, DeploymentManifest) else read_manifest(manifest)
    same = ref.name == pinned.model_name and (
        ref.version == pinned.version or (ref.alias is not None and ref.alias == pinned.alias))
    if not same:
        raise ReferenceRefused(f"{uri} is not what the manifest pins", [Problem(
            uri, f"the manifest pins {pinned.pinned_uri} (alias {pinned.alias})",
            "load the manifest's URI, or write a manifest for this one")])
    return pinned


def _refuse_unsafe_formats(root: Path, subject: str) -> ScanReport:
    from mlflow_supplychain.scanning.scanner import scan_path

    report = scan_path(root)
    bad = [f for f in report.files if f.verdict_name in (None, "prohibited")]
    if bad:
        raise IntegrityError(f"{subject}: prohibited or unreadable formats, not loaded", [
            Problem(f.path, f"verdict {f.verdict_name or 'error'} ({', '.join(f.formats)})",
                    "register a version in a permitted format (e.g. safetensors, skops)")
            for f in bad[:20]])
    return report


def _sandbox_plan(report: ScanReport, model_dir: Path, subject: str) -> SandboxPlan:
    """How the verified model may be loaded; refuses what cannot be loaded restricted."""
    from mlflow_supplychain.deploy.sandbox import plan

    decided = plan(report, _loader_module(model_dir))
    if decided.refusals:
        raise IntegrityError(f"{subject}: sandboxed files that cannot be loaded through a "
                             "restricted unpickler, not loaded", [
            Problem(path, why, "register a version in a permitted format (safetensors, "
                    "ONNX, skops), or a scikit-learn model logged with mlflow.sklearn")
            for path, why in decided.refusals[:20]])
    return decided


def _loader_module(model_dir: Path) -> str | None:
    """The pyfunc ``loader_module`` the model's MLmodel names (read, never executed)."""
    from mlflow.models import Model

    try:
        flavor = Model.load(str(model_dir)).flavors.get("python_function", {})
    except Exception:  # noqa: BLE001 - an unreadable MLmodel cannot be loaded restricted
        return None
    loader = flavor.get("loader_module") if isinstance(flavor, dict) else None
    return loader if isinstance(loader, str) else None


def load_verified_model(uri: str, *, manifest: DeploymentManifest | str | Path | None = None,
                        target: str | None = None, tracking_uri: str | None = None,
                        dst_path: str | None = None, record: bool = True,
                        registry_key: str | Path | None = None) -> Any:
    """Download, verify and load a registered model through ``mlflow.pyfunc``.

    ``uri`` is ``models:/name/<version>`` or ``models:/name@<alias>``. With ``manifest`` (a
    :class:`DeploymentManifest` or its file) the bytes are checked against it; without, against
    the version's verified scan attestation, after the server's gate confirms the version is
    allowed for ``target`` (default: the URI's alias, else ``production``). The verified files
    stay in ``dst_path`` (default: a private temporary directory removed at exit).
    ``registry_key`` is the registry's public key file (``registry-signing.pub``), pinned
    (default: ``$MLFLOW_SUPPLYCHAIN_REGISTRY_PUBLIC_KEY``).

    Raises:
        ReferenceRefused: a mutable or unregistered URI (``latest``, stage, ``runs:/``).
        PromotionDenied: the gate does not allow the version for the target now.
        IntegrityError: no verified attestation, a prohibited/undecided format, files that
            differ from the approved manifest (each named), a verification summary that does
            not vouch for them (or none with a pinned key), or a sandboxed file that cannot
            be loaded through the restricted unpickler.
        GlobalRefused: (from :mod:`.sandbox`, a ``pickle.UnpicklingError``) while loading, a
            pickle named a global the scan did not accept.
        RegistryError: the server or the artifact store cannot be reached.
    """
    import mlflow
    from mlflow import MlflowClient

    from mlflow_supplychain.deploy.fetch import downloaded_version
    from mlflow_supplychain.deploy.registry_facts import DeployClient
    from mlflow_supplychain.deploy.verify import require_match
    from mlflow_supplychain.integrity.manifest import build_manifest

    steps = Steps()
    server = tracking_uri or mlflow.get_tracking_uri()
    mlflow_client = MlflowClient(tracking_uri=server, registry_uri=server)
    client = DeployClient(server)
    steps.step(f"checking {uri} with the registry and its approval")
    noncompliant: list[Problem] = []
    expected = _expected(uri, manifest, tracking_uri=server, mlflow_client=mlflow_client,
                         client=client, target=target, warnings=noncompliant)
    if noncompliant:
        warnings.warn(f"{expected.pinned_uri} is loaded although the policy in force no longer "
                      "allows it (deployed.when_noncompliant: warn): "
                      + "; ".join(p.render() for p in noncompliant), RuntimeWarning,
                      stacklevel=2)
    subject = expected.pinned_uri
    if expected.scan.verdict in ("prohibited", "error"):
        raise IntegrityError(f"{subject}: scan verdict {expected.scan.verdict}, not loaded", [
            Problem(subject, "; ".join(expected.scan.findings[:5]) or expected.scan.verdict,
                    "register a version in a permitted format")])
    keep = Path(dst_path) if dst_path else Path(tempfile.mkdtemp(prefix="supplychain-model-"))
    if not dst_path:
        atexit.register(shutil.rmtree, keep, True)
    # Downloaded under ``keep`` so the verified directory is renamed, never copied, into place.
    steps.step(f"downloading {subject}")
    with downloaded_version(mlflow_client, expected.model_name, expected.version,
                            scratch=str(keep)) as local:
        steps.step(f"hashing {len(expected.files)} files against the approved manifest")
        actual = build_manifest(local)
        require_match(expected.files, expected.artifact_digest, actual, subject=subject)
        _require_summary(expected, {e.path: e.sha256 for e in actual.files}, client,
                         registry_key, steps)
        steps.step("scanning the formats before loading")
        report = _refuse_unsafe_formats(local, subject)
        how = _sandbox_plan(report, local, subject)
        model_dir = keep / f"{expected.model_name}-{expected.version}".replace("/", "_")
        if model_dir.exists():
            shutil.rmtree(model_dir)
        local.rename(model_dir)
    steps.step("loading the verified files with mlflow.pyfunc")
    if how.restricted:
        from mlflow_supplychain.deploy.sandbox import restricted_unpickling

        with restricted_unpickling(how.allowed):
            model = mlflow.pyfunc.load_model(str(model_dir))
    else:
        model = mlflow.pyfunc.load_model(str(model_dir))
    _logger.info("loaded verified %s (%s)", subject, expected.artifact_digest)
    if record:
        _record(client, expected, tuple(p.where.removeprefix("registry: ")
                                        for p in noncompliant))
    return model


def _require_summary(expected: DeploymentManifest, files: dict[str, str], client: Any,
                     registry_key: str | Path | None, steps: Steps) -> None:
    """Refuse unless the registry's verification summary vouches for ``files`` (when the
    manifest has one, or a key is pinned). Fails closed: a summary present is never skipped."""
    from mlflow_supplychain.deploy.summary_check import summary_problems
    from mlflow_supplychain.signing.registry_key import load_public_key

    pinned = registry_key or os.environ.get(PUBLIC_KEY_ENV_VAR) or None
    if expected.verification_summary is None and pinned is None:
        return  # a registry without a signing key: nothing signed, nothing pinned
    steps.step("checking the registry's signed verification summary")
    if pinned is not None:
        try:
            pem = Path(pinned).read_bytes()
        except OSError as exc:
            raise IntegrityError("Cannot read the pinned registry key", [Problem(
                str(pinned), type(exc).__name__, f"pass registry_key= or set "
                f"{PUBLIC_KEY_ENV_VAR} to the registry's registry-signing.pub")]) from None
    else:
        warnings.warn("the registry's public key is not pinned: the verification summary is "
                      "checked with the key the registry reports (pass registry_key= or set "
                      f"{PUBLIC_KEY_ENV_VAR})", RuntimeWarning, stacklevel=3)
        pem = client.registry_key().encode()
    problems = summary_problems(expected, files, load_public_key(pem))
    if problems:
        raise IntegrityError(f"{expected.pinned_uri}: the registry's verification summary does "
                             "not vouch for these bytes, not loaded", problems)


def _record(client: Any, manifest: DeploymentManifest, noncompliant: tuple[str, ...] = ()) -> None:
    try:
        client.record_deployment(name=manifest.model_name, version=manifest.version,
                                 manifest_digest=manifest.digest(),
                                 artifact_digest=manifest.artifact_digest,
                                 host=socket.gethostname()[:253] or "unknown",
                                 noncompliant=noncompliant)
    except (RegistryError, SupplyChainError) as exc:
        warnings.warn(f"verified model loaded, but the deploy.load audit record was not "
                      f"written: {exc.summary}", RuntimeWarning, stacklevel=3)
