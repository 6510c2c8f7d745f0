"""OpenSSF Model Signing (OMS v1.0) signatures, made and checked from file hashes we already have.

An OMS signature is a Sigstore bundle holding a DSSE envelope whose in-toto statement lists
every file of a model with its SHA-256. The ``model-signing`` package makes and checks them by
hashing a directory itself; here the hashes come from our own manifests (the scan attestation
and the promotion-time re-hash), so signing at promotion and checking a publisher's signature
cost no second read of the model.

- :func:`sign_file_hashes` signs a file manifest with an elliptic-curve private key (OMS "key"
  mode). The bundle verifies with the stock ``model_signing verify key`` command and the public
  key, on the model directory as downloaded.
- :func:`check_signature` verifies a bundle against trusted public keys (OMS "key" mode) and
  trusted certificate chains (OMS "certificate" mode: the bundle carries the signing leaf
  certificate, which must chain to a root the policy trusts, be usable for signing and be
  valid now) and compares the files it signs with the files we hashed: every file must be
  signed with the same digest, and no signed file may be missing. It returns a value; it
  never raises for a bad signature.

The ``model-signing`` internals used here (manifest items, payload, key signer and verifier)
are imported lazily, so commands that never sign pay nothing.
"""

from __future__ import annotations

import enum
import hashlib
import json
import logging
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

MAX_BUNDLE_BYTES = 32 * 1024 * 1024
"""A signature bundle larger than this is not read (a 2,000-file model's is ~0.5 MB)."""
_logger = logging.getLogger(__name__)

SIGNATURE_FILE_NAMES = ("model.sig", "model.sig.json")
"""Names a publisher's OMS signature takes inside a model directory (model_signing's default)."""


class SignatureStatus(str, enum.Enum):
    """Outcome of checking an OMS signature; each has its own violation code and fix."""

    VERIFIED = "verified"
    MISSING = "missing"
    """No signature shipped with the files."""
    MALFORMED = "malformed"
    """Not a readable Sigstore bundle (or over the size cap)."""
    UNTRUSTED = "untrusted"
    """The bundle's signature does not verify with any key the policy trusts."""
    TAMPERED = "tampered"
    """The signature verifies, but the files differ from what it signs."""


