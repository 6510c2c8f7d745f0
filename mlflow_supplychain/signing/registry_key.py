"""The registry's own signing key: an ECDSA P-256 pair that signs what the gate vouches for.

One key serves both standards the registry speaks: OpenSSF Model Signing bundles (OMS "key"
mode requires an elliptic-curve key) and DSSE envelopes of SLSA verification summaries.
``mlflow-supplychain server`` generates the pair in its data directory on first start and
points the server at the private key through :data:`KEY_ENV_VAR`; deployments verify with the
public key (``registry-signing.pub``), which they should pin out of band.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mlflow_supplychain.errors import IntegrityError, Problem

KEY_ENV_VAR = "MLFLOW_SUPPLYCHAIN_REGISTRY_SIGNING_KEY"
"""Names the PEM file of the registry's private signing key (ECDSA P-256)."""
PRIVATE_KEY_FILE = "registry-signing.key"
PUBLIC_KEY_FILE = "registry-signing.pub"


def generate_registry_key(private_path: Path, public_path: Path) -> None:
    """Create the P-256 pair as PEM files (private key mode 0600) unless both exist.

    Raises:
        IntegrityError: only one of the two files exists.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    if private_path.exists() and public_path.exists():
        return
    if private_path.exists() or public_path.exists():
        raise IntegrityError("Incomplete registry signing key pair", [Problem(
            str(private_path if private_path.exists() else public_path),
            "exists without its pair", "restore the missing file, or delete both to make a "
            "new pair (deployments pinned to the old public key must then be updated)")])
    key = ec.generate_private_key(ec.SECP256R1())
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    public_path.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))


def configured_key_path() -> Path:
    """The private key file the server signs with.

    Raises:
        IntegrityError: :data:`KEY_ENV_VAR` is unset or names no readable file.
    """
    value = os.environ.get(KEY_ENV_VAR)
    if not value or not Path(value).is_file():
        raise IntegrityError("The registry has no signing key", [Problem(
            KEY_ENV_VAR, "is not set or names no file",
            "start the server with 'mlflow-supplychain server' (it makes one), or point "
            f"{KEY_ENV_VAR} at an ECDSA P-256 private key (PEM)")])
    return Path(value)


def load_private_key(path: Path) -> Any:
    """The private key object at ``path``.

    Raises:
        IntegrityError: unreadable, or not an ECDSA P-256 key.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise IntegrityError("Cannot read the registry signing key", [Problem(
            str(path), type(exc).__name__, "check the file")]) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise IntegrityError("The registry signing key is not ECDSA P-256", [Problem(
            str(path), "wrong key type", "generate a P-256 key")])
    return key


def public_pem(private_key: Any) -> str:
    """The PEM text of ``private_key``'s public half."""
    from cryptography.hazmat.primitives import serialization

    return str(private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode())


def load_public_key(pem: bytes) -> Any:
    """A public key object from PEM bytes.

    Raises:
        IntegrityError: not a PEM public key.
    """
    from cryptography.hazmat.primitives import serialization

    try:
        return serialization.load_pem_public_key(pem)
    except (ValueError, TypeError):
        raise IntegrityError("Not a PEM public key", [Problem(
            "registry key", "cannot be parsed", "pass the registry's registry-signing.pub")]
        ) from None
