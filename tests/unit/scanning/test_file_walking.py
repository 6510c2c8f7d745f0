"""The scanner's own file walking on hostile trees: links out of the tree, FIFOs and devices,
files swapped while scanning, deep and empty trees, billion-laughs YAML, and report text
that never carries file content."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlflow_supplychain.cli.main import main
from mlflow_supplychain.scanning.allowlist import Allowlist
from mlflow_supplychain.scanning.inspector import new_inspection
from mlflow_supplychain.scanning.limits import DEFAULT_LIMITS
from mlflow_supplychain.scanning.scanner import scan_path

from . import payloads as p

SECRET = "SUPPLYCHAIN_TEST_SECRET_7f3a"


def _scan_json(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    started = time.perf_counter()
    code = main(["scan", "--format", "json", str(path)])
    out, err = capsys.readouterr()
    assert time.perf_counter() - started < 10
    return code, out + err


def test_requirements_symlink_out_of_the_tree_is_not_read(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text(f"{SECRET}\n--index-url https://{SECRET}.example/simple\n")
    model = p.mlflow_model_dir(tmp_path / "model")
    (model / "requirements.txt").unlink()
    (model / "requirements.txt").symlink_to(outside)
    code, text = _scan_json(model, capsys)
    assert code == 1  # the link itself is a finding
    assert SECRET not in text


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
def test_requirements_symlink_to_proc_environ_does_not_leak(tmp_path: Path) -> None:
    model = p.mlflow_model_dir(tmp_path / "model")
    for name in ("requirements.txt", "conda.yaml", "MLmodel"):
        if (model / name).exists():
            (model / name).unlink()
        (model / name).symlink_to("/proc/self/environ")
    env = {**os.environ, "LEAKED_TOKEN": SECRET}
    code = "import sys; from mlflow_supplychain.cli.main import main; sys.exit(main())"
    done = subprocess.run([sys.executable, "-c", code, "scan", "--format", "sarif", str(model)],
                          check=False, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode in (1, 2)
    assert SECRET not in done.stdout + done.stderr


def test_fifo_and_device_links_in_a_tree_do_not_hang(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    model = p.mlflow_model_dir(tmp_path / "model")
    os.mkfifo(model / "weights.bin")
    (model / "conda.yaml").symlink_to("/dev/zero")
    code, text = _scan_json(model, capsys)
    assert code in (1, 2)
    files = {f["path"]: f for f in json.loads(text[:text.rindex("}") + 1])["files"]}
    assert files["weights.bin"]["verdict"] == "error"
    assert files["conda.yaml"]["verdict"] == "prohibited"


def test_mlmodel_as_fifo_does_not_hang(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = p.mlflow_model_dir(tmp_path / "model")
    (model / "MLmodel").unlink()
    os.mkfifo(model / "MLmodel")
    code, _ = _scan_json(model, capsys)
    assert code == 2


def test_file_swapped_for_a_fifo_after_listing_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "model.pkl"
    target.write_bytes(b"\x80\x04N.")
    listed = os.lstat(target)
    target.unlink()
    os.mkfifo(target)
    ins = new_inspection("model.pkl", Allowlist(), DEFAULT_LIMITS)
    started = time.perf_counter()
    ins.path(str(target), expected=listed)
    assert time.perf_counter() - started < 2
    assert [f.code.name for f in ins.findings] == ["UNREADABLE"]


def test_file_swapped_for_another_file_after_listing_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "model.pkl"
    target.write_bytes(b"\x80\x04N.")
    listed = os.lstat(target)
    other = tmp_path / "other.pkl"
    other.write_bytes(b"\x80\x04N.")
    other.replace(target)
    ins = new_inspection("model.pkl", Allowlist(), DEFAULT_LIMITS)
    ins.path(str(target), expected=listed)
    assert [f.code.name for f in ins.findings] == ["UNREADABLE"]
    assert "replaced" in ins.findings[0].message


def test_a_link_swapped_in_is_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "model.pkl"
    (tmp_path / "real.pkl").write_bytes(b"\x80\x04N.")
    target.symlink_to(tmp_path / "real.pkl")
    ins = new_inspection("model.pkl", Allowlist(), DEFAULT_LIMITS)
    ins.path(str(target))
    assert [f.code.name for f in ins.findings] == ["UNREADABLE"]


def test_very_deep_tree_is_undecided_naming_the_limit(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    deep = tmp_path / "tree"
    deep.mkdir()
    (deep / "notes.txt").write_text("weights are elsewhere\n")
    fd = os.open(deep, os.O_RDONLY)
    for _ in range(1_100):  # os.makedirs recurses: build it one level at a time
        os.mkdir("d", dir_fd=fd)
        fd, parent = os.open("d", os.O_RDONLY, dir_fd=fd), fd
        os.close(parent)
    evil = os.open("evil.pkl", os.O_WRONLY | os.O_CREAT, dir_fd=fd)
    os.write(evil, b"\x80\x04cos\nsystem\n.")
    os.close(evil)
    os.close(fd)
    try:
        code, text = _scan_json(deep, capsys)
        assert code == 2
        assert f"deeper than {DEFAULT_LIMITS.max_dir_depth} levels" in text
        assert scan_path(deep).clean is False
    finally:
        _remove_deep(deep / "d", tmp_path)


def _remove_deep(top: Path, scratch: Path) -> None:
    """Remove a deep chain of ``d`` directories one level at a time (rmtree recurses)."""
    level = 0
    while top is not None and top.exists():
        child = top / "d"
        following = None
        if child.exists():
            following = scratch / f"level-{level}"
            os.rename(child, following)
        for leftover in top.iterdir():
            leftover.unlink()
        top.rmdir()
        top, level = following, level + 1  # type: ignore[assignment]


def test_empty_directory_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty-model"
    empty.mkdir()
    code = main(["scan", str(empty)])
    _, err = capsys.readouterr()
    assert code == 2
    assert str(empty) in err
    assert scan_path(empty).clean is False


LAUGHS = "\n".join(
    ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    + [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)])


@pytest.mark.parametrize("where", ["python_model", "pip", "python_env"])
def test_billion_laughs_yaml_is_refused_with_bounded_memory(tmp_path: Path, where: str) -> None:
    model = p.mlflow_model_dir(tmp_path / "model", python_model=where == "python_model")
    if where == "python_model":
        text = LAUGHS + "\nflavors:\n  python_function:\n    python_model: *a8\n"
        (model / "MLmodel").write_text(text)
    elif where == "pip":
        (model / "conda.yaml").write_text(LAUGHS + "\ndependencies:\n- pip:\n  - *a8\n")
    else:
        (model / "python_env.yaml").write_text(
            LAUGHS + "\npython: 3.11.7\nbuild_dependencies: *a8\ndependencies: []\n")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    report = scan_path(model)
    assert time.perf_counter() - started < 10
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100 * 1024  # KiB
    assert report.clean is False
    assert any("expands to more than" in f.message for f in report.findings)


def test_finding_messages_quote_only_a_short_escaped_excerpt(tmp_path: Path) -> None:
    model = p.mlflow_model_dir(
        tmp_path / "model",
        requirements=f"{SECRET * 300}\x1b[2J\n--extra-index-url https://x/{SECRET * 300}\n")
    report = scan_path(model)
    messages = [f.message for f in report.findings]
    assert len(messages) >= 2
    for message in messages:
        assert len(message) < 300 and "\x1b" not in message
    assert sum(m.count(SECRET) for m in messages) <= 2 * 3
