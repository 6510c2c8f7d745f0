"""A throwaway certificate authority for OMS certificate-mode tests: a root CA, an optional
intermediate and a code-signing leaf (EC keys), written as PEM files."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = dt.datetime.now(dt.timezone.utc)


@dataclass(frozen=True)
class Pki:
    root: Path
    """The root CA certificate (PEM): what a policy trusts."""
    intermediate: Path
    """The intermediate CA certificate (PEM), shipped in the signature's chain."""
    leaf: Path
    leaf_key: Path


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _certificate(subject: str, key: ec.EllipticCurvePrivateKey, issuer: str,
                 issuer_key: ec.EllipticCurvePrivateKey, *, ca: bool,
                 not_before: dt.datetime, not_after: dt.datetime) -> x509.Certificate:
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(not_before).not_valid_after(not_after)
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(
                   digital_signature=not ca, content_commitment=False, key_encipherment=False,
                   data_encipherment=False, key_agreement=False, key_cert_sign=ca,
                   crl_sign=ca, encipher_only=False, decipher_only=False), critical=True))
    if not ca:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
    return builder.sign(issuer_key, hashes.SHA384())


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def make_pki(folder: Path, name: str = "vendor", *, leaf_days: tuple[int, int] = (-1, 365)
             ) -> Pki:
    """Root (P-384) -> intermediate (P-384) -> leaf (P-256); ``leaf_days`` are the leaf's
    notBefore/notAfter in days from now (negative: in the past)."""
    folder.mkdir(parents=True, exist_ok=True)
    root_key = ec.generate_private_key(ec.SECP384R1())
    middle_key = ec.generate_private_key(ec.SECP384R1())
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    long_ago, far = NOW - dt.timedelta(days=30), NOW + dt.timedelta(days=3650)
    root = _certificate(f"{name} root", root_key, f"{name} root", root_key, ca=True,
                        not_before=long_ago, not_after=far)
    middle = _certificate(f"{name} intermediate", middle_key, f"{name} root", root_key,
                          ca=True, not_before=long_ago, not_after=far)
    leaf = _certificate(f"{name} signer", leaf_key, f"{name} intermediate", middle_key,
                        ca=False, not_before=NOW + dt.timedelta(days=leaf_days[0]),
                        not_after=NOW + dt.timedelta(days=leaf_days[1]))
    pki = Pki(folder / f"{name}-root.pem", folder / f"{name}-intermediate.pem",
              folder / f"{name}-leaf.pem", folder / f"{name}-leaf.key")
    pki.root.write_bytes(_pem(root))
    pki.intermediate.write_bytes(_pem(middle))
    pki.leaf.write_bytes(_pem(leaf))
    pki.leaf_key.write_bytes(leaf_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return pki


def sign_with_certificate(model: Path, signature: Path, pki: Pki) -> None:
    """Sign ``model`` with model_signing's own certificate mode (leaf + intermediate in the
    bundle)."""
    from model_signing import signing

    signing.Config().use_certificate_signer(
        private_key=pki.leaf_key, signing_certificate=pki.leaf,
        certificate_chain=[pki.intermediate]).sign(model, signature)
