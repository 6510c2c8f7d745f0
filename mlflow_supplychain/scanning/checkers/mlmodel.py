"""MLflow model directories: code that runs at load time and where dependencies come from.

Findings: a pyfunc ``python_model`` (a cloudpickled Python object), models-from-code
(``model_code_path``), bundled ``code`` paths or a ``code/`` directory, a loader module outside
MLflow, and requirements (``requirements.txt``, ``conda.yaml`` pip section,
``python_env.yaml``) that are unpinned or come from somewhere other than the package index.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlflow_supplychain.scanning.findings import Code

MAX_FILE = 4 << 20
_REQUIREMENT_FILES = ("requirements.txt", "conda.yaml", "python_env.yaml")
_UNTRUSTED_OPTIONS = ("-i", "--index-url", "--extra-index-url", "-f", "--find-links",
                      "--trusted-host", "-e", "--editable")
_INCLUDES = ("-r", "--requirement", "-c", "--constraint")
_FIX_SOURCE = "install dependencies from the organisation's package index, pinned by version"
_FIX_PIN = "pin every requirement with '==' (mlflow pins inferred requirements by default)"


@dataclass(frozen=True)
class ModelFinding:
    """A finding for the file at ``path`` (relative to the scan root)."""

    path: str
    code: Code
    message: str
    fix: str


def check_model_dir(root: Path, model_dir: str) -> Iterator[ModelFinding]:
    """Check the MLflow model whose ``MLmodel`` is in ``root / model_dir``."""
    base = root / model_dir if model_dir else root
    mlmodel = _rel(model_dir, "MLmodel")
    try:
        config = _load_yaml(base / "MLmodel")
    except (OSError, ValueError) as exc:
        yield ModelFinding(mlmodel, Code.MLMODEL_INVALID, f"MLmodel cannot be parsed: {exc}",
                           "re-log the model with mlflow")
        return
    flavors = config.get("flavors") if isinstance(config, dict) else None
    if not isinstance(flavors, dict):
        yield ModelFinding(mlmodel, Code.MLMODEL_INVALID, "MLmodel has no flavors mapping",
                           "re-log the model with mlflow")
        return
    yield from _flavors(mlmodel, flavors)
    code_dir = base / "code"
    if code_dir.is_dir() and any(p.is_file() for p in code_dir.rglob("*")):
        yield ModelFinding(mlmodel, Code.MLFLOW_CODE_PATHS, "model bundles a code/ directory "
                           "that is imported at load time", "review the code and ship it as a "
                           "pinned package instead of inside the model")
    for name in _REQUIREMENT_FILES:
        target = base / name
        if target.is_file():
            yield from _requirements(target, _rel(model_dir, name))


def _flavors(mlmodel: str, flavors: dict[str, Any]) -> Iterator[ModelFinding]:
    for flavor, conf in flavors.items():
        if not isinstance(conf, dict):
            continue
        if conf.get("python_model"):
            yield ModelFinding(mlmodel, Code.MLFLOW_PYTHON_MODEL, f"{flavor} flavor loads a "
                               f"cloudpickled python_model ({conf['python_model']})",
                               "log a built-in flavor or a models-from-code file that is "
                               "reviewed, instead of a pickled Python object")
        if conf.get("model_code_path"):
            yield ModelFinding(mlmodel, Code.MLFLOW_MODEL_FROM_CODE, f"{flavor} flavor runs "
                               f"model code {conf['model_code_path']!r} at load time",
                               "review the model code and pin it by digest")
        if conf.get("code"):
            yield ModelFinding(mlmodel, Code.MLFLOW_CODE_PATHS, f"{flavor} flavor adds code "
                               f"path {conf['code']!r} to sys.path at load time",
                               "ship code as a pinned package instead of inside the model")
        loader = conf.get("loader_module")
        if isinstance(loader, str) and not loader.startswith("mlflow."):
            yield ModelFinding(mlmodel, Code.MLFLOW_CODE_PATHS, f"{flavor} flavor's loader "
                               f"module {loader!r} is not part of MLflow",
                               "use an MLflow built-in flavor")


def _requirements(path: Path, rel: str) -> Iterator[ModelFinding]:
    try:
        if path.stat().st_size > MAX_FILE:
            raise ValueError("file too large")
        if path.name == "requirements.txt":
            lines = path.read_text("utf-8").splitlines()
        else:
            lines = _yaml_requirements(_load_yaml(path))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        yield ModelFinding(rel, Code.MLMODEL_INVALID, f"cannot parse: {exc}",
                           "re-log the model with mlflow")
        return
    build_tools = set(_build_dependencies(path)) if path.name == "python_env.yaml" else set()
    for line in lines:
        problem = requirement_problem(line)
        if problem is not None and line in build_tools \
                and problem[0] is Code.REQUIREMENT_UNPINNED:
            continue  # MLflow itself writes an unpinned 'wheel' build dependency
        if problem is not None:
            code, message = problem
            yield ModelFinding(rel, code, message,
                               _FIX_SOURCE if code is Code.REQUIREMENT_UNTRUSTED_SOURCE
                               else _FIX_PIN)


def requirement_problem(line: str) -> tuple[Code, str] | None:
    """Classify one pip requirement line: untrusted source, unpinned, or fine (None)."""
    text = re.sub(r"(^|\s)#.*$", "", line).strip()
    if not text or text.startswith(_INCLUDES):
        return None
    if text.startswith(_UNTRUSTED_OPTIONS):
        return Code.REQUIREMENT_UNTRUSTED_SOURCE, f"{text!r} installs from outside the index"
    spec = text.split(";", 1)[0].strip()
    if "://" in spec or spec.startswith(("git+", "file:", ".", "/", "~")) or " @ " in spec \
            or re.match(r"^[\w.\-\[\],]+\s*@", spec):
        return Code.REQUIREMENT_UNTRUSTED_SOURCE, f"{text!r} installs from a URL or path"
    if re.search(r"===?\s*[\w.!+\-]+$", spec) and not spec.rstrip().endswith("*"):
        return None
    return Code.REQUIREMENT_UNPINNED, f"{text!r} is not pinned to one version"


def _yaml_requirements(doc: Any) -> list[str]:
    """pip requirement lines of a python_env.yaml (has ``python``) or a conda.yaml."""
    if not isinstance(doc, dict):
        return []
    if "python" in doc:
        entries = [*(doc.get("build_dependencies") or []), *(doc.get("dependencies") or [])]
        return [e for e in entries if isinstance(e, str)]
    lines: list[str] = []
    for entry in doc.get("dependencies") or []:
        if isinstance(entry, dict) and isinstance(entry.get("pip"), list):
            lines.extend(str(e) for e in entry["pip"])
    return lines


def _build_dependencies(path: Path) -> list[str]:
    doc = _load_yaml(path)
    entries = doc.get("build_dependencies") if isinstance(doc, dict) else None
    return [e for e in entries or [] if isinstance(e, str)]


def _load_yaml(path: Path) -> Any:
    import yaml

    if path.stat().st_size > MAX_FILE:
        raise ValueError("file too large")
    try:
        return yaml.safe_load(path.read_text("utf-8"))
    except yaml.YAMLError as exc:
        raise ValueError(str(exc).splitlines()[0]) from None


def _rel(model_dir: str, name: str) -> str:
    return f"{model_dir}/{name}" if model_dir else name


def find_model_dirs(files: list[str]) -> list[str]:
    """Relative directories (POSIX, '' for the root) that contain an ``MLmodel`` file."""
    return sorted(os.path.dirname(f) for f in files if os.path.basename(f) == "MLmodel")
