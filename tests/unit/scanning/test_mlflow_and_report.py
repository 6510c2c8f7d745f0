"""MLflow model directories, requirements, verdict mapping, JSON/SARIF and the CLI."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from mlflow_supplychain.cli.main import main
from mlflow_supplychain.policy.schema import Formats, FormatVerdict
from mlflow_supplychain.scanning.checkers.mlmodel import requirement_problem
from mlflow_supplychain.scanning.findings import Code
from mlflow_supplychain.scanning.format_policy import DEFAULT, from_formats
from mlflow_supplychain.scanning.report import to_sarif
from mlflow_supplychain.scanning.scanner import scan_path

from . import payloads as p


def test_default_format_policy_matches_the_policy_schema() -> None:
    assert from_formats(Formats()) == DEFAULT
    every = set(DEFAULT.permitted) | set(DEFAULT.sandboxed) | set(DEFAULT.prohibited)
    assert {code.policy_format for code in Code} - {"error"} <= every


def test_clean_mlflow_model(tmp_path: Path) -> None:
    root = p.mlflow_model_dir(tmp_path / "m")
    (root / "model.pkl").write_bytes(pickle.dumps({"coef": [1.0]}, protocol=4))
    report = scan_path(root)
    assert report.verdict == FormatVerdict.SANDBOXED
    assert report.verdict_name == "sandboxed" and not report.findings


@pytest.mark.parametrize("kwargs,code", [
    ({"python_model": True}, "MLFLOW_PYTHON_MODEL"),
    ({"from_code": True}, "MLFLOW_MODEL_FROM_CODE"),
    ({"code_path": True}, "MLFLOW_CODE_PATHS"),
    ({"requirements": "git+https://github.com/x/y\n"}, "REQUIREMENT_UNTRUSTED_SOURCE"),
])
def test_mlflow_code_findings(tmp_path: Path, kwargs: dict, code: str) -> None:
    report = scan_path(p.mlflow_model_dir(tmp_path / "m", **kwargs))
    assert code in {f.code.name for f in report.findings}
    assert report.verdict_name == "prohibited"


def test_real_mlflow_sklearn_model_is_not_prohibited(tmp_path: Path) -> None:
    mlflow_sklearn = pytest.importorskip("mlflow.sklearn")
    from sklearn.linear_model import Ridge

    model = Ridge().fit([[0.0], [1.0]], [0.0, 1.0])
    mlflow_sklearn.save_model(model, tmp_path / "m")
    report = scan_path(tmp_path / "m")
    assert report.verdict_name == "sandboxed", [f.message for f in report.findings]


def test_unpinned_requirements_are_sandboxed(tmp_path: Path) -> None:
    report = scan_path(p.mlflow_model_dir(tmp_path / "m", requirements="numpy>=1.0\n"))
    assert {f.code.name for f in report.findings} == {"REQUIREMENT_UNPINNED"}
    assert report.verdict_name == "sandboxed"


@pytest.mark.parametrize("line,expected", [
    ("mlflow==3.4.0", None), ("numpy==2.1.0 ; python_version>'3.9'", None), ("# c", None),
    ("-r other.txt", None), ("numpy", Code.REQUIREMENT_UNPINNED),
    ("numpy==2.*", Code.REQUIREMENT_UNPINNED), ("--extra-index-url https://x", Code.REQUIREMENT_UNTRUSTED_SOURCE),
    ("pkg @ https://x/y.whl", Code.REQUIREMENT_UNTRUSTED_SOURCE), ("-e .", Code.REQUIREMENT_UNTRUSTED_SOURCE),
    ("./local.whl", Code.REQUIREMENT_UNTRUSTED_SOURCE),
])
def test_requirement_lines(line: str, expected: Code | None) -> None:
    problem = requirement_problem(line)
    assert (problem[0] if problem else None) == expected


def test_symlink_in_tree_is_a_finding(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "a.txt")
    report = scan_path(tmp_path)
    assert report.verdict_name == "prohibited"


def test_empty_directory_is_undecided(tmp_path: Path) -> None:
    assert scan_path(tmp_path).verdict is None


def test_policy_formats_drive_the_verdict(tmp_path: Path) -> None:
    target = tmp_path / "blob"
    target.write_bytes(bytes(range(1, 200)))
    lenient = Formats(permitted=("unknown",), prohibited=("pickle_unsafe",))
    assert scan_path(target, formats=lenient).verdict_name == "permitted"


def _write_models(tmp_path: Path) -> tuple[Path, Path]:
    good, bad = tmp_path / "good", tmp_path / "bad"
    good.mkdir()
    bad.mkdir()
    (good / "w.npy").write_bytes(p.npy(__import__("numpy").arange(3)))
    (bad / "m.bin").write_bytes(pickle.dumps(p.Exec()))
    return good, bad


def test_cli_exit_codes_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good, bad = _write_models(tmp_path)
    assert main(["scan", str(good)]) == 0
    assert main(["scan", str(good), str(bad), "--format", "json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["verdict"] == "prohibited" and len(out["files"]) == 2
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "t.safetensors").write_bytes(p.safetensors_raw({"a": 1}, b"", 1 << 63))
    assert main(["scan", str(broken)]) == 2
    assert main(["scan", str(tmp_path / "missing")]) == 2


def test_cli_sarif(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, bad = _write_models(tmp_path)
    assert main(["scan", str(bad), "--format", "sarif"]) == 1
    sarif = json.loads(capsys.readouterr().out)
    assert sarif["version"] == "2.1.0"
    run = sarif["runs"][0]
    assert run["tool"]["driver"]["rules"][0]["id"] == "SC101"
    assert run["results"][0]["level"] == "error"
    assert run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert to_sarif(scan_path(bad))["runs"][0]["results"]


def test_cli_policy_option(tmp_path: Path) -> None:
    good, _ = _write_models(tmp_path)
    policy = Path(__file__).resolve().parents[3] / "examples" / "policy.yaml"
    assert main(["scan", str(good), "--policy", str(policy)]) == 0
    assert main(["scan", str(good), "--policy", str(tmp_path / "nope.yaml")]) == 2


def test_cli_hash(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good, _ = _write_models(tmp_path)
    assert main(["hash", str(good), "--format", "json"]) == 0
    manifest = json.loads(capsys.readouterr().out)
    assert manifest["digest"].startswith("sha256:") and manifest["files"][0]["path"] == "w.npy"
    assert main(["hash", str(good)]) == 0
    assert capsys.readouterr().out.strip() == manifest["digest"]
    (good / "link").symlink_to(good / "w.npy")
    assert main(["hash", str(good)]) == 1


def test_scan_and_hash_paths_do_not_import_mlflow_or_pydantic(tmp_path: Path) -> None:
    good, _ = _write_models(tmp_path)
    code = ("import sys; from mlflow_supplychain.cli.main import main; "
            f"main(['scan', {str(good)!r}]); main(['hash', {str(good)!r}]); "
            "bad = [m for m in ('mlflow', 'pydantic', 'torch', 'numpy', 'fickling') "
            "if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_strict_says_why_it_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from collections import OrderedDict

    import numpy as np

    model = tmp_path / "model.pt"
    model.write_bytes(p.torch_like_zip(pickle.dumps(OrderedDict(w=np.zeros(3)), protocol=2)))
    assert main(["scan", str(model)]) == 0
    assert "--strict" not in capsys.readouterr().err
    assert main(["scan", str(model), "--strict"]) == 1
    err = capsys.readouterr().err
    assert "--strict treats 'sandboxed'" in err and "exits 0" in err
