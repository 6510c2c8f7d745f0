"""The publisher's OMS signature among a version's files, checked against the policy's keys.

Runs where the files are hashed anyway (the scan sidecar), from the manifest it just built: the
signature file is read with a size cap (regular file, no symlink: the manifest refuses those),
and the statement's file list is compared with the manifest minus the signature file itself.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path

from mlflow_supplychain.integrity.attest import PublisherSignature
from mlflow_supplychain.signing.oms import (
    MAX_BUNDLE_BYTES,
    SIGNATURE_FILE_NAMES,
    SignatureStatus,
    check_signature,
    public_key_fingerprint,
)

MAX_PROBLEMS = 50


def publisher_signature(directory: Path, files: Mapping[str, str],
                        trusted_keys: Mapping[str, str],
                        trusted_certificates: Mapping[str, str] | None = None,
                        ) -> PublisherSignature | None:
    """The signature check for the files of ``directory`` (``files``: its manifest) against the
    policy's publisher keys and certificate chains (name -> PEM); None when the policy trusts
    no publisher (nothing to check against)."""
    chains_pem = trusted_certificates or {}
    if not trusted_keys and not chains_pem:
        return None
    found = next((name for name in SIGNATURE_FILE_NAMES if name in files), None)
    if found is None:
        return PublisherSignature(status="missing")
    bundle = _read_capped(directory / found)
    if bundle is None:
        return PublisherSignature(status="malformed", file=found)
    signed = {path: sha for path, sha in files.items() if path != found}
    with tempfile.TemporaryDirectory(prefix="oms-keys-") as folder:
        paths = {}
        for name, pem in trusted_keys.items():
            path = Path(folder) / f"{name}.pub"
            path.write_text(pem)
            paths[public_key_fingerprint(path)] = (name, path)
        chains = {}
        for name, pem in chains_pem.items():
            path = Path(folder) / f"{name}.chain.pem"
            path.write_text(pem)
            chains[path] = name
        check = check_signature(bundle, signed, trusted_keys=[p for _, p in paths.values()],
                                trusted_chains=list(chains))
    publisher = (chains[check.trusted_chain] if check.trusted_chain in chains
                 else paths[check.key_fingerprint][0] if check.key_fingerprint in paths else None)
    problems = ([f"{p}: differs from the signed digest" for p in check.mismatched]
                + [f"{p}: not covered by the signature" for p in check.unsigned]
                + [f"{p}: signed but missing" for p in check.missing])[:MAX_PROBLEMS]
    status = check.status.value if check.status is not SignatureStatus.MISSING else "missing"
    return PublisherSignature(status=status, file=found,  # type: ignore[arg-type]
                              publisher=publisher, problems=tuple(problems))


def _read_capped(path: Path) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_BUNDLE_BYTES:
            return None
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return handle.read(MAX_BUNDLE_BYTES + 1)
    finally:
        os.close(fd)
