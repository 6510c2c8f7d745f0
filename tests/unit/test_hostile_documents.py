"""Every command and API that reads a document refuses FIFOs, devices and deep nesting.

A FIFO used to hang each of these commands forever, a symlink to /dev/zero filled memory
(``internal error: MemoryError``) and a few thousand nested brackets ended in
``internal error: RecursionError``. Each case must now end in exit 2 naming the file, quickly.
The command runs in a daemon thread so a regression fails the test instead of hanging it.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from mlflow_supplychain.cli.main import main
from mlflow_supplychain.deploy.manifest_schema import read_manifest
from mlflow_supplychain.errors import EvidenceError, ExitCode, PolicyError
from mlflow_supplychain.intake.mirror import parse_expected_hashes
from mlflow_supplychain.intake.record_files import load_record
from mlflow_supplychain.policy.loader import load_policy

REPO = Path(__file__).resolve().parents[2]
POLICY = str(REPO / "examples" / "policy.yaml")
EVIDENCE = str(REPO / "examples" / "evidence-compliant.json")
RECORD = str(REPO / "examples" / "intake" / "base_model.yaml")
COMMIT = "a" * 40
SECONDS = 10


def _run(argv: list[str]) -> tuple[int, str]:
    """``main(argv)`` in a daemon thread: (exit code, stderr); fails after SECONDS."""
    box: dict[str, object] = {}
    err = io.StringIO()

    def target() -> None:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            box["rc"] = main(argv)

    thread = threading.Thread(target=target, daemon=True)
    started = time.monotonic()
    thread.start()
    thread.join(SECONDS)
    assert not thread.is_alive(), f"{argv} still running after {SECONDS} s"
    assert time.monotonic() - started < SECONDS
    rc = box["rc"]
    assert isinstance(rc, int)
    return rc, err.getvalue()


# Every way a command is handed a document, with {} where the document goes.
COMMANDS: dict[str, Callable[[str, Path], list[str]]] = {
    "policy validate": lambda doc, tmp: ["policy", "validate", doc],
    "intake validate": lambda doc, tmp: ["intake", "validate", doc],
    "intake validate --policy": lambda doc, tmp: ["intake", "validate", RECORD, "--policy", doc],
    "intake template --policy": lambda doc, tmp: [
        "intake", "template", "--class", "base_model", "--policy", doc],
    "deploy verify": lambda doc, tmp: ["deploy", "verify", doc,
                                       "--tracking-uri", "http://127.0.0.1:9"],
    "intake import --expected-hashes": lambda doc, tmp: [
        "intake", "import", str(tmp), "--source-url", "https://huggingface.co/o/m",
        "--revision", COMMIT, "--name", "m", "--class", "base_model", "--expected-hashes", doc],
    "intake import --record": lambda doc, tmp: [
        "intake", "import", str(tmp), "--source-url", "https://huggingface.co/o/m",
        "--revision", COMMIT, "--name", "m", "--class", "base_model", "--record", doc],
    "gate check --evidence": lambda doc, tmp: [
        "gate", "check", "--evidence", doc, "--policy", POLICY, "--target", "production"],
    "gate check --policy": lambda doc, tmp: [
        "gate", "check", "--evidence", EVIDENCE, "--policy", doc, "--target", "production"],
    "scan --policy": lambda doc, tmp: ["scan", RECORD, "--policy", doc],
}


def _fifo(tmp: Path) -> str:
    path = tmp / "doc.yaml"
    os.mkfifo(path)
    return str(path)


def _zero_link(tmp: Path) -> str:
    path = tmp / "doc.json"
    path.symlink_to("/dev/zero")
    return str(path)


def _device(tmp: Path) -> str:
    return "/dev/null"


def _directory(tmp: Path) -> str:
    path = tmp / "doc.d"
    path.mkdir()
    return str(path)


SPECIALS = {"fifo": _fifo, "symlink to /dev/zero": _zero_link, "/dev/null": _device,
            "directory": _directory}


@pytest.mark.parametrize("special", sorted(SPECIALS))
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_special_files_are_refused_naming_the_file(tmp_path: Path, command: str,
                                                   special: str) -> None:
    doc = SPECIALS[special](tmp_path)
    rc, err = _run(COMMANDS[command](doc, tmp_path))
    assert rc == ExitCode.ERROR, err
    assert doc in err
    assert "internal error" not in err


def _deep_yaml(tmp: Path) -> str:
    path = tmp / "deep.yaml"
    path.write_text("version: 1\nmode: " + "[" * 5000 + "]" * 5000 + "\n")
    return str(path)


def _deep_block_yaml(tmp: Path) -> str:
    path = tmp / "deep-block.yaml"
    path.write_text("".join(f"{' ' * i}k{i}:\n" for i in range(1100)) + " " * 1100 + "x: 1\n")
    return str(path)


def _deep_json(tmp: Path) -> str:
    path = tmp / "deep.json"
    path.write_text('{"a": ' + "[" * 100_000 + "]" * 100_000 + "}")
    return str(path)


def _deep_objects_json(tmp: Path) -> str:
    path = tmp / "deep-objects.json"
    path.write_text('{"a": ' * 3000 + "1" + "}" * 3000)
    return str(path)


JSON_ONLY = {"deploy verify", "gate check --evidence", "intake import --expected-hashes"}
DEEP = {"yaml flow": _deep_yaml, "yaml block": _deep_block_yaml, "json arrays": _deep_json,
        "json objects": _deep_objects_json}


@pytest.mark.parametrize("shape", sorted(DEEP))
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_deep_nesting_ends_in_exit_2_with_the_limit(tmp_path: Path, command: str,
                                                    shape: str) -> None:
    if command in JSON_ONLY and shape.startswith("yaml"):
        pytest.skip("this document is JSON: YAML is refused as 'not JSON' before any nesting")
    doc = DEEP[shape](tmp_path)
    rc, err = _run(COMMANDS[command](doc, tmp_path))
    assert rc == ExitCode.ERROR, err
    assert doc in err
    assert "internal error" not in err
    assert "limit" in err


@pytest.mark.parametrize("shape", sorted(DEEP))
def test_python_api_raises_only_documented_errors(tmp_path: Path, shape: str) -> None:
    doc = Path(DEEP[shape](tmp_path))
    with pytest.raises(PolicyError, match="invalid"):
        load_policy(doc)
    with pytest.raises(EvidenceError, match="invalid"):
        load_record(doc)
    with pytest.raises(EvidenceError):
        read_manifest(doc)
    with pytest.raises(EvidenceError):
        parse_expected_hashes(doc)


@pytest.mark.parametrize("special", sorted(SPECIALS))
def test_python_api_refuses_special_files(tmp_path: Path, special: str) -> None:
    doc = Path(SPECIALS[special](tmp_path))
    for call, error in ((load_policy, PolicyError), (load_record, EvidenceError),
                        (read_manifest, EvidenceError), (parse_expected_hashes, EvidenceError)):
        with pytest.raises(error) as excinfo:
            call(doc)
        assert str(doc) in str(excinfo.value)


def test_a_document_that_grows_past_the_limit_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * (1 << 20) + "\n")
    with pytest.raises(PolicyError, match="too large"):
        load_policy(big)


def test_unreadable_document_is_exit_2() -> None:
    """As 'nobody' in a forked child when the suite runs as root (root reads every file)."""
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp).chmod(0o755)
        doc = Path(tmp) / "p.yaml"
        doc.write_text("version: 1\n")
        doc.chmod(0)

        def check() -> int:
            rc, err = _run(["policy", "validate", str(doc)])
            return 3 if rc == ExitCode.ERROR and str(doc) in err else 4

        if os.geteuid() != 0:
            assert check() == 3
            return
        importlib.import_module("mlflow_supplychain.cli.policy_cmd")  # the child may not read it
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            code = 99
            try:
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
                code = check()
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 3


def test_hashes_errors_do_not_echo_the_file(tmp_path: Path) -> None:
    sums = tmp_path / "SHA256SUMS"
    sums.write_text("SECRET-VALUE-FROM-ENVIRON  x\n")
    with pytest.raises(EvidenceError) as excinfo:
        parse_expected_hashes(sums)
    assert "SECRET-VALUE" not in str(excinfo.value)


@pytest.mark.parametrize("text", [
    "? [a, b]\n: 1\n", "? {a: 1}\n: 1\n", "version: !!int 0x_\n", "version: !!timestamp x\n",
    "version: 1\ncreated: 2024-13-45\n", "version: !!python/object:os.system x\n",
    "version: !!binary AAAA\n", "version: ! x\n",
])
def test_yaml_constructs_that_broke_pyyaml_are_documented_errors(tmp_path: Path,
                                                                 text: str) -> None:
    """PyYAML's constructors raised TypeError, ValueError or AttributeError on these."""
    doc = tmp_path / "doc.yaml"
    doc.write_text(text)
    with pytest.raises(PolicyError) as excinfo:
        load_policy(doc)
    assert ":1" in excinfo.value.problems[0].where or ":2" in excinfo.value.problems[0].where
    with pytest.raises(EvidenceError):
        load_record(doc)


def test_a_path_with_a_nul_byte_is_a_documented_error() -> None:
    for call, error in ((load_policy, PolicyError), (load_record, EvidenceError),
                        (read_manifest, EvidenceError), (parse_expected_hashes, EvidenceError)):
        with pytest.raises(error):
            call(Path("bad\0path"))
