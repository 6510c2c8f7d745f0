"""Mirror-and-pin import: bring files downloaded from a hub into MLflow's controlled storage.

The cure for "the hub is a trusted source": production never pulls from the hub. An operator
downloads a model at a pinned commit, then ``import_directory``:

1. refuses mutable revisions (branch names, ``main``, ``latest``, tags, short hashes) and
   source URLs that embed a branch (``/tree/main``), before touching anything;
2. copies every file into a private staging directory while hashing it (so the bytes that are
   verified are the bytes that are uploaded: nothing can change them in between), refusing
   symlinks and special files;
3. compares every declared hash (``--expected-hashes`` and/or the record's ``source_sha256``)
   with the staged files: a mismatch or a declared file that is missing stops the import;
4. logs the staged files to a run in MLflow's own artifact store and registers a version whose
   source is that controlled location, with the intake record as tags, in one call.

The hub URL and revision are recorded only as provenance (``source_url``, ``source_revision``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from mlflow import MlflowClient

from mlflow_supplychain.digests import is_sha256_hex
from mlflow_supplychain.documents import parse_json
from mlflow_supplychain.errors import EvidenceError, IntegrityError, Problem, excerpt
from mlflow_supplychain.intake.fields import FIELDS, ArtifactClass
from mlflow_supplychain.intake.records import (
    BRANCH_IN_URL,
    TAG_PREFIX,
    IntakeRecord,
    record_from_fields,
    record_to_fields,
)
from mlflow_supplychain.intake.registry_io import call_registry, client_or_default, registry_has
from mlflow_supplychain.integrity.hashing import copy_hashing
from mlflow_supplychain.integrity.tree import walk_tree
from mlflow_supplychain.regular_files import read_regular_text
from mlflow_supplychain.signing.oms import (
    SIGNATURE_FILE_NAMES,
    SignatureCheck,
    SignatureStatus,
    check_signature,
)

logger = logging.getLogger(__name__)

DEFAULT_EXPERIMENT = "supplychain-imports"
ARTIFACT_PATH = "model"
SKIPPED_DIRS = (".git", ".cache")
"""Hub client bookkeeping (git metadata, huggingface_hub's .cache), never model files."""
MAX_HASHES_BYTES = 16 << 20
"""Largest expected-hashes file read (a 100,000-file model's sha256sum output is ~10 MiB)."""


@dataclass(frozen=True)
class ImportResult:
    """What an import registered."""

    name: str
    version: str
    run_id: str
    source: str
    files: Mapping[str, str]
    """Every imported file: relative POSIX path -> sha256 hex."""
    verified: tuple[str, ...]
    """Files whose hash was declared and matched."""
    record: IntakeRecord
    signature: SignatureCheck | None = None
    """The publisher's OMS signature check, when trusted keys were given."""


def check_pinned_source(source_url: str, revision: str) -> None:
    """Refuse a mutable revision or a source URL that embeds one.

    Raises:
        EvidenceError: naming the value and how to find the commit hash.
    """
    problems = []
    url_problem = FIELDS["source_url"].validate(source_url)
    if url_problem is not None:
        problems.append(Problem("--source-url", f"{source_url!r} {url_problem}",
                                "pass the repository URL, e.g. https://huggingface.co/org/model"))
    elif BRANCH_IN_URL.search(urlsplit(source_url).path):
        problems.append(Problem("--source-url", f"{source_url!r} points into a branch or file view",
                                "pass the repository URL only; the commit goes in --revision"))
    if FIELDS["source_revision"].validate(revision) is not None:
        problems.append(Problem(
            "--revision",
            f"{revision!r} is not a commit hash; branch names, 'main', 'latest', tags and short "
            "hashes can point at different files tomorrow",
            "pass the full 40-character commit hash (Hugging Face: "
            "huggingface_hub.model_info(repo, revision=...).sha, or the repo's History page; "
            "git: git rev-parse HEAD), and download exactly that revision"))
    if problems:
        raise EvidenceError("Refusing to import from a mutable source", problems)


def parse_expected_hashes(path: Path) -> dict[str, str]:
    """Read declared hashes: a JSON object ``{"path": "<sha256>"}`` or ``sha256sum`` output.

    Raises:
        EvidenceError: the file is missing, unreadable, not a regular file (a FIFO, a
            device...), larger than 16 MiB or not UTF-8; a JSON object nested deeper than one
            level; a line/entry that is not a sha256 and a path. Never anything else.
    """
    text = read_regular_text(path, limit=MAX_HASHES_BYTES, kind="Expected hashes file",
                             error=EvidenceError, missing_fix="check the path")
    problems: list[Problem] = []
    hashes: dict[str, str] = {}
    if text.lstrip().startswith("{"):
        # {"path": "<sha256>"} is one level deep; anything deeper is refused before decoding
        data = parse_json(text, source=str(path), kind="Expected hashes file",
                          error=EvidenceError, max_depth=1)
        if not isinstance(data, dict):
            raise EvidenceError(f"Expected hashes {path} are invalid", [Problem(
                str(path), "is not a JSON object", 'write {"path": "<sha256>", ...}')])
        for key, value in data.items():
            if isinstance(value, str) and is_sha256_hex(value.lower()):
                hashes[key] = value.lower()
            else:
                problems.append(Problem(f"{path} {excerpt(key)}", "is not a sha256 hex digest",
                                        "use the 64-hex-character sha256 of the file"))
    else:
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.startswith("#"):
                continue
            digest, _, name = line.strip().partition(" ")
            name = name.strip().removeprefix("*")
            if not is_sha256_hex(digest.lower()) or not name:
                problems.append(Problem(f"{path}:{number}", "is not '<sha256>  <path>'",
                                        "use sha256sum output"))
            else:
                hashes[name.removeprefix("./")] = digest.lower()
    if problems:
        raise EvidenceError(f"Expected hashes {path} are invalid", problems)
    if not hashes:
        raise EvidenceError(f"Expected hashes {path} are empty", [Problem(
            str(path), "declares no files", "list the sha256 of every file you import")])
    return hashes


def stage_files(directory: Path, staging: Path) -> dict[str, str]:
    """Copy every regular file under ``directory`` to ``staging`` while hashing it.

    Returns relative POSIX path -> sha256 hex of the staged bytes. The tree is walked without
    recursion and never out of ``directory`` (see :mod:`mlflow_supplychain.integrity.tree`).

    Raises:
        EvidenceError: the directory is missing or empty; holds a symlink or special file; a
            file or directory under it is unreadable, nests more than 128 levels deep, or
            changed while it was copied. Never anything else.
    """
    # Hash while copying (one read of each file) so the digest describes the staged bytes that
    # are logged, not a file that could change between hashing and upload.
    if not directory.is_dir():
        raise EvidenceError(f"Cannot import {directory}", [Problem(
            str(directory), "is not a directory", "pass the directory the model was downloaded to")])
    try:
        tree = walk_tree(directory, skip_top=frozenset(SKIPPED_DIRS))
    except IntegrityError as exc:
        raise EvidenceError(f"Cannot import {directory}", exc.problems) from None
    problems = [Problem(r.rel, r.what, "replace it with the file it points to (hub caches use "
                        "symlinks: download with local_dir and no symlinks)") if r.symlink
                else Problem(r.rel, r.what, "remove it") for r in tree.refused]
    if problems:
        raise EvidenceError(f"Cannot import {directory}", problems)
    if not tree.files:
        raise EvidenceError(f"Cannot import {directory}", [Problem(
            str(directory), "contains no files", "download the model files first")])
    hashes: dict[str, str] = {}
    try:
        for found in tree.files:
            target = staging / found.rel
            target.parent.mkdir(parents=True, exist_ok=True)
            hashes[found.rel] = copy_hashing(found.path, target, identity=found.identity).sha256
    except IntegrityError as exc:
        raise EvidenceError(f"Cannot import {directory}", exc.problems) from None
    except OSError as exc:
        raise EvidenceError(f"Cannot import {directory}", [Problem(
            str(staging), exc.strerror or type(exc).__name__,
            "check the temporary directory has room")]) from None
    return hashes


def compare_hashes(actual: Mapping[str, str], expected: Mapping[str, str]) -> list[Problem]:
    """Every declared hash that the local files do not match (key ``""``: any file)."""
    problems = []
    present = set(actual.values())
    for path, digest in sorted(expected.items()):
        if path == "":
            if digest not in present:
                problems.append(Problem(digest, "no local file has this declared sha256",
                                        "download the exact upstream files"))
        elif path not in actual:
            problems.append(Problem(path, "is declared but missing locally",
                                    "download it too, or remove it from the declared hashes"))
        elif actual[path] != digest:
            problems.append(Problem(path, f"has sha256 {actual[path]}, declared {digest}",
                                    "re-download the file at the pinned revision; do not import "
                                    "files that differ from upstream"))
    return problems


def _declared(record: IntakeRecord | None, expected: Mapping[str, str] | None) -> dict[str, str]:
    declared = dict(expected or {})
    if record is not None and record.source_sha256 is not None:
        from_record = ({"": record.source_sha256} if isinstance(record.source_sha256, str)
                       else dict(record.source_sha256))
        clash = [p for p in from_record if p in declared and declared[p] != from_record[p]]
        if clash:
            raise EvidenceError("Declared hashes disagree", [Problem(
                p, "has different hashes in --expected-hashes and the record's source_sha256",
                "fix whichever is wrong") for p in clash])
        declared.update(from_record)
    return declared


def _merge_record(record: IntakeRecord | None, *, owner: str | None, artifact_class: ArtifactClass,
                  source_url: str, revision: str, verified: Mapping[str, str]) -> IntakeRecord:
    fields = record_to_fields(record) if record is not None else {}
    imposed = {"artifact_class": artifact_class.value, "source_url": source_url,
               "source_revision": revision}
    clash = [Problem(f"record {name}", f"is {fields[name]!r}, but the import says {value!r}",
                     "make the record agree with the import options")
             for name, value in imposed.items() if name in fields and fields[name] != value]
    if clash:
        raise EvidenceError("The intake record disagrees with the import", clash)
    fields |= imposed
    fields["source_sha256"] = json.dumps(dict(sorted(verified.items())), separators=(",", ":"))
    if owner is not None:
        fields["owner"] = owner
    if "owner" not in fields:
        raise EvidenceError("The imported version needs an owner", [Problem(
            "--owner", "is missing", "pass --owner TEAM, or --record FILE with an owner")])
    return record_from_fields(fields, source="import")


def import_directory(directory: str | os.PathLike[str], *, source_url: str, revision: str,
                     name: str, artifact_class: ArtifactClass,
                     expected_hashes: Mapping[str, str] | None = None,
                     record: IntakeRecord | None = None, owner: str | None = None,
                     experiment: str = DEFAULT_EXPERIMENT,
                     client: MlflowClient | None = None,
                     trusted_keys: Sequence[Path] = (),
                     signature_file: str | None = None,
                     trusted_certificates: Sequence[Path] = ()) -> ImportResult:
    """Verify a downloaded model against its declared hashes (and, with ``trusted_keys``, its
    publisher's OMS signature) and register it from MLflow's own artifact store.

    With ``trusted_keys`` or ``trusted_certificates`` (PEM CA chains: OMS certificate mode),
    the signature (``signature_file``, a path inside ``directory``; default ``model.sig``) must
    verify with one of them and sign exactly the staged files; the
    signed hashes then count as declared hashes.

    Raises:
        EvidenceError: mutable revision, no declared hashes, bad record, symlinks (exit 2).
        IntegrityError: a declared hash does not match or a declared file is missing; the
            signature is missing, malformed, untrusted or does not match the files (exit 1).
        RegistryError: MLflow cannot be reached or refuses a write.
    """
    check_pinned_source(source_url, revision)
    declared = _declared(record, expected_hashes)
    if not declared and not trusted_keys and not trusted_certificates:
        raise _nothing_declared()
    mlflow_client = client_or_default(client)
    with tempfile.TemporaryDirectory(prefix="supplychain-import-") as tmp:
        staging = Path(tmp) / ARTIFACT_PATH
        actual = stage_files(Path(directory), staging)
        signature = None
        if trusted_keys or trusted_certificates:
            signature = check_publisher_signature(actual, staging, trusted_keys, signature_file,
                                                  trusted_certificates)
            declared = {**dict(signature.signed_files), **declared}
        if not declared:
            raise _nothing_declared()
        mismatches = compare_hashes(actual, declared)
        if mismatches:
            raise IntegrityError(f"{len(mismatches)} file(s) do not match their declared hashes; "
                                 "nothing was imported", mismatches)
        verified = {p: d for p, d in actual.items() if p in declared or d in
                    {v for k, v in declared.items() if k == ""}}
        undeclared = sorted(set(actual) - set(verified))
        if undeclared:
            logger.warning("importing %d file(s) without a declared upstream hash (recorded with "
                           "their local sha256 in the run only): %s", len(undeclared),
                           ", ".join(undeclared))
        merged = _merge_record(record, owner=owner, artifact_class=artifact_class,
                               source_url=source_url, revision=revision, verified=verified)
        tags = {TAG_PREFIX + k: v for k, v in record_to_fields(merged).items()}
        # fail on a bad name or missing permission before uploading anything
        if not registry_has(mlflow_client.get_registered_model, name):
            call_registry(f"create registered model {name}", mlflow_client.create_registered_model,
                          name)
        run_id, source = _log_files(mlflow_client, staging, experiment, actual, declared,
                                    source_url, revision)
    mv = call_registry(f"register a version of {name}", mlflow_client.create_model_version, name,
               source, run_id=run_id, tags=tags,
               description=f"Imported from {source_url} at {revision}")
    logger.info("imported %s@%s as models:/%s/%s (%d files)", source_url, revision, name,
                mv.version, len(actual))
    return ImportResult(name=name, version=str(mv.version), run_id=run_id, source=source,
                        files=actual, verified=tuple(sorted(verified)), record=merged,
                        signature=signature)


def _nothing_declared() -> EvidenceError:
    return EvidenceError("Nothing to verify the files against", [Problem(
        "--expected-hashes", "no file hashes are declared",
        "pass --expected-hashes FILE (the hub's sha256 of each file), declare source_sha256 "
        "in --record, or --trusted-key / --trusted-certificate for a signed model; an import "
        "that verifies nothing is refused")])


def check_publisher_signature(staged: Mapping[str, str], staging: Path,
                              trusted_keys: Sequence[Path],
                              signature_file: str | None,
                              trusted_certificates: Sequence[Path] = ()) -> SignatureCheck:
    """Check the OMS signature among the staged files against ``trusted_keys`` and
    ``trusted_certificates`` (PEM CA chains).

    The signature file itself is not one of the signed files.

    Raises:
        IntegrityError: missing, malformed, untrusted, or not matching the files (exit 1).
    """
    names = (signature_file,) if signature_file else SIGNATURE_FILE_NAMES
    found = next((n for n in names if n in staged), None)
    if found is None:
        raise IntegrityError("The model carries no publisher signature", [Problem(
            signature_file or "model.sig", "no OMS signature among the files",
            "ask the publisher for the signature (model_signing sign ...), pass "
            "--signature PATH if it has another name, or import without --trusted-key and "
            "--trusted-certificate")])
    files = {p: d for p, d in staged.items() if p != found}
    _check_chain_files(trusted_certificates)
    check = check_signature((staging / found).read_bytes(), files, trusted_keys=trusted_keys,
                            trusted_chains=trusted_certificates)
    if check.ok:
        return check
    if check.status is SignatureStatus.TAMPERED:
        problems = ([Problem(p, "differs from the signed digest", "re-download the file at the "
                             "pinned revision") for p in check.mismatched]
                    + [Problem(p, "is not covered by the signature", "remove it, or ask the "
                               "publisher to sign it") for p in check.unsigned]
                    + [Problem(p, "is signed but missing", "download it too")
                       for p in check.missing])
        raise IntegrityError("The files do not match the publisher's signature; nothing was "
                             "imported", problems)
    what = {SignatureStatus.MALFORMED: f"is not a readable OMS signature ({check.detail})",
            SignatureStatus.UNTRUSTED: "does not verify with any --trusted-key or "
                                       f"--trusted-certificate ({check.detail})"}[check.status]
    raise IntegrityError("The publisher's signature does not verify; nothing was imported",
                         [Problem(found, what, "check the publisher's public key or CA chain, "
                                  "that its certificate has not expired, and that the "
                                  "signature belongs to this revision")])


def _check_chain_files(chains: Sequence[Path]) -> None:
    """Refuse a --trusted-certificate file that is not a PEM certificate chain (exit 2)."""
    from cryptography import x509

    for path in chains:
        try:
            text = path.read_bytes()
            if b"PRIVATE KEY" in text or not x509.load_pem_x509_certificates(text):
                raise ValueError("not a chain")
        except (OSError, ValueError):
            raise EvidenceError("A --trusted-certificate is not a CA certificate chain", [Problem(
                "--trusted-certificate", f"{path.name}: not a readable PEM certificate chain",
                "pass the publisher's root CA certificate (PEM), then any intermediates")]) \
                from None


def _log_files(client: MlflowClient, staging: Path, experiment: str, actual: Mapping[str, str],
               declared: Mapping[str, str], source_url: str, revision: str) -> tuple[str, str]:
    exp = call_registry(f"look up experiment {experiment}", client.get_experiment_by_name, experiment)
    exp_id = exp.experiment_id if exp is not None else call_registry(
        f"create experiment {experiment}", client.create_experiment, experiment)
    run = call_registry("create the import run", client.create_run, exp_id,
                tags={"supplychain.import.source_url": source_url,
                      "supplychain.import.revision": revision})
    run_id = run.info.run_id
    listing = {"source_url": source_url, "revision": revision,
               "files": [{"path": p, "sha256": d, "declared": p in declared}
                         for p, d in sorted(actual.items())]}
    with tempfile.TemporaryDirectory() as meta:
        listing_path = Path(meta) / "supplychain-import.json"
        listing_path.write_text(json.dumps(listing, indent=2), encoding="utf-8")
        call_registry("log the import listing", client.log_artifact, run_id, str(listing_path))
    call_registry("upload the files to MLflow's artifact store", client.log_artifacts, run_id,
          str(staging), ARTIFACT_PATH)
    # MLflow prints run links on stdout when a run ends; keep stdout for our own output
    with contextlib.redirect_stdout(sys.stderr):
        call_registry("finish the import run", client.set_terminated, run_id)
    return run_id, f"{run.info.artifact_uri.rstrip('/')}/{ARTIFACT_PATH}"
