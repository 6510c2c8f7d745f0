"""The pure steps of mirror-and-pin import: pinned sources, declared hashes, staging."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from mlflow_supplychain.errors import EvidenceError
from mlflow_supplychain.intake.mirror import (
    check_pinned_source,
    compare_hashes,
    parse_expected_hashes,
    stage_files,
)

COMMIT = "a" * 40
H1 = hashlib.sha256(b"one").hexdigest()


@pytest.mark.parametrize(("url", "revision", "where"), [
    ("https://huggingface.co/o/m", "main", "--revision"),
    ("https://huggingface.co/o/m", "refs/pr/1", "--revision"),
    ("https://huggingface.co/o/m", "A" * 40, "--revision"),
    ("https://huggingface.co/o/m/tree/main", COMMIT, "--source-url"),
    ("https://huggingface.co/o/m/resolve/abc/model.bin", COMMIT, "--source-url"),
    ("ftp://example.com/m", COMMIT, "--source-url"),
])
def test_mutable_or_bad_sources_are_refused(url: str, revision: str, where: str) -> None:
    with pytest.raises(EvidenceError) as err:
        check_pinned_source(url, revision)
    assert [p.where for p in err.value.problems] == [where]
    assert err.value.exit_code == 2


def test_pinned_source_passes() -> None:
    check_pinned_source("https://huggingface.co/o/m", COMMIT)
    check_pinned_source("https://huggingface.co/o/m", "b" * 64)


def test_expected_hashes_formats(tmp_path: Path) -> None:
    sums = tmp_path / "SHA256SUMS"
    sums.write_text(f"# comment\n{H1}  ./a/one.bin\n{H1.upper()} *two.bin\n")
    assert parse_expected_hashes(sums) == {"a/one.bin": H1, "two.bin": H1}
    js = tmp_path / "hashes.json"
    js.write_text(f'{{"one.bin": "{H1}"}}')
    assert parse_expected_hashes(js) == {"one.bin": H1}


@pytest.mark.parametrize(("text", "where"), [
    ("abc  one.bin\n", "SHA256SUMS:1"),
    (f"{H1}\n", "SHA256SUMS:1"),
    ('{"one.bin": "xyz"}', "SHA256SUMS one.bin"),
    ("{not json", "SHA256SUMS"),
    ("# nothing\n", "SHA256SUMS"),
])
def test_bad_expected_hashes_name_the_line(tmp_path: Path, text: str, where: str) -> None:
    sums = tmp_path / "SHA256SUMS"
    sums.write_text(text)
    with pytest.raises(EvidenceError) as err:
        parse_expected_hashes(sums)
    assert err.value.problems[0].where.endswith(where)


def test_compare_hashes_names_every_problem() -> None:
    actual = {"one.bin": H1, "two.bin": "2" * 64}
    problems = compare_hashes(actual, {"one.bin": H1, "two.bin": "3" * 64, "gone.bin": H1,
                                       "": "4" * 64})
    assert [p.where for p in problems] == ["4" * 64, "gone.bin", "two.bin"]
    assert compare_hashes(actual, {"": H1}) == []


def test_staging_copies_and_hashes_and_skips_hub_bookkeeping(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "one.bin").write_bytes(b"one")
    (src / ".git").mkdir()
    (src / ".git" / "HEAD").write_text("ref")
    hashes = stage_files(src, tmp_path / "stage")
    assert hashes == {"sub/one.bin": H1}
    assert (tmp_path / "stage" / "sub" / "one.bin").read_bytes() == b"one"


def test_staging_refuses_symlinks(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (tmp_path / "outside").write_bytes(b"secret")
    os.symlink(tmp_path / "outside", src / "model.bin")
    with pytest.raises(EvidenceError, match="symlink"):
        stage_files(src, tmp_path / "stage")


def test_staging_refuses_empty_or_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(EvidenceError, match="not a directory"):
        stage_files(tmp_path / "nope", tmp_path / "stage")
    (tmp_path / "empty").mkdir()
    with pytest.raises(EvidenceError, match="no files"):
        stage_files(tmp_path / "empty", tmp_path / "stage")
