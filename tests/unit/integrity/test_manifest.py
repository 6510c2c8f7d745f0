"""Manifest and hashing engine: canonical form, digest stability, symlink refusal."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest

from mlflow_supplychain.digests import digest_of, is_digest
from mlflow_supplychain.errors import IntegrityError
from mlflow_supplychain.integrity import hashing
from mlflow_supplychain.integrity.hashing import BUFFER_SIZE, hash_file, hash_files
from mlflow_supplychain.integrity.manifest import (
    Manifest,
    ManifestEntry,
    build_manifest,
)


def _tree(root: Path) -> Path:
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "MLmodel").write_text("flavors: {}\n")
    (root / "sub" / "weights.bin").write_bytes(os.urandom(BUFFER_SIZE * 3 + 17))
    (root / "sub" / "deeper" / "empty").write_bytes(b"")
    return root


def test_hash_file_matches_hashlib_for_small_large_and_empty(tmp_path: Path) -> None:
    for size in (0, 1, 4096, BUFFER_SIZE, BUFFER_SIZE * 2 + 5):
        data = os.urandom(size)
        target = tmp_path / f"f{size}"
        target.write_bytes(data)
        result = hash_file(target)
        assert result.size == size
        assert result.sha256 == hashlib.sha256(data).hexdigest()


def test_manifest_entries_are_relative_posix_sorted_and_digest_is_canonical(tmp_path: Path) -> None:
    root = _tree(tmp_path / "model")
    manifest = build_manifest(root)
    assert [e.path for e in manifest.files] == ["MLmodel", "sub/deeper/empty", "sub/weights.bin"]
    big = (root / "sub" / "weights.bin").read_bytes()
    assert manifest.files[2] == ManifestEntry("sub/weights.bin", len(big),
                                              hashlib.sha256(big).hexdigest())
    assert is_digest(manifest.digest)
    assert manifest.digest == digest_of([e.as_dict() for e in manifest.files])
    assert manifest.as_dict()["digest"] == manifest.digest
    assert build_manifest(root, workers=1) == manifest  # parallelism does not change it


def test_manifest_digest_changes_with_content_name_and_new_files(tmp_path: Path) -> None:
    root = _tree(tmp_path / "model")
    before = build_manifest(root).digest
    (root / "MLmodel").write_text("flavors: {x: 1}\n")
    changed = build_manifest(root).digest
    assert changed != before
    (root / "MLmodel").rename(root / "MLmodel2")
    assert build_manifest(root).digest != changed
    (root / "extra").write_bytes(b"")
    assert len(build_manifest(root).files) == 4


def test_single_file_manifest_uses_file_name(tmp_path: Path) -> None:
    target = tmp_path / "model.safetensors"
    target.write_bytes(b"abc")
    manifest = build_manifest(target)
    assert manifest.files == (ManifestEntry("model.safetensors", 3,
                                            hashlib.sha256(b"abc").hexdigest()),)


def test_symlinks_are_refused_by_default_and_followed_on_request(tmp_path: Path) -> None:
    root = _tree(tmp_path / "model")
    (root / "link").symlink_to(root / "MLmodel")
    with pytest.raises(IntegrityError, match="Symbolic links"):
        build_manifest(root)
    with pytest.raises(IntegrityError):
        build_manifest(root / "link")
    followed = build_manifest(root, follow_symlinks=True)
    assert {e.path for e in followed.files} >= {"link", "MLmodel"}


def test_directory_cycle_is_refused_when_following(tmp_path: Path) -> None:
    root = _tree(tmp_path / "model")
    (root / "sub" / "loop").symlink_to(root)
    with pytest.raises(IntegrityError, match="cycle"):
        build_manifest(root, follow_symlinks=True)


def test_special_files_and_missing_paths_are_errors(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(IntegrityError, match="regular"):
        build_manifest(tmp_path)
    with pytest.raises(IntegrityError, match="Cannot"):
        build_manifest(tmp_path / "missing")


def test_duplicate_paths_are_rejected() -> None:
    entry = ManifestEntry("a", 0, hashlib.sha256(b"").hexdigest())
    with pytest.raises(IntegrityError, match="duplicate"):
        Manifest.from_entries([entry, entry])


def test_progress_reports_every_byte(tmp_path: Path) -> None:
    root = _tree(tmp_path / "model")
    seen: list[tuple[int, int, str]] = []
    manifest = build_manifest(root, progress=lambda done, total, name: seen.append((done, total, name)))
    assert len(seen) == 3 and seen[-1][0] == seen[-1][1] == manifest.total_size


def test_hash_files_yields_every_file_once(tmp_path: Path) -> None:
    paths = []
    for i in range(50):
        target = tmp_path / f"f{i}"
        target.write_bytes(os.urandom(i * 1000))
        paths.append(target)
    results = dict(hash_files(paths, workers=4))
    assert len(results) == 50
    assert results[str(paths[7])].sha256 == hashlib.sha256(paths[7].read_bytes()).hexdigest()


def test_hash_matches_hashlib_at_buffer_boundaries(tmp_path: Path) -> None:
    for size in (1, BUFFER_SIZE - 1, BUFFER_SIZE, BUFFER_SIZE + 1, BUFFER_SIZE * 9 + 7):
        data = os.urandom(size)
        target = tmp_path / f"f{size}"
        target.write_bytes(data)
        assert hash_file(target) == hashing.FileDigest(size, hashlib.sha256(data).hexdigest())


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(IntegrityError, match="Cannot hash") as caught:
        list(hash_files([fifo, tmp_path / "pipe"], workers=2))
    assert "FIFO" in caught.value.problems[0].what


def test_closing_hash_files_early_stops_every_worker(tmp_path: Path) -> None:
    paths = []
    for i in range(40):
        target = tmp_path / f"f{i}"
        target.write_bytes(os.urandom(20_000))
        paths.append(target)
    results = hash_files(paths, workers=3)
    path, digest = next(results)
    assert digest.sha256 == hashlib.sha256(Path(path).read_bytes()).hexdigest()
    results.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("sha256-")]


def test_hash_files_reports_a_file_removed_after_listing(tmp_path: Path) -> None:
    keep, gone = tmp_path / "keep", tmp_path / "gone"
    keep.write_bytes(b"a" * 10)
    gone.write_bytes(b"b" * 20)
    results = hash_files([keep, gone], workers=2)
    gone.unlink()  # hash_files stats lazily: the generator has not started yet
    with pytest.raises(IntegrityError, match="gone"):
        list(results)
