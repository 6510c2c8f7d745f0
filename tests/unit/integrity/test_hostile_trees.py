"""Hostile artifact trees under ``hash`` and ``intake import``: depth, links out of the tree,
special files, unreadable parts and files rewritten while they are read.

Before: 1,100 nested directories ended in ``internal error: RecursionError``; an unreadable
sub-directory under ``intake import`` was skipped silently (exit 0); an unreadable file under
``hash`` exited 1 ("mismatch") instead of 2; a file rewritten while hashed got a digest that
matched neither version.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mlflow_supplychain.cli.main import main
from mlflow_supplychain.errors import ArtifactReadError, EvidenceError, ExitCode, IntegrityError
from mlflow_supplychain.intake.mirror import stage_files
from mlflow_supplychain.integrity import hashing
from mlflow_supplychain.integrity.hashing import copy_hashing, hash_file, hash_files
from mlflow_supplychain.integrity.manifest import build_manifest
from mlflow_supplychain.integrity.tree import MAX_DEPTH, walk_tree

COMMIT = "a" * 40


def _cli(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = main(argv)
    return rc, err.getvalue()


def _import_argv(directory: Path) -> list[str]:
    hashes = directory.parent / "SHA256SUMS"
    hashes.write_text(f"{hashlib.sha256(b'x').hexdigest()}  f\n")
    return ["intake", "import", str(directory), "--source-url", "https://huggingface.co/o/m",
            "--revision", COMMIT, "--name", "m", "--class", "base_model",
            "--expected-hashes", str(hashes), "--tracking-uri", "http://127.0.0.1:9"]


def _deep(root: Path, levels: int) -> Path:
    path = root
    path.mkdir()
    for _ in range(levels):  # os.makedirs recurses: it cannot build this tree
        path = path / "d"
        path.mkdir()
    (path / "f").write_bytes(b"x")
    return path


def test_a_tree_1100_levels_deep_is_exit_2_naming_the_limit(tmp_path: Path) -> None:
    _deep(tmp_path / "model", 1100)
    with pytest.raises(ArtifactReadError, match=str(MAX_DEPTH)):
        build_manifest(tmp_path / "model")
    rc, err = _cli(["hash", str(tmp_path / "model")])
    assert rc == ExitCode.ERROR and "limit" in err and "internal error" not in err
    with pytest.raises(EvidenceError, match=str(MAX_DEPTH)):
        stage_files(tmp_path / "model", tmp_path / "staging")
    rc, err = _cli(_import_argv(tmp_path / "model"))
    assert rc == ExitCode.ERROR and "limit" in err and "internal error" not in err


def test_relative_paths_are_posix_and_only_the_root_skips(tmp_path: Path) -> None:
    # the walk joins relative paths as strings (#19): a skipped name is skipped at the root
    # only, nested paths are "/"-joined, and the list is sorted by relative path
    for rel in (".git/HEAD", "a/.git/HEAD", "a/b/c.bin", "a b/x", "z"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    tree = walk_tree(tmp_path, skip_top=frozenset({".git"}))
    assert [f.rel for f in tree.files] == ["a b/x", "a/.git/HEAD", "a/b/c.bin", "z"]
    assert [f.path for f in tree.files] == [str(tmp_path / f.rel) for f in tree.files]


def test_a_tree_at_the_limit_is_hashed(tmp_path: Path) -> None:
    _deep(tmp_path / "model", MAX_DEPTH)
    manifest = build_manifest(tmp_path / "model")
    assert len(manifest.files) == 1 and manifest.files[0].path.count("/") == MAX_DEPTH


def _outside(tmp_path: Path) -> Path:
    secret = tmp_path / "outside"
    secret.mkdir()
    (secret / "secret.txt").write_bytes(b"not part of the model")
    return secret


@pytest.mark.parametrize("target", ["file", "dir", "/dev/zero", "dangling"])
def test_links_never_lead_out_of_the_tree(tmp_path: Path, target: str) -> None:
    outside = _outside(tmp_path)
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.bin").write_bytes(b"w")
    link = model / "link"
    link.symlink_to({"file": str(outside / "secret.txt"), "dir": str(outside),
                     "/dev/zero": "/dev/zero", "dangling": str(tmp_path / "nowhere")}[target])
    for follow in (False, True):
        with pytest.raises(IntegrityError) as excinfo:
            build_manifest(model, follow_symlinks=follow)
        assert excinfo.value.problems[0].where == str(link)
    rc, err = _cli(["hash", "--follow-symlinks", str(model)])
    assert rc == ExitCode.DENIED and str(link) in err
    with pytest.raises(EvidenceError, match="link"):
        stage_files(model, tmp_path / "staging")


def test_links_inside_the_tree_are_followed_on_request(tmp_path: Path) -> None:
    model = tmp_path / "model"
    (model / "sub").mkdir(parents=True)
    (model / "sub" / "weights.bin").write_bytes(b"w")
    (model / "alias.bin").symlink_to("sub/weights.bin")
    (model / "alias-dir").symlink_to("sub")
    manifest = build_manifest(model, follow_symlinks=True)
    assert [e.path for e in manifest.files] == ["alias-dir/weights.bin", "alias.bin",
                                                "sub/weights.bin"]


def test_a_directory_swapped_for_a_link_after_the_walk_is_refused(tmp_path: Path) -> None:
    outside = _outside(tmp_path)
    (outside / "weights.bin").write_bytes(b"attacker")
    model = tmp_path / "model"
    (model / "sub").mkdir(parents=True)
    (model / "sub" / "weights.bin").write_bytes(b"reviewed")
    tree = walk_tree(model)
    shutil.rmtree(model / "sub")
    (model / "sub").symlink_to(outside)  # the path now leads out of the tree
    with pytest.raises(ArtifactReadError, match="Cannot hash") as excinfo:
        list(hash_files([f.path for f in tree.files], identities={
            f.path: f.identity for f in tree.files}))
    assert excinfo.value.exit_code == ExitCode.ERROR
    with pytest.raises(ArtifactReadError):
        copy_hashing(tree.files[0].path, tmp_path / "copy", identity=tree.files[0].identity)


def test_special_files_in_a_tree_are_refused(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    os.mkfifo(model / "pipe")
    with pytest.raises(IntegrityError, match="FIFO|special|regular"):
        build_manifest(model)
    with pytest.raises(EvidenceError, match="Cannot import"):
        stage_files(model, tmp_path / "staging")


@contextlib.contextmanager
def _writer(path: Path) -> Iterator[threading.Event]:
    """A thread rewriting ``path`` in place until the block ends; yields once it has begun."""
    stop = threading.Event()
    started = threading.Event()
    size = path.stat().st_size

    def rewrite() -> None:
        fd = os.open(path, os.O_WRONLY)
        try:
            offset = 0
            while not stop.is_set():
                os.pwrite(fd, os.urandom(4096), offset)
                offset = (offset + (1 << 20)) % size
                started.set()
        finally:
            os.close(fd)

    thread = threading.Thread(target=rewrite, daemon=True)
    thread.start()
    started.wait(5)
    try:
        yield stop
    finally:
        stop.set()
        thread.join()


def test_a_file_rewritten_while_hashed_is_exit_2(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    big = model / "weights.bin"
    big.write_bytes(os.urandom(64 << 20))
    with _writer(big):
        with pytest.raises(ArtifactReadError, match="changed while it was read"):
            hash_file(big)
        rc, err = _cli(["hash", str(model)])
    assert rc == ExitCode.ERROR and "changed while it was read" in err


def test_a_change_after_the_first_read_is_caught(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Deterministic: the file changes between the first and second read of 1 MiB."""
    big = tmp_path / "weights.bin"
    big.write_bytes(bytes(3 << 20))
    real_readv: Callable[[int, list[bytearray]], int] = os.readv
    calls = {"n": 0}

    def readv_then_write(fd: int, buffers: list[bytearray]) -> int:
        calls["n"] += 1
        if calls["n"] == 2:
            with open(big, "r+b") as f:
                f.write(b"\xff")  # a byte already read: the digest would match neither version
        return real_readv(fd, buffers)

    monkeypatch.setattr(hashing.os, "readv", readv_then_write)
    with pytest.raises(ArtifactReadError, match="changed while it was read"):
        hash_file(big)
    calls["n"] = 0
    big.write_bytes(bytes(3 << 20))
    with pytest.raises(ArtifactReadError, match="changed while it was read"):
        copy_hashing(big, tmp_path / "copy")


