"""MLflow model directories: code that runs at load time and where dependencies come from.

Findings: a pyfunc ``python_model`` (a cloudpickled Python object), models-from-code
(``model_code_path``), bundled ``code`` paths or a ``code/`` directory, a loader module outside
MLflow, and requirements (``requirements.txt``, ``conda.yaml`` pip section,
``python_env.yaml``) that are unpinned or come from somewhere other than the package index.

Files are read only when the directory walk listed them as regular files, through
:func:`~..regular_files.read_regular` (no links, no FIFOs or devices, size-capped), YAML with
an expansion budget; finding messages quote at most a short escaped excerpt of a line.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlflow_supplychain.scanning.checkers.yaml_budget import YamlRefused, load_bounded
from mlflow_supplychain.scanning.excerpt import quoted
from mlflow_supplychain.scanning.findings import Code
from mlflow_supplychain.scanning.regular_files import read_regular

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


def check_model_dir(root: Path, model_dir: str, files: set[str] | None = None,
                    max_file: int = MAX_FILE) -> Iterator[ModelFinding]:
    """Check the MLflow model whose ``MLmodel`` is in ``root / model_dir``.

    ``files`` are the regular files of the scanned tree (relative POSIX paths); only those
    are read. Without it, the model directory is listed here (no links followed).
    """
    base = root / model_dir if model_dir else root
    mlmodel = _rel(model_dir, "MLmodel")
    if files is None:
        files = _regular_files(base, model_dir)
    if mlmodel not in files:
        yield ModelFinding(mlmodel, Code.MLMODEL_INVALID, "MLmodel is not a regular file",
                           "replace the link or special file with the MLmodel file itself")
        return
    limit = min(max_file, MAX_FILE)
    try:
        config = _load_yaml(base / "MLmodel", limit)
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
    code_prefix = _rel(model_dir, "code/")
    if any(f.startswith(code_prefix) for f in files):
        yield ModelFinding(mlmodel, Code.MLFLOW_CODE_PATHS, "model bundles a code/ directory "
                           "that is imported at load time", "review the code and ship it as a "
                           "pinned package instead of inside the model")
    for name in _REQUIREMENT_FILES:
        rel = _rel(model_dir, name)
        if rel in files:
            yield from _requirements(base / name, rel, limit)


def _regular_files(base: Path, model_dir: str) -> set[str]:
    from mlflow_supplychain.scanning.tree import list_tree

    listing = list_tree(base, 64)
    return {_rel(model_dir, rel) for rel, info in listing.entries
            if stat.S_ISREG(info.st_mode)}


def _flavors(mlmodel: str, flavors: dict[str, Any]) -> Iterator[ModelFinding]:
    for flavor, conf in flavors.items():
        if not isinstance(conf, dict):
            continue
        if conf.get("python_model"):
            yield ModelFinding(mlmodel, Code.MLFLOW_PYTHON_MODEL, f"{quoted(flavor)} flavor "
                               f"loads a cloudpickled python_model "
                               f"({quoted(conf['python_model'])})",
                               "log a built-in flavor or a models-from-code file that is "
                               "reviewed, instead of a pickled Python object")
        if conf.get("model_code_path"):
            yield ModelFinding(mlmodel, Code.MLFLOW_MODEL_FROM_CODE, f"{quoted(flavor)} flavor "
                               f"runs model code {quoted(conf['model_code_path'])} at load "
                               "time",
                               "review the model code and pin it by digest")
        if conf.get("code"):
            yield ModelFinding(mlmodel, Code.MLFLOW_CODE_PATHS, f"{quoted(flavor)} flavor adds "
                               f"code path {quoted(conf['code'])} to sys.path at load time",
                               "ship code as a pinned package instead of inside the model")
        loader = conf.get("loader_module")
        if isinstance(loader, str) and not loader.startswith("mlflow."):
            yield ModelFinding(mlmodel, Code.MLFLOW_CODE_PATHS, f"{quoted(flavor)} flavor's "
                               f"loader module {quoted(loader)} is not part of MLflow",
                               "use an MLflow built-in flavor")


def _requirements(path: Path, rel: str, limit: int) -> Iterator[ModelFinding]:
    try:
        if path.name == "requirements.txt":
            lines = _read_text(path, limit).splitlines()
            doc = None
        else:
            doc = _load_yaml(path, limit)
            lines = _yaml_requirements(doc)
    except (OSError, ValueError) as exc:
        yield ModelFinding(rel, Code.MLMODEL_INVALID, f"cannot parse: {exc}",
                           "re-log the model with mlflow")
        return
    build_tools = set(_build_dependencies(doc)) if path.name == "python_env.yaml" else set()
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
        return Code.REQUIREMENT_UNTRUSTED_SOURCE, f"{quoted(text)} installs from outside the index"
    spec = text.split(";", 1)[0].strip()
    if "://" in spec or spec.startswith(("git+", "file:", ".", "/", "~")) or " @ " in spec \
            or re.match(r"^[\w.\-\[\],]+\s*@", spec):
        return Code.REQUIREMENT_UNTRUSTED_SOURCE, f"{quoted(text)} installs from a URL or path"
    if re.search(r"===?\s*[\w.!+\-]+$", spec) and not spec.rstrip().endswith("*"):
        return None
    return Code.REQUIREMENT_UNPINNED, f"{quoted(text)} is not pinned to one version"


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


def _build_dependencies(doc: Any) -> list[str]:
    entries = doc.get("build_dependencies") if isinstance(doc, dict) else None
    return [e for e in entries or [] if isinstance(e, str)]


def _read_text(path: Path, limit: int) -> str:
    """The file as UTF-8 text. Raises OSError (unreadable, not regular, too large) or
    ValueError (not UTF-8)."""
    try:
        return read_regular(path, limit).decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text") from None


def _load_yaml(path: Path, limit: int) -> Any:
    try:
        return load_bounded(_read_text(path, limit))
    except YamlRefused as exc:
        raise ValueError(str(exc)) from None


def _rel(model_dir: str, name: str) -> str:
    return f"{model_dir}/{name}" if model_dir else name


def find_model_dirs(files: list[str]) -> list[str]:
    """Relative directories (POSIX, '' for the root) that contain an ``MLmodel`` file."""
    return sorted(os.path.dirname(f) for f in files if os.path.basename(f) == "MLmodel")