@dataclass(frozen=True)
class SignatureCheck:
    """The result of :func:`check_signature`."""

    status: SignatureStatus
    key_fingerprint: str | None = None
    """sha256 of the DER public key that verified the bundle (``VERIFIED``/``TAMPERED``); in
    certificate mode, that of the signing leaf certificate's public key."""
    trusted_chain: Path | None = None
    """The trusted certificate chain file the bundle chained to (certificate mode only)."""
    mismatched: tuple[str, ...] = ()
    """Files whose digest differs from the signed one."""
    unsigned: tuple[str, ...] = ()
    """Files present but not covered by the signature."""
    missing: tuple[str, ...] = ()
    """Files the signature covers that are not present."""
    detail: str = ""
    signed_files: Mapping[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status is SignatureStatus.VERIFIED


def sign_file_hashes(files: Mapping[str, str], *, private_key: Path, model_name: str,
                     ignore_paths: Sequence[str] = ()) -> str:
    """A Sigstore bundle (JSON text) signing ``files`` (relative POSIX path -> sha256 hex).

    ``ignore_paths`` are recorded in the statement so that ``model_signing verify`` skips them
    (e.g. the signature file itself when it is stored inside the model directory).

    Raises:
        ValueError: the key cannot be read or is not an elliptic-curve private key.
    """
    from model_signing._hashing.hashing import Digest
    from model_signing._signing import sign_ec_key
    from model_signing._signing.signing import Payload
    from model_signing.manifest import FileManifestItem, Manifest, _FileSerialization

    items = [FileManifestItem(path=PurePosixPath(path), digest=Digest("sha256",
                                                                      bytes.fromhex(sha)))
             for path, sha in sorted(files.items())]
    serialization = _FileSerialization("sha256", allow_symlinks=False,
                                       ignore_paths=[Path(p) for p in ignore_paths])
    payload = Payload(Manifest(model_name, items, serialization))
    signature = sign_ec_key.Signer(private_key).sign(payload)
    text: str = signature.bundle.to_json()  # type: ignore[attr-defined]
    return text


def check_signature(bundle_text: str | bytes, files: Mapping[str, str], *,
                    trusted_keys: Sequence[Path] = (),
                    trusted_chains: Sequence[Path] = ()) -> SignatureCheck:
    """Verify ``bundle_text`` with each of ``trusted_keys`` and ``trusted_chains`` (PEM files of
    a root and optional intermediates each) and compare it with ``files``.

    ``files`` are the hashes of the model as we read it, without the signature file itself.
    """
    raw = bundle_text.encode() if isinstance(bundle_text, str) else bundle_text
    if len(raw) > MAX_BUNDLE_BYTES:
        return SignatureCheck(SignatureStatus.MALFORMED,
                              detail=f"larger than {MAX_BUNDLE_BYTES} bytes")
    signature = _read_bundle(raw)
    if signature is None:
        return SignatureCheck(SignatureStatus.MALFORMED, detail="not a Sigstore bundle")
    signed, fingerprint = _verified_manifest(signature, trusted_keys)
    chain: Path | None = None
    detail = "does not verify with any trusted key or certificate chain"
    if signed is None and trusted_chains:
        signed, fingerprint, chain, refusal = _verified_by_certificate(signature, trusted_chains)
        detail = refusal or detail
    if signed is None:
        return SignatureCheck(SignatureStatus.UNTRUSTED, detail=detail)
    present = {path: sha.lower() for path, sha in files.items()}
    mismatched = tuple(sorted(p for p in present.keys() & signed.keys()
                              if present[p] != signed[p]))
    unsigned = tuple(sorted(present.keys() - signed.keys()))
    missing = tuple(sorted(signed.keys() - present.keys()))
    status = (SignatureStatus.TAMPERED if mismatched or unsigned or missing
              else SignatureStatus.VERIFIED)
    return SignatureCheck(status, key_fingerprint=fingerprint, trusted_chain=chain,
                          mismatched=mismatched,
                          unsigned=unsigned, missing=missing, signed_files=signed)


def public_key_fingerprint(path: Path) -> str:
    """``sha256:<hex>`` of the DER SubjectPublicKeyInfo of the PEM public key at ``path``."""
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_public_key(path.read_bytes())
    der = key.public_bytes(serialization.Encoding.DER,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(der).hexdigest()


def _read_bundle(raw: bytes) -> Any:
    from model_signing._signing import sign_sigstore_pb

    try:
        json.loads(raw)
    except ValueError:
        return None
    # The library reads bundles from files only; a private temporary file, removed at once.
    with tempfile.TemporaryDirectory(prefix="oms-") as folder:
        path = Path(folder) / "bundle.json"
        path.write_bytes(raw)
        try:
            return sign_sigstore_pb.Signature.read(path)
        except Exception:  # noqa: BLE001 - any parse failure of hostile input is "malformed"
            return None


def _verified_manifest(signature: Any,
                       trusted_keys: Sequence[Path]) -> tuple[dict[str, str] | None, str | None]:
    from model_signing._signing import sign_ec_key

    for key in trusted_keys:
        try:
            manifest = sign_ec_key.Verifier(key).verify(signature)
        except Exception as exc:  # noqa: BLE001 - failed with this key; try the next one
            _logger.debug("OMS bundle does not verify with %s: %s", key.name, type(exc).__name__)
            continue
        signed = {descriptor.identifier: descriptor.digest.digest_hex.lower()
                  for descriptor in manifest.resource_descriptors()}
        return signed, public_key_fingerprint(key)
    return None, None


def _verified_by_certificate(signature: Any, trusted_chains: Sequence[Path]) -> tuple[
        dict[str, str] | None, str | None, Path | None, str | None]:
    """The signed files, leaf key fingerprint and chain file of the first trusted chain that
    verifies ``signature`` in OMS certificate mode; a refusal reason when none does."""
    from model_signing._signing import sign_certificate

    refusal = None
    for chain in trusted_chains:
        if not chain.read_bytes().strip():
            continue  # never an empty store: the library would fall back to the system's CAs
        try:
            manifest = sign_certificate.Verifier([chain]).verify(signature)
        except Exception as exc:  # noqa: BLE001 - failed with this chain; try the next one
            _logger.debug("OMS bundle does not chain to %s: %s", chain.name, type(exc).__name__)
            continue
        # model_signing checks the chain at the leaf's notBefore (bundles carry no trusted
        # timestamp); we also require every certificate of the path to be valid now.
        leaf, problem = _valid_now(signature, chain)
        if problem is not None:
            refusal = problem
            continue
        signed = {descriptor.identifier: descriptor.digest.digest_hex.lower()
                  for descriptor in manifest.resource_descriptors()}
        return signed, leaf, chain, None
    return None, None, None, refusal


def _valid_now(signature: Any, chain: Path) -> tuple[str | None, str | None]:
    """(leaf key fingerprint, None) when the bundle's certificate path to ``chain`` verifies at
    the current time, else (None, reason)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from OpenSSL import crypto

    material = signature.bundle.verification_material.x509_certificate_chain
    certificates = [x509.load_der_x509_certificate(c.raw_bytes) for c in material.certificates]
    store = crypto.X509Store()
    for anchor in x509.load_pem_x509_certificates(chain.read_bytes()):
        store.add_cert(crypto.X509.from_cryptography(anchor))
    leaf = certificates[0]
    context = crypto.X509StoreContext(
        store, crypto.X509.from_cryptography(leaf),
        [crypto.X509.from_cryptography(c) for c in certificates[1:]])
    try:
        context.verify_certificate()  # at the current time: expired or not yet valid fails
    except crypto.X509StoreContextError as exc:
        return None, f"the certificate path is not valid now ({exc})"
    der = leaf.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(der).hexdigest(), None