def test_a_file_replaced_by_rename_while_hashed_is_exit_2(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = tmp_path / "weights.bin"
    big.write_bytes(bytes(2 << 20))
    other = tmp_path / "other.bin"
    other.write_bytes(b"new version")
    real_readv: Callable[[int, list[bytearray]], int] = os.readv

    def readv_then_rename(fd: int, buffers: list[bytearray]) -> int:
        if other.exists():
            other.rename(big)
        return real_readv(fd, buffers)

    monkeypatch.setattr(hashing.os, "readv", readv_then_rename)
    with pytest.raises(ArtifactReadError, match="replaced"):
        hash_file(big)


def _as_nobody(call: Callable[[], int]) -> int:
    """Run ``call`` where permissions apply: as is, or in a child as 'nobody' when root."""
    if os.geteuid() != 0:
        return call()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = 99
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            code = call()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


@pytest.fixture
def public_tmp() -> Iterator[Path]:
    """A directory 'nobody' can reach (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="hostile-trees-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        for sub in path.rglob("*"):
            if sub.is_dir() and not sub.is_symlink():
                sub.chmod(0o755)
        shutil.rmtree(path)


def _model(base: Path) -> Path:
    model = base / "model"
    (model / "sub").mkdir(parents=True)
    (model / "weights.bin").write_bytes(b"w")
    (model / "sub" / "more.bin").write_bytes(b"m")
    for path in (base, model, model / "sub"):
        path.chmod(0o755)
    for path in (model / "weights.bin", model / "sub" / "more.bin"):
        path.chmod(0o644)
    return model


def test_an_unreadable_sub_directory_under_intake_import_is_exit_2(public_tmp: Path) -> None:
    model = _model(public_tmp)
    (model / "sub").chmod(0)
    argv = _import_argv(model)
    (model.parent / "SHA256SUMS").chmod(0o644)
    assert _as_nobody(lambda: _cli(argv)[0]) == ExitCode.ERROR

    def staged() -> int:
        try:
            stage_files(model, Path(tempfile.mkdtemp()) / "staging")
        except EvidenceError as exc:
            return 3 if str(model / "sub") in str(exc) else 4
        return 0
    assert _as_nobody(staged) == 3


def test_an_unreadable_file_under_hash_is_exit_2(public_tmp: Path) -> None:
    model = _model(public_tmp)
    (model / "weights.bin").chmod(0)
    assert _as_nobody(lambda: _cli(["hash", str(model)])[0]) == ExitCode.ERROR
    (model / "weights.bin").chmod(0o644)
    (model / "sub").chmod(stat.S_IXUSR)  # listable by nobody: no
    assert _as_nobody(lambda: _cli(["hash", str(model)])[0]) == ExitCode.ERROR
